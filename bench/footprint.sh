#!/usr/bin/env bash
# Idle footprint: what `cowbell run` holds and spends while nothing is logged.
#
#   bench/footprint.sh [WINDOW_SECONDS]     (default 60)
#
# Cases (CASES, default all four), each started fresh, left SETTLE seconds (default
# 10) to start up, then watched for WINDOW seconds:
#   defaults     `cowbell run` without a config: the embedded defaults (built-in pack,
#                the journal if readable, the usual Redis/PostgreSQL/container paths)
#   no-sources   the built-in pack and a console notifier, no source: everything but
#                the followers (pipeline, probes and their snapshots, delivery, store)
#   containers   one file source over 1000 idle Docker json-file container logs
#   go-floor     a Go program that only sleeps, built with the same toolchain: what the
#                runtime alone costs
# With BEFORE=REV, REV's cowbell runs the defaults and no-sources cases too. ENVS, as
# "GOGC=50 GOMEMLIMIT=16MiB", runs the defaults case again under each setting.
# RSS is VmRSS and VmHWM from /proc/PID/status at the end of the window and the
# maximum resident set /usr/bin/time -v reports after SIGTERM; of VmRSS, "file" is the
# mapped files (the binary above all; "2M" how much of it the kernel mapped in 2 MB
# folios, FilePmdMapped in smaps_rollup) and "anon" the heap, stacks and runtime. CPU
# is utime + stime from /proc/PID/stat over the window, as a share of one core (and
# in mCPU).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
window=${1:-60}
settle=${SETTLE:-10}
dir=${BENCH_DIR:-/tmp/cowbell-bench}
work="$dir/footprint"
rm -rf "$work" && mkdir -p "$work"
./scripts/build.sh "$dir/cowbell" 2>/dev/null
build_before "$dir"
# A binary the linker just wrote sits in the page cache in 2 MB folios, which the
# kernel maps whole: 14 MiB of RSS no deployed binary has. Each binary is copied and
# dropped from the cache, so it starts read from disk, as one shipped in an image.
for b in "$dir/cowbell" ${BEFORE:+"$dir/cowbell-before"}; do
	cp "$b" "$b.new" && mv "$b.new" "$b"
	sync "$b"
	dd if="$b" iflag=nocache count=0 status=none
done
need /usr/bin/time time
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

cat >"$work/no-sources.yaml" <<EOF
host: bench
state_dir: $work/state-no-sources
sources: []
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
	local name=$1 f=${1//[^A-Za-z0-9@.-]/_}
	shift
	STATE_DIRECTORY="$work/state-$f" /usr/bin/time -v -o "$work/$f.time" "$@" >"$work/$f.out" 2>"$work/$f.err" &
	local tpid=$!
	local pid
	pid=$(pid_of_child "$tpid")
	sleep "$settle"
	local c0 c1
	c0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
	sleep "$window"
	c1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
	local rss hwm threads anon file pmd
	rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
	anon=$(awk '/RssAnon/ {print $2}' "/proc/$pid/status")
	file=$(awk '/RssFile/ {print $2}' "/proc/$pid/status")
	pmd=$(awk '/FilePmdMapped/ {print $2}' "/proc/$pid/smaps_rollup")
	hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
	threads=$(awk '/Threads/ {print $2}' "/proc/$pid/status")
	kill -TERM "$pid"
	wait "$tpid" || true
	local maxrss
	maxrss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/$f.time")
	awk -v n="$name" -v r="$rss" -v h="$hwm" -v m="$maxrss" -v c="$((c1 - c0))" -v hz="$hz" -v w="$window" -v t="$threads" \
		-v a="$anon" -v f="$file" -v p="$pmd" 'BEGIN {
		cpu = c / hz / w
		printf "| %s | %.1f MiB | %.1f MiB (2M: %.0f MiB) | %.1f MiB | %.1f MiB | %.1f MiB | %.2f %% (%.1f mCPU) | %d |\n", n, r / 1024, f / 1024, p / 1024, a / 1024, h / 1024, m / 1024, cpu * 100, cpu * 1000, t
	}'
}

echo "Command: \`bench/footprint.sh $window\` (settle ${settle} s), $(date -u +%Y-%m-%d), cowbell $(git describe --tags --always --dirty), $(go version | cut -d' ' -f3), $(nproc) cores."
echo "Binary: $(du -h "$dir/cowbell" | cut -f1) ($(stat -c %s "$dir/cowbell") bytes, stripped, cgo build)${BEFORE:+; cowbell@$BEFORE: $(stat -c %s "$dir/cowbell-before") bytes}."
echo "Load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "| idle | VmRSS | of it file (2M folios) | of it anon | VmHWM | max RSS (time -v) | CPU over ${window} s | threads |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
read -r -a cases <<<"${CASES:-defaults no-sources containers go-floor}"
for c in "${cases[@]}"; do
	case $c in
	defaults)
		[ -z "${BEFORE:-}" ] || measure "defaults, cowbell@$BEFORE" "$dir/cowbell-before" run
		measure defaults "$dir/cowbell" run
		for e in ${ENVS:-}; do measure "defaults, $e" env "$e" "$dir/cowbell" run; done
		;;
	no-sources)
		[ -z "${BEFORE:-}" ] || measure "no-sources, cowbell@$BEFORE" "$dir/cowbell-before" run --config "$work/no-sources.yaml"
		measure no-sources "$dir/cowbell" run --config "$work/no-sources.yaml"
		;;
	containers) measure containers "$dir/cowbell" run --config "$work/containers.yaml" ;;
	go-floor) measure go-floor "$work/go-floor" ;;
	esac
done
