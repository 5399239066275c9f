"""The technician's local web console (docs/console.md): live waveform, lane, last vehicles, health."""

from edge.console.auth import hash_password, verify_password
from edge.console.server import Console

__all__ = ["Console", "hash_password", "verify_password"]
