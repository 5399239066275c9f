"""Give back the pages of a library the daemon needed only to start: LLVM's code, once the Numba kernels
are loaded from their cache.

Numba loads each cached kernel through llvmlite, and that touches about 69 MiB of ``libllvmlite.so``'s
code and read-only data.  Those pages stay in the process's resident set (VmRSS) for good, although a
warm daemon never compiles again: the kernels run as plain machine code.  They are clean file pages
(the same bytes as on disk), so dropping this process's mapping of them with ``madvise(MADV_DONTNEED)``
loses nothing: a page touched again (a kernel compiled for a new argument type) is read back from the
file, as at start.  Only mappings that are not writable and hold no private (copy-on-write) page are
dropped; relocated data (RELRO) and the writable segment are left alone.

Linux only; elsewhere, or if anything fails, it does nothing (issue 19, ``bench/rss.py``).
"""

from __future__ import annotations

import ctypes
import logging
import sys
from pathlib import Path

__all__ = ["COMPILER_LIBRARIES", "release_clean_library_pages"]

log = logging.getLogger(__name__)

#: Libraries used only while kernels load or compile.
COMPILER_LIBRARIES = ("libllvmlite",)
_MADV_DONTNEED = 4


def _clean_mappings(smaps: str, names: tuple[str, ...]) -> list[tuple[int, int, int]]:
    """(start, end, resident KiB) of each read-only mapping of one of ``names`` without private pages."""
    found: list[tuple[int, int, int]] = []
    current: dict[str, object] | None = None

    def close(entry: dict[str, object] | None) -> None:
        if (
            entry is not None
            and entry["ok"]
            and entry.get("Anonymous") == 0
            and entry.get("Private_Dirty") == 0
        ):
            found.append((int(str(entry["start"]), 16), int(str(entry["end"]), 16), int(str(entry["Rss"]))))

    for line in smaps.splitlines():
        head, _, rest = line.partition(" ")
        if "-" in head and not head.endswith(":"):
            close(current)
            fields = line.split()
            start, end = head.split("-")
            path = fields[5] if len(fields) > 5 else ""
            ok = "w" not in fields[1] and any(name in Path(path).name for name in names)
            current = {"start": start, "end": end, "ok": ok, "Rss": 0}
        elif (
            current is not None and head.endswith(":") and head[:-1] in ("Rss", "Anonymous", "Private_Dirty")
        ):
            current[head[:-1]] = int(rest.split()[0])
    close(current)
    return found


def release_clean_library_pages(names: tuple[str, ...] = COMPILER_LIBRARIES) -> int:
    """Drop this process's resident clean pages of the libraries whose file name contains one of
    ``names``; returns the KiB released (0 when nothing was, or on a system other than Linux)."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        smaps = Path("/proc/self/smaps").read_text()
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return 0
    madvise = libc.madvise
    madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    released = 0
    for start, end, rss_kib in _clean_mappings(smaps, names):
        if madvise(start, end - start, _MADV_DONTNEED) == 0:
            released += rss_kib
    if released:
        log.debug("released %d KiB of clean %s pages", released, "/".join(names))
    return released
