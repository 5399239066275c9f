"""Resident memory of the plate path alone, without the daemon (issue 19: flat, <= 350 MiB).

    python bench/plates_memory.py                    # 150 trucks, 4 frames each, the lane's reader
    python bench/plates_memory.py --pool 40          # cycle 40 pre-rendered frames (shapes repeat)
    python bench/plates_memory.py --no-paddle        # without PP-OCR's second opinion

Much faster than ``bench/rss.py``: frames of the default scenario's plates are rendered by the lane
camera's renderer (``SimulatedCamera``'s), each "truck" is read as the lane reads it
(:meth:`edge.plates.lane.LanePlates._read_frames`: ``read_frame`` on each frame, the vote, a JPEG of the
frame and of the crop), and VmRSS of this process is sampled after every truck.  By default every frame
is rendered afresh (new plate positions and sizes, so new crop shapes); ``--pool N`` reads N frames over
and over, which tells shape-keyed caches (flat after one pass) from a leak (grows on every pass).

Reported: RSS after loading, after ``--warm-up`` trucks, final, and the slope after the warm-up (MiB per
100 trucks, least squares); one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.plates.camera import Frame  # noqa: E402
from edge.plates.lane import LanePlates  # noqa: E402
from edge.plates.reader import PlateReader  # noqa: E402
from firmware_sim.camera import plate_layout_for  # noqa: E402
from firmware_sim.scenario import load_scenario  # noqa: E402


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def patch_sessions(options: dict[str, str]) -> None:
    """Experiment only: build every onnxruntime session (the reader's and PP-OCR's) with ``options``."""
    import onnxruntime as ort

    original = ort.InferenceSession

    class Session(original):  # type: ignore[misc, valid-type]
        def __init__(self, path: str, sess_options: ort.SessionOptions | None = None, **kw: object) -> None:
            sess_options = sess_options or ort.SessionOptions()
            if "arena" in options:
                sess_options.enable_cpu_mem_arena = options["arena"] == "1"
            if "pattern" in options:
                sess_options.enable_mem_pattern = options["pattern"] == "1"
            super().__init__(path, sess_options, **kw)  # type: ignore[arg-type]

        def run(self, *a: object, **kw: object) -> object:  # type: ignore[override]
            if options.get("shrink") == "1":
                run_options = ort.RunOptions()
                run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
                return super().run(*a, run_options=run_options)  # type: ignore[arg-type]
            return super().run(*a, **kw)  # type: ignore[arg-type]

    ort.InferenceSession = Session
    import rapidocr_onnxruntime.utils.infer_engine as engine

    engine.InferenceSession = Session


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trucks", type=int, default=150)
    parser.add_argument("--frames", type=int, default=4, help="frames read per truck")
    parser.add_argument("--pool", type=int, default=0, help="cycle this many pre-rendered frames (0: fresh)")
    parser.add_argument("--warm-up", type=int, default=20)
    parser.add_argument("--no-paddle", action="store_true", help="no PP-OCR second opinion / cross-check")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--rotate",
        type=int,
        default=0,
        help="read each truck on the next of this many worker threads, as asyncio.to_thread's pool may",
    )
    parser.add_argument(
        "--ort",
        default="",
        help="experiment: session options for every session, e.g. arena=0,pattern=0,shrink=1",
    )
    args = parser.parse_args()
    ort_options = dict(item.split("=") for item in args.ort.split(",") if item)
    if ort_options:
        patch_sessions(ort_options)

    from models.plates.render import PlateRenderer

    plates = [(t.plate, plate_layout_for(t.plate, None)) for t in load_scenario("default").trucks]
    renderer = PlateRenderer()
    rng = np.random.default_rng(args.seed)

    def render(k: int, truck: int | None = None) -> Frame:
        """A frame as the lane camera keeps it: the simulated camera's JPEG bytes (decoded when read)."""
        plate = plates[(k if truck is None else truck) % len(plates)]
        image, _ = renderer.frame_sample(rng, size=(1280, 720), plates=[plate])
        return Frame.from_image(float(k), image, f"{k}.jpg", quality=90)

    pool = [render(k) for k in range(args.pool)]
    import onnxruntime  # noqa: F401  (counted before the models, as in the daemon at ready)

    started_mib = rss_mib()
    reader = PlateReader(second_opinion=not args.no_paddle)
    lane = LanePlates.__new__(LanePlates)  # only _read_frames is used: it needs the reader alone
    lane.reader = reader
    ready_mib = rss_mib()
    workers = [ThreadPoolExecutor(1) for _ in range(args.rotate)]
    samples: list[float] = []
    read_s = 0.0
    for truck in range(args.trucks):
        frames = []
        for shot in range(args.frames):
            k = truck * args.frames + shot
            frames.append(("front", pool[k % len(pool)] if pool else render(k, truck)))
        t0 = time.perf_counter()
        if workers:
            workers[truck % len(workers)].submit(lane._read_frames, frames).result()
        else:
            lane._read_frames(frames)
        read_s += time.perf_counter() - t0
        samples.append(rss_mib())
    rss = np.array(samples)
    trucks = np.arange(1, len(rss) + 1, dtype=np.float64)
    warm = trucks >= args.warm_up
    slope = float(np.polyfit(trucks[warm], rss[warm], 1)[0]) * 100 if warm.sum() > 10 else None
    print(
        json.dumps(
            {
                "trucks": args.trucks,
                "frames_per_truck": args.frames,
                "pool": args.pool,
                "paddle": not args.no_paddle,
                "rotate": args.rotate,
                "ort": args.ort,
                "before_models_mib": round(started_mib, 1),
                "ready_mib": round(ready_mib, 1),
                "after_warm_up_mib": round(float(rss[warm][0]), 1) if warm.any() else None,
                "final_mib": round(float(rss[-1]), 1),
                "max_mib": round(float(rss.max()), 1),
                "slope_mib_per_100_trucks": None if slope is None else round(slope, 2),
                "read_ms_per_truck": round(read_s / args.trucks * 1000, 1),
                "machine": f"{platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}",
            }
        )
    )


if __name__ == "__main__":
    main()
