"""Device family: wim_digitiser (codec.py is pure; driver.py owns the port)."""
