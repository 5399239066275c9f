"""Journal entries with fields: a stored record's id is the RECORD_ID field of the daemon's line about it,
with SITE_ID, LANE, PRIORITY and SYSLOG_IDENTIFIER, sent by cysystemd (libsystemd's sd_journal_send).

libsystemd writes to the fixed path /run/systemd/journal/socket, so the child runs in its own mount
namespace (``unshare``, root) with a tmpfs on /run/systemd, and plays journald: it binds that socket and
decodes the native protocol (systemd.io/JOURNAL_NATIVE_PROTOCOL) of each datagram.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent(
    """
    import asyncio, json, os, socket, struct, sys, time
    from pathlib import Path

    os.makedirs("/run/systemd/journal", exist_ok=True)
    journal = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    journal.bind("/run/systemd/journal/socket")
    stat = os.fstat(2)
    os.environ["JOURNAL_STREAM"] = f"{stat.st_dev}:{stat.st_ino}"  # stderr is "the journal"

    from edge.cli import _logging
    from edge.demo import demo_config
    from edge.evidence import EvidenceStore
    from edge.evidence.recorder import Recorder
    from edge.evidence.spool import Spool
    from edge.lane.session import VehicleSession
    from edge.service import tag_logs

    def decode(data: bytes) -> dict:
        fields, i = {}, 0
        while i < len(data):
            end = data.index(b"\\n", i)
            line = data[i:end]
            if b"=" in line:
                key, value = line.split(b"=", 1)
                i = end + 1
            else:  # KEY\\n, 64-bit little-endian length, value, \\n
                key = line
                (size,) = struct.unpack("<Q", data[end + 1 : end + 9])
                value = data[end + 9 : end + 9 + size]
                i = end + 9 + size + 1
            fields[key.decode()] = value.decode("utf-8", "replace")
        return fields

    async def main(folder: Path) -> None:
        _logging(False)
        tag_logs("journal-site", 3)
        db = folder / "evidence.db"
        config = demo_config(dict.fromkeys(("wim", "separator", "axle_sensor", "display", "barrier"), "loop://"),
                             str(db), 1883)
        store = EvidenceStore(db)
        await store.open()
        recorder = Recorder(config, store, "t", dict, dict, None, wake_uplink=lambda: None,
                            spool=Spool(folder / "evidence.db.spool", size=64 * 1024))
        await recorder.open()
        record = recorder.make_failed(VehicleSession(7, time.monotonic()), RuntimeError("x"), {})
        await recorder.store_record(record)
        recorder.close()
        await store.close()
        journal.settimeout(0.5)
        entries = []
        try:
            while True:
                entries.append(decode(journal.recv(1 << 20)))
        except TimeoutError:
            pass
        print(json.dumps({"record_id": record.id, "entries": entries}))

    asyncio.run(main(Path(sys.argv[1])))
    """
)


def _namespace_available() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"], capture_output=True, check=False
    )
    return probe.returncode == 0


@pytest.mark.skipif(not _namespace_available(), reason="needs root and unshare for a private /run/systemd")
def test_a_record_id_is_a_journal_field(tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    command = (
        "mount -t tmpfs tmpfs /run/systemd && exec "
        f"{sys.executable} {script} {tmp_path} 2>{tmp_path / 'stderr'}"
    )
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr + (tmp_path / "stderr").read_text(errors="replace")[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    about = [e for e in result["entries"] if e.get("RECORD_ID") == result["record_id"]]
    assert about, [e.get("MESSAGE") for e in result["entries"]]
    entry = about[0]
    assert entry["SITE_ID"] == "journal-site" and entry["LANE"] == "3"
    assert entry["VEHICLE_NUMBER"] == "7" and entry["VERDICT"] == "reweigh"
    assert entry["PRIORITY"] == "6"  # info
    assert entry["SYSLOG_IDENTIFIER"] == "weighlane-edge"
    assert result["record_id"] in entry["MESSAGE"]
    # Every entry carries the station's site and lane, and nothing went to stderr instead.
    assert all(e.get("SITE_ID") == "journal-site" for e in result["entries"])
    assert "record" not in (tmp_path / "stderr").read_text(errors="replace")
