#!/usr/bin/env bash
# Runs every fuzz target for a while (default 30s each). Inputs that fail are kept by
# `go test` under the package's testdata/fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-30s}
grep -rl --include='*_test.go' '^func Fuzz' . | while read -r f; do
	pkg=./$(dirname "${f#./}")
	for fn in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | cut -d' ' -f2); do
		echo "== $pkg $fn ($t)"
		go test -run '^$' -fuzz "^$fn\$" -fuzztime "$t" "$pkg"
	done
done
