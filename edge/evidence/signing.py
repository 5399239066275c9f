"""Signatures over chain hashes, by algorithm name, and the station's key files.

A scheme (:class:`SignatureScheme`) is registered under a lower case name: "ed25519" is built in (the
``cryptography`` package); a province that requires SM2 registers "sm2" the same way, with no change to
the store or the verifier.  Keys travel as PEM (PKCS#8 private, SubjectPublicKeyInfo public).

Key files sit next to the database: ``<db>.<alg>.key`` (private, mode 0600) and ``<db>.<alg>.pub``.
Key material is never logged; only the ``key_id`` is.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edge.evidence.chain import EvidenceError

__all__ = [
    "DEFAULT_SIG_ALG",
    "SignatureScheme",
    "Signer",
    "Verifier",
    "key_paths",
    "load_or_create_signer",
    "load_signer",
    "load_verifier",
    "public_key_path",
    "signature_scheme",
]

log = logging.getLogger(__name__)

DEFAULT_SIG_ALG = "ed25519"


class Signer(Protocol):
    """Signs chain hashes; ``key_id`` names the public key (first 16 hex of SHA-256 of its raw bytes)."""

    @property
    def alg(self) -> str: ...

    @property
    def key_id(self) -> str: ...

    def public_key_pem(self) -> bytes: ...

    def sign(self, message: bytes) -> bytes: ...


class Verifier(Protocol):
    """Checks signatures made by one public key."""

    @property
    def alg(self) -> str: ...

    @property
    def key_id(self) -> str: ...

    def public_key_pem(self) -> bytes: ...

    def verify(self, signature: bytes, message: bytes) -> bool: ...


@dataclass(frozen=True)
class SignatureScheme:
    """A signature algorithm by name: make a private key, and load signers and verifiers from PEM."""

    name: str
    generate_private_pem: Callable[[], bytes]
    load_signer: Callable[[bytes], Signer]
    load_verifier: Callable[[bytes], Verifier]


def _key_id(raw_public_key: bytes) -> str:
    return hashlib.sha256(raw_public_key).hexdigest()[:16]


# -- Ed25519 (RFC 8032) --------------------------------------------------------------------------------


class _Ed25519Verifier:
    alg = "ed25519"

    def __init__(self, key: Ed25519PublicKey) -> None:
        self._key = key
        self.key_id = _key_id(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))

    def public_key_pem(self) -> bytes:
        return self._key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


class _Ed25519Signer(_Ed25519Verifier):
    def __init__(self, key: Ed25519PrivateKey) -> None:
        super().__init__(key.public_key())
        self._private = key

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)

    def __repr__(self) -> str:  # never the key itself
        return f"<ed25519 signer {self.key_id}>"


def _ed25519_generate() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _ed25519_signer(pem: bytes) -> Signer:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise EvidenceError(f"not an unencrypted PEM private key ({type(exc).__name__})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise EvidenceError(f"the private key is {type(key).__name__}, not an Ed25519 key")
    return _Ed25519Signer(key)


def _ed25519_verifier(pem: bytes) -> Verifier:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise EvidenceError(f"not a PEM public key ({type(exc).__name__})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise EvidenceError(f"the public key is {type(key).__name__}, not an Ed25519 key")
    return _Ed25519Verifier(key)


_SCHEMES: dict[str, SignatureScheme] = {
    "ed25519": SignatureScheme("ed25519", _ed25519_generate, _ed25519_signer, _ed25519_verifier),
}


def signature_scheme(name: str) -> SignatureScheme:
    """The scheme registered as ``name``; :class:`EvidenceError` names the known ones otherwise."""
    try:
        return _SCHEMES[name]
    except KeyError:
        known = ", ".join(sorted(_SCHEMES))
        raise EvidenceError(f"unknown signature algorithm {name!r}; known: {known}") from None


def load_verifier(public_key_pem: bytes, alg: str | None = DEFAULT_SIG_ALG) -> Verifier:
    """A verifier for a PEM public key of scheme ``alg``; None tries every registered scheme."""
    if alg is not None:
        return signature_scheme(alg).load_verifier(public_key_pem)
    reasons = []
    for scheme in _SCHEMES.values():
        try:
            return scheme.load_verifier(public_key_pem)
        except EvidenceError as exc:
            reasons.append(f"{scheme.name}: {exc}")
    raise EvidenceError("the public key fits no known signature algorithm (" + "; ".join(reasons) + ")")


def load_signer(private_key_pem: bytes, alg: str = DEFAULT_SIG_ALG) -> Signer:
    """A signer for a PEM private key of scheme ``alg`` (nothing is written; see load_or_create_signer)."""
    return signature_scheme(alg).load_signer(private_key_pem)


# -- key files -----------------------------------------------------------------------------------------


def key_paths(db_path: str | Path, alg: str = DEFAULT_SIG_ALG) -> tuple[Path, Path]:
    """``(<db>.<alg>.key, <db>.<alg>.pub)``: where the store keeps the key pair of a database."""
    db_path = Path(db_path)
    return db_path.with_name(f"{db_path.name}.{alg}.key"), db_path.with_name(f"{db_path.name}.{alg}.pub")


def public_key_path(key_path: str | Path) -> Path:
    """The public key file beside a private key file: ``.key`` becomes ``.pub``."""
    key_path = Path(key_path)
    return key_path.with_name(key_path.name.removesuffix(".key") + ".pub")


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a directory be opened
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_private_once(path: Path, pem: bytes) -> None:
    """Write a new key file with mode 0600, durably and atomically; keep an existing one (a
    concurrent process may have created it first, and its key may already have signed records)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if the file exists: never replace a key
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _write_public(path: Path, pem: bytes) -> None:
    with contextlib.suppress(OSError):
        if path.read_bytes() == pem:
            return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(pem)
    tmp.chmod(0o644)
    os.replace(tmp, path)


def load_or_create_signer(key_path: str | Path, alg: str = DEFAULT_SIG_ALG) -> Signer:
    """Load the private key in ``key_path`` (PEM), creating it (mode 0600) when missing; the public key
    is (re)written beside it (:func:`public_key_path`).  :class:`EvidenceError` says what to fix."""
    key_path = Path(key_path)
    scheme = signature_scheme(alg)
    try:
        if not key_path.exists():
            key_path.parent.mkdir(parents=True, exist_ok=True)
            _write_private_once(key_path, scheme.generate_private_pem())
            created = True
        else:
            created = False
        pem = key_path.read_bytes()
        mode = key_path.stat().st_mode & 0o777
    except OSError as exc:
        raise EvidenceError(
            f"cannot read or create the signing key {key_path}: {exc.strerror or exc}; check that its"
            " folder is writable by the service user and the file is readable by it"
        ) from exc
    try:
        signer = scheme.load_signer(pem)
    except EvidenceError as exc:
        raise EvidenceError(
            f"signing key {key_path} is unusable: {exc}; restore it from the backup (never replace a key"
            " that has signed records: its public key is how they are verified)"
        ) from None
    if mode & 0o077:
        log.warning("signing key %s is readable by other users (mode %o): chmod 600 it", key_path, mode)
    pub_path = public_key_path(key_path)
    try:
        _write_public(pub_path, signer.public_key_pem())
    except OSError as exc:
        log.warning("cannot write the public key %s: %s", pub_path, exc.strerror or exc)
    if created:
        log.info("created %s signing key %s in %s", alg, signer.key_id, key_path)
    return signer
