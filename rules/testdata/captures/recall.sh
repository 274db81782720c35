#!/bin/sh
# Recall by kind on the real captures: runs `cowbell replay --hits --json` over each
# file of recall.tsv and counts, per kind, the lines that got a hit of their rule;
# then counts the hits on text that only quotes incident lines (logged statements,
# Redis MONITOR echoes, the near-miss corpus), which must be none.
#   rules/testdata/captures/recall.sh COWBELL     (a cowbell binary)
set -eu
bin=$(realpath "$1")
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
hits() { # file → its hits as JSON lines, cached
	out="$tmp/$(echo "$1" | tr / _)"
	[ -f "$out" ] || "$bin" replay --hits --json "$1" >"$out" 2>/dev/null || true
	cat "$out"
}
grep -v '^#' testdata/captures/recall.tsv | while IFS="$(printf '\t')" read -r kind file rule text; do
	if hits "$file" | jq -s -e --arg r "$rule" --arg t "$text" 'any(.[]; .rule == $r and (.line | contains($t)))' >/dev/null; then
		echo "$kind	1"
	else
		echo "$kind	0"
	fi
done | awk -F'\t' '{n[$1]++; c[$1]+=$2; order[$1]=NR} END {
	for (k in n) printf "%s\t%d/%d\n", k, c[k], n[k]; }' | sort
total=0
for f in testdata/captures/redis-7.0-monitor-quoting.txt testdata/samples/near-misses.log; do
	total=$((total + $(hits "$f" | grep -c . || true)))
done
for f in testdata/captures/postgres-15-stderr.log testdata/captures/postgres-15-csvlog.csv testdata/captures/postgres-15-jsonlog.json; do
	total=$((total + $(hits "$f" | jq -c 'select(.line | test("statement: "))' | grep -c . || true)))
done
echo "hits on quoted text	$total"
