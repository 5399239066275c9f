"""Uplink to central systems over MQTT."""

from edge.uplink.mqtt import Uplink, record_topic, status_topic

__all__ = ["Uplink", "record_topic", "status_topic"]
