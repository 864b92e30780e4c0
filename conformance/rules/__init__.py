"""Conformance rules, one module per family (DESIGN.md section 3). Importing registers them."""

from conformance.rules import bos, eos, gen, mask, multi, tok  # noqa: F401  (registration)
from conformance.rules.base import RULES, Context, Rule

__all__ = ["RULES", "Context", "Rule"]
