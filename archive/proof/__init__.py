"""Proofs a reader can check offline: Merkle trees, signed checkpoints, keys, the log
tree over the custody log, checkpoint notes and proof bundles (build and verify).
"""
