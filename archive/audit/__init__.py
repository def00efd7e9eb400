"""Checking what is stored against what was recorded: verify, fixity, reconcile after
a crash, and the import of foreign WARC files.
"""
