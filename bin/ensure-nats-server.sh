#!/usr/bin/env bash
# Installs Debian's nats-server when no binary is found (the runtime's embedded server and the tests need one).
set -euo pipefail
if command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || [ -n "${NATS_SERVER_BIN:-}" ]; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "nats-server is missing: install it (Debian: apt-get install -y nats-server) or set NATS_URL to a running server" >&2
  exit 1
fi
echo "installing nats-server (Debian package)" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
