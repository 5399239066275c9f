"""Device family: axle_sensor (codec.py is pure; driver.py owns the port)."""
