"""Tokenizer supply: the registry that loads catalog / synthetic / local / Hub tokenizers, the synthetic
edge-case tokenizers built in code, and provisioning of the pinned catalog (catalog.yaml) from registry packages.
"""
