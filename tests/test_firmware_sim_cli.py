"""`python -m firmware_sim` on a technician's bench: prints the ports, streams frames, stops on Ctrl-C."""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
import time
from pathlib import Path

import serial

from drivers.wim_digitiser.codec import SampleBlock, new_codec


def test_standalone_simulator_prints_ports_and_streams(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "firmware_sim", "--link-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(6)]
        assert lines[0].startswith("scenario 'default'")
        names = [line.split()[0] for line in lines[1:]]
        assert names == ["wim", "separator", "axle_sensor", "display", "barrier"]
        codec = new_codec()
        blocks: list[SampleBlock] = []
        with serial.serial_for_url(str(tmp_path / "wim"), timeout=0.2) as port:
            deadline = time.monotonic() + 5
            while len(blocks) < 20 and time.monotonic() < deadline:
                blocks += [m for m in codec.feed(port.read(4096)) if isinstance(m, SampleBlock)]
        assert len(blocks) >= 20
        assert blocks[0].counts.shape == (10, 12)
        assert all(b.first_sample_index + 10 == c.first_sample_index for b, c in itertools.pairwise(blocks))
        process.send_signal(signal.SIGINT)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_back_to_back_packs_the_trucks_tighter_without_changing_them() -> None:
    from firmware_sim.physics import LaneGeometry, schedule
    from firmware_sim.scenario import back_to_back, load_scenario

    base = load_scenario("default")
    dense = back_to_back(base, 38.0, 0.6)
    geometry = LaneGeometry(platform_lengths_m=(6.0, 6.0, 6.0))
    motions = schedule(dense, geometry)
    per_truck_s = (motions[-1].t_last_axle_exit_s - motions[0].t_last_axle_exit_s) / (len(motions) - 1)
    usual = schedule(base, geometry)
    default_s = (usual[-1].t_last_axle_exit_s - usual[0].t_last_axle_exit_s) / (len(usual) - 1)
    assert 3.0 < per_truck_s < 3.8 < default_s
    assert [t.axle_loads_kg for t in dense.trucks] == [t.axle_loads_kg for t in base.trucks]
    assert [t.plate for t in dense.trucks] == [t.plate for t in base.trucks]
    assert {(t.speed_kmh, t.stop_on_scale_s, t.jump) for t in dense.trucks} == {(38.0, 0.0, False)}
    # one truck on the scale at a time, the next one 0.6 s after the last axle of the previous left
    for before, after in itertools.pairwise(motions):
        assert after.on_scale_interval(geometry)[0] > before.t_last_axle_exit_s


def test_standalone_simulator_accepts_back_to_back_traffic(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "firmware_sim",
            "--link-dir",
            str(tmp_path),
            "--back-to-back",
            "38",
            "--repeat",
            "1",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(6)]
        assert lines[0].startswith("scenario 'default'") and lines[5].startswith("barrier")
        time.sleep(1.0)  # the Ctrl-C handler is installed after the ports are printed
        process.send_signal(signal.SIGINT)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
    done = subprocess.run(
        [sys.executable, "-m", "firmware_sim", "--link-dir", str(tmp_path), "--back-to-back", "90"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 2 and "speed_kmh <= 60" in done.stderr
