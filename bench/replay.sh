#!/bin/sh
# Benchmarks the whole offline path (decode, match, track) with the built-in pack over
# ordinary logs against splitting the same bytes into lines, and prints benchstat's
# comparison (lines-only is the baseline column).
#   bench/replay.sh [COUNT]     (default 6 runs each)
set -eu
cd "$(dirname "$0")/.."
count=${1:-6}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test -run '^$' -bench '^BenchmarkReplay$' -benchmem -count "$count" ./pipeline >"$out"
go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da -col /path@'(lines-only replay)' "$out"
