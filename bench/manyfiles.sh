#!/usr/bin/env bash
# Many files under one glob: what `cowbell run` holds with a file source over FILES
# files (default 20,000), one line each, in one directory, and whether it still
# answers /metrics and /healthz.
#
#   bench/manyfiles.sh [WINDOW_SECONDS]     (default 30)
#
# The files are written before cowbell starts (start_at: beginning). Reported:
#   read all     from the start to cowbell_lines_read_total reaching FILES (every
#                file opened and read once), and the CPU spent on it
#   descriptors  /proc/PID/fd once everything was read (the source keeps at most
#                max_open_files, default 1024, of the followed files open)
#   RSS          VmRSS and VmHWM once everything was read
#   idle         the CPU over the next WINDOW seconds, nothing written
#   answers      the slowest of 20 GETs of /metrics and of /healthz during the window
#                (curl's time_total; a GET that fails or takes over 5 s is counted)
# Environment: BENCH_DIR (default /tmp/cowbell-bench), FILES.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
window=${1:-30}
files=${FILES:-20000}
dir=${BENCH_DIR:-/tmp/cowbell-bench}
work="$dir/manyfiles"
rm -rf "$work" && mkdir -p "$work/logs" "$work/state"
./scripts/build.sh "$dir/cowbell" 2>/dev/null
need curl curl
hz=$(getconf CLK_TCK)
port=$((20000 + RANDOM % 20000))

for i in $(seq 1 "$files"); do
	printf '1:M 05 Jun 2024 00:00:00.000 * app %d started\n' "$i" >"$work/logs/app-$i.log"
done
cat >"$work/cowbell.yaml" <<EOF
host: bench
state_dir: $work/state
metrics: {listen: "127.0.0.1:$port"}
sources:
  - {name: many, type: file, paths: ["$work/logs/*.log"], start_at: beginning, format: plain}
notifiers:
  - {name: console, type: console}
log: {level: error}
EOF

pid=
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
metric() { # NAME → its value summed over labels, or nothing
	curl -sf -m 5 "http://127.0.0.1:$port/metrics" 2>/dev/null |
		awk -v n="$1" '$1 == n || index($1, n "{") == 1 {s += $2; f = 1} END {if (f) printf "%d", s}'
}
now() { date +%s.%N; }
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }

t0=$(now)
"$dir/cowbell" run --config "$work/cowbell.yaml" >"$work/cowbell.out" 2>"$work/cowbell.err" &
pid=$!
until n=$(metric cowbell_lines_read_total) && [ "${n:-0}" -ge "$files" ]; do
	kill -0 "$pid" 2>/dev/null || { cat "$work/cowbell.err" >&2; exit 1; }
	sleep 0.1
done
t1=$(now)
c1=$(ticks)
fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 | wc -l)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")

# get PATH → seconds, or "fail"
get() { curl -sf -m 5 -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$port$1" || echo fail; }
: >"$work/answers"
step=$(awk -v w="$window" 'BEGIN {printf "%.2f", w / 20}')
for _ in $(seq 20); do
	echo "metrics $(get /metrics)" >>"$work/answers"
	echo "healthz $(get /healthz)" >>"$work/answers"
	sleep "$step"
done
c2=$(ticks)
rss2=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
worst() { awk -v p="$1" '$1 == p && $2 != "fail" && $2 > m {m = $2} END {printf "%.0f ms", m * 1000}' "$work/answers"; }
fails() { awk -v p="$1" '$1 == p && $2 == "fail" {n++} END {printf "%d", n}' "$work/answers"; }

echo "Command: \`bench/manyfiles.sh $window\` (FILES=$files), $(date -u +%Y-%m-%d), cowbell $(git describe --tags --always --dirty), $(nproc) cores, load average at the end $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "| $files files, one glob | read all | descriptors | VmRSS (VmHWM) | VmRSS after ${window} s | idle CPU | slowest /metrics | slowest /healthz |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
awk -v a="$t0" -v b="$t1" -v c="$c1" -v hz="$hz" -v f="$fds" -v r="$rss" -v h="$hwm" -v r2="$rss2" \
	-v i="$((c2 - c1))" -v w="$window" -v m="$(worst metrics)" -v z="$(worst healthz)" \
	-v mf="$(fails metrics)" -v zf="$(fails healthz)" 'BEGIN {
	printf "| `cowbell run` | %.1f s, %.2f CPU-s | %d | %.1f MiB (%.1f MiB) | %.1f MiB | %.1f mCPU | %s, %d failed | %s, %d failed |\n",
		b - a, c / hz, f, r / 1024, h / 1024, r2 / 1024, i / hz / w * 1000, m, mf, z, zf
}'
