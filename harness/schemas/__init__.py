"""The formats of the data files, as pydantic models: the one definition the loaders validate with, `lint`
checks with, and `docs/formats.md` / `docs/schemas/*.json` are generated from.

``base`` (strict models, errors as ``FILE: field.path: message``), one module per format (``cases``,
``expectations``, ``catalog``, ``bugs``), ``lint`` (all files plus cross-file ids) and ``docs`` (generation).
"""
