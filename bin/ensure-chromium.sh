#!/usr/bin/env bash
# Installs Debian's chromium when missing: the dashboard test drives it through playwright-core (which cannot download
# browsers here).
set -euo pipefail
if [ -x /usr/bin/chromium ] || [ -n "${CHROMIUM_PATH:-}" ]; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium is missing: install it (Debian: apt-get install -y chromium) or set CHROMIUM_PATH" >&2
  exit 1
fi
echo "installing chromium (Debian package)" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
