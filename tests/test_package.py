"""Process-wide settings the package makes on import."""

from __future__ import annotations

import os
import subprocess
import sys


def _blas_threads_after_import(env: dict[str, str]) -> str:
    code = "import edge, os; print(os.environ['OPENBLAS_NUM_THREADS'])"
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_importing_edge_limits_blas_to_one_thread_unless_told_otherwise() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    assert _blas_threads_after_import(env) == "1"
    assert _blas_threads_after_import({**env, "OPENBLAS_NUM_THREADS": "4"}) == "4"
