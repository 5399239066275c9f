"""The daemon gives back LLVM's clean code pages once its kernels are loaded (edge/residency.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from edge.residency import _clean_mappings

ROOT = Path(__file__).resolve().parents[1]

SMAPS = """\
7f0000000000-7f0000365000 r--p 00000000 fe:00 65 /venv/llvmlite/binding/libllvmlite.so
Rss:                 100 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
VmFlags: rd mr mw me
7f0000365000-7f0000394000 r-xp 00365000 fe:00 65 /venv/llvmlite/binding/libllvmlite.so
Rss:                5000 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
7f0000394000-7f0000400000 r--p 05394000 fe:00 65 /venv/llvmlite/binding/libllvmlite.so
Rss:                 300 kB
Private_Dirty:       300 kB
Anonymous:           300 kB
7f0000400000-7f0000410000 rw-p 0983c000 fe:00 65 /venv/llvmlite/binding/libllvmlite.so
Rss:                  64 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
7f0000410000-7f0000420000 r-xp 00000000 fe:00 66 /usr/lib/libc.so.6
Rss:                  64 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
"""


def test_only_clean_read_only_pages_of_the_named_library_are_chosen() -> None:
    chosen = _clean_mappings(SMAPS, ("libllvmlite",))
    # not the relocated (copy-on-write) part, not the writable segment, not another library
    assert chosen == [(0x7F0000000000, 0x7F0000365000, 100), (0x7F0000365000, 0x7F0000394000, 5000)]


def test_llvm_pages_are_given_back_and_the_kernels_still_run() -> None:
    script = textwrap.dedent(
        """
        import json, re
        from pathlib import Path
        import numpy as np
        from edge.residency import release_clean_library_pages
        from edge.wim import kernels

        def llvm_kib():
            total, inside = 0, False
            for line in Path("/proc/self/smaps").read_text().splitlines():
                if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                    inside = "libllvmlite" in line
                elif inside and line.startswith("Rss:"):
                    total += int(line.split()[1])
            return total

        kernels.warm_up()
        before = llvm_kib()
        released = release_clean_library_pages()
        after = llvm_kib()
        kernels.warm_up()  # the loaded kernels run again, without LLVM's pages
        print(json.dumps({"before": before, "released": released, "after": after}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]  # a dropped relocated page would crash it
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["before"] > 20_000, figures  # LLVM's code, touched to load the kernels
    assert figures["released"] > 0.8 * figures["before"], figures
    assert figures["after"] < figures["before"] - figures["released"] + 2_000, figures
