#!/bin/sh
# Runs every benchmark script; each reports ratios against a baseline measured in
# the same run (the machine is small and shared: absolute numbers wander, ratios less).
#   bench/run.sh            all of them
#   bench/run.sh matcher    one of them (matcher, sources, journald, enrich, replay,
#                           match: whole-process cowbell replay against ripgrep, grep
#                           and mtail, the table kept in bench/RESULTS.md)
set -eu
cd "$(dirname "$0")"
for b in ${1:-matcher sources journald enrich replay match}; do
	echo "== $b"
	./"$b".sh
done
