"""Lane cameras through OpenCV: a USB index, an RTSP/HTTP URL, or a folder that JPEG frames land in.

A camera runs its own thread that keeps the last few seconds of frames, each stamped with the host's
monotonic clock when it arrived.  When the separator sees a vehicle, the daemon takes the frames from a
window around that moment (:meth:`Camera.frames_between`): the truck's approach, already recorded.

- **USB index** (``"0"``) and **URLs** (``rtsp://...``) use ``cv2.VideoCapture``; a stream that stops is
  reopened with back-off, and the camera's state says why.
- **Folder** (a path): every new ``*.jpg``/``*.png`` file is decoded once, in name order.  An FTP-push
  camera or the simulator (:mod:`firmware_sim.camera`) writes there.  Files that cannot be decoded are
  counted, not fatal.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Camera", "Frame"]

log = logging.getLogger(__name__)
_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


@dataclass(frozen=True)
class Frame:
    t_s: float  # host monotonic time of arrival
    image: npt.NDArray[np.uint8]  # BGR
    source_name: str  # file name, or "stream"


class Camera:
    """One lane camera.  ``source``: ``"0"`` (USB index), a URL, or a folder path."""

    def __init__(self, name: str, source: str, keep_s: float = 8.0, poll_s: float = 0.05) -> None:
        self.name = name
        self.source = source
        self.keep_s = keep_s
        self.poll_s = poll_s
        self._frames: collections.deque[Frame] = collections.deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.state = "stopped"
        self.last_error = ""
        self.frames_total = 0
        self.frames_bad = 0
        self._seen: set[str] = set()

    @property
    def is_folder(self) -> bool:
        return not self.source.isdigit() and "://" not in self.source

    def start(self) -> None:
        if self.is_folder:
            folder = Path(self.source)
            folder.mkdir(parents=True, exist_ok=True)
            # Frames already there belong to earlier vehicles: never read them as this one's.
            self._seen = {p.name for p in folder.iterdir()}
        self._thread = threading.Thread(target=self._run, name=f"camera-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.state = "stopped"

    def health(self) -> dict[str, Any]:
        return {
            "source": self.source if "@" not in self.source else "<url with credentials>",
            "state": self.state,
            "frames_total": self.frames_total,
            "frames_bad": self.frames_bad,
            "last_error": self.last_error,
        }

    def frames_between(self, start_s: float, end_s: float) -> list[Frame]:
        with self._lock:
            return [f for f in self._frames if start_s <= f.t_s <= end_s]

    def _keep(self, frame: Frame) -> None:
        with self._lock:
            self._frames.append(frame)
            while self._frames and frame.t_s - self._frames[0].t_s > self.keep_s:
                self._frames.popleft()
        self.frames_total += 1

    def _run(self) -> None:
        if self.is_folder:
            self._run_folder(Path(self.source))
        else:
            self._run_stream()

    def _run_folder(self, folder: Path) -> None:
        import cv2

        self.state = "up"
        while not self._stop.is_set():
            try:
                names = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
            except OSError as exc:
                self._fail(f"cannot list {folder}: {exc.strerror or exc}; check the camera folder exists")
                self._stop.wait(1.0)
                continue
            for name in names:
                if name in self._seen:
                    continue
                self._seen.add(name)
                data = np.fromfile(folder / name, dtype=np.uint8)
                image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
                if image is None:
                    self.frames_bad += 1
                    self.last_error = f"{name}: not a decodable image"
                    continue
                self.state = "up"
                self._keep(Frame(time.monotonic(), np.asarray(image, dtype=np.uint8), name))
            if len(self._seen) > 10_000:  # names of files long gone
                present = set(names)
                self._seen &= present
            self._stop.wait(self.poll_s)

    def _run_stream(self) -> None:
        import cv2

        backoff = 0.5
        while not self._stop.is_set():
            capture = cv2.VideoCapture(int(self.source) if self.source.isdigit() else self.source)
            if not capture.isOpened():
                self._fail(f"cannot open camera {self.name} ({self.health()['source']}); check cable/URL")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            self.state = "up"
            backoff = 0.5
            while not self._stop.is_set():
                ok, image = capture.read()
                if not ok or image is None:
                    self._fail(f"camera {self.name} stopped sending frames; reconnecting")
                    break
                self._keep(Frame(time.monotonic(), np.asarray(image, dtype=np.uint8), "stream"))
            capture.release()

    def _fail(self, message: str) -> None:
        if self.last_error != message:
            log.warning("%s", message)
        self.state = "down"
        self.last_error = message
