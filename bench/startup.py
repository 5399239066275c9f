"""Start-up to READY: seconds from ``edge run`` starting to its sd_notify READY=1 (issue 19: <= 3 s warm).

    python bench/startup.py                 # plates on (every model loads), 3 runs with a warm Numba cache
    python bench/startup.py --no-plates     # the WIM lane alone

The example lane config (config/lane.example.toml) with every port at ``loop://``, the camera at an
empty folder and a fresh evidence database per run; ``NOTIFY_SOCKET`` is a real AF_UNIX datagram socket,
as systemd gives a Type=notify unit.  The first run warms the Numba cache (NUMBA_CACHE_DIR under var/)
and is reported apart; the baseline in the same run is ``python -c "import edge.daemon"`` (imports only).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _config(folder: Path, plates: bool) -> Path:
    text = (ROOT / "config" / "lane.example.toml").read_text(encoding="utf-8")
    text = re.sub(r'^port = "/dev/[^"]*"', 'port = "loop://"', text, flags=re.M)
    text = re.sub(r'^database = ".*"', f'database = "{folder / "evidence.db"}"', text, flags=re.M)
    (folder / "frames").mkdir(exist_ok=True)
    text = re.sub(r'^camera = "[^"]*".*$', f'camera = "{folder / "frames"}"', text, flags=re.M)
    if not plates:
        text = re.sub(r"(\[plates\]\s*\n)enabled = true", r"\1enabled = false", text)
    path = folder / "lane.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _until_ready(config: Path, env: dict[str, str], folder: Path) -> float:
    address = str(folder / f"notify-{time.monotonic_ns()}")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(address)
        server.settimeout(1.0)
        started = time.monotonic()
        child = subprocess.Popen(
            [sys.executable, "-m", "edge", "run", "--config", str(config)],
            env={**env, "NOTIFY_SOCKET": address},
            cwd=ROOT,
            stderr=subprocess.DEVNULL,
        )
        try:
            while True:
                try:
                    if server.recv(4096).startswith(b"READY=1"):
                        return time.monotonic() - started
                except TimeoutError:
                    if child.poll() is not None:
                        raise SystemExit(f"edge run exited with {child.returncode}: run it by hand") from None
        finally:
            child.terminate()
            child.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--no-plates", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    env = {**os.environ, "NUMBA_CACHE_DIR": str(ROOT / "var" / "bench-numba-cache")}
    with tempfile.TemporaryDirectory() as tmp:
        first = None
        warm: list[float] = []
        for run in range(args.runs + 1):
            folder = Path(tmp) / f"run{run}"
            folder.mkdir()
            seconds = _until_ready(_config(folder, not args.no_plates), env, folder)
            if run == 0:
                first = seconds
            else:
                warm.append(seconds)
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", "import edge.daemon"], env=env, check=True, cwd=ROOT)
        imports = time.monotonic() - started
    print(
        json.dumps(
            {
                "plates": not args.no_plates,
                "first_run_s": round(first or 0.0, 2),
                "warm_ready_s": [round(s, 2) for s in warm],
                "warm_ready_max_s": round(max(warm), 2),
                "baseline_import_edge_daemon_s": round(imports, 2),
                "target_s": 3.0,
                "machine": f"{platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}",
            }
        )
    )


if __name__ == "__main__":
    main()
