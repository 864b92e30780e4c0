"""The core pipeline: case -> adapter (harness/adapters) -> encoding -> oracle -> rules (conformance/rules) -> verdict.

Cases as data, the encoding and verdict types, the oracle computed without TRL, the runner's Session that
caches tokenizers/encodings/oracles and judges, expectations (known upstream), packed-batch invariance, the
training check and the seeded bugs that prove every rule can fail.
"""
