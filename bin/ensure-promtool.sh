#!/usr/bin/env bash
# Prints the path of a `promtool` binary (checks and unit-tests deploy/prometheus/alerts.yml): the one on PATH, else the
# one unpacked from Debian's `prometheus` package into a cache folder. The package is downloaded, never installed, so no
# Prometheus service appears on the machine (FINDINGS 22). Messages go to stderr; stdout is the path alone.
set -euo pipefail
if command -v promtool >/dev/null 2>&1; then
  command -v promtool
  exit 0
fi
cache="${XDG_CACHE_HOME:-$HOME/.cache}/journeys/promtool"
bin="$cache/usr/bin/promtool"
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
  echo "promtool is missing: put it on PATH (it ships with Prometheus; Debian: package prometheus)" >&2
  exit 1
fi
mkdir -p "$cache"
work="$(mktemp -d "$cache/.download.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# As root, apt hands downloads to its `_apt` user, which cannot write into a folder under /root: download as root.
sandbox=()
if [ "$(id -u)" = 0 ]; then sandbox=(-o APT::Sandbox::User=root); fi
download() { (cd "$work" && apt-get download -qq "${sandbox[@]}" prometheus) >&2; }
if ! download; then
  # A fresh machine has no package lists yet; only root may fetch them.
  if [ "$(id -u)" != 0 ]; then
    echo "apt-get download prometheus failed: run 'apt-get update' as root, or put promtool on PATH" >&2
    exit 1
  fi
  echo "fetching the package lists (apt-get update)" >&2
  apt-get update -qq >&2
  download
fi
dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
if [ ! -x "$work/root/usr/bin/promtool" ]; then
  echo "the prometheus package holds no usr/bin/promtool" >&2
  exit 1
fi
# Only promtool is kept (the package's server and docs are most of its 95 MB), moved into place whole so an
# interrupted run never leaves a half-copied binary that the check above would trust.
mkdir -p "$work/keep/usr/bin"
mv "$work/root/usr/bin/promtool" "$work/keep/usr/bin/promtool"
rm -rf "$cache/usr"
mv "$work/keep/usr" "$cache/usr"
echo "$bin"
