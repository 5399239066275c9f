"""Process-wide settings the package makes on import."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest


def _blas_threads_after_import(env: dict[str, str]) -> str:
    code = "import edge, os; print(os.environ['OPENBLAS_NUM_THREADS'])"
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_importing_edge_limits_blas_to_one_thread_unless_told_otherwise() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    assert _blas_threads_after_import(env) == "1"
    assert _blas_threads_after_import({**env, "OPENBLAS_NUM_THREADS": "4"}) == "4"


REPO = Path(__file__).resolve().parents[1]


def test_run_time_code_never_names_the_shared_folder() -> None:
    """Only benches and tests read ../shared (the validation crops); the installed package carries its assets."""
    offenders = [
        f"{path.relative_to(REPO)}:{number}"
        for folder in ("edge", "drivers", "firmware_sim")
        for path in sorted((REPO / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "locate_shared_dir" in line or "WEIGHLANE_SHARED" in line
    ]
    assert offenders == []


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_wheel_installed_outside_the_checkout_runs_the_demo(tmp_path: Path) -> None:
    """`pip install` of a wheel into a fresh venv, then `edge demo --vehicles 3` from another folder: the
    templates, fonts and models come from the installed package, with no ../shared beside it.  The venv
    borrows this interpreter's dependencies through a .pth line (a full install copies about 640 MB)."""
    pip = [sys.executable, "-m", "pip"]
    subprocess.run(
        [*pip, "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"), str(REPO)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("weighlane_edge-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    dependencies = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site) / "dependencies.pth").write_text("\n".join(sorted(dependencies)) + "\n")
    subprocess.run(
        [*pip, "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run(
        [
            str(python),
            "-c",
            "import edge; from edge.plates.reader import MODEL_DIR; from models.plates.render import assets_dir;"
            "print(edge.__file__); print(MODEL_DIR); print(assets_dir())",
        ],
        cwd=elsewhere,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert all(line.startswith(site) for line in where), where  # not the checkout
    env = {k: v for k, v in os.environ.items() if k != "WEIGHLANE_SHARED"}
    result = subprocess.run(
        [str(venv / "bin" / "edge"), "demo", "--vehicles", "3", "--no-broker", "--workdir", "work"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "3 vehicles judged" in result.stdout
    assert "No simulated camera" not in result.stdout
    (database,) = (elsewhere / "work").glob("run-*/evidence.db")
    with sqlite3.connect(database) as conn:
        plates = [
            row[0]
            for row in conn.execute("SELECT json_extract(record_json, '$.plate_reading.text') FROM records")
        ]
    assert len(plates) >= 3 and sum(bool(text) for text in plates) >= 2, plates  # the camera really ran


_NO_NETWORK = '''"""Loaded first by the `edge plate read` subprocess: any network connection raises."""
import socket

_connect = socket.socket.connect


def _refuse(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        raise OSError(101, "network is unreachable (tests/test_package.py)")
    return _connect(self, address)


socket.socket.connect = _refuse
socket.socket.connect_ex = lambda self, address: _refuse(self, address) or 0
'''


def _unshare_network() -> list[str]:
    """``unshare -n`` (a network namespace with nothing but a loopback that is down) when this user may
    make one (root, or user namespaces allowed), else nothing: the socket guard and the closed proxies
    still stand."""
    try:
        probe = subprocess.run(["unshare", "-n", "true"], check=False, capture_output=True, timeout=30)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return []
    return ["unshare", "-n"] if probe.returncode == 0 else []


def test_plate_read_works_without_a_network(tmp_path: Path) -> None:
    """`edge plate read <frame>` with no network (issue 15): every model, PP-OCR's included, comes from
    the installed packages, none is downloaded.  The command runs in a network namespace of its own when
    one can be made, always with Python's sockets refusing to connect, proxies pointing to a closed port
    and empty home and cache folders; it must read a rendered plate right.  Never skipped."""
    import cv2
    import numpy as np

    from models.plates.render import PlateRenderer

    text = "皖A12345"
    frame, truth = PlateRenderer().frame_sample(
        np.random.default_rng(7), size=(1920, 1080), plates=[(text, "blue_single")]
    )
    assert [plate["text"] for plate in truth] == [text]
    image = tmp_path / "frame.jpg"
    image.write_bytes(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes())
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(_NO_NETWORK, encoding="utf-8")
    home = tmp_path / "home"
    home.mkdir()
    closed = "http://127.0.0.1:9"  # the discard port: nothing listens, and the guard refuses it anyway
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": os.pathsep.join([str(guard), str(REPO)]),
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        **dict.fromkeys(("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"), closed),
        "no_proxy": "",
        "LANG": "C.UTF-8",
    }
    isolate = _unshare_network()  # root here; a container without CAP_SYS_ADMIN falls back to the guards
    probe = subprocess.run(
        [*isolate, sys.executable, "-c", "import socket; socket.create_connection(('192.0.2.1', 80), 2)"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode != 0, "the subprocess could still open a connection"
    result = subprocess.run(
        [*isolate, sys.executable, "-m", "edge.cli", "plate", "read", str(image)],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    entry = json.loads(result.stdout)
    assert [(p["text"], p["status"]) for p in entry["plates"]] == [(text, "valid")], entry
    assert entry["plates"][0]["second_opinion"] == text  # PP-OCR was there, offline, to cross-check it
    assert not list(home.rglob("*.onnx")), "nothing was fetched into the empty home"
