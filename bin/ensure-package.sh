#!/usr/bin/env bash
# Installs a Debian package when the program it provides is missing: `ensure-package.sh PROGRAM PACKAGE [ENV_VAR]`.
# PROGRAM is a command name or an absolute path; a non-empty ENV_VAR (e.g. CHROMIUM_PATH) means the user brings their own.
set -euo pipefail
program="$1" package="$2" override="${3:-}"
if [ -n "$override" ] && [ -n "${!override:-}" ]; then exit 0; fi
if command -v "$program" >/dev/null 2>&1 || [ -x "/usr/sbin/$program" ] || [ -x "/usr/bin/$program" ]; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "$program is missing: install it (Debian: apt-get install -y $package)${override:+ or set $override}" >&2
  exit 1
fi
echo "installing $package (Debian package)" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null
