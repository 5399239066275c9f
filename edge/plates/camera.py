"""Lane cameras through OpenCV: a USB index, an RTSP/HTTP URL, or a folder that JPEG frames land in.

A camera runs its own thread that keeps the last few seconds of frames, each stamped with the host's
monotonic clock when it arrived.  When the separator sees a vehicle, the daemon takes the frames from a
window around that moment (:meth:`Camera.frames_between`): the truck's approach, already recorded.

Frames are kept encoded, the camera's own JPEG bytes, and decoded again only when a vehicle's frames
are read (:attr:`Frame.image`, 5 ms for 1280x720): held decoded, eight seconds of frames were 2.6 MiB
each, about 9 from a folder camera, and would be 200 from a 25 fps stream (issue 19, ``bench/rss.py``).
A stream's frames are encoded as JPEG (quality 95) on arrival, which costs CPU (a few ms a frame)
instead of half a gigabyte.

- **USB index** (``"0"``) and **URLs** (``rtsp://...``) use ``cv2.VideoCapture``; a stream that stops is
  reopened with back-off, and the camera's state says why.
- **Folder** (a path): every new ``*.jpg``/``*.png`` file is decoded once, in name order.  An FTP-push
  camera or the simulator (:mod:`firmware_sim.camera`) writes there.  A file is only decoded once its
  size and modification time have held still for one poll (an upload in progress is left for the next
  poll), and only marked done once it decoded, or failed to decode ``decode_tries`` times while still
  (then it is counted bad, not fatal).  A file is known by name, size and mtime, so a camera that reuses
  its file names (a ring of ``0001.jpg``..``0100.jpg``) still delivers every frame.

The camera's health says ``stale`` when vehicles pass (:meth:`Camera.vehicle_passed`) but no frame has
arrived for ``stale_s`` before the latest of them: a camera that is connected but stuck, or an FTP
upload that stopped.
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


#: JPEG quality a stream camera's frames are kept at (a folder camera's files are kept as they came).
STREAM_JPEG_QUALITY = 95


@dataclass(frozen=True)
class Frame:
    """One camera frame, kept as the encoded image (JPEG, PNG or BMP bytes) it arrived as."""

    t_s: float  # host monotonic time of arrival
    data: bytes  # the encoded image
    source_name: str  # file name, or "stream"

    @classmethod
    def from_image(
        cls, t_s: float, image: npt.NDArray[np.uint8], source_name: str, quality: int = STREAM_JPEG_QUALITY
    ) -> Frame:
        """A frame from a decoded BGR image (a stream's), encoded as JPEG at ``quality``."""
        import cv2

        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise ValueError(f"cannot encode a {image.shape} frame as JPEG")
        return cls(t_s, data.tobytes(), source_name)

    @property
    def image(self) -> npt.NDArray[np.uint8]:
        """The frame decoded (BGR), afresh on every call: hold it only while it is needed."""
        import cv2

        image = cv2.imdecode(np.frombuffer(self.data, dtype=np.uint8), cv2.IMREAD_COLOR)
        if image is None:  # the camera checked that it decodes when it arrived
            raise ValueError(f"frame {self.source_name} no longer decodes")
        return np.asarray(image, dtype=np.uint8)

    @property
    def jpeg(self) -> bytes | None:
        """The frame's own bytes when they are a JPEG (the evidence keeps them unchanged), else None."""
        return self.data if self.data[:2] == b"\xff\xd8" else None


class Camera:
    """One lane camera.  ``source``: ``"0"`` (USB index), a URL, or a folder path."""

    def __init__(
        self,
        name: str,
        source: str,
        keep_s: float = 8.0,
        poll_s: float = 0.05,
        decode_tries: int = 3,
        stale_s: float = 5.0,
    ) -> None:
        self.name = name
        self.source = source
        self.keep_s = keep_s
        self.poll_s = poll_s
        self.decode_tries = decode_tries
        self.stale_s = stale_s
        self._frames: collections.deque[Frame] = collections.deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.state = "stopped"
        self.last_error = ""
        self.frames_total = 0
        self.frames_bad = 0
        #: Folder files done with (decoded, or given up on), by name: their (size, mtime_ns) then.
        self._seen: dict[str, tuple[int, int]] = {}
        #: Folder files waiting: (size, mtime_ns) at the last poll and failed decodes while still.
        self._pending: dict[str, tuple[tuple[int, int], int]] = {}
        self._last_frame_s: float | None = None
        self._last_vehicle_s: float | None = None

    @property
    def is_folder(self) -> bool:
        return not self.source.isdigit() and "://" not in self.source

    def start(self) -> None:
        if self.is_folder:
            folder = Path(self.source)
            folder.mkdir(parents=True, exist_ok=True)
            # Frames already there belong to earlier vehicles: never read them as this one's.
            self._seen = {
                p.name: signature for p in folder.iterdir() if (signature := _signature(p)) is not None
            }
        self._thread = threading.Thread(target=self._run, name=f"camera-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.state = "stopped"

    def vehicle_passed(self, t_s: float) -> None:
        """A vehicle passed at host monotonic time ``t_s``: its frames should be arriving."""
        self._last_vehicle_s = t_s if self._last_vehicle_s is None else max(self._last_vehicle_s, t_s)

    @property
    def stale(self) -> bool:
        """True when a vehicle passed but no frame arrived within ``stale_s`` before it, or since."""
        if self._last_vehicle_s is None:
            return False
        last = self._last_frame_s
        return last is None or last < self._last_vehicle_s - self.stale_s

    def health(self) -> dict[str, Any]:
        state = "stale" if self.state == "up" and self.stale else self.state
        return {
            "source": self.source if "@" not in self.source else "<url with credentials>",
            "state": state,
            "frames_total": self.frames_total,
            "frames_bad": self.frames_bad,
            "last_error": self.last_error,
            "last_frame_age_s": None
            if self._last_frame_s is None
            else round(time.monotonic() - self._last_frame_s, 1),
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
        self._last_frame_s = frame.t_s

    def _run(self) -> None:
        if self.is_folder:
            self._run_folder(Path(self.source))
        else:
            self._run_stream()

    def _run_folder(self, folder: Path) -> None:
        self.state = "up"
        while not self._stop.is_set():
            try:
                paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
            except OSError as exc:
                self._fail(f"cannot list {folder}: {exc.strerror or exc}; check the camera folder exists")
                self._stop.wait(1.0)
                continue
            if self.state == "down":
                self.state = "up"
            for path in paths:
                self._poll_file(path)
            present = {p.name for p in paths}
            for table in (self._seen, self._pending):
                if len(table) > 10_000:  # names of files long gone
                    for name in set(table) - present:
                        del table[name]
            self._stop.wait(self.poll_s)

    def _poll_file(self, path: Path) -> None:
        """One poll of one folder file: decode it once it holds still, mark it done once decoded."""
        import cv2

        name = path.name
        signature = _signature(path)
        if signature is None or self._seen.get(name) == signature:
            return  # gone, or done with
        before, failures = self._pending.get(name, (None, 0))
        if signature != before or signature[0] == 0:
            self._pending[name] = (signature, 0)  # new, or still being written: look again next poll
            return
        try:
            data = np.fromfile(path, dtype=np.uint8)
        except OSError:
            return  # removed or locked between the listing and the read: next poll decides
        # Decoded once to check it (a camera's half-written or corrupt file), then kept encoded.
        image = cv2.imdecode(data, cv2.IMREAD_COLOR) if _complete(data) else None
        if image is None:
            failures += 1
            if failures < self.decode_tries:
                self._pending[name] = (signature, failures)
                return
            self.frames_bad += 1
            self.last_error = f"{name}: not a decodable image ({failures} tries while its size held)"
        else:
            del image
            self._keep(Frame(time.monotonic(), data.tobytes(), name))
        self._pending.pop(name, None)
        self._seen[name] = signature

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
                arrived = time.monotonic()
                self._keep(Frame.from_image(arrived, np.asarray(image, dtype=np.uint8), "stream"))
                del image
            capture.release()

    def _fail(self, message: str) -> None:
        if self.last_error != message:
            log.warning("%s", message)
        self.state = "down"
        self.last_error = message


def _signature(path: Path) -> tuple[int, int] | None:
    """(size, mtime_ns) of a file, or None when it is gone."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _complete(data: npt.NDArray[np.uint8]) -> bool:
    """False for an empty file or a JPEG without its end marker (OpenCV decodes a truncated JPEG, grey
    below the cut, with only a warning); other formats fail to decode when truncated."""
    if data.size == 0:
        return False
    if data[:2].tobytes() == b"\xff\xd8":
        return b"\xff\xd9" in data[-64:].tobytes()  # some cameras pad after the end marker
    return True
