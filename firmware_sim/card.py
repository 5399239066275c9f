"""A simulated 125 kHz card reader on a pty, sending EM4100 ASCII frames through the driver's codec.

:meth:`SimulatedCardReader.present` holds a card to the reader: it sends the card's frame once
(``repeat_s=None``, ID-12LA style) or every ``repeat_s`` while the card stays (RDM6300 style) until
:meth:`remove`.  Faults for tests: line noise, a frame with one bit flipped, a frame cut short, and
unplugging the port.

Standalone, for a technician's bench::

    python -m firmware_sim.card --link-dir /tmp/weighlane-sim --card 0C000621A5
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

from drivers.card.em4100 import CardCodec, CardFrame
from firmware_sim.pty import PtyPort

__all__ = ["SimulatedCardReader", "main"]


class SimulatedCardReader:
    """One reader on one pty, run by a thread (``start``/``stop``) or stepped by hand (``tick``)."""

    def __init__(
        self,
        port: PtyPort | None = None,
        *,
        crlf: bool = True,
        repeat_s: float | None = None,
        link_dir: Path | None = None,
    ) -> None:
        self.port = port if port is not None else PtyPort("card-reader", link_dir)
        self.codec = CardCodec(crlf=crlf)
        self.repeat_s = repeat_s
        self.frames_sent = 0
        self._card: CardFrame | None = None
        self._next_send: float | None = None
        self._pending = b""  # faults and one-off frames, sent at the next tick
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def present(self, card_id: str) -> None:
        """Hold the card with these ten hex digits to the reader."""
        frame = CardFrame.from_hex(card_id)
        with self._lock:
            self._card = frame
            self._next_send = time.monotonic()

    def remove(self) -> None:
        with self._lock:
            self._card = None
            self._next_send = None

    def inject_garbage(self, data: bytes) -> None:
        with self._lock:
            self._pending += data

    def send_corrupted(self, card_id: str, bit: int) -> bytes:
        """Send the card's frame with bit ``bit`` (0 = the STX's lowest) flipped; returns what was sent."""
        raw = bytearray(self.codec.encode(CardFrame.from_hex(card_id)))
        raw[bit // 8] ^= 1 << (bit % 8)
        with self._lock:
            self._pending += bytes(raw)
        return bytes(raw)

    def send_truncated(self, card_id: str, keep: int) -> None:
        """Send only the first ``keep`` bytes of the card's frame (a reader reset mid-frame)."""
        with self._lock:
            self._pending += self.codec.encode(CardFrame.from_hex(card_id))[:keep]

    def unplug(self) -> None:
        self.port.unplug()

    def plug(self) -> None:
        self.port.plug()

    def tick(self) -> None:
        """Send what is due; the thread calls this every few milliseconds."""
        self.port.read()  # the reader ignores what the host writes; keep the buffer empty
        now = time.monotonic()
        with self._lock:
            out, self._pending = self._pending, b""
            if self._card is not None and self._next_send is not None and now >= self._next_send:
                out += self.codec.encode(self._card)
                self.frames_sent += 1
                self._next_send = None if self.repeat_s is None else now + self.repeat_s
        if out:
            self.port.write(out)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="card-reader", daemon=True)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m firmware_sim.card",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--link-dir", type=Path, default=Path("/tmp/weighlane-sim"))
    parser.add_argument("--card", action="append", default=[], help="card ID, ten hex digits (repeatable)")
    parser.add_argument("--period-s", type=float, default=10.0, help="a card is presented this often")
    parser.add_argument("--no-crlf", action="store_true", help="RDM6300-style 14-byte frames")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long (default: Ctrl-C)")
    args = parser.parse_args(argv)
    cards = args.card or ["0C000621A5"]
    for card in cards:
        CardFrame.from_hex(card)  # a bad --card fails here, before the port opens
    reader = SimulatedCardReader(crlf=not args.no_crlf, link_dir=args.link_dir)
    print(f"card reader: {reader.port.path} -> {reader.port.slave_path}", flush=True)
    done = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, lambda *_: done.set())
        signal.signal(signal.SIGTERM, lambda *_: done.set())
    if args.seconds is not None:
        threading.Timer(args.seconds, done.set).start()
    reader.start()
    index = 0
    while not done.wait(args.period_s):
        reader.present(cards[index % len(cards)])
        index += 1
    reader.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
