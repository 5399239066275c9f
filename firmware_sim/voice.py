"""A simulated SYN6288-class text-to-speech module on a pty: it decodes the host's frames through the
driver's codec (drivers/voice/codec.py), keeps the text it "said" and answers one status byte per frame
(41h understood, 45h not).  Faults for tests: silent (it reads and answers nothing), unplugged,
garbage bytes in its answers, and refusing (45h to every frame).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from drivers.voice.codec import ModuleCodec, ModuleCommand, Status, SynthesiseText
from firmware_sim.pty import PtyPort

__all__ = ["SimulatedVoice"]


class SimulatedVoice:
    """One module on one pty, run by a thread (``start``/``stop``) or stepped by hand (``tick``)."""

    def __init__(self, port: PtyPort | None = None, *, link_dir: Path | None = None) -> None:
        self.port = port if port is not None else PtyPort("voice", link_dir)
        self.codec = ModuleCodec()
        self.said: list[str] = []
        self.commands: list[int] = []
        self.silent = False
        self.refuse = False  # answer 45h even to good frames (a module that cannot read the host)
        self._garbage = b""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def inject_garbage(self, data: bytes) -> None:
        """Send ``data`` before the next answer."""
        with self._lock:
            self._garbage += data

    def unplug(self) -> None:
        self.port.unplug()

    def plug(self) -> None:
        self.port.plug()

    def tick(self) -> None:
        data = self.port.read()
        if not data or self.silent:
            return
        bad_before = self.codec.stats.frames_bad
        frames = self.codec.feed(data)
        out = bytearray()
        with self._lock:
            out += self._garbage
            self._garbage = b""
            for _ in range(self.codec.stats.frames_bad - bad_before):
                out.append(Status.ERROR)
            for frame in frames:
                if self.refuse:
                    out.append(Status.ERROR)
                elif isinstance(frame, SynthesiseText):
                    self.said.append(frame.text)
                    out.append(Status.RECEIVED)
                elif isinstance(frame, ModuleCommand):
                    self.commands.append(frame.command)
                    out.append(Status.RECEIVED)
                    if frame.command == 0x21:  # status query: 41h then idle
                        out.append(Status.IDLE)
        if out:
            self.port.write(bytes(out))

    def wait_said(self, fragment: str, timeout_s: float = 5.0) -> str:
        """The first text said that contains ``fragment``; AssertionError after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                for text in self.said:
                    if fragment in text:
                        return text
                said = list(self.said)
            if time.monotonic() > deadline:
                raise AssertionError(f"no text with {fragment!r} said within {timeout_s} s; said {said}")
            time.sleep(0.02)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="voice", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(0.005)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.port.close()
