"""The formats of the data files, as pydantic models: the one definition the loaders validate with, `lint`
checks with, and `docs/formats.md` / `docs/schemas/*.json` are generated from.

``base`` (strict models, errors as ``FILE: field.path: message``), one module per format (``cases``,
``expectations``, ``catalog``, ``bugs``), ``path_ids`` (the data path ids the formats name) and ``docs``
(generation). The linter that reads all files plus the ids they cross-reference is ``harness/lint.py``, a
layer up: it needs the rules, the adapters' modifiers and the tokenizer catalog (docs/extending.md).
"""
