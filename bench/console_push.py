"""What one console waveform push costs the daemon's event loop, against what the lane itself does there.

    python bench/console_push.py            # 3 platforms x 4 cells at 1000 Hz, 4 pushes a second

Fills the lane's real ring buffer (edge/lane/buffer.py) with 10 ms blocks as the digitiser sends them, and
times, in the same run: the lane's own work on the loop for one push period (25 ``SampleBuffer.append``
calls of a 10 ms block), and one push (``WaveformTap.read`` of the samples since the previous push, plus
the JSON the stream sends).  Prints one JSON object with the medians and p99s in microseconds.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from drivers.wim_digitiser.driver import LoadSamples  # noqa: E402
from edge.console.waveform import WaveformTap  # noqa: E402
from edge.lane.buffer import SampleBuffer  # noqa: E402
from edge.lane.session import LaneStateMachine  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--platforms", type=int, default=3)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--pushes-per-s", type=float, default=4.0)
    parser.add_argument("--points-per-s", type=int, default=100)
    parser.add_argument("--periods", type=int, default=2000)
    args = parser.parse_args()

    channels = args.platforms * 4
    buffer = SampleBuffer(channels, capacity=args.rate * 240)
    lane = LaneStateMachine(lambda session: None, 30.0)
    tap = WaveformTap(buffer, lane, args.rate, 4, 0.02, args.points_per_s, epoch_s=0.0)
    zero = np.full(channels, 1000.0)
    block_n = args.rate // 100  # 10 ms blocks
    blocks_per_push = round(args.rate / args.pushes_per_s / block_n)
    rng = np.random.default_rng(1)
    counts = (1000 + rng.normal(0, 50, (blocks_per_push, block_n, channels))).astype(np.int32)
    lane_us, push_us, sizes = [], [], []
    t = 0.0
    written = 0
    for _ in range(args.periods):
        started = time.perf_counter()
        for b in range(blocks_per_push):
            buffer.append(LoadSamples(written, args.rate, counts[b], t, 0, 0))
            written += block_n
            t += block_n / args.rate
        lane_us.append((time.perf_counter() - started) * 1e6)
        started = time.perf_counter()
        frame = tap.read(zero)
        event = f"event: wave\ndata: {json.dumps(frame, separators=(',', ':'))}\n\n"
        push_us.append((time.perf_counter() - started) * 1e6)
        sizes.append(len(event))

    def stats(values: list[float]) -> dict[str, float]:
        return {
            "p50_us": round(float(np.percentile(values, 50)), 1),
            "p99_us": round(float(np.percentile(values, 99)), 1),
        }

    period_us = 1e6 / args.pushes_per_s
    print(
        json.dumps(
            {
                "benchmark": "console_push",
                "platforms": args.platforms,
                "sample_rate_hz": args.rate,
                "pushes_per_s": args.pushes_per_s,
                "points_per_s_per_platform": args.points_per_s,
                "lane_appends_per_period": stats(lane_us),
                "console_push": stats(push_us),
                "push_share_of_loop_time": round(float(np.percentile(push_us, 50)) / period_us, 5),
                "event_bytes": int(np.median(sizes)),
                "machine": f"{platform.machine()} {platform.python_version()}",
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
