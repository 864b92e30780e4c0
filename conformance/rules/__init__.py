"""Conformance rules, one module per family (``docs/rules.md``). Importing registers them.

Standard library only (``data``: the plain data; ``base``: registry and Context; one module per
family), so ``harness/triage/repro.py`` can embed these modules verbatim in a standalone script.
"""

from conformance.rules import bos, drop, eos, gen, mask, multi, packing, tok  # noqa: F401  (registration)
from conformance.rules.base import RULES, Context, Rule
from conformance.rules.packing import BATCH_RULES, PackedRow

# the modules a standalone script needs, in the order they import each other
ENGINE_MODULES = ("data", "base", "bos", "drop", "eos", "gen", "mask", "multi", "packing", "tok")

__all__ = ["BATCH_RULES", "ENGINE_MODULES", "RULES", "Context", "PackedRow", "Rule"]
