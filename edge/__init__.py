"""Edge service for truck weigh stations: lane sensing, weighing, limits, lane control, evidence, uplink."""

__version__ = "0.1.0"
