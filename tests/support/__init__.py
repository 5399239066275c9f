"""Test support: fixtures' building blocks (a private Mosquitto with ACLs, kill and reload), shared by the
tests and the benches.  Nothing here is installed with the package."""

from __future__ import annotations

import os

#: In CI a missing Mosquitto fails a broker test instead of skipping it.
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
