"""The lowest layer: hashing, canonical JSON, time, settings, URLs, content decoding,
the package's data files and its version. Imports nothing else of the library but
:mod:`archive.errors`.
"""
