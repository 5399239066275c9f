"""The hash chain over evidence records: canonical encoding, hashes, chain entries and their checks.

Byte layouts (docs/evidence.md is the reference, complete enough to verify without this code):

* ``record_text``  = :func:`canonical_json` of the record *with* its ``seq`` and *without* ``chain``,
  encoded as UTF-8.  Attachments (images) are covered through their ``sha256`` in the record.
* ``record_hash``  = H(record_text)
* ``chain_hash``   = H(prev_chain_hash || record_hash), both raw digests; the first record's
  ``prev_chain_hash`` is ``digest_size`` zero bytes (:func:`genesis`).
* ``signature``    = Sign(private key, chain_hash) over the raw digest bytes.

H is named by ``hash_alg`` ("sha256"; "sm3" can be registered later) and the signature by ``alg``
("ed25519"; "sm2" later, see :mod:`edge.evidence.signing`).  Digests and signatures travel as lower
case hex.  Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from edge.errors import EdgeError

if TYPE_CHECKING:
    from edge.evidence.signing import Signer, Verifier

__all__ = [
    "DEFAULT_HASH_ALG",
    "ChainEntry",
    "EvidenceError",
    "HashAlgorithm",
    "Problem",
    "VerifyReport",
    "canonical_json",
    "chain_hash",
    "check_entry",
    "genesis",
    "hash_algorithm",
    "record_hash",
    "seal",
]

DEFAULT_HASH_ALG = "sha256"


class EvidenceError(EdgeError):
    """Raised when evidence cannot be opened, written, signed or read (database, key file, package)."""


def canonical_json(value: Any) -> str:
    """One canonical text per value: sorted keys, no spaces, UTF-8 kept (hashes are taken over it)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


# -- hash algorithms by name ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HashAlgorithm:
    """A named hash: ``digest(data)`` returns ``digest_size`` raw bytes."""

    name: str
    digest_size: int
    digest: Callable[[bytes], bytes]


_HASHES: dict[str, HashAlgorithm] = {
    "sha256": HashAlgorithm("sha256", 32, lambda data: hashlib.sha256(data).digest()),
}


def hash_algorithm(name: str) -> HashAlgorithm:
    """The hash registered as ``name``; :class:`EvidenceError` names the known ones otherwise."""
    try:
        return _HASHES[name]
    except KeyError:
        known = ", ".join(sorted(_HASHES))
        raise EvidenceError(f"unknown hash algorithm {name!r}; known: {known}") from None


def genesis(hash_alg: str = DEFAULT_HASH_ALG) -> bytes:
    """The ``prev_chain_hash`` of the first chained record: ``digest_size`` zero bytes."""
    return bytes(hash_algorithm(hash_alg).digest_size)


def record_hash(record_text: bytes, hash_alg: str = DEFAULT_HASH_ALG) -> bytes:
    """H(record_text): the UTF-8 canonical JSON of the record (with ``seq``, without ``chain``)."""
    return hash_algorithm(hash_alg).digest(record_text)


def chain_hash(prev: bytes, record_digest: bytes, hash_alg: str = DEFAULT_HASH_ALG) -> bytes:
    """H(prev || record_hash): two raw digests of the same algorithm, concatenated."""
    return hash_algorithm(hash_alg).digest(prev + record_digest)


# -- chain entries -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainEntry:
    """One record's place in the chain; hashes and signature as lower case hex."""

    alg: str
    hash_alg: str
    record_hash: str
    prev: str
    chain_hash: str
    sig: str
    key_id: str

    def as_dict(self) -> dict[str, str]:
        """The ``chain`` object of the published payload and of a package's ``chain.json``."""
        return {
            "alg": self.alg,
            "hash_alg": self.hash_alg,
            "record_hash": self.record_hash,
            "prev": self.prev,
            "chain_hash": self.chain_hash,
            "sig": self.sig,
            "key_id": self.key_id,
        }

    @classmethod
    def from_dict(cls, data: Any) -> ChainEntry:
        """Read a ``chain`` object; :class:`EvidenceError` names a missing or non-text key."""
        if not isinstance(data, dict):
            raise EvidenceError("the chain entry is not a JSON object")
        values: dict[str, str] = {}
        for key in ("alg", "hash_alg", "record_hash", "prev", "chain_hash", "sig", "key_id"):
            value = data.get(key)
            if not isinstance(value, str):
                raise EvidenceError(f"the chain entry has no text value for {key!r}")
            values[key] = value
        return cls(**values)


def seal(record_text: bytes, prev: bytes, signer: Signer, hash_alg: str = DEFAULT_HASH_ALG) -> ChainEntry:
    """Hash, chain and sign one record (the store calls this inside its write transaction)."""
    digest = record_hash(record_text, hash_alg)
    linked = chain_hash(prev, digest, hash_alg)
    return ChainEntry(
        alg=signer.alg,
        hash_alg=hash_alg,
        record_hash=digest.hex(),
        prev=prev.hex(),
        chain_hash=linked.hex(),
        sig=signer.sign(linked).hex(),
        key_id=signer.key_id,
    )


def _unhex(value: str, what: str) -> bytes:
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise EvidenceError(f"{what} is not hex") from None


def check_entry(
    record_text: bytes | None, entry: ChainEntry, verifier: Verifier | None
) -> list[tuple[str, str]]:
    """Everything one entry proves on its own: ``(kind, detail)`` for each problem, [] when sound.

    Checks that the text hashes to ``record_hash`` (skipped when ``record_text`` is None: a retention
    stub whose text was evicted after upload), that ``chain_hash`` = H(prev || record_hash), and
    that the signature over ``chain_hash`` verifies with ``verifier`` (skipped when None).  Whether
    ``prev`` is the previous record's ``chain_hash`` is the caller's business (it knows the previous row).
    """
    problems: list[tuple[str, str]] = []
    try:
        algorithm = hash_algorithm(entry.hash_alg)
        stored_record = _unhex(entry.record_hash, "record_hash")
        prev = _unhex(entry.prev, "prev_chain_hash")
        stored_chain = _unhex(entry.chain_hash, "chain_hash")
        signature = _unhex(entry.sig, "signature")
    except EvidenceError as exc:
        return [(Problem.MALFORMED, f"chain entry unreadable: {exc}")]
    computed = stored_record if record_text is None else algorithm.digest(record_text)
    if computed != stored_record:
        problems.append(
            (
                Problem.RECORD_EDITED,
                "record edited: its JSON no longer hashes to the stored record_hash"
                f" (stored {entry.record_hash[:16]}..., computed {computed.hex()[:16]}...)",
            )
        )
    if algorithm.digest(prev + stored_record) != stored_chain:
        problems.append(
            (Problem.CHAIN_HASH, "chain_hash is not H(prev_chain_hash || record_hash): hashes were edited")
        )
    if verifier is None:
        return problems
    if entry.alg != verifier.alg or entry.key_id != verifier.key_id:
        problems.append(
            (
                Problem.WRONG_KEY,
                f"signed by {entry.alg} key {entry.key_id}, not by the trusted {verifier.alg} key"
                f" {verifier.key_id}",
            )
        )
    elif not verifier.verify(signature, stored_chain):
        problems.append((Problem.SIGNATURE_INVALID, f"signature invalid for key {entry.key_id}"))
    return problems


# -- reports -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One finding of a verification; ``seq`` is None for problems of the whole database or package."""

    seq: int | None
    kind: str
    detail: str

    RECORD_EDITED = "record_edited"
    COLUMN_EDITED = "column_edited"
    CHAIN_HASH = "chain_hash_mismatch"
    PREV_MISMATCH = "prev_mismatch"
    ROWS_MISSING = "rows_missing"
    NOT_GENESIS = "chain_start_missing"
    CHAIN_MISSING = "chain_missing"
    SIGNATURE_INVALID = "signature_invalid"
    WRONG_KEY = "wrong_key"
    MALFORMED = "malformed"
    EVICTED_UNSENT = "evicted_unsent"
    ATTACHMENT = "attachment"
    FILE_MISMATCH = "file_mismatch"

    def text(self) -> str:
        where = f"seq {self.seq}" if self.seq is not None else "package"
        return f"{where}: {self.detail}"


@dataclass
class VerifyReport:
    """What a verification found.  Problems are listed up to ``max_problems``; ``problem_count``
    counts them all, so a cap never hides that there were more."""

    source: str
    key_id: str | None = None
    key_source: str = ""
    records: int = 0
    verified: int = 0
    unsigned: int = 0
    evicted: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    head_chain_hash: str | None = None
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    notes: list[str] = field(default_factory=list)
    max_problems: int = 100

    def add(self, seq: int | None, kind: str, detail: str) -> None:
        self.problem_count += 1
        if len(self.problems) < self.max_problems:
            self.problems.append(Problem(seq, kind, detail))

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    @property
    def first_broken_seq(self) -> int | None:
        seqs = [p.seq for p in self.problems if p.seq is not None]
        return min(seqs) if seqs else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "ok": self.ok,
            "key_id": self.key_id,
            "key_source": self.key_source,
            "records": self.records,
            "verified": self.verified,
            "unsigned": self.unsigned,
            "evicted": self.evicted,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "head_chain_hash": self.head_chain_hash,
            "first_broken_seq": self.first_broken_seq,
            "problem_count": self.problem_count,
            "problems": [{"seq": p.seq, "kind": p.kind, "detail": p.detail} for p in self.problems],
            "notes": list(self.notes),
        }

    def lines(self) -> list[str]:
        """A human summary: one line of counts, one per problem, then the verdict."""
        key = f"key {self.key_id} ({self.key_source})" if self.key_id else "no key"
        span = f" (seq {self.first_seq}..{self.last_seq})" if self.first_seq is not None else ""
        out = [
            f"{self.source}: {self.records} records{span}, {self.verified} verified,"
            f" {self.unsigned} unsigned (before chaining); {key}"
        ]
        if self.evicted:
            out.append(
                f"{self.evicted} evicted after upload (evidence.budget_mb): their content is gone, their"
                " chain entries verify"
            )
        if self.head_chain_hash:
            out.append(f"head: seq {self.last_seq}, chain_hash {self.head_chain_hash}")
        out += [f"PROBLEM {p.text()}" for p in self.problems]
        if self.problem_count > len(self.problems):
            out.append(f"... and {self.problem_count - len(self.problems)} more problems")
        out += [f"note: {note}" for note in self.notes]
        if self.ok:
            out.append("OK")
        else:
            first = self.first_broken_seq
            at = f", first at seq {first}" if first is not None else ""
            out.append(f"FAILED: {self.problem_count} problem(s){at}")
        return out
