#!/usr/bin/env bash
# Idle footprint: what `cowbell run` holds and spends while nothing is logged.
#
#   bench/footprint.sh [WINDOW_SECONDS]     (default 60)
#
# Three cases, each started fresh, left SETTLE seconds (default 10) to start up, then
# watched for WINDOW seconds:
#   defaults     `cowbell run` without a config: the embedded defaults (built-in pack,
#                the journal if readable, the usual Redis/PostgreSQL/container paths)
#   containers   one file source over 1000 idle Docker json-file container logs
#   go-floor     a Go program that only sleeps, built with the same toolchain: what the
#                runtime alone costs
# RSS is VmRSS and VmHWM from /proc/PID/status at the end of the window and the
# maximum resident set /usr/bin/time -v reports after SIGTERM; CPU is utime + stime
# from /proc/PID/stat over the window, as a share of one core (and in mCPU).
set -euo pipefail
cd "$(dirname "$0")/.."
window=${1:-60}
settle=${SETTLE:-10}
dir=${BENCH_DIR:-/tmp/cowbell-bench}
work="$dir/footprint"
rm -rf "$work" && mkdir -p "$work"
./scripts/build.sh "$dir/cowbell" 2>/dev/null
[ -x /usr/bin/time ] || { apt-get install -y -qq time >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }; }
hz=$(getconf CLK_TCK)

mkdir -p "$work/floor"
cat >"$work/floor/main.go" <<'EOF'
package main

import "time"

func main() { time.Sleep(24 * time.Hour) }
EOF
(cd "$work/floor" && GO111MODULE=off go build -o "$work/go-floor" main.go)

# 1000 idle container logs, as the kubelet lays them out for Docker json-file.
for i in $(seq 1 1000); do
	id=$(printf '%064d' "$i")
	mkdir -p "$work/containers/$id"
	printf '{"log":"container %s started\\n","stream":"stdout","time":"2024-06-05T00:00:00.000000000Z"}\n' "$i" \
		>"$work/containers/$id/$id-json.log"
done
cat >"$work/containers.yaml" <<EOF
host: bench
state_dir: $work/state-containers
sources:
  - {name: containers, type: file, paths: ["$work/containers/*/*-json.log"], format: docker, start_at: beginning}
notifiers:
  - {name: console, type: console}
log: {level: error}
EOF

pid_of_child() { # the process /usr/bin/time started
	local p
	for _ in $(seq 100); do
		p=$(pgrep -P "$1" | head -1) && [ -n "$p" ] && { echo "$p"; return; }
		sleep 0.1
	done
	return 1
}

# measure NAME CMD... → one table row.
measure() {
	local name=$1
	shift
	STATE_DIRECTORY="$work/state-$name" /usr/bin/time -v -o "$work/$name.time" "$@" >"$work/$name.out" 2>"$work/$name.err" &
	local tpid=$!
	local pid
	pid=$(pid_of_child "$tpid")
	sleep "$settle"
	local c0 c1
	c0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
	sleep "$window"
	c1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
	local rss hwm threads
	rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
	hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
	threads=$(awk '/Threads/ {print $2}' "/proc/$pid/status")
	kill -TERM "$pid"
	wait "$tpid" || true
	local maxrss
	maxrss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/$name.time")
	awk -v n="$name" -v r="$rss" -v h="$hwm" -v m="$maxrss" -v c="$((c1 - c0))" -v hz="$hz" -v w="$window" -v t="$threads" 'BEGIN {
		cpu = c / hz / w
		printf "| %s | %.1f MiB | %.1f MiB | %.1f MiB | %.2f %% (%.1f mCPU) | %d |\n", n, r / 1024, h / 1024, m / 1024, cpu * 100, cpu * 1000, t
	}'
}

echo "Command: \`bench/footprint.sh $window\` (settle ${settle} s), $(date -u +%Y-%m-%d), cowbell $(git describe --tags --always --dirty), $(go version | cut -d' ' -f3), $(nproc) cores."
echo "Binary: $(du -h "$dir/cowbell" | cut -f1) ($(stat -c %s "$dir/cowbell") bytes, stripped, cgo build)."
echo
echo "| idle | VmRSS | VmHWM | max RSS (time -v) | CPU over ${window} s | threads |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
measure defaults "$dir/cowbell" run
measure containers "$dir/cowbell" run --config "$work/containers.yaml"
measure go-floor "$work/go-floor"
