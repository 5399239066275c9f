"""Uplink to central systems over MQTT."""

from edge.uplink.mqtt import Uplink, alert_topic, record_topic, status_topic

__all__ = ["Uplink", "alert_topic", "record_topic", "status_topic"]
