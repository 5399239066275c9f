"""Device family: barrier (codec.py is pure; driver.py owns the port)."""
