"""WARC files: the writer, the one member reader, the store that names, fsyncs and
seals files, and the lenient scanner of foreign files (:mod:`archive.warc.scan`).
"""
