"""Uplink throughput and the cost of a large outbox to the lane (issue 5 targets).

    python bench/uplink.py                      # 100,000-record backlog -> local Mosquitto: records/s
    python bench/uplink.py --large 1000000      # + store latencies with 1,000,000 unsent rows (once)
    python bench/uplink.py --generate 500000    # only write (or find) that backlog, for bench/lane_latency.py
    python bench/uplink.py --records 0 --restarts 10   # broker killed and restarted: reconnect times

The backlog is written through the real ``EvidenceStore.add`` (canonical JSON, hash chain, Ed25519
signature, record and outbox row in one transaction) into a real SQLite file, cached under ``var/``
and copied for each run.  Generation runs with ``synchronous=OFF`` to save an hour of fsyncs; every
measurement runs with the store's own ``synchronous=FULL``.

Drain: the real ``Uplink`` (QoS 1, a row marked sent only after its PUBACK, ``mqtt.max_inflight``
publishes in flight) against a private Mosquitto on a free port; a subscriber counts what arrives.
In the same run, on the same broker, a minimal paho publisher (its own process, no asyncio, no
SQLite writes) sends the same payloads at QoS 1 with the same window (a new publish whenever a PUBACK
frees a slot): the baseline.  ``uplink_to_paho`` is the ratio of the two rates (target >= 0.5).

Large outbox: with ``--large N`` unsent rows, the latency of ``store.add`` (what a vehicle's record
costs; the verdict is on the board before it), of ``store.pending`` (the uplink's next batch), and of
a retention pass, each compared with an empty store.  Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from edge.config import OFFLINE_DEVICES, Config  # noqa: E402
from edge.evidence import EvidenceStore, Retention  # noqa: E402
from edge.evidence.store import OutboxEntry  # noqa: E402
from edge.uplink import Uplink, record_topic  # noqa: E402
from tests.support.broker import MosquittoProcess  # noqa: E402

SITE = "bench-site"


def config_for(database: Path, port: int, max_inflight: int) -> Config:
    return Config.model_validate(
        {
            "site": {"id": SITE, "lane": 1},
            "devices": OFFLINE_DEVICES,
            "evidence": {"database": str(database)},
            "mqtt": {"port": port, "max_inflight": max_inflight, "heartbeat_s": 3600},
        }
    )


def vehicle_record(number: int) -> dict[str, Any]:
    """A record shaped and sized like the daemon's (edge/daemon.py _record), about 2.5 kB."""
    device = {
        "state": "up",
        "frames_ok": 123456 + number,
        "frames_bad": 0,
        "bad_crc": 0,
        "bad_cobs": 0,
        "reconnects": 0,
        "last_error": "",
        "clock_offset_s": 1234.5678,
        "port": "/dev/weigh/scale0",
    }
    axles = [6512.3, 8734.1, 8701.9, 8012.4, 7998.0, 8050.7]
    return {
        "schema": "weighlane.record/1",
        "id": str(uuid.uuid4()),
        "site_id": SITE,
        "lane": 1,
        "vehicle_number": number,
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "plate": None,
        "axle_count": 6,
        "tyres": ["single", "dual", "dual", "dual", "dual", "dual"],
        "vehicle_class": "6-combination",
        "body": "combination",
        "axle_groups": [1, 2, 3],
        "wim": {
            "axle_loads_kg": axles,
            "axle_spacings_m": [3.4, 1.35, 6.5, 1.31, 1.31],
            "speed_kmh": 16.2,
            "axle_speeds_kmh": [16.1, 16.2, 16.2, 16.3, 16.2, 16.2],
            "gross_kg": sum(axles),
            "residual_fraction": 0.011,
            "platform_loads_kg": [15234.1, 16011.2, 16763.7],
        },
        "limit": {
            "limit_kg": 49000,
            "base_limit_kg": 49000,
            "rule_id": "art3-6-combination",
            "rule_text": "六轴铰接列车 49000 kg (交通运输部令2016年第62号 第三条)",
            "source": "GB 1589-2016",
            "deductions": [],
            "notes": [],
            "tolerance_factor": 1.05,
            "threshold_kg": 51450.0,
        },
        "verdict": "pass",
        "reasons": [],
        "lane_output": {"display": "ok", "barrier": "ok"},
        "timing": {
            "curtain_enter_utc": "2026-11-22T08:00:00.000Z",
            "curtain_leave_utc": "2026-11-22T08:00:04.000Z",
            "last_axle_exit_utc": "2026-11-22T08:00:07.000Z",
            "decided_utc": "2026-11-22T08:00:07.023Z",
            "verdict_latency_ms": 23.1,
        },
        "devices": {name: dict(device) for name in ("wim", "separator", "axle_sensor", "display", "barrier")},
        "calibration": {
            "kg_per_count": 0.02,
            "static": None,
            "static_overdue": None,
            "zero_source": "preroll",
            "dynamic_correction_factor": 1.0,
            "drift_monitor": {"alarm": False, "samples": 120, "shift_fraction": 0.002},
        },
        "software": {"name": "weighlane-edge", "version": "bench"},
        "attachments": [],
    }


async def generate(path: Path, count: int) -> float:
    """Write ``count`` records through EvidenceStore.add into ``path``; returns records/s."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    for leftover in partial.parent.glob(partial.name + "*"):
        leftover.unlink()
    store = EvidenceStore(partial)
    await store.open()
    db = store._db  # generation only: skip the fsync per record
    assert db is not None
    db.conn.execute("PRAGMA synchronous=OFF")
    topic = f"site/{SITE}/lane/1/record"
    started = time.perf_counter()
    for number in range(1, count + 1):
        await store.add(vehicle_record(number), topic)
        if number % 50_000 == 0:
            print(f"  generated {number:,} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    rate = count / (time.perf_counter() - started)
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    await store.close()
    _move_database(partial, path)
    return rate


def _move_database(source: Path, target: Path) -> None:
    source.rename(target)
    for suffix in (".ed25519.key", ".ed25519.pub"):
        Path(str(source) + suffix).rename(str(target) + suffix)


async def backlog(count: int, cache_dir: Path) -> Path:
    cached = cache_dir / f"uplink-backlog-{count}.db"
    if not cached.exists():
        print(f"generating {count:,} records into {cached} (once)", file=sys.stderr)
        rate = await generate(cached, count)
        print(f"  {rate:.0f} records/s through EvidenceStore.add (synchronous=OFF)", file=sys.stderr)
    return cached


def copy_database(source: Path, target: Path) -> None:
    shutil.copyfile(source, target)
    for suffix in (".ed25519.key", ".ed25519.pub"):
        shutil.copyfile(str(source) + suffix, str(target) + suffix)
    Path(str(target) + ".ed25519.key").chmod(0o600)


def percentiles(values: list[float], unit: str = "ms") -> dict[str, float]:
    arr = np.asarray(values, dtype=np.float64)
    return {
        f"p50_{unit}": round(float(np.percentile(arr, 50)), 3),
        f"p90_{unit}": round(float(np.percentile(arr, 90)), 3),
        f"p99_{unit}": round(float(np.percentile(arr, 99)), 3),
        f"max_{unit}": round(float(arr.max()), 3),
    }


class TimedStore(EvidenceStore):
    """The real store, noting when each batch was marked sent (after its PUBACKs) and how long the
    mark (one transaction, one fsync) took."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.sent_at: list[tuple[float, int]] = []
        self.mark_ms: list[float] = []

    async def pending(self, limit: int, after_seq: int = 0) -> list[OutboxEntry]:
        return await super().pending(limit, after_seq)

    async def mark_sent(self, seqs: list[int]) -> None:
        started = time.perf_counter()
        await super().mark_sent(seqs)
        now = time.perf_counter()
        self.mark_ms.append((now - started) * 1000)
        self.sent_at.append((now, len(seqs)))


async def drain(source: Path, count: int, max_inflight: int, workdir: Path) -> dict[str, Any]:
    database = workdir / "drain.db"
    copy_database(source, database)
    broker = MosquittoProcess()
    if not broker.available:
        raise SystemExit("mosquitto is not installed: apt-get install mosquitto (scripts/install.sh does)")
    broker.start()
    try:
        baseline = await asyncio.to_thread(paho_baseline, database, broker.port, count, max_inflight)
        config = config_for(database, broker.port, max_inflight)
        store = TimedStore(database)
        await store.open()
        # The central side in its own process (paho, no asyncio), so it does not share the uplink's loop.
        subscriber = start_subscriber(broker.port, record_topic(config), count)
        assert subscriber.stdout is not None
        if subscriber.stdout.readline().strip() != "subscribed":
            raise SystemExit("the counting subscriber did not start")
        uplink = Uplink(config, store)
        stop = asyncio.Event()
        started = time.perf_counter()
        task = asyncio.create_task(uplink.run(stop))
        while (await store.counts())["outbox_pending"] > 0:
            if task.done():
                task.result()  # the uplink failed: show why
                raise SystemExit(f"the uplink stopped with rows unsent: {uplink.health()}")
            await asyncio.sleep(0.25)
        elapsed = time.perf_counter() - started
        stop.set()
        await task
        received = int((await asyncio.to_thread(subscriber.communicate, timeout=60))[0].strip() or 0)
        await store.close()
    finally:
        broker.cleanup()
    # Records marked sent in each whole second of the drain.
    per_second: dict[int, int] = {}
    for at, n in store.sent_at:
        second = int(at - started)
        per_second[second] = per_second.get(second, 0) + n
    whole = [per_second.get(s, 0) for s in range(int(elapsed))] or [count]
    return {
        "records": count,
        "max_inflight": max_inflight,
        "seconds": round(elapsed, 2),
        "records_per_s": round(count / elapsed),
        "per_second_window": {
            "p5_records": int(np.percentile(whole, 5)),
            "p50_records": int(np.percentile(whole, 50)),
        },
        "batch_interval": percentiles(
            [(b - a) * 1000 for (a, _), (b, _) in itertools.pairwise(store.sent_at)]
        ),
        "mark_sent_transaction": percentiles(store.mark_ms),
        "received_by_subscriber": received,
        # Fewer than ``records`` when the counting subscriber falls behind: Mosquitto then drops QoS 1
        # messages for it past max_queued_messages (1000).  Every row marked sent had its accepting PUBACK.
        "uplink_connects": uplink.connects,
        "paho_baseline": baseline,
        "uplink_to_paho": round(count / elapsed / baseline["messages_per_s"], 3),
    }


def paho_baseline(database: Path, port: int, count: int, window: int) -> dict[str, Any]:
    """The minimal windowed publisher, in its own process; returns its JSON report."""
    finished = subprocess.run(
        [sys.executable, __file__, "--paho-baseline", str(database), str(port), str(count), str(window)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    report: dict[str, Any] = json.loads(finished.stdout)
    return report


def paho_publisher(database: Path, port: int, count: int, window: int) -> None:
    """Publish the outbox's first ``count`` payloads at QoS 1 (MQTT 5), at most ``window`` unacknowledged,
    through paho's own network thread; print messages/s from the first publish to the last PUBACK.  The
    payloads are read beforehand (not timed) and nothing is written back: the ceiling for one client."""
    import sqlite3
    import threading

    import paho.mqtt.client as paho

    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT topic, payload FROM outbox ORDER BY seq LIMIT ?", (count,)).fetchall()
    slots = threading.Semaphore(window)
    done = threading.Event()
    acked = 0

    def on_publish(_client: Any, _userdata: Any, _mid: int, _reason: Any, _properties: Any) -> None:
        nonlocal acked
        acked += 1
        slots.release()
        if acked == len(rows):
            done.set()

    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bench-paho", protocol=paho.MQTTv5)
    client.max_inflight_messages_set(window)
    client.max_queued_messages_set(0)
    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    started = time.perf_counter()
    for topic, payload in rows:
        slots.acquire()
        client.publish(topic + "/paho", bytes(payload), qos=1)
    done.wait(600)
    elapsed = time.perf_counter() - started
    client.disconnect()
    client.loop_stop()
    print(
        json.dumps(
            {
                "messages": acked,
                "window": window,
                "seconds": round(elapsed, 2),
                "messages_per_s": round(acked / elapsed),
            }
        )
    )


def start_subscriber(port: int, topic: str, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, "--count-subscriber", str(port), topic, str(count)],
        stdout=subprocess.PIPE,
        text=True,
    )


def count_subscriber(port: int, topic: str, count: int) -> None:
    """Subscribe at QoS 1 and print how many messages arrived once ``count`` did (or 10 s of silence)."""
    import paho.mqtt.client as paho

    received = 0
    last = time.monotonic()

    def on_message(_client: Any, _userdata: Any, _message: Any) -> None:
        nonlocal received, last
        received += 1
        last = time.monotonic()

    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bench-central")
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.subscribe(topic, qos=1)
    client.loop_start()
    time.sleep(0.5)
    print("subscribed", flush=True)
    while received < count and time.monotonic() - last < 10 + (0 if received else 600):
        time.sleep(0.05)
    client.loop_stop()
    print(received, flush=True)


async def timed(calls: int, fn: Any) -> list[float]:
    values = []
    for _ in range(calls):
        started = time.perf_counter()
        await fn()
        values.append((time.perf_counter() - started) * 1000)
    return values


async def store_latencies(database: Path, calls: int) -> dict[str, Any]:
    """add(), pending() and a retention pass on ``database`` (unsent rows as they are)."""
    store = EvidenceStore(database)
    await store.open()
    try:
        topic = f"site/{SITE}/lane/1/record"
        counter = iter(range(10**9))
        add = await timed(calls, lambda: store.add(vehicle_record(next(counter)), topic))
        pend = await timed(calls, lambda: store.pending(64))
        counts = await store.counts()
        retention = Retention(store, 1)  # over any budget: a full pass that finds nothing to evict
        passes = await timed(3, retention.run_once)
    finally:
        await store.close()
    return {
        "outbox_pending": counts["outbox_pending"],
        "add": percentiles(add),
        "pending_64": percentiles(pend),
        "retention_pass": percentiles(passes),
    }


async def large_outbox(count: int, cache_dir: Path, workdir: Path, calls: int) -> dict[str, Any]:
    source = await backlog(count, cache_dir)
    database = workdir / "large.db"
    copy_database(source, database)
    empty = await store_latencies(workdir / "empty.db", calls)
    full = await store_latencies(database, calls)
    return {"rows": count, "empty_store": empty, "large_outbox": full}


async def restarts(times: int, down_s: float, workdir: Path) -> dict[str, Any]:
    """Kill the broker (kill -9) ``times`` times under a connected uplink that streams a record every
    0.1 s, and start it again on the same port after ``down_s``: how long the uplink takes to notice (its
    state leaves "connected"; capped at ``down_s``) and, once the broker listens again, to be connected
    again."""
    broker = MosquittoProcess()
    if not broker.available:
        raise SystemExit("mosquitto is not installed: apt-get install mosquitto (scripts/install.sh does)")
    broker.start()
    store = EvidenceStore(workdir / "restarts.db")
    await store.open()
    config = config_for(workdir / "restarts.db", broker.port, 256)
    uplink = Uplink(config, store)
    stop = asyncio.Event()
    task = asyncio.create_task(uplink.run(stop))

    async def stream() -> None:
        for number in itertools.count(1):
            await store.add(vehicle_record(number), record_topic(config))
            uplink.wake.set()
            await asyncio.sleep(0.1)

    feeder = asyncio.create_task(stream())
    noticed: list[float] = []
    reconnected: list[float] = []

    async def until(condition: Any, limit_s: float) -> float | None:
        started = time.perf_counter()
        while not condition():
            if time.perf_counter() - started > limit_s:
                return None
            await asyncio.sleep(0.005)
        return time.perf_counter() - started

    try:
        await until(lambda: uplink.state == "connected", 30)
        for _ in range(times):
            await asyncio.sleep(1.0)
            connects = uplink.connects
            broker.kill()
            seen = await until(lambda: uplink.state != "connected", down_s)
            noticed.append(down_s if seen is None else seen)
            await asyncio.sleep(max(0.0, down_s - noticed[-1]))
            await asyncio.to_thread(broker.start)
            back = await until(lambda before=connects: uplink.connects > before, 60)
            if back is None:
                raise SystemExit(f"the uplink did not reconnect within 60 s: {uplink.health()}")
            reconnected.append(back)
    finally:
        feeder.cancel()
        stop.set()
        await task
        await store.close()
        broker.cleanup()
    return {
        "restarts": times,
        "broker_down_s": down_s,
        "noticed_s": {"median": round(float(np.median(noticed)), 3), "max": round(max(noticed), 3)},
        "reconnected_after_start_s": {
            "median": round(float(np.median(reconnected)), 3),
            "max": round(max(reconnected), 3),
        },
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    cache_dir = Path(args.cache_dir)
    workdir = Path(tempfile.mkdtemp(prefix="bench-uplink-", dir=args.workdir or None))
    try:
        result: dict[str, Any] = {
            "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
            "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if args.generate:
            result["backlog"] = str(await backlog(args.generate, cache_dir))
            return result
        if args.records:
            source = await backlog(args.records, cache_dir)
            result["drain"] = await drain(source, args.records, args.max_inflight, workdir)
            result["drain"]["target_records_per_s"] = 2000
        if args.restarts:
            result["restarts"] = await restarts(args.restarts, args.down_s, workdir)
        if args.large:
            result["large"] = await large_outbox(args.large, cache_dir, workdir, args.calls)
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--paho-baseline":
        paho_publisher(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
        raise SystemExit(0)
    if len(sys.argv) == 5 and sys.argv[1] == "--count-subscriber":
        count_subscriber(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
        raise SystemExit(0)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=100_000, help="backlog to drain (0 skips the drain)")
    parser.add_argument(
        "--max-inflight", type=int, default=256, help="mqtt.max_inflight for the drain (shipped: 256)"
    )
    parser.add_argument(
        "--large", type=int, default=0, help="unsent rows for the store latencies (e.g. 1000000)"
    )
    parser.add_argument("--restarts", type=int, default=0, help="broker kills and restarts to time")
    parser.add_argument("--down-s", type=float, default=5.0, help="how long the broker stays down (s)")
    parser.add_argument("--calls", type=int, default=500, help="timed calls of add() and pending()")
    parser.add_argument(
        "--generate",
        type=int,
        default=0,
        help="only generate a backlog of this many records (cached) and exit",
    )
    parser.add_argument(
        "--cache-dir", default=str(ROOT / "var" / "bench"), help="where generated backlogs are kept"
    )
    parser.add_argument("--workdir", default="", help="where the working copies go (default: the temp dir)")
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2, ensure_ascii=False))
