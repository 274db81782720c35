#!/usr/bin/env bash
# Following speed: 2,000,000 lines (bench/match.sh's corpus) appended at once to a file
# that `cowbell run` follows with the built-in pack, against `tail -F | grep -E` with
# the pack's first 10 patterns following the same append. The time is from the start
# of the append to the moment the follower has read the last line: for cowbell when
# cowbell_lines_read_total reaches the line count (polled every 10 ms on /metrics),
# for tail | grep when grep prints the marker line appended last. cowbell's CPU over
# that time comes from /proc/PID/stat (utime + stime).
#
#   bench/follow.sh [RUNS]     (default 3; the followers alternate within each run)
#
# Environment: BENCH_DIR (default /tmp/cowbell-bench, shared with match.sh), LINES.
# With BEFORE=REV, REV's cowbell follows the same append in each run too, so a change
# is measured against its baseline under the same load.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
runs=${1:-3}
dir=${BENCH_DIR:-/tmp/cowbell-bench}
lines=${LINES:-2000000}
work="$dir/follow"
mkdir -p "$dir"
./scripts/build.sh "$dir/cowbell" 2>/dev/null
build_before "$dir"
go build -o "$dir/corpus" ./bench/cmd/corpus
[ -s "$dir/corpus.log" ] && [ "$(wc -l <"$dir/corpus.log")" = "$lines" ] ||
	"$dir/corpus" gen -lines "$lines" "$dir"
marker="cowbell-follow-bench-end"
cp "$dir/corpus.log" "$dir/append.log" # what is appended: the corpus and a marker
echo "$marker" >>"$dir/append.log"
total=$((lines + 1))
cat "$dir/append.log" >/dev/null
hz=$(getconf CLK_TCK)
port=$((20000 + RANDOM % 20000))

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
metric() { # NAME → its value summed over labels, or nothing
	curl -sf "http://127.0.0.1:$port/metrics" 2>/dev/null |
		awk -v n="$1" '$1 == n || index($1, n "{") == 1 {s += $2; f = 1} END {if (f) printf "%d", s}'
}
now() { date +%s.%N; }

# follow_cowbell BINARY → "seconds cpu_seconds peak_rss_kib" for one append.
follow_cowbell() {
	local bin=$1
	rm -rf "$work" && mkdir -p "$work/state"
	: >"$work/app.log"
	cat >"$work/cowbell.yaml" <<EOF
host: bench
state_dir: $work/state
metrics: {listen: "127.0.0.1:$port"}
sources:
  - {name: bench, type: file, paths: ["$work/app.log"], start_at: end, format: plain}
notifiers:
  - {name: console, type: console}
log: {level: error}
EOF
	"$bin" run --config "$work/cowbell.yaml" >"$work/cowbell.out" 2>"$work/cowbell.err" &
	local pid=$!
	pids+=("$pid")
	until [ "$(metric cowbell_source_up)" = 1 ]; do
		# A cowbell that did not start (the random metrics port taken) is said, not
		# waited for.
		kill -0 "$pid" 2>/dev/null || {
			echo "cowbell ($bin) did not start:" >&2
			cat "$work/cowbell.err" >&2
			return 1
		}
		sleep 0.05
	done
	sleep 1 # the file is open and at its end
	local t0 c0 n
	c0=$(cpu_ticks "$pid")
	t0=$(now)
	cat "$dir/append.log" >>"$work/app.log"
	until n=$(metric cowbell_lines_read_total) && [ "${n:-0}" -ge "$total" ]; do sleep 0.01; done
	local t1 c1 rss
	t1=$(now)
	c1=$(cpu_ticks "$pid")
	rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
	kill "$pid"
	wait "$pid" || true
	awk -v a="$t0" -v b="$t1" -v c="$((c1 - c0))" -v hz="$hz" -v r="$rss" 'BEGIN {printf "%.2f %.2f %d\n", b - a, c / hz, r}'
}

# follow_tail → "seconds" for one append through tail -F | grep.
follow_tail() {
	rm -rf "$work" && mkdir -p "$work"
	: >"$work/app.log"
	local fifo="$work/grep.out"
	mkfifo "$fifo"
	(LC_ALL=C tail -n 0 -F "$work/app.log" 2>/dev/null |
		LC_ALL=C grep --line-buffered -E -e "$marker" -f "$dir/rules-10/patterns.ere" >"$fifo") &
	local pipe=$!
	pids+=("$pipe")
	exec 3<"$fifo"
	sleep 1 # tail has the file open
	local t0 t1 l
	t0=$(now)
	cat "$dir/append.log" >>"$work/app.log"
	while read -r l <&3; do [ "$l" = "$marker" ] && break; done
	t1=$(now)
	exec 3<&-
	pkill -P "$pipe" 2>/dev/null || true
	kill "$pipe" 2>/dev/null || true
	wait "$pipe" 2>/dev/null || true
	awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f\n", b - a}'
}

need curl curl
: >"$dir/follow.times"
for r in $(seq "$runs"); do
	if [ -n "${BEFORE:-}" ]; then
		read -r s c k < <(follow_cowbell "$dir/cowbell-before")
		echo "before $s $c $k" >>"$dir/follow.times"
		echo "  run $r cowbell@$BEFORE: $s s, $c CPU-s, $k KiB" >&2
	fi
	read -r s c k < <(follow_cowbell "$dir/cowbell")
	echo "cowbell $s $c $k" >>"$dir/follow.times"
	echo "  run $r cowbell: $s s, $c CPU-s, $k KiB" >&2
	read -r s < <(follow_tail)
	echo "tail $s" >>"$dir/follow.times"
	echo "  run $r tail -F | grep: $s s" >&2
done
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ts=$(awk '$1 == "tail" {print $2}' "$dir/follow.times" | median)
echo "Command: \`${BEFORE:+BEFORE=$BEFORE }bench/follow.sh $runs\`, $(date -u +%Y-%m-%d), cowbell $(git describe --tags --always --dirty), $(nproc) cores, load average at the end $(cut -d' ' -f1-3 /proc/loadavg)."
echo "Medians of $runs runs; in parentheses the run's time over tail's in the same run (median of the runs' ratios)."
echo
echo "| follower of $total appended lines | to the last line | lines/s | CPU | peak RSS |"
echo "| --- | ---: | ---: | ---: | ---: |"
row() { # TOOL NAME
	local s c k x
	s=$(awk -v t="$1" '$1 == t {print $2}' "$dir/follow.times" | median)
	c=$(awk -v t="$1" '$1 == t {print $3}' "$dir/follow.times" | median)
	k=$(awk -v t="$1" '$1 == t {print $4}' "$dir/follow.times" | median)
	x=$(awk -v t="$1" '$1 == t {s = $2} $1 == "tail" {print s / $2}' "$dir/follow.times" | median)
	awk -v s="$s" -v c="$c" -v k="$k" -v x="$x" -v n="$total" -v name="$2" 'BEGIN {
		printf "| %s | %.2f s (%.1fx tail) | %.0fk | %.2f CPU-s (%.2f a million lines) | %d MiB |\n", name, s, x, n / s / 1000, c, c / (n / 1e6), k / 1024
	}'
}
[ -z "${BEFORE:-}" ] || row before "\`cowbell run\`@$BEFORE, built-in pack"
row cowbell "\`cowbell run\`, built-in pack"
awk -v t="$ts" -v n="$total" 'BEGIN { printf "| `tail -F \\| grep -E`, 10 pack patterns | %.2f s | %.0fk | | |\n", t, n / t / 1000 }'
