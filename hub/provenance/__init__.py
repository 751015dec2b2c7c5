"""Signed provenance for ingested observations.

Canonical bytes (RFC 8785), the in-toto/DSSE record signed per ingest batch, RFC 9162 Merkle
trees for the batch and the hub's append-only log, and C2SP signed notes, checkpoints and
cosignatures, so that partner hubs can check offline who produced an observation, from which
raw message and through which adapter, and that nothing was altered or rewritten.
"""
