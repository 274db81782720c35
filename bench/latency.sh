#!/usr/bin/env bash
# Latency: from a line appended to a followed file (or sent to journald) to the
# webhook request at a local receiver, with the built-in pack and a background of
# ordinary lines. bench/cmd/latency writes the lines, stamping each incident line with
# its write time, and is the webhook receiver: each incident's latency is the
# request's arrival minus the stamp in its line.
#
#   bench/latency.sh [RUNS]     (default 3; the binaries alternate within each run)
#
# Cases, each against a fresh `cowbell run` and state directory:
#   file      a plain file, RATE ordinary lines/s (default 10000); STEADY seconds of
#             INCIDENTS distinct incidents/s (default 20 s of 10/s), then BURST
#             distinct incidents within one second (default 500), in BURST_WRITES
#             writes 1/BURST_WRITES s apart (default 10: 50 lines every 100 ms)
#   journald  the same through the real journald (internal/testenv starts one when
#             none runs; needs root), at JRATE ordinary lines/s (default 1000)
#
# Environment: BENCH_DIR (default /tmp/cowbell-bench), BEFORE (a git revision: its
# cowbell is measured too, as "cowbell@REV"), CASES (default "file journald"),
# STATE_ROOT (where the state directories go, default under BENCH_DIR: /dev/shm takes
# the disk's fsync out of the figures).
# The table pools every run's incidents per binary, case and phase.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
runs=${1:-3}
dir=${BENCH_DIR:-/tmp/cowbell-bench}
mkdir -p "$dir"
work=$(mktemp -d "$dir/latency.XXXXXX") # its own, so two runs never share one
rate=${RATE:-10000}
jrate=${JRATE:-1000}
incidents=${INCIDENTS:-10}
steady=${STEADY:-20}
burst=${BURST:-500}
bwrites=${BURST_WRITES:-10}
read -r -a cases <<<"${CASES:-file journald}"
mkdir -p "$work/results"

./scripts/build.sh "$dir/cowbell" 2>/dev/null
bins=(cowbell)
build_before "$dir"
if [ -n "${BEFORE:-}" ]; then
	bins=(before cowbell)
fi
go build -o "$dir/latency" ./bench/cmd/latency
need curl curl

cat >"$work/latency.yaml" <<'EOF'
rules:
  - id: bench/latency-probe
    title: Latency probe
    severity: critical
    match: 'latency-probe id=(?P<id>\d+) at=\d+'
    key: "{{.Rule}}@{{.Host}}/{{.Captures.id}}"
    root_cause: A line bench/cmd/latency wrote.
    examples:
      match: ["app[42]: latency-probe id=1 at=1700000000000000000"]
      no_match: ["app[42]: latency id=1"]
EOF

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap 'cleanup; rm -rf "$work"' EXIT

metric() { # PORT NAME → its value summed over labels, or nothing
	curl -sf "http://127.0.0.1:$1/metrics" 2>/dev/null |
		awk -v n="$2" '$1 == n || index($1, n "{") == 1 {s += $2; f = 1} END {if (f) printf "%d", s}'
}

# one BIN CASE RUN: a fresh cowbell, one latency run against it.
one() {
	local bin=$1 kase=$2 run=$3
	local exe="$dir/cowbell"
	[ "$bin" = before ] && exe="$dir/cowbell-before"
	local w="$work/$bin-$kase-$run"
	local state="${STATE_ROOT:+$STATE_ROOT/cowbell-latency-$bin-$kase-$run-$$}"
	state=${state:-$w/state}
	rm -rf "$state" && mkdir -p "$state" "$w"
	local hport mport source writer pid try
	# Ports are drawn at random; a cowbell that could not take its metrics port
	# exits at once, and is started again on other ports (at most 5 times).
	for try in 1 2 3 4 5; do
		hport=$((20000 + RANDOM % 20000)) mport=$((40000 + RANDOM % 20000))
		if [ "$kase" = file ]; then
			: >"$w/app.log"
			source="{name: app, type: file, paths: [\"$w/app.log\"], start_at: end, format: plain}"
			writer=(-file "$w/app.log" -rate "$rate")
		else
			source="{name: app, type: journald, identifiers: [cowbell-latency], start_at: end}"
			writer=(-journal cowbell-latency -rate "$jrate")
		fi
		cat >"$w/cowbell.yaml" <<EOF
host: bench
state_dir: $state
metrics: {listen: "127.0.0.1:$mport"}
rules: {paths: ["$work/latency.yaml"]}
sources:
  - $source
notifiers:
  - {name: hook, type: webhook, url: "http://127.0.0.1:$hport/"}
log: {level: warn}
EOF
		"$exe" run --config "$w/cowbell.yaml" >"$w/cowbell.out" 2>"$w/cowbell.err" &
		pid=$!
		until [ "$(metric "$mport" cowbell_source_up)" = 1 ] || ! kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
		kill -0 "$pid" 2>/dev/null && break
		echo "cowbell ($exe) did not start (try $try):" >&2
		cat "$w/cowbell.err" >&2
		[ "$try" -lt 5 ] || return 1
	done
	pids+=("$pid")
	sleep 1 # the source is at the end of its input
	"$dir/latency" run -listen "127.0.0.1:$hport" "${writer[@]}" -incidents "$incidents" \
		-steady "${steady}s" -burst "$burst" -burst-writes "$bwrites" -out "$work/results/$bin-$kase-$run" >"$w/latency.out" 2>&1 ||
		{ cat "$w/latency.out" "$w/cowbell.err" >&2; }
	sed "s/^/  run $run $bin $kase /" "$w/latency.out" >&2
	# How many of the pipeline's commits (an fsync each) took over 100 ms: a busy disk
	# shows here (a cowbell without the histogram prints nothing).
	curl -sf "http://127.0.0.1:$mport/metrics" | awk -v r="  run $run $bin $kase" '
		/^cowbell_store_commit_seconds_bucket\{le="0.1"\}/ {fast = $2}
		/^cowbell_store_commit_seconds_count/ {n = $2}
		END {if (n != "") printf "%s commits %d, over 100 ms %d\n", r, n, n - fast}' >&2 || true
	kill "$pid"
	wait "$pid" || true
	[ -z "${STATE_ROOT:-}" ] || rm -rf "$state"
}

for r in $(seq "$runs"); do
	for kase in "${cases[@]}"; do
		for b in "${bins[@]}"; do one "$b" "$kase" "$r"; done
	done
done

echo "Command: \`bench/latency.sh $runs\` (RATE=$rate, JRATE=$jrate, INCIDENTS=$incidents/s for ${steady} s, BURST=$burst in $bwrites writes${BEFORE:+, BEFORE=$BEFORE}), $(date -u +%Y-%m-%d), cowbell $(git describe --tags --always --dirty), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "| cowbell | case | phase | incidents | p50 | p90 | p99 | max |"
echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"
for kase in "${cases[@]}"; do
	for b in "${bins[@]}"; do
		name=$b
		[ "$b" = before ] && name="cowbell@$BEFORE"
		"$dir/latency" stats "$work/results/$b-$kase-"* | while read -r phase n p50 p90 p99 mx; do
			echo "| $name | $kase | $phase | ${n#n=} | ${p50#p50=} | ${p90#p90=} | ${p99#p99=} | ${mx#max=} |"
		done
	done
done
