"""Downlink: versioned retained documents (watch-list, permits, a safe config subset, the vehicle
registry) from the central office, validated, stored atomically and acknowledged (docs/downlink.md)."""

from edge.downlink.documents import (
    CONFIG_KEYS,
    KINDS,
    ConfigDocument,
    DocumentError,
    DownlinkStore,
    PermitsDocument,
    RegistryDocument,
    WatchlistDocument,
    apply_config,
    parse_document,
)
from edge.downlink.service import DownlinkService, ack_topic, downlink_topic

__all__ = [
    "CONFIG_KEYS",
    "KINDS",
    "ConfigDocument",
    "DocumentError",
    "DownlinkService",
    "DownlinkStore",
    "PermitsDocument",
    "RegistryDocument",
    "WatchlistDocument",
    "ack_topic",
    "apply_config",
    "downlink_topic",
    "parse_document",
]
