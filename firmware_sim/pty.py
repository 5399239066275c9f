"""Pseudo-terminal ports: the simulator writes the master side, the daemon opens the slave path with
pyserial exactly as it opens /dev/ttyUSB0.  A stable symlink (like a udev rule's) survives replugging.

A simulator's thread reads and writes the port while a test's thread unplugs and replugs it, so every use
of the master descriptor holds a lock: without it a read could meet a descriptor closed a moment before
(EBADF, which killed the simulator's thread) or, worse, one the number of which was already reused."""

from __future__ import annotations

import contextlib
import errno
import os
import select
import threading
import time
import tty
from pathlib import Path

__all__ = ["PtyPort"]


class PtyPort:
    def __init__(self, name: str, link_dir: Path | None = None) -> None:
        self.name = name
        self.link_dir = link_dir
        self.dropped_bytes = 0  # written while nobody read and the pty buffer was full
        # A real device sends at its line rate, never in bursts; the simulator sends a burst when its
        # own thread was starved (a busy host).  A full pty then waits up to this long for the reader
        # instead of dropping what a real line would have delivered; a reader that stays away (a
        # stopped daemon) loses bytes at once until it reads again.
        self.drain_wait_s = 0.5
        self._reader_away = False
        self._lock = threading.Lock()
        self._master = -1
        self._slave = -1
        self.slave_path = ""
        self.plug()

    @property
    def path(self) -> str:
        """What the daemon should open: the stable symlink when there is one."""
        return str(self.link_dir / self.name) if self.link_dir else self.slave_path

    @property
    def plugged(self) -> bool:
        return self._master >= 0

    def plug(self) -> None:
        with self._lock:
            self._close_fds()  # a replug without an unplug: the old pty goes
            master, slave = os.openpty()
            # Raw before anyone opens it: no echo, no CR/LF translation of binary frames.
            tty.setraw(slave)
            os.set_blocking(master, False)
            self._master, self._slave = master, slave
            self.slave_path = os.ttyname(slave)
        if self.link_dir is not None:
            self.link_dir.mkdir(parents=True, exist_ok=True)
            link = self.link_dir / self.name
            tmp = self.link_dir / f".{self.name}.tmp"
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self.slave_path)
            tmp.replace(link)

    def unplug(self) -> None:
        """Like pulling the USB adapter: the daemon's reads fail until :meth:`plug`."""
        with self._lock:
            self._close_fds()

    def _close_fds(self) -> None:
        """Close the pty's two ends; the caller holds the lock."""
        for fd in (self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = -1

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        deadline = time.monotonic() + self.drain_wait_s
        while view:
            with self._lock:
                master = self._master
                if master < 0:
                    self.dropped_bytes += len(view)
                    return
                try:
                    written = os.write(master, view)
                except BlockingIOError:
                    written = -1
                except OSError as exc:
                    if exc.errno == errno.EIO:
                        self.dropped_bytes += len(view)
                        return
                    raise
            if written < 0:  # the pty is full: wait for the reader, outside the lock
                remaining = deadline - time.monotonic()
                if not self._reader_away and remaining > 0:
                    # Unplugged meanwhile (a closed or reused number): re-checked on the next pass.
                    with contextlib.suppress(OSError, ValueError):
                        select.select([], [master], [], min(remaining, 0.05))
                    continue
                self._reader_away = True
                self.dropped_bytes += len(view)  # nobody reads: a real line would lose these too
                return
            view = view[written:]
        self._reader_away = False

    def read(self) -> bytes:
        with self._lock:
            if self._master < 0:
                return b""
            try:
                return os.read(self._master, 65536)
            except (BlockingIOError, InterruptedError):
                return b""
            except OSError as exc:
                if exc.errno == errno.EIO:
                    return b""
                raise

    def close(self) -> None:
        self.unplug()
        if self.link_dir is not None:
            with contextlib.suppress(FileNotFoundError):
                (self.link_dir / self.name).unlink()
