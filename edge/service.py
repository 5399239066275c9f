"""Running under systemd: log lines journald can filter by priority, and sd_notify.

Logs.  Under systemd, stderr is a stream to journald (``$JOURNAL_STREAM`` names it, sd_journal_stream_fd(3)).
journald reads a ``<N>`` syslog priority at the start of each line (``SyslogLevelPrefix=``, on by default)
and stamps the time itself, so each line carries its priority and no timestamp of ours:
``journalctl -u weighlane-edge@lane1 -p err`` then shows the errors only.

Structured fields.  When the journal's native socket is there too and ``cysystemd`` (Apache-2.0, a
Cython binding of libsystemd's ``sd_journal_send``, manylinux wheels with libsystemd inside: no build
step) imports, lines go to the journal as entries with fields instead: ``PRIORITY``,
``SYSLOG_IDENTIFIER=weighlane-edge``, ``SITE_ID`` and ``LANE`` on every line (:func:`tag_logs`), and
``RECORD_ID`` (``VEHICLE_NUMBER``, ``VERDICT``) on the lines about one record, from the logging call's
``extra``: ``journalctl -u weighlane-edge@lane1 RECORD_ID=<uuid>`` finds what the daemon said about a
record.  The PyPI ``systemd-python`` package does the same but builds from source against
libsystemd-dev; without either, the ``<N>`` stream lines above still carry the priority.

Notify.  ``Type=notify`` units get ``$NOTIFY_SOCKET``; the protocol (sd_notify(3)) is one datagram of
``KEY=VALUE`` lines on that AF_UNIX socket (a leading ``@`` names an abstract socket).  A few lines of
stdlib: the PyPI ``sdnotify`` package does the same, unmaintained since 2017 and untyped.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from pathlib import Path
from typing import TextIO

__all__ = [
    "IDENTIFIER",
    "JOURNAL_SOCKET",
    "JournalFormatter",
    "LaneFields",
    "Notifier",
    "journal_handler",
    "logging_handler",
    "tag_logs",
    "under_journald",
    "watchdog_interval_s",
]

#: logging level -> syslog priority (syslog(3)): err 3, warning 4, notice 5, info 6, debug 7.
_PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))


def _priority(levelno: int) -> int:
    for level, priority in _PRIORITIES:
        if levelno >= level:
            return priority
    return 7


def under_journald(stream: TextIO | None = None) -> bool:
    """True when ``stream`` (stderr) is the journal stream systemd gave this process."""
    value = os.environ.get("JOURNAL_STREAM", "")
    if not value:
        return False
    try:
        device, inode = (int(part) for part in value.split(":", 1))
        stat = os.fstat((stream or sys.stderr).fileno())
    except (ValueError, OSError):
        return False
    return (stat.st_dev, stat.st_ino) == (device, inode)


class JournalFormatter(logging.Formatter):
    """``<N>logger: message`` on every line (a traceback's lines too), with no timestamp."""

    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).splitlines())


#: journald's native protocol socket (systemd-journald.socket); libsystemd's sd_journal_send writes to it.
JOURNAL_SOCKET = Path("/run/systemd/journal/socket")
#: The journal's SYSLOG_IDENTIFIER of the daemon's entries (``journalctl -t weighlane-edge``).
IDENTIFIER = "weighlane-edge"


class LaneFields(logging.Filter):
    """Adds ``site_id`` and ``lane`` (the journal's SITE_ID and LANE fields) to every log record."""

    def __init__(self, site_id: str, lane: int) -> None:
        super().__init__()
        self.site_id = site_id
        self.lane = lane

    def filter(self, record: logging.LogRecord) -> bool:
        record.site_id = self.site_id
        record.lane = self.lane
        return True


def tag_logs(site_id: str, lane: int) -> None:
    """Every handler of the root logger adds this station's site and lane to each line (journal fields)."""
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, LaneFields)]:
            handler.removeFilter(old)
        handler.addFilter(LaneFields(site_id, lane))


def journal_handler() -> logging.Handler | None:
    """A native journal handler (cysystemd) when the journal's socket is there and the package imports;
    ``WEIGHLANE_JOURNAL=stream`` in the environment keeps the ``<N>`` stream lines instead."""
    if os.environ.get("WEIGHLANE_JOURNAL") == "stream" or not JOURNAL_SOCKET.exists():
        return None
    try:
        from cysystemd.journal import JournaldLogHandler
    except ImportError:
        return None
    handler: logging.Handler = JournaldLogHandler(identifier=IDENTIFIER)  # type: ignore[no-untyped-call]
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    return handler


def logging_handler() -> logging.Handler:
    """The journal's native handler (fields) or stderr formatted for journald when stderr is the journal,
    else stderr with our own timestamps."""
    handler = logging.StreamHandler()
    if under_journald(handler.stream):
        native = journal_handler()
        if native is not None:
            return native
        handler.setFormatter(JournalFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return handler


def watchdog_interval_s() -> float | None:
    """How often to ping the watchdog: half of ``WatchdogSec=`` (``$WATCHDOG_USEC``), or None when off."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return max(int(usec) / 2e6, 0.1)
    except ValueError:
        return None


class Notifier:
    """sd_notify(3): READY=1, WATCHDOG=1, STOPPING=1, STATUS=...  A no-op without ``$NOTIFY_SOCKET``."""

    def __init__(self, address: str | None = None) -> None:
        address = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):
            address = "\0" + address[1:]
        self.address = address
        self.enabled = bool(address)
        self.sent = 0

    def notify(self, *fields: str) -> bool:
        """Send ``fields`` (``"READY=1"``, ...) as one message; False when not under systemd or it failed."""
        if not self.enabled:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self.address)
                sock.sendall("\n".join(fields).encode("utf-8"))
        except OSError:
            return False
        self.sent += 1
        return True

    def ready(self, status: str) -> bool:
        return self.notify("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1", "STATUS=stopping")
