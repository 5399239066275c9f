"""A full disk loses no record, even across a power-cut-style kill: the disk-full spool.

The full disk is real where the test may mount (root): a 2 MiB tmpfs, filled by a ballast file until
the kernel says ENOSPC.  Elsewhere SQLite's ``max_page_count`` makes the database refuse to grow (the
same "database or disk is full" error); the spool's own writes then see free space.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.demo import demo_config
from edge.evidence import EvidenceStore, verify_database
from edge.evidence.recorder import Recorder
from edge.evidence.spool import Spool, SpoolFull
from edge.lane.session import VehicleSession

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def small_volume(folder: Path) -> Iterator[bool]:
    """A 2 MiB tmpfs at ``folder`` (True), or a plain folder when mounting is not allowed (False)."""
    folder.mkdir()
    mounted = (
        os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)], capture_output=True, check=False
        ).returncode
        == 0
    )
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    """Write a ballast file until the volume is full; returns it (delete it to free the space)."""
    ballast = folder / "ballast"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\xff" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return ballast


def test_spool_keeps_records_in_order_and_skips_a_torn_line(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "e.db.spool", size=64 * 1024)
    spool.open()
    for i in range(3):
        spool.append({"id": f"r{i}", "n": i})
    spool.close()
    assert (tmp_path / "e.db.spool").stat().st_size == 64 * 1024  # reserved in full
    with (tmp_path / "e.db.spool").open("r+b") as raw:  # a power cut in the middle of a fourth write
        raw.seek(
            len(
                b"".join(
                    json.dumps({"id": f"r{i}", "n": i}, separators=(",", ":")).encode() + b"\n"
                    for i in range(3)
                )
            )
        )
        raw.write(b'{"id":"r3","n"')
    again = Spool(tmp_path / "e.db.spool", size=64 * 1024)
    again.open()
    assert [r["id"] for r in again.records()] == ["r0", "r1", "r2"]
    again.append({"id": "r4"})  # overwrites the torn line
    assert [r["id"] for r in again.records()] == ["r0", "r1", "r2", "r4"]
    again.clear()
    assert len(again) == 0 and again.records() == []
    again.close()


def test_spool_says_full_when_it_cannot_grow(tmp_path: Path) -> None:
    with small_volume(tmp_path / "vol") as mounted:
        if not mounted:
            pytest.skip("needs a mountable tmpfs (root) for a real ENOSPC")
        spool = Spool(tmp_path / "vol" / "e.db.spool", size=8 * 1024)
        spool.open()
        ballast = fill(tmp_path / "vol")
        written = 0
        with pytest.raises(SpoolFull, match="disk-full spool"):
            for i in range(1000):
                spool.append({"id": f"r{i}", "pad": "x" * 1000})
                written += 1
        assert written >= 7, "the reserved room takes records on a full disk"
        assert len(spool.records()) == written
        ballast.unlink()
        spool.close()


CHILD = textwrap.dedent(
    """
    import asyncio, sys, time
    from pathlib import Path
    from edge.demo import demo_config
    from edge.evidence import EvidenceStore
    from edge.evidence.recorder import Recorder
    from edge.evidence.spool import Spool
    from edge.lane.session import VehicleSession
    from tests.test_disk_full_spool import fill

    async def main(volume: Path, mounted: bool) -> None:
        db = volume / "evidence.db"
        config = demo_config(dict.fromkeys(("wim", "separator", "axle_sensor", "display", "barrier"), "loop://"),
                             str(db), 1883)
        store = EvidenceStore(db)
        await store.open()
        recorder = Recorder(config, store, "t", dict, dict, None, wake_uplink=lambda: None,
                            spool=Spool(volume / "evidence.db.spool", size=256 * 1024))
        await recorder.open()
        ids = []
        for n in range(1, 4):  # stored normally
            record = recorder.make_failed(VehicleSession(n, time.monotonic()), RuntimeError("x"), {})
            await recorder.store_record(record)
            ids.append(record.id)
        if mounted:
            fill(volume)
        else:
            assert store._db is not None
            pages = store._db.conn.execute("PRAGMA page_count").fetchone()[0]
            store._db.conn.execute(f"PRAGMA max_page_count = {pages}")
        for n in range(4, 24):  # the disk is full
            record = recorder.make_failed(VehicleSession(n, time.monotonic()), RuntimeError("x"), {})
            await recorder.store_record(record)
            ids.append(record.id)
        stored = (await store.counts())["records"]
        print("WAITING", recorder.waiting_for_disk, stored, " ".join(ids), flush=True)
        await asyncio.sleep(3600)  # the power cut comes here

    asyncio.run(main(Path(sys.argv[1]), sys.argv[2] == "1"))
    """
)


async def test_no_record_is_lost_across_a_full_disk_and_a_kill(tmp_path: Path) -> None:
    with small_volume(tmp_path / "vol") as mounted:
        volume = tmp_path / "vol"
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CHILD,
            str(volume),
            "1" if mounted else "0",
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert child.stdout is not None
            line = (await asyncio.wait_for(child.stdout.readline(), 120)).decode().split()
        finally:
            child.send_signal(signal.SIGKILL)  # a power cut: no clean-up, no close
            await child.wait()
        assert line and line[0] == "WAITING", line
        waiting, stored_before, ids = int(line[1]), int(line[2]), line[3:]
        assert len(ids) == 23
        assert waiting >= 19, "the records after the disk filled wait in the spool"
        assert waiting + stored_before == 23

        # The technician frees space; the daemon starts again.
        with contextlib.suppress(FileNotFoundError):
            (volume / "ballast").unlink()
        db = volume / "evidence.db"
        config = demo_config(
            dict.fromkeys(("wim", "separator", "axle_sensor", "display", "barrier"), "loop://"), str(db), 1883
        )
        store = EvidenceStore(db)
        await store.open()
        recorder = Recorder(
            config,
            store,
            "t",
            dict,
            dict,
            None,
            wake_uplink=lambda: None,
            spool=Spool(volume / "evidence.db.spool", size=256 * 1024),
        )
        await recorder.open()
        try:
            assert recorder.waiting_for_disk == waiting
            await recorder.retry_unstored()
            assert recorder.waiting_for_disk == 0
            assert (await store.counts())["records"] == 23
            await recorder.retry_unstored()  # nothing twice
            assert (await store.counts())["records"] == 23
        finally:
            recorder.close()
            await store.close()
        report = verify_database(db)
        assert report.ok, report.lines()
        with sqlite3.connect(db) as conn:
            stored = [row[0] for row in conn.execute("SELECT id FROM records ORDER BY seq")]
        assert stored == ids, "stored in the lane's order"


async def test_a_replay_cut_short_stores_nothing_twice(tmp_path: Path) -> None:
    """A crash after some spooled records reached the store but before the spool was cleared."""
    db = tmp_path / "evidence.db"
    config = demo_config(
        dict.fromkeys(("wim", "separator", "axle_sensor", "display", "barrier"), "loop://"), str(db), 1883
    )
    store = EvidenceStore(db)
    await store.open()
    spool = Spool(tmp_path / "evidence.db.spool", size=64 * 1024)
    recorder = Recorder(config, store, "t", dict, dict, None, wake_uplink=lambda: None, spool=spool)
    await recorder.open()
    try:
        records = [
            recorder.make_failed(VehicleSession(n, time.monotonic()), RuntimeError("x"), {}) for n in range(5)
        ]
        for record in records:
            spool.append(record.to_json_dict())
        for record in records[:2]:  # already replayed when the power went
            await store.add(record.to_json_dict(), "t")
        await recorder.retry_unstored()
        assert (await store.counts())["records"] == 5
        assert len(spool) == 0
    finally:
        recorder.close()
        await store.close()


async def test_the_heartbeat_vehicle_count_goes_on_after_a_restart(tmp_path: Path) -> None:
    from edge.daemon import LaneDaemon

    db = tmp_path / "evidence.db"
    config = demo_config(
        dict.fromkeys(("wim", "separator", "axle_sensor", "display", "barrier"), "loop://"), str(db), 1883
    )
    store = EvidenceStore(db)
    await store.open()
    spool = Spool(tmp_path / "evidence.db.spool", size=64 * 1024)
    recorder = Recorder(config, store, "t", dict, dict, None, wake_uplink=lambda: None, spool=spool)
    await recorder.open()
    for n in range(3):  # three vehicles stored by an earlier run, one still in the spool
        await recorder.store_record(
            recorder.make_failed(VehicleSession(n, time.monotonic()), RuntimeError("x"), {})
        )
    spool.append(
        recorder.make_failed(VehicleSession(4, time.monotonic()), RuntimeError("x"), {}).to_json_dict()
    )
    recorder.close()
    await store.close()

    daemon = LaneDaemon(config)
    stop = asyncio.Event()
    run = asyncio.create_task(daemon.run(stop))
    await asyncio.wait_for(daemon.ready.wait(), 60)
    try:
        assert daemon.status_summary()["vehicles"] == 4
    finally:
        stop.set()
        await asyncio.wait_for(run, 15)
    with sqlite3.connect(db) as conn:  # the housekeeping replayed the spool
        assert conn.execute("SELECT COUNT(*) FROM records").fetchone()[0] == 4
