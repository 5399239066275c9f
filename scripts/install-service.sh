#!/usr/bin/env bash
# Installs the lane daemon as a systemd service, as root:
#   scripts/install-service.sh LANE CONFIG.toml      e.g.  scripts/install-service.sh lane1 config/lane.example.toml
# Creates the user weighlane (group dialout), installs the package into /opt/weighlane/.venv, copies the
# config to /etc/weighlane/LANE.toml, the unit and the udev rules template, and enables
# weighlane-edge@LANE.  Safe to run again; an existing /etc/weighlane/LANE.toml is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
[ $# -eq 2 ] || { echo "usage: $0 LANE CONFIG.toml" >&2; exit 2; }
lane="$1" config="$2"
[[ "$lane" =~ ^[A-Za-z0-9_-]+$ ]] || { echo "LANE: letters, digits, - and _ only" >&2; exit 2; }

id -u weighlane >/dev/null 2>&1 || useradd --system --home-dir /var/lib/weighlane --shell /usr/sbin/nologin \
  --user-group weighlane
usermod -a -G dialout weighlane
install -d -o root -g root -m 0755 /opt/weighlane
install -d -o root -g weighlane -m 0750 /etc/weighlane
install -d -o weighlane -g weighlane -m 0750 /var/lib/weighlane /var/cache/weighlane

if [ ! -x /opt/weighlane/.venv/bin/python ]; then python3 -m venv /opt/weighlane/.venv; fi
/opt/weighlane/.venv/bin/pip install -q .
[ -f "/etc/weighlane/$lane.toml" ] || install -o root -g weighlane -m 0640 "$config" "/etc/weighlane/$lane.toml"
/opt/weighlane/.venv/bin/edge config check "/etc/weighlane/$lane.toml"

install -m 0644 "systemd/weighlane-edge@.service" /etc/systemd/system/
[ -f /etc/udev/rules.d/99-weighlane.rules ] || install -m 0644 systemd/udev/99-weighlane.rules /etc/udev/rules.d/
systemctl daemon-reload
systemctl enable --now "weighlane-edge@$lane.service"
echo "weighlane-edge@$lane: enabled.  Logs: journalctl -u weighlane-edge@$lane -f;  errors only: -p err"
echo "Edit /etc/udev/rules.d/99-weighlane.rules with your adapters' serial numbers for /dev/weigh/* names."
