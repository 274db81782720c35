#!/bin/sh
# Journal read rate of each reader against `journalctl -o cat` on the same 50k entries,
# as ratios to that baseline. Needs root and systemd-journald (started if none runs).
#   bench/journald.sh [count]   (default 6)
set -eu
cd "$(dirname "$0")/.."
count="${1:-6}"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
go test -run '^$' -bench 'BenchmarkJournalRead' -benchtime 3x -count "$count" ./sources/journald/ | tee "$out"
go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da -col /reader "$out"
