#!/usr/bin/env bash
# Install what is needed, then run the linters, the type checker and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
echo "== ruff"
.venv/bin/ruff check edge drivers firmware_sim tests bench
echo "== import contracts (lint-imports: the layers in pyproject.toml)"
.venv/bin/lint-imports
echo "== mypy --strict (edge, drivers)"
.venv/bin/mypy
echo "== pytest"
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$status"
