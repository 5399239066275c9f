"""Run the simulated lane standalone, for a technician's bench:

    python -m firmware_sim [--scenario default] [--repeat N] [--link-dir DIR]
    python -m firmware_sim --back-to-back 38 --gap-s 0.6   # dense traffic, a truck every ~3.4 s

``--back-to-back KMH`` drives the trucks straight through at one speed, ``--gap-s`` apart
(:func:`firmware_sim.scenario.back_to_back`): the devices still run in real time; only the traffic is denser.

Prints the pty path of every device (and the stable symlinks in --link-dir), then runs until Ctrl-C.
Point a lane config's ``devices.*.port`` at the symlinks and run ``edge run --config ...``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from firmware_sim.lane import SimulatedLane
from firmware_sim.physics import LaneGeometry
from firmware_sim.scenario import ScenarioError, back_to_back, load_scenario


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m firmware_sim",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--scenario", default="default", help="built-in scenario name or TOML path")
    parser.add_argument("--repeat", type=int, default=1000, help="run the truck list this many times")
    parser.add_argument(
        "--link-dir",
        type=Path,
        default=Path("/tmp/weighlane-sim"),
        help="folder for stable symlinks to the ptys (like udev names)",
    )
    parser.add_argument("--noise-kg", type=float, default=4.0, help="load-cell noise per cell (kg)")
    parser.add_argument(
        "--back-to-back",
        type=float,
        metavar="KMH",
        help="drive every truck straight through at this speed (<= 60), --gap-s apart",
    )
    parser.add_argument(
        "--gap-s", type=float, default=0.6, help="with --back-to-back: seconds between trucks"
    )
    parser.add_argument(
        "--mid-strips-m",
        type=float,
        nargs="*",
        default=[],
        metavar="X",
        help="positions (m) of intermediate axle strips between the platforms, e.g. 6 12 (the lane config's"
        " scale.mid_strips_x_m must list the same)",
    )
    args = parser.parse_args(argv)
    try:
        geometry = LaneGeometry(mid_strips_x_m=tuple(args.mid_strips_m))
        scenario = load_scenario(args.scenario)
        if args.back_to_back is not None:
            scenario = back_to_back(scenario, args.back_to_back, args.gap_s)
    except (ScenarioError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 2
    lane = SimulatedLane(
        scenario, geometry, repeat=args.repeat, link_dir=args.link_dir, noise_kg=args.noise_kg
    )
    print(f"scenario {scenario.name!r}: {len(scenario.trucks)} trucks, repeated {args.repeat} times")
    for name, port in lane.ports.items():
        print(f"{name:12s} {port.path} -> {port.slave_path}")
    sys.stdout.flush()
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    lane.start()
    done.wait()
    lane.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
