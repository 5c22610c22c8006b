#!/usr/bin/env bash
# Debian packages the tests use for real: PostgreSQL, Prometheus + Alertmanager + node exporter, Chromium.
# Idempotent: installs only what is missing.
set -euo pipefail
want=(postgresql prometheus prometheus-alertmanager prometheus-node-exporter chromium)
missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing system packages: ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian packages start their own services; the tests run private instances instead.
for svc in prometheus prometheus-alertmanager prometheus-node-exporter postgresql; do
  $SUDO systemctl stop "$svc" >/dev/null 2>&1 || $SUDO service "$svc" stop >/dev/null 2>&1 || true
done
