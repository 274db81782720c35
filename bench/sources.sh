#!/bin/sh
# Measures the file source against reading the same bytes without decoding them.
#
#   bench/sources.sh [count]
#
# BenchmarkFileSource reads a ~100 MB file from its beginning through Source.Run (plain,
# plain with every Redis stamp parsed under time_zone, and CRI), every line decoded and
# received; BenchmarkBaselineCat reads the same plain
# file with io.Copy to io.Discard and with cat(1) to /dev/null. Prints benchstat's
# table, then each file source run's throughput as a fraction of each baseline's.
set -eu
cd "$(dirname "$0")/.."
count="${1:-6}"
benchstat="golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT

go test -run '^$' -bench '^(BenchmarkFileSource|BenchmarkBaselineCat)$' -benchmem \
	-count "$count" ./sources/file/ >"$out"
go run "$benchstat" "$out"

echo
echo "throughput ratios (median B/s, source / baseline):"
go run "$benchstat" -format csv "$out" 2>/dev/null | awk -F, '
	/^,B\/s,/ { inbs = 1; next }
	/^,/ || /^$/ { inbs = 0 }
	inbs && $1 ~ /^FileSource/ { src[$1] = $2 }
	inbs && $1 ~ /^BaselineCat/ { base[$1] = $2 }
	END {
		for (s in src) for (b in base)
			printf "  %-28s / %-28s = %.4f (1/%.0f)\n", s, b, src[s] / base[b], base[b] / src[s]
	}' | sort
