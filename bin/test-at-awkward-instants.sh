#!/usr/bin/env bash
# Runs the suites whose outcome could hang on the date or the hour again, with the clock of every Node process they start
# (vitest, runtime children, the CLI, `npm start`, Chromium) moved by libfaketime to fixed awkward instants:
#   - a June Saturday night in London, 03:00 BST (season, Saturday, quiet hours 21:00-08:00), with the machine's zone in California
#     where it is still Friday evening;
#   - the Sunday of the March DST change in London, two minutes before the clocks go forward, the machine in London too.
# Not covered: nats-server is written in Go, which reads the clock without libc, so stream timestamps, TTLs and ack waits
# stay on real time (FINDINGS 20). Tests that compare server timestamps with the Node clock skip themselves when
# JRN_FAKED_CLOCK is set; docs/testing.md lists them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash bin/ensure-package.sh nats-server nats-server NATS_SERVER_BIN
bash bin/ensure-package.sh chromium chromium CHROMIUM_PATH
bash bin/ensure-package.sh faketime faketime

SUITES=(
  test/docs.test.ts test/dashboard.test.ts test/supervisor-host.test.ts test/supervisor.test.ts
  test/cli-observability.test.ts test/observability.test.ts test/dlq.test.ts test/priority-dispatch.test.ts
  test/cli.test.ts test/journey.test.ts test/preview.test.ts test/crash.test.ts test/demo.test.ts
)
run_at() {
  local at="$1" zone="$2"
  # A faked clock that silently did not apply would pass everything: check that Node sees the instant first.
  local seen
  seen=$(TZ="$zone" faketime "$at" node -e 'process.stdout.write(new Date().toISOString())')
  if [[ "$seen" != "${at:0:10}T${at:11:5}"* ]]; then
    echo "faketime did not move the clock: wanted $at, Node saw $seen" >&2
    exit 1
  fi
  echo "== ${#SUITES[@]} suites at $at (TZ=$zone, Node sees $seen)"
  TZ="$zone" JRN_FAKED_CLOCK="$at" faketime "$at" npx vitest run "${SUITES[@]}"
}
run_at '2027-06-12 02:00:00 UTC' America/Los_Angeles
run_at '2027-03-28 00:58:00 UTC' Europe/London
