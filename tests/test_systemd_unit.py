"""The systemd unit: clean for ``systemd-analyze verify`` and hardened (``security --offline`` <= 2.0).

Needs systemd-analyze (Debian's systemd package); skipped where it is missing."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import IN_CI

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "systemd" / "weighlane-edge@.service"

if shutil.which("systemd-analyze") is None:
    if IN_CI:  # scripts/install.sh installs it (Debian's systemd package): missing is a failure here
        raise RuntimeError("systemd-analyze is missing: scripts/install.sh installs the systemd package")
    pytest.skip("needs systemd-analyze (Debian's systemd package)", allow_module_level=True)


def _instance(tmp_path: Path) -> Path:
    """The unit as lane1, with ExecStart pointing at this checkout's edge (verify checks it exists)."""
    edge = Path(sys.executable).with_name("edge")
    assert edge.exists()
    text = UNIT.read_text().replace("/opt/weighlane/.venv/bin/edge", str(edge))
    path = tmp_path / "weighlane-edge@lane1.service"
    path.write_text(text)
    return path


def test_unit_verifies_clean(tmp_path: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(_instance(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "weighlane" not in result.stderr, result.stderr


def test_unit_exposure_is_two_or_lower(tmp_path: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(_instance(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    score = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert score is not None, result.stdout + result.stderr
    assert float(score.group(1)) <= 2.0, result.stdout


def test_unit_is_templated_and_allows_what_the_daemon_needs() -> None:
    text = UNIT.read_text()
    assert "--config /etc/weighlane/%i.toml" in text
    assert "Type=notify" in text and "WatchdogSec=" in text
    assert "ReadWritePaths=-/run/lock" in text  # edge/lock.py's port locks, shared by every lane
    assert "MemoryDenyWriteExecute=no" in text  # Numba's JIT
    assert "DevicePolicy=closed" in text and "DeviceAllow=char-ttyUSB rw" in text
