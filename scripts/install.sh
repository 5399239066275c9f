#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian/Ubuntu machine, as root or as a user (sudo is
# used for apt-get only, and only when something is missing):
#   system packages (Mosquitto for the broker tests and the demo, the CJK fonts of the simulated camera,
#   python3-venv; about 120 MB, listed in the README) and a virtual environment in .venv with the
#   package and its test tools; Chromium (about 360 MB) for the console's browser tests.  Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

need_apt=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto)
# CJK fonts: the plate renderer (simulated lane camera, model training) draws province characters with them.
[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need_apt+=(fonts-wqy-microhei)
[ -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || need_apt+=(fonts-wqy-zenhei)
[ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc ] || need_apt+=(fonts-noto-cjk)
[ -f /usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf ] || need_apt+=(fonts-droid-fallback)
# systemd-analyze: the tests verify the service unit and its hardening score with it.
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
# Chromium: the technician console's browser tests drive Debian's Chromium with Playwright (never
# `playwright install`); about 360 MB with chromium-common.
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need_apt+=(chromium)
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  need_apt+=(python3 python3-venv python3-pip)
fi
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "== installing system packages: ${need_apt[*]}"
  if [ -n "$SUDO" ] && ! command -v sudo >/dev/null 2>&1; then
    echo "missing: ${need_apt[*]}; sudo is not installed: run this script as root, or apt-get install them as root" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required; set PYTHON=/path/to/python3.11")'

# The Debian package starts a system broker on port 1883; the demo and the tests run their own on free
# ports, so it is left as it is.

if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$PYTHON" -m venv .venv
fi
echo "== installing the package into .venv"
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[test]"
echo "== ready: .venv/bin/edge --help"
