"""One daemon per station config: exclusive locks on the evidence database and on every local port.

Each lock is an ``flock`` on a small file that holds the owner's PID, so a second ``edge run`` on the same
database or the same serial device is refused with the running process's PID.  The kernel drops the
locks when the process ends, however it ends (no stale lock after a crash or a power cut).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from pathlib import Path
from types import TracebackType

from edge.errors import EdgeError

__all__ = ["AlreadyRunning", "StationLock", "database_held", "port_lock_dir"]


class AlreadyRunning(EdgeError, RuntimeError):
    """Raised when another process holds the evidence database or a port this daemon needs."""


def port_lock_dir() -> Path:
    """Where port locks live: /run/lock when writable (shared by every service), else the temp folder."""
    run_lock = Path("/run/lock")
    return run_lock if os.access(run_lock, os.W_OK) else Path(tempfile.gettempdir())


def _port_lock_path(port: str) -> Path | None:
    if "://" in port:  # socket://, loop://, rfc2217:// ...: nothing local to hold
        return None
    real = os.path.realpath(port)  # /dev/weigh/scale0 and /dev/ttyUSB0 are the same device
    digest = hashlib.sha256(real.encode()).hexdigest()[:16]
    return port_lock_dir() / f"weighlane-port-{digest}.lock"


def database_held(database: str | Path) -> bool:
    """Whether a daemon holds this evidence database now.  Read-only: creates nothing (a root shell must
    never leave a lock file the service user cannot open) and takes only a shared lock for an instant."""
    db = Path(database)
    try:
        fd = os.open(db.with_name(db.name + ".lock"), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # closing drops the shared lock too
    return False


class StationLock:
    """Holds the database's and the ports' locks while in its ``with`` block."""

    def __init__(self, database: str | Path, ports: dict[str, str]) -> None:
        db = Path(database)
        self._targets: list[tuple[str, Path]] = [(f"evidence database {db}", db.with_name(db.name + ".lock"))]
        for role, port in sorted(ports.items()):
            path = _port_lock_path(port)
            if path is not None:
                self._targets.append((f"{role} port {port}", path))
        self._held: list[int] = []

    def acquire(self) -> None:
        try:
            for what, path in self._targets:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                    os.close(fd)
                    raise AlreadyRunning(
                        f"another weighlane daemon (PID {owner}) holds the {what}: stop it first"
                        f" (systemctl stop weighlane-edge, or kill {owner}), or give this one its own"
                        " database and ports"
                    ) from None
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
                self._held.append(fd)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        while self._held:
            with contextlib.suppress(OSError):
                os.close(self._held.pop())

    def __enter__(self) -> StationLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
