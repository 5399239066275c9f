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
