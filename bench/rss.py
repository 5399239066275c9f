"""Resident memory of ``edge run`` over many simulated trucks with plates on (issue 19: flat, <= 350 MiB).

    python bench/rss.py                     # about 10 minutes of trucks
    python bench/rss.py --minutes 3         # a shorter look
    python bench/rss.py --tracemalloc       # also the daemon's top Python allocation growth (slower)
    python bench/rss.py --fast --trucks 1000   # 1,000 trucks, one every ~3.4 s (about 57 minutes)

The daemon runs as a subprocess (``edge run``, as systemd runs it) on the simulator's ptys, with the
simulated lane camera and plate reading on (every model loaded), and a private Mosquitto when one is
installed (the uplink publishes each record).  The simulator runs in real time only, so 1,000 trucks
take hours: the default scenario's trucks are driven back to back at ``--speed-kmh`` (40) with
``--gap-s`` (1.0) between them, about 4 s a truck.  RSS (VmRSS of /proc/<pid>/status) is sampled every
second together with the stored record count.

``--fast`` packs the traffic as tight as the lane still weighs it honestly
(:func:`firmware_sim.scenario.back_to_back`): 38 km/h with 0.6 s gaps, a truck every ~3.4 s; 1,000
trucks in about 57 minutes.  The devices still run in real time on their ptys.  Why not tighter: at
40 km/h every truck is sent to re-weigh (an axle at 40.002 km/h, over ``rules.max_speed_kmh``), and so
it was in the runs before ``--fast``; gaps of 0.1 s put the previous truck's tail into the next one's
pre-roll (its zero), and 60 km/h misfits the load model: re-weigh again, a shorter path than a verdict.
A faster world clock was not used either (see ``back_to_back``).  The plate window follows the traffic
(``plates.pre_trigger_s = 1.0``, ``post_trigger_s = 0.5``: the camera's four shots of a truck fall
within 0.6 s before the separator, and the default 6 s window would read the previous truck's frames
too).  Camera files older than a minute are deleted during the run, as a camera's FTP folder is cleaned
up (the daemon lists the folder at every poll).
``--trucks N`` stops after N stored records instead of ``--minutes``.

Reported: RSS at READY, after ``--warm-up`` trucks (default 20), the final and the largest; the slope of
RSS against the truck count after the warm-up (least squares, MiB per 100 trucks); one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.demo import DemoBroker, demo_config, geometry_for  # noqa: E402
from firmware_sim.lane import SimulatedLane  # noqa: E402
from firmware_sim.scenario import Scenario, back_to_back, load_scenario  # noqa: E402

ROLES = (
    ("wim", "wim_digitiser"),
    ("separator", "light_curtain"),
    ("axle_sensor", "tyre_recogniser"),
    ("display", "led_display"),
    ("barrier", "barrier"),
)


def fast_scenario(speed_kmh: float, gap_s: float) -> Scenario:
    """The default trucks, driven straight through at one speed (no stops, no jumps), back to back."""
    return back_to_back(load_scenario("default"), speed_kmh, gap_s)


#: ``edge`` under tracemalloc: the first SIGUSR1 takes the baseline snapshot, the second writes the 15
#: source lines whose allocations grew the most since then into argv[1].
TRACED = """
import signal, sys, tracemalloc
tracemalloc.start(1)
out, snaps = sys.argv.pop(1), []
def dump(*_):
    snaps.append(tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)]))
    if len(snaps) == 2:
        stats = snaps[1].compare_to(snaps[0], "lineno")[:15]
        open(out, "w").write("\\n".join(str(s) for s in stats))
signal.signal(signal.SIGUSR1, dump)
from edge.cli import main
main(sys.argv[1:], prog_name="edge")
"""


def lane_toml(
    folder: Path, ports: dict[str, str], camera: Path, mqtt_port: int, plates: bool, fast: bool = False
) -> Path:
    devices = "".join(
        f'[devices.{role}]\ntype = "{kind}"\nport = "{ports[role]}"\n\n' for role, kind in ROLES
    )
    path = folder / "lane.toml"
    path.write_text(
        f'[site]\nid = "rss-bench"\nlane = 1\n\n[scale]\nplatform_lengths_m = [6.0, 6.0, 6.0]\n\n{devices}'
        "[lane]\nidle_after_s = 4.0\n\n" + f'[evidence]\ndatabase = "{folder / "evidence.db"}"\n\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {mqtt_port}\nreconnect_max_s = 5\n\n'
        "[query]\nenabled = false\n\n[downlink]\naccept_unsigned = true\n\n"
        f'[plates]\nenabled = {"true" if plates else "false"}\ncamera = "{camera}"\n'
        + ("pre_trigger_s = 1.0\npost_trigger_s = 0.5\n" if fast else ""),
        encoding="utf-8",
    )
    return path


def prune_camera_folder(folder: Path, keep_s: float) -> None:
    """Remove frames older than ``keep_s``, as a camera's FTP folder is cleaned up: the daemon lists the
    folder every poll, and 4,000 files (1,000 trucks) would make each poll slower as the run goes on."""
    if not folder.is_dir():
        return
    now = time.time()
    for path in folder.glob("*.jpg"):
        try:
            if now - path.stat().st_mtime > keep_s:
                path.unlink()
        except OSError:
            pass


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    """``field`` of /proc/<pid>/status in MiB: VmRSS, or its parts RssAnon (heaps, not reclaimable
    without swap) and RssFile (mapped files: library code, reclaimable)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


def stored(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM records").fetchone()[0])
    except sqlite3.Error:
        return -1


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--trucks", type=int, default=0, help="stop after this many records (0: --minutes)")
    parser.add_argument("--fast", action="store_true", help="38 km/h, 0.6 s gaps (see above)")
    parser.add_argument("--speed-kmh", type=float, default=40.0)
    parser.add_argument("--gap-s", type=float, default=1.0)
    parser.add_argument("--no-plates", action="store_true", help="the WIM lane alone (no camera, no models)")
    parser.add_argument("--warm-up", type=int, default=20, help="trucks before the flat part is measured")
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="the Python allocations that grew after the warm-up, by line",
    )
    parser.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE", help="extra environment of the daemon"
    )
    args = parser.parse_args()
    if args.fast:
        args.speed_kmh, args.gap_s = 38.0, 0.6

    scenario = fast_scenario(args.speed_kmh, args.gap_s)
    folder = Path(tempfile.mkdtemp(prefix="weighlane-rss-"))
    broker = DemoBroker()
    if broker.available:
        broker.start()
    probe = demo_config(dict.fromkeys((r for r, _ in ROLES), "loop://"), str(folder / "x.db"), broker.port)
    geometry = geometry_for(probe)
    one_pass = SimulatedLane(scenario, geometry, link_dir=folder / "probe")
    per_truck_s = one_pass.duration_s / len(scenario.trucks)
    one_pass.stop()
    if args.trucks:  # the count ends the run; the time is only a bound (twice the schedule)
        args.minutes = 2 * per_truck_s * args.trucks / 60
        repeat = args.trucks // len(scenario.trucks) + 2
    else:
        repeat = max(1, int(args.minutes * 60 / one_pass.duration_s) + 1)
    camera = folder / "camera"
    sim = SimulatedLane(
        scenario,
        geometry,
        repeat=repeat,
        link_dir=folder / "ports",
        camera_dir=None if args.no_plates else camera,
    )
    config = lane_toml(
        folder,
        {n: p.path for n, p in sim.ports.items()},
        camera,
        broker.port,
        not args.no_plates,
        args.fast,
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(ROOT / "var" / "bench-numba-cache")}
    env.update(item.split("=", 1) for item in args.env)
    log = (folder / "daemon.log").open("wb")
    command = ["-m", "edge", "run", "--config", str(config)]
    if args.tracemalloc:
        command = ["-c", TRACED, str(folder / "tracemalloc.txt"), "run", "--config", str(config)]
    daemon = subprocess.Popen(
        [sys.executable, *command],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**env, "PYTHONUNBUFFERED": "1"},
    )
    samples: list[tuple[float, int, float]] = []  # (seconds since start, trucks stored, RSS MiB)
    try:
        deadline = time.monotonic() + 180
        while "kernels and evidence ready" not in (folder / "daemon.log").read_text(errors="replace"):
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise SystemExit((folder / "daemon.log").read_text(errors="replace")[-3000:])
            time.sleep(0.2)
        ready_mib = rss_mib(daemon.pid)
        sim.start()
        started = time.monotonic()
        end = started + args.minutes * 60
        snapshot_taken = False
        final_parts: tuple[float | None, float | None] = (None, None)
        while time.monotonic() < end and daemon.poll() is None:
            samples.append((time.monotonic() - started, stored(folder / "evidence.db"), rss_mib(daemon.pid)))
            if args.tracemalloc and not snapshot_taken and samples[-1][1] >= args.warm_up:
                daemon.send_signal(signal.SIGUSR1)  # the baseline snapshot
                snapshot_taken = True
            final_parts = (round(rss_mib(daemon.pid, "RssAnon"), 1), round(rss_mib(daemon.pid, "RssFile"), 1))
            if args.trucks and samples[-1][1] >= args.trucks:
                break
            if len(samples) % 30 == 0:
                prune_camera_folder(camera, keep_s=60.0)
            time.sleep(1.0)
        if args.tracemalloc and snapshot_taken:
            daemon.send_signal(signal.SIGUSR1)  # the growth since the baseline, into tracemalloc.txt
            time.sleep(20)
    finally:
        daemon.terminate()
        daemon.wait(60)
        sim.stop()
        broker.cleanup()
        log.close()
    result = summarise(samples, ready_mib, args.warm_up)
    result["final_anon_mib"], result["final_file_mib"] = final_parts
    if args.tracemalloc and (folder / "tracemalloc.txt").exists():
        result["tracemalloc_growth_top"] = (folder / "tracemalloc.txt").read_text().splitlines()
    errors = sum(
        1 for line in (folder / "daemon.log").read_text(errors="replace").splitlines() if " ERROR " in line
    )
    result.update(
        {
            "minutes": round(samples[-1][0] / 60, 1) if samples else 0.0,
            "fast": args.fast,
            "env": args.env,
            "truck_every_s": round(per_truck_s, 2),
            "speed_kmh": args.speed_kmh,
            "plates": not args.no_plates,
            "broker": broker.available,
            "daemon_error_lines": errors,
            "target_mib": 350,
            "machine": f"{platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}",
            "log": str(folder / "daemon.log"),
        }
    )
    print(json.dumps(result))


def summarise(samples: list[tuple[float, int, float]], ready_mib: float, warm_up: int) -> dict[str, Any]:
    trucks = np.array([s[1] for s in samples], dtype=np.float64)
    rss = np.array([s[2] for s in samples], dtype=np.float64)
    warm = trucks >= warm_up
    slope = None
    if warm.sum() > 10 and np.ptp(trucks[warm]) > 0:
        slope = float(np.polyfit(trucks[warm], rss[warm], 1)[0]) * 100
    after_warm_up = float(rss[warm][0]) if warm.any() else None
    return {
        "trucks": int(trucks.max()) if trucks.size else 0,
        "ready_mib": round(ready_mib, 1),
        "after_warm_up_mib": None if after_warm_up is None else round(after_warm_up, 1),
        "final_mib": round(float(rss[-1]), 1) if rss.size else None,
        "max_mib": round(float(rss.max()), 1) if rss.size else None,
        "slope_mib_per_100_trucks": None if slope is None else round(slope, 2),
        "warm_up_trucks": warm_up,
    }


if __name__ == "__main__":
    main()
