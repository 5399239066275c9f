"""Evidence: durable, hash-chained and signed vehicle records and the upload outbox (SQLite, WAL)."""

from edge.evidence.chain import ChainEntry, Problem, VerifyReport
from edge.evidence.package import ExportResult, export_package, verify_package, verify_payload
from edge.evidence.retention import Retention, RetentionPass
from edge.evidence.signing import (
    SignatureScheme,
    Signer,
    Verifier,
    load_or_create_signer,
)
from edge.evidence.store import (
    EvidenceError,
    EvidenceStore,
    OutboxEntry,
    canonical_json,
    verify_database,
)

__all__ = [
    "ChainEntry",
    "EvidenceError",
    "EvidenceStore",
    "ExportResult",
    "OutboxEntry",
    "Problem",
    "Retention",
    "RetentionPass",
    "SignatureScheme",
    "Signer",
    "Verifier",
    "VerifyReport",
    "canonical_json",
    "export_package",
    "load_or_create_signer",
    "verify_database",
    "verify_package",
    "verify_payload",
]
