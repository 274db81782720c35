#!/bin/sh
# enrich.sh benchmarks one snapshot of this machine, cached against uncached, and
# prints benchstat's comparison (uncached is the baseline column).
#   bench/enrich.sh [COUNT]     (default 6 runs each)
set -eu
cd "$(dirname "$0")/.."
count=${1:-6}
out=$(mktemp)
trap 'rm -f "$out" "$out.renamed"' EXIT
go test -run '^$' -bench '^BenchmarkSnapshot$' -benchmem -count "$count" ./enrich >"$out"
# benchstat compares columns by a name key: Snapshot/cached → Snapshot/read=cached.
sed -e 's#^BenchmarkSnapshot/uncached#BenchmarkSnapshot/read=uncached#' \
	-e 's#^BenchmarkSnapshot/cached#BenchmarkSnapshot/read=cached#' "$out" >"$out.renamed"
go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da -col /read@'(uncached cached)' "$out.renamed"
