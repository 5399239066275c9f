"""Device family: separator (codec.py is pure; driver.py owns the port)."""
