"""Evidence: durable vehicle records and the upload outbox (SQLite, WAL)."""

from edge.evidence.store import EvidenceError, EvidenceStore, OutboxEntry, canonical_json

__all__ = ["EvidenceError", "EvidenceStore", "OutboxEntry", "canonical_json"]
