"""Infrared position beams at both ends of a static weighbridge's deck (docs/weighbridge.md)."""
