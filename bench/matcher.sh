#!/bin/sh
# Benchmarks the matcher against its same-run baseline (every regexp on every line)
# and summarises with benchstat. Usage: bench/matcher.sh [output file]
set -eu
cd "$(dirname "$0")/.."
out="${1:-/tmp/matcher-bench.txt}"
go test -run XXX -bench . -count 6 ./matcher/ >"$out"
go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da "$out"
