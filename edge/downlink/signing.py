"""Signed downlink documents: the central office signs, the station verifies (docs/downlink.md).

A signed document travels as an *envelope*, a JSON object::

    {"scheme": "ed25519", "key_id": "central-2026", "document": "<the document's JSON text>",
     "signature": "<base64 of the signature>"}

The signature covers ``weighlane-downlink-v1`` NUL ``<kind>`` NUL and the exact UTF-8 bytes of
``document``: no JSON canonicalisation is needed (the bytes signed are the bytes checked), and a document
signed as a watch-list cannot be replayed on the permits or config topic.

Schemes are looked up by name in :data:`SCHEMES`: Ed25519 (RFC 8032, through ``cryptography``) today;
SM2 (GB/T 32918, with SM3) can be added as another entry without touching the envelope or the station.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edge.config import DownlinkConfig
from edge.downlink.documents import DocumentError

__all__ = [
    "SCHEMES",
    "Scheme",
    "generate_ed25519",
    "open_envelope",
    "sign_document",
    "signed_message",
]

CONTEXT = b"weighlane-downlink-v1"


def signed_message(kind: str, document: bytes) -> bytes:
    """The bytes a signature covers: a context, the kind, the document."""
    return CONTEXT + b"\0" + kind.encode() + b"\0" + document


def _ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def _ed25519_sign(private_key_pem: bytes, message: bytes) -> bytes:
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"the key is a {type(key).__name__}, not an Ed25519 private key")
    return key.sign(message)


def _ed25519_public(private_key_pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"the key is a {type(key).__name__}, not an Ed25519 private key")
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class Scheme:
    """One signature scheme: how to sign (central side) and verify (station side)."""

    name: str
    public_key_bytes: int
    verify: Callable[[bytes, bytes, bytes], bool]  # (public key, message, signature)
    sign: Callable[[bytes, bytes], bytes]  # (private key PEM, message)
    public_of: Callable[[bytes], bytes]  # private key PEM -> raw public key


SCHEMES: dict[str, Scheme] = {
    "ed25519": Scheme("ed25519", 32, _ed25519_verify, _ed25519_sign, _ed25519_public),
}


def generate_ed25519() -> tuple[bytes, str]:
    """A new Ed25519 key pair: (private key PEM, public key in base64 as ``downlink.trusted_keys`` takes
    it)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return pem, base64.b64encode(raw).decode()


def sign_document(
    kind: str, document: bytes, private_key_pem: bytes, key_id: str, scheme: str = "ed25519"
) -> bytes:
    """The envelope (UTF-8 JSON) carrying ``document`` signed for ``kind``."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown signature scheme {scheme!r}; known: {', '.join(SCHEMES)}")
    text = document.decode("utf-8")
    signature = SCHEMES[scheme].sign(private_key_pem, signed_message(kind, text.encode("utf-8")))
    envelope = {
        "scheme": scheme,
        "key_id": key_id,
        "document": text,
        "signature": base64.b64encode(signature).decode(),
    }
    return json.dumps(envelope, ensure_ascii=False).encode("utf-8")


def _envelope(payload: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(data, dict) and "signature" in data and "document" in data:
        return data
    return None


def open_envelope(kind: str, payload: bytes, settings: DownlinkConfig) -> bytes:
    """The document inside ``payload`` once its signature is checked against ``settings.trusted_keys``;
    an unsigned payload passes only under ``accept_unsigned``.  :class:`DocumentError` says why not."""
    envelope = _envelope(payload)
    if envelope is None:
        if settings.accept_unsigned:
            return payload
        if not settings.trusted_keys:
            raise DocumentError(
                [
                    "signature: unsigned document refused, and this station trusts no central key"
                    " (set downlink.trusted_keys, or downlink.accept_unsigned = true in a lab)"
                ]
            )
        raise DocumentError(["signature: unsigned document refused (downlink.trusted_keys is set)"])
    extra = set(envelope) - {"scheme", "key_id", "document", "signature"}
    if extra:
        raise DocumentError([f"signature: unknown envelope keys {', '.join(sorted(extra))}"])
    scheme_name, key_id = envelope.get("scheme"), envelope.get("key_id")
    document, signature_text = envelope.get("document"), envelope.get("signature")
    if not isinstance(document, str) or not isinstance(signature_text, str):
        raise DocumentError(["signature: document and signature must be strings"])
    if scheme_name not in SCHEMES:
        raise DocumentError([f"signature: unknown scheme {scheme_name!r}; known: {', '.join(SCHEMES)}"])
    keys = [key for key in settings.trusted_keys if key.id == key_id and key.scheme == scheme_name]
    if not keys:
        trusted = ", ".join(f"{key.id} ({key.scheme})" for key in settings.trusted_keys) or "none"
        raise DocumentError([f"signature: key {key_id!r} ({scheme_name}) is not trusted; trusted: {trusted}"])
    try:
        signature = base64.b64decode(signature_text, validate=True)
    except (binascii.Error, ValueError):
        raise DocumentError(["signature: not valid base64"]) from None
    body = document.encode("utf-8")
    scheme = SCHEMES[scheme_name]
    if not scheme.verify(base64.b64decode(keys[0].public_key), signed_message(kind, body), signature):
        raise DocumentError(
            [
                f"signature: does not verify with key {key_id!r} for kind {kind!r} (forged, altered or signed for another kind)"
            ]
        )
    return body
