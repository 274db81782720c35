#!/usr/bin/env bash
# Measures what `cowbell run` costs, for the resource requests of the shipped
# manifests: resident memory (RSS now and its peak, VmHWM) and CPU (user+system
# ticks from /proc/PID/stat over a window), idle and under a line load.
#
#   scripts/footprint.sh [BINARY]        (default bin/cowbell; make build first)
#
# Two setups, as the manifests run cowbell: the Redis sidecar (one plain Redis log,
# Redis INFO off) and the DaemonSet (CRI container logs, 20 files). Loads are written
# in batches every 100 ms: 1,000 lines/s to the Redis log (far above what a Redis
# writes), 5,000 lines/s over the container logs. Lines come from the pack's
# samples (real Redis output, ordinary lines), so some open incidents, which go to
# a console notifier. Everything stays in a temporary directory and on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-bin/cowbell}")
window=${WINDOW:-30}
hz=$(getconf CLK_TCK)
work=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

mapfile -t sample < <(grep -hv '^#' rules/testdata/samples/redis-7.0-real.log rules/testdata/samples/ordinary.log | grep -v '^$')

ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"; }

# measure NAME SECONDS WRITER...: CPU over the window while WRITER runs (if any),
# then RSS and peak RSS.
measure() {
	local name=$1 secs=$2
	shift 2
	local t0 c0 t1 c1 wpid=
	t0=$(date +%s.%N) c0=$(ticks)
	if [ $# -gt 0 ]; then
		"$@" "$secs" &
		wpid=$!
	fi
	sleep "$secs"
	[ -n "$wpid" ] && wait "$wpid"
	t1=$(date +%s.%N) c1=$(ticks)
	awk -v n="$name" -v c=$((c1 - c0)) -v hz="$hz" -v t0="$t0" -v t1="$t1" -v rss="$(kb VmRSS)" -v hwm="$(kb VmHWM)" \
		'BEGIN { printf "%-34s cpu %6.1f millicores   rss %6.1f MiB   peak rss %6.1f MiB\n", n, 1000 * c / hz / (t1 - t0), rss / 1024, hwm / 1024 }'
}

# write_plain FILE RATE SECONDS: RATE lines a second of the samples to FILE.
write_plain() {
	local f=$1 secs=$3 per=$(($2 / 10)) i j n=${#sample[@]} k=0 batch
	for ((i = 0; i < secs * 10; i++)); do
		batch=
		for ((j = 0; j < per; j++)); do
			batch+="${sample[k % n]}"$'\n'
			k=$((k + 1))
		done
		printf '%s' "$batch" >>"$f"
		sleep 0.1
	done
}

# write_cri DIR RATE SECONDS: RATE CRI records a second, spread over DIR/*.log.
write_cri() {
	local d=$1 secs=$3 per=$(($2 / 10)) i j n=${#sample[@]} k=0 files batch now
	files=("$d"/*.log)
	for ((i = 0; i < secs * 10; i++)); do
		now=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
		for f in "${files[@]}"; do
			batch=
			for ((j = 0; j < per / ${#files[@]}; j++)); do
				batch+="$now stdout F ${sample[k % n]}"$'\n'
				k=$((k + 1))
			done
			printf '%s' "$batch" >>"$f"
		done
		sleep 0.1
	done
}

# start CONFIG: runs cowbell and waits until /healthz answers.
start() {
	"$bin" run --config "$1" >"$work/out.log" 2>&1 &
	pid=$!
	local deadline=$((SECONDS + 30))
	until curl -sf "http://$listen/healthz" >/dev/null; do
		kill -0 "$pid" 2>/dev/null || { cat "$work/out.log" >&2; exit 1; }
		[ $SECONDS -lt $deadline ] || { echo "footprint: cowbell did not answer" >&2; exit 1; }
		sleep 0.2
	done
}

stop() {
	kill "$pid"
	wait "$pid" || true
	pid=
}

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 19464)
listen=127.0.0.1:$port
echo "cowbell footprint: $("$bin" version); ${window} s windows; $(nproc) CPUs"

mkdir -p "$work/sidecar/state" "$work/sidecar/log"
: >"$work/sidecar/log/redis.log"
cat >"$work/sidecar/cowbell.yaml" <<EOF
host: footprint
state_dir: $work/sidecar/state
sources:
  - name: redis
    type: file
    paths: [$work/sidecar/log/redis.log]
    time_zone: UTC
notifiers:
  - {name: console, type: console}
metrics: {listen: "$listen"}
EOF
start "$work/sidecar/cowbell.yaml"
measure "sidecar, idle" "$window"
measure "sidecar, 1000 lines/s" "$window" write_plain "$work/sidecar/log/redis.log" 1000
stop

mkdir -p "$work/node/state" "$work/node/containers"
for i in $(seq -w 1 20); do : >"$work/node/containers/pod${i}_default_app-${i}.log"; done
cat >"$work/node/cowbell.yaml" <<EOF
host: footprint
state_dir: $work/node/state
sources:
  - name: containers
    type: file
    paths: [$work/node/containers/*.log]
notifiers:
  - {name: console, type: console}
metrics: {listen: "$listen"}
EOF
start "$work/node/cowbell.yaml"
measure "daemonset, 20 logs, idle" "$window"
measure "daemonset, 20 logs, 5000 lines/s" "$window" write_cri "$work/node/containers" 5000
read_total=$(curl -s "http://$listen/metrics" | awk '/^cowbell_lines_read_total/ {s += $2} END {print s + 0}')
stop
echo "daemonset lines read: $read_total"
