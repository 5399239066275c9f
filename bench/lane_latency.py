"""Lane latency: from the last axle leaving the platform to the verdict reaching the LED board.

Both instants are taken on the simulator's world clock: the physical model knows when the last axle
crossed the exit strip, and the simulated board stamps the moment it decodes the ShowText frame.  In
between lie the tyre recogniser's frame on its pty, the daemon's lane state machine, the wait for load
samples, the Numba kernels, the limits, and the board's frame on its pty.

    python bench/lane_latency.py                      # default scenario once (28 vehicles, ~6.5 min)
    python bench/lane_latency.py --repeat 3           # 84 vehicles
    python bench/lane_latency.py --plates             # with the simulated camera and plate reading on
    python bench/lane_latency.py --console 2          # the technician console on, two Chromium pages
                                                      # logged in and streaming the whole time
    python bench/lane_latency.py --outbox var/bench/uplink-backlog-1000000.db   # with 1,000,000 unsent
                                                      # records (bench/uplink.py makes it) draining meanwhile
    python bench/lane_latency.py --full --compare     # the whole verdict (issue 17): the LiDAR gantry
                                                      # simulator over TCP and outline measurement, plates,
                                                      # permits and a watch-list loaded; then the plain
                                                      # lane in the same invocation as the baseline
    python bench/lane_latency.py --full --trucks 14   # the first 14 trucks only

Prints one JSON object: n, p50_ms, p90_ms, p99_ms, max_ms, plus the daemon's own decide latency, what
the uplink sent and how long it held the backlog back for the lane, and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # as the daemon does (edge/__init__.py)
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.config import Config  # noqa: E402
from edge.daemon import LaneDaemon  # noqa: E402
from edge.demo import demo_config, geometry_for  # noqa: E402
from edge.downlink import DownlinkStore, parse_document  # noqa: E402
from firmware_sim.lane import SimulatedLane  # noqa: E402
from firmware_sim.lidar import LidarGantry  # noqa: E402
from firmware_sim.lidar_scene import FAULTS, Part, Passage, VehicleShape, default_gantry  # noqa: E402
from firmware_sim.scenario import load_scenario  # noqa: E402
from tests.support.broker import MosquittoProcess  # noqa: E402

CONSOLE_PASSWORD = "bench-console-password"


def _percentiles(values_ms: list[float]) -> dict[str, float]:
    if not values_ms:  # no verdict matched: say so in the report instead of failing after the run
        return dict.fromkeys(("p50_ms", "p90_ms", "p99_ms", "max_ms"), float("nan"))
    arr = np.asarray(values_ms)
    return {
        "p50_ms": round(float(np.percentile(arr, 50)), 2),
        "p90_ms": round(float(np.percentile(arr, 90)), 2),
        "p99_ms": round(float(np.percentile(arr, 99)), 2),
        "max_ms": round(float(arr.max()), 2),
    }


#: With --full, the lane simulator starts this long after the gantry simulator (the daemon starts between).
LEAD_S = 15.0


def _van(length_m: float, height_m: float) -> VehicleShape:
    return VehicleShape(
        "van",
        (
            Part(0.0, 0.5, -1.22, 1.22, 0.45, 1.2),
            Part(0.05, 2.2, -1.22, 1.22, 0.9, 3.1),
            Part(2.4, length_m, -1.25, 1.25, 1.0, height_m),
        ),
    )


def _passages(sim: SimulatedLane, lead_s: float, gap_s: float) -> list[Passage]:
    """One gantry passage per truck, its front at the gantry (at the curtain) when the lane simulator's
    curtain sees it; every fifth truck 4.3 m high (oversize), the others 3.6 m."""
    passages, offset = [], 0.0
    for index, motion in enumerate(sim.motions):
        front_t = motion.curtain_interval(sim.geometry.separator_x_m)[0] + lead_s
        shape = _van(motion.length_m, 4.3 if index % 5 == 4 else 3.6)
        passage = Passage(
            shape, speed_m_s=motion.speed_m_s, approach_m=max(0.0, motion.speed_m_s * (front_t - offset))
        )
        passages.append(passage)
        offset += passage.duration_s() + gap_s
    return passages


class _GantryThread:
    """The LiDAR gantry simulator on its own event loop in its own thread (a scanner is its own device:
    its encoding work must not run on the daemon's loop)."""

    def __init__(self, gantry: LidarGantry) -> None:
        self.gantry = gantry
        self.started = threading.Event()
        self.start_s = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._main()), name="lidar-gantry", daemon=True
        )

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with self.gantry:
            self.start_s = time.monotonic()
            self.started.set()
            await self._stop.wait()

    def start(self) -> None:
        self._thread.start()
        self.started.wait(30)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def _load_documents(config: Config, scenario: Any) -> dict[str, int]:
    """Permits for every third plate, a watch-list of every fourth, stored as the downlink stores them."""
    site = config.site.id
    validity = {"valid_from_utc": "2026-01-01T00:00:00Z", "valid_until_utc": "2099-01-01T00:00:00Z"}
    trucks = list(scenario.trucks)
    permits = [
        {
            "permit_id": f"P-{i}",
            "plate": t.plate,
            "max_gross_kg": int(sum(t.axle_loads_kg) * 1.2),
            "axle_count": len(t.axle_loads_kg),
            "max_height_m": 4.5,
            "max_width_m": 3.0,
            "max_length_m": 20.0,
            "stations": [site],
            **validity,
        }
        for i, t in enumerate(trucks)
        if i % 3 == 0
    ]
    watch = [{"plate": t.plate, "reason": "bench"} for i, t in enumerate(trucks) if i % 4 == 1]
    store = DownlinkStore(config.evidence.database)
    for kind, document in (
        ("permits", {"version": 1, "permits": permits}),
        ("watchlist", {"version": 1, "entries": watch}),
    ):
        store.replace(kind, parse_document(kind, json.dumps(document, ensure_ascii=False).encode()))
    return {"permits": len(permits), "watchlist": len(watch)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    scenario = load_scenario(args.scenario)
    if args.trucks:
        scenario = scenario.model_copy(update={"trucks": list(scenario.trucks)[: args.trucks]})
    workdir = Path(tempfile.mkdtemp(prefix="lane-latency-"))
    database = str(workdir / "evidence.db")
    if args.outbox:  # a copy, with its key: the lane appends to that chain, the uplink drains it
        for suffix in ("", ".ed25519.key", ".ed25519.pub"):
            shutil.copyfile(args.outbox + suffix, database + suffix)
        os.chmod(database + ".ed25519.key", 0o600)
    broker = MosquittoProcess()
    if broker.available and not args.no_broker:
        broker.start()
    try:
        probe = demo_config(
            dict.fromkeys(("wim", "separator", "axle_sensor", "display", "barrier"), "loop://"),
            database,
            broker.port,
        )
        camera_dir = workdir / "camera" if args.plates or args.full else None  # the simulated camera's JPEGs
        sim = SimulatedLane(
            scenario,
            geometry_for(probe),
            repeat=args.repeat,
            link_dir=workdir / "ports",
            camera_dir=camera_dir,
            t0_s=4.0 if args.full else 2.0,
        )
        config = demo_config(
            {n: p.path for n, p in sim.ports.items()},
            database,
            broker.port,
            camera_dir="" if camera_dir is None else str(camera_dir),
        )
        if args.console:  # the technician console on, and browsers streaming it (bench/console_client.py)
            from edge.console import hash_password
            from edge.demo import free_port

            console_port = free_port()
            config = config.model_copy(
                update={
                    "console": config.console.model_copy(
                        update={
                            "enabled": True,
                            "port": console_port,
                            "password_hash": hash_password(CONSOLE_PASSWORD),
                        }
                    )
                }
            )
        if args.pause_max_s is not None:  # 0: the uplink never holds the backlog back (the old behaviour)
            mqtt = config.mqtt.model_copy(update={"pause_while_weighing_max_s": args.pause_max_s})
            config = config.model_copy(update={"mqtt": mqtt})
        gantry = None
        documents: dict[str, int] = {}
        if args.full:
            mounts = default_gantry(scan_hz=50.0)
            gantry = _GantryThread(
                LidarGantry(_passages(sim, LEAD_S, 0.05), FAULTS["noise"], mounts=mounts, gap_s=0.05)
            )
            gantry.start()
            scanners = [
                {
                    "type": "sick_lms5xx",
                    "port": gantry.gantry.url(m.name),
                    "name": m.name,
                    "y_m": m.y_m,
                    "z_m": m.z_m,
                    "mount_deg": m.mount_deg,
                }
                for m in mounts
            ]
            config = Config.model_validate(
                {**config.model_dump(mode="python"), "outline": {"enabled": True, "scanners": scanners}}
            )
            documents = _load_documents(config, sim.scenario)
        records: list[dict[str, Any]] = []
        daemon = LaneDaemon(config, on_record=lambda record: records.append(record.to_json_dict()))
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.run(stop))
        client = None
        if args.console:  # Chromium starts meanwhile; it logs in once the console is up (at READY)
            client = await asyncio.create_subprocess_exec(
                sys.executable,
                str(ROOT / "bench" / "console_client.py"),
                f"http://127.0.0.1:{config.console.port}/",
                CONSOLE_PASSWORD,
                "--pages",
                str(args.console),
                stdout=asyncio.subprocess.PIPE,
            )
        await daemon.ready.wait()
        if gantry is not None:
            late = time.monotonic() - (gantry.start_s + LEAD_S)
            if late > 0:
                raise SystemExit(f"the daemon took {late:.1f} s longer than LEAD_S to start: raise LEAD_S")
            await asyncio.sleep(gantry.start_s + LEAD_S - time.monotonic())
        if client is not None:
            assert client.stdout is not None
            started = json.loads(await asyncio.wait_for(client.stdout.readline(), 120))
            assert started.get("console_client") == "streaming", started
        load_start = os.getloadavg()
        sim.start()
        deadline = time.monotonic() + sim.duration_s + 60
        while len(records) < len(sim.motions) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.5)
        counts = await daemon.store.counts()
        load_end = os.getloadavg()
        uplink = daemon.uplink.health()
        busy = daemon.site.sensing.busy.state()
        console_report: dict[str, Any] | None = None
        if client is not None:
            client.terminate()
            out, _ = await client.communicate()
            console_report = {
                "pages": args.console,
                "events_sent": daemon.console.events_sent if daemon.console else 0,
                "events_dropped": daemon.console.events_dropped if daemon.console else 0,
                "browsers": json.loads(out.decode().strip().splitlines()[-1]),
            }
        stop.set()
        await task
        sim.stop()
        if gantry is not None:
            gantry.stop()
    finally:
        broker.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)  # with --outbox, a copy of a multi-GB database
    truth = sim.truth()
    # The board names a vehicle "N号车", or by its plate once read: the records say which label was whose.
    labels = {r["lane_output"]["display_text"].split(" / ")[0]: int(r["vehicle_number"]) for r in records}
    shown: dict[int, float] = {}
    for entry in sim.display_log:
        head = entry.lines[0]
        if head in labels:
            shown.setdefault(labels[head], entry.world_t_s)
        elif "号车" in head:
            shown.setdefault(int(head.split("号车")[0]), entry.world_t_s)
    latencies = [
        (shown[number] - truth[number - 1]["t_last_axle_exit_s"]) * 1000
        for number in range(1, len(truth) + 1)
        if number in shown
    ]
    decided = [
        r["timing"]["verdict_latency_ms"] for r in records if r["timing"]["verdict_latency_ms"] is not None
    ]
    return {
        "benchmark": "lane_latency",
        "scenario": scenario.name,
        "vehicles": len(truth),
        "outbox_start": args.outbox or None,
        "records_at_end": counts["records"],
        "outbox_pending_at_end": counts["outbox_pending"],
        "verdicts_shown": len(latencies),
        "last_axle_exit_to_display": _percentiles(latencies),
        "daemon_last_exit_to_decided": _percentiles(decided),
        "mode": "full: outline + plates + permits + watch-list"
        if args.full
        else ("plates" if args.plates else "plain"),
        "documents": documents or None,
        "outline": None
        if not args.full
        else {
            "measured": sum(1 for r in records if (r.get("outline") or {}).get("status") == "measured"),
            "unavailable": sum(1 for r in records if (r.get("outline") or {}).get("status") == "unavailable"),
            "oversize": sum(1 for r in records if (r.get("outline") or {}).get("oversize")),
        },
        "permits_on_records": sum(1 for r in records if r.get("permit")),
        "watchlist_on_records": sum(1 for r in records if r.get("watchlist")),
        "plates": None
        if not (args.plates or args.full)
        else {
            "read": sum(1 for r in records if r.get("plate")),
            "read_right": sum(
                1
                for r in records
                if r.get("plate") and r["plate"] == truth[int(r["vehicle_number"]) - 1]["plate"]
            ),
        },
        "console": console_report,
        "uplink": {key: uplink[key] for key in ("published", "lane_holds", "held_for_lane_s", "refused")},
        "lane_busy": busy,
        "pause_while_weighing_max_s": config.mqtt.pause_while_weighing_max_s,
        "loadavg_1min_start_end": [round(load_start[0], 2), round(load_end[0], 2)],
        "machine": f"{platform.machine()} {platform.processor() or ''} {platform.python_version()}".strip(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", default="default")
    parser.add_argument("--repeat", type=int, default=1, help="run the scenario's trucks this many times")
    parser.add_argument("--no-broker", action="store_true", help="do not start Mosquitto")
    parser.add_argument(
        "--outbox", default="", help="start from a copy of this evidence database (its backlog)"
    )
    parser.add_argument(
        "--pause-max-s",
        type=float,
        default=None,
        help="mqtt.pause_while_weighing_max_s (default: the config's, 30 s; 0: never hold the backlog back)",
    )
    parser.add_argument(
        "--plates",
        action="store_true",
        help="the simulated lane camera on and plates read (plates.enabled), as in the demo",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="the whole verdict: LiDAR gantry simulator and [outline], plates, permits and a watch-list loaded",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="with --full: run the plain lane first, same trucks, as the baseline",
    )
    parser.add_argument("--trucks", type=int, default=0, help="only the scenario's first N trucks")
    parser.add_argument(
        "--console",
        type=int,
        default=0,
        metavar="PAGES",
        help="the technician console on, with this many headless Chromium pages streaming it",
    )
    args = parser.parse_args()
    if args.compare:
        plain = argparse.Namespace(**{**vars(args), "full": False, "plates": False})
        results = [asyncio.run(run(plain)), asyncio.run(run(args))]
        print(json.dumps(results, ensure_ascii=False, indent=2))
        return
    print(json.dumps(asyncio.run(run(args)), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
