#!/usr/bin/env bash
# Install what is needed, then run the simulated toll-entrance lane (Ctrl-C stops it).
# Extra arguments go to `edge demo`, e.g. scripts/demo.sh --vehicles 5
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/edge demo "$@"
