"""Device family: display (codec.py is pure; driver.py owns the port)."""
