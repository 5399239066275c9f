"""A simulated position-beam controller of a static weighbridge on a pty.

It speaks :mod:`drivers.position.codec`: a :class:`BeamState` on every change and every 100 ms.  The
scenario (firmware_sim.weighbridge) blocks and clears beams as trucks and people move; ``unplug``,
``paused`` and ``faults`` are for tests.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from drivers.position.codec import BEAM_NAMES, BeamState, new_codec
from firmware_sim.pty import PtyPort

__all__ = ["SimulatedBeams"]


class SimulatedBeams:
    def __init__(
        self, port: PtyPort | None = None, *, link_dir: Path | None = None, period_s: float = 0.1
    ) -> None:
        self.port = port if port is not None else PtyPort("position", link_dir)
        self.period_s = period_s
        self.paused = False
        self.faults = 0
        self.frames_sent = 0
        self._blocked = 0
        self._codec = new_codec()
        self._seq = 0
        self._origin = time.monotonic()
        self._next = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def blocked(self) -> frozenset[str]:
        return frozenset(name for i, name in enumerate(BEAM_NAMES) if self._blocked >> i & 1)

    def set(self, *blocked: str) -> None:
        """Exactly these beams are blocked from now on (names from ``BEAM_NAMES``)."""
        mask = 0
        for name in blocked:
            mask |= 1 << BEAM_NAMES.index(name)
        with self._lock:
            changed = mask != self._blocked
            self._blocked = mask
        if changed:
            self._emit()

    def block(self, name: str) -> None:
        self.set(*(self.blocked | {name}))

    def clear(self, name: str | None = None) -> None:
        self.set(*(() if name is None else self.blocked - {name}))

    def _emit(self) -> None:
        with self._lock:
            self._seq = (self._seq + 1) & 0xFFFFFFFF
            t_us = round((time.monotonic() - self._origin) * 1e6)
            frame = self._codec.encode(BeamState(self._seq, t_us, self._blocked, self.faults))
            self._next = time.monotonic() + self.period_s
        if not self.paused:
            self.port.write(frame)
            self.frames_sent += 1

    def tick(self) -> None:
        self.port.read()  # output only: keep the buffer empty
        if time.monotonic() >= self._next:
            self._emit()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="position-beams", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(0.01)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.port.close()
