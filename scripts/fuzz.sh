#!/usr/bin/env bash
# Runs every fuzz target for a while (default 30s each; a count such as 2000x runs that
# many executions instead). Inputs that fail are kept by
# `go test` under the package's testdata/fuzz/; interesting ones in GOCACHE/fuzz (copy
# them into testdata/fuzz/ to keep them as seeds).
#
# Minimizing is capped at 100 runs an input (FUZZMINIMIZE): go's default, 60 s, spent
# whole runs of the rule loader minimizing one 4 KB seed-derived input (9 executions
# in 30 s, against about 1,400 a second with the cap).
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-30s}
minimize=${FUZZMINIMIZE:-100x}
grep -rl --include='*_test.go' '^func Fuzz' . | while read -r f; do
	pkg=./$(dirname "${f#./}")
	for fn in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | cut -d' ' -f2); do
		echo "== $pkg $fn ($t)"
		go test -run '^$' -fuzz "^$fn\$" -fuzztime "$t" -fuzzminimizetime "$minimize" "$pkg"
	done
done
