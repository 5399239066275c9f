"""Central queries: the station answers MQTT 5 requests for records, images, raw captures, status and
calibrations (service.py); the protocol and its reassembly (protocol.py); the asking side (client.py)."""

from edge.query.protocol import (
    METHODS,
    PROTOCOL,
    QueryProtocolError,
    Reassembly,
    request_topic,
    response_root,
)
from edge.query.service import QueryService

__all__ = [
    "METHODS",
    "PROTOCOL",
    "QueryProtocolError",
    "QueryService",
    "Reassembly",
    "request_topic",
    "response_root",
]
