#!/usr/bin/env bash
# Whole-process matching benchmark: `cowbell replay --no-builtin --rules DIR --hits
# --json` against ripgrep (`rg -c -f`), GNU grep (`grep -c -E -f`) and mtail on the same
# corpus and the same 10, 100 and 1000 rules (bench/corpus makes both: see its doc).
#
#   bench/match.sh [RUNS]          RUNS timed runs of each tool a rule set (default 3)
#
# Environment:
#   BENCH_DIR     where the corpus, rules and binaries go (default /tmp/cowbell-bench)
#   LINES         corpus lines (default 2000000, about 150 bytes each)
#   RULES         rule set sizes (default "10 100 1000")
#   BEFORE        a git revision: its cowbell is built and timed too ("cowbell@REV")
#   PREFIX        slow tools read only the first lines of the corpus, as "TOOL:N:LINES
#                 ..." (default "grep:1000:100000 mtail:10:500000 mtail:100:100000
#                 mtail:1000:50000"): mtail is about 100x slower than the others and
#                 grep's DFA gives up on 1000 rules. Lines/s is a rate; a prefixed tool
#                 runs once and is checked against cowbell on the same prefix
#   TOOLS         the tools besides mtail and BEFORE (default "rg grep cowbell")
#   NO_MTAIL=1    leave mtail out
#   OUT           also write the markdown report there
#
# Every tool must report the same lines: rg, grep and cowbell the same matching lines
# in the same order, mtail the same per-rule counts as cowbell; the script stops on a
# difference. Tools alternate within each run, and the table shows the median of the
# runs: the machine is small and shared, so absolute numbers wander and the ratios,
# measured side by side, are what to compare. Peak RSS is /usr/bin/time's maximum
# resident set size.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
runs=${1:-3}
dir=${BENCH_DIR:-/tmp/cowbell-bench}
lines=${LINES:-2000000}
sets=${RULES:-10 100 1000}
prefixes=${PREFIX:-grep:1000:100000 mtail:10:500000 mtail:100:100000 mtail:1000:50000}
mkdir -p "$dir"

# Tools: Debian packages, installed when missing.
need=()
command -v rg >/dev/null || need+=(ripgrep)
command -v mtail >/dev/null || [ -n "${NO_MTAIL:-}" ] || need+=(mtail)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
	echo "installing ${need[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 ||
		{ apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null; }
fi

# Binaries: this tree's, and BEFORE's when asked.
./scripts/build.sh "$dir/cowbell" 2>/dev/null
read -r -a tools <<<"${TOOLS:-rg grep cowbell}"
build_before "$dir"
if [ -n "${BEFORE:-}" ]; then
	tools+=(before)
fi
[ -n "${NO_MTAIL:-}" ] || tools+=(mtail)
go build -o "$dir/corpus" ./bench/cmd/corpus

# The corpus and rules, made again only when the generator or LINES changed.
stamp="$lines $(cat bench/corpus/*.go bench/cmd/corpus/*.go rules/builtin/*.yaml | sha256sum | cut -c1-16)"
if [ "$(cat "$dir/stamp" 2>/dev/null)" != "$stamp" ]; then
	echo "generating $lines lines in $dir" >&2
	"$dir/corpus" gen -lines "$lines" "$dir"
	echo "$stamp" >"$dir/stamp"
fi
corpus="$dir/corpus.log"
cat "$corpus" >/dev/null # into the page cache before any tool reads it

# prefix TOOL N → the lines TOOL reads on set N: "all" or a number.
prefix() {
	local kv
	for kv in $prefixes; do
		[ "${kv%:*}" = "$1:$2" ] && { echo "${kv##*:}"; return; }
	done
	echo all
}

# input TOOL N → the file TOOL reads on set N: the corpus or a prefix of it.
input() {
	local p
	p=$(prefix "$1" "$2")
	if [ "$p" = all ]; then
		echo "$corpus"
		return
	fi
	[ -s "$dir/prefix.$p.log" ] || head -n "$p" "$corpus" >"$dir/prefix.$p.log"
	echo "$dir/prefix.$p.log"
}

# run TOOL N → runs TOOL once on set N, timed, printing "seconds peak_kib"; its output
# goes to $dir/out.TOOL.N.
run() {
	local tool=$1 n=$2 rs="$dir/rules-$2" out="$dir/out.$1.$2" in
	in=$(input "$1" "$2")
	local cmd
	case $tool in
	rg) cmd=(rg -c -f "$rs/patterns.rg" "$in") ;;
	grep) cmd=(grep -c -E -f "$rs/patterns.ere" "$in") ;;
	cowbell) cmd=("$dir/cowbell" replay --no-builtin --rules "$rs/cowbell" --hits --json "$in") ;;
	before) cmd=("$dir/cowbell-before" replay --no-builtin --rules "$rs/cowbell" --hits --json "$in") ;;
	mtail) cmd=(mtail --one_shot --one_shot_format json --progs "$rs/mtail" --logs "$in" --logtostderr=false --stderrthreshold=FATAL) ;;
	esac
	LC_ALL=C /usr/bin/time -f '%e %M' -o "$dir/time" "${cmd[@]}" >"$out" 2>"$dir/stderr" || {
		# grep -c exits 1 when nothing matched; anything else is a failure.
		[ "$tool" = grep ] && [ "$(cat "$out")" = 0 ] || { cat "$dir/stderr" >&2; exit 1; }
	}
	tail -n 1 "$dir/time"
}

# lines_of TOOL N → the lines TOOL found on set N, one a line, in corpus order.
lines_of() {
	local tool=$1 n=$2 rs="$dir/rules-$2" in
	in=$(input "$1" "$2")
	case $tool in
	rg) rg --no-filename --no-line-number -f "$rs/patterns.rg" "$in" || true ;;
	grep) LC_ALL=C grep -E -f "$rs/patterns.ere" "$in" || true ;;
	cowbell | before) "$dir/corpus" hits <"$dir/out.$tool.$n" ;;
	esac
}

# reference N IN → cowbell's hits on set N over IN (its timed output for the corpus).
reference() {
	if [ "$2" = "$corpus" ]; then
		cat "$dir/out.cowbell.$1"
	else
		"$dir/cowbell" replay --no-builtin --rules "$dir/rules-$1/cowbell" --hits --json "$2"
	fi
}

# check N → every tool reported what cowbell reported on set N, on the same input.
check() {
	local n=$1 c="$dir/check" t in
	mkdir -p "$c"
	for t in "${tools[@]}"; do
		[ "$t" = cowbell ] && continue
		in=$(input "$t" "$n")
		if [ "$t" = mtail ]; then
			reference "$n" "$in" | "$dir/corpus" hit-counts >"$c/want"
			"$dir/corpus" mtail-counts <"$dir/out.mtail.$n" >"$c/got"
		else
			reference "$n" "$in" | "$dir/corpus" hits >"$c/want"
			lines_of "$t" "$n" >"$c/got"
			if [ "$t" = rg ] || [ "$t" = grep ]; then # and the timed -c count
				[ "$(cat "$dir/out.$t.$n")" = "$(wc -l <"$c/got")" ] ||
					{ echo "set $n: $t -c counted $(cat "$dir/out.$t.$n"), printed $(wc -l <"$c/got")" >&2; exit 1; }
			fi
		fi
		cmp -s "$c/want" "$c/got" || {
			echo "set $n: $t and cowbell disagree (< cowbell, > $t):" >&2
			diff "$c/want" "$c/got" | head >&2
			exit 1
		}
	done
	echo "$("$dir/corpus" hits <"$dir/out.cowbell.$n" | wc -l) matching lines"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A secs rss matched
for n in $sets; do
	echo "== $n rules" >&2
	: >"$dir/times.$n"
	for r in $(seq "$runs"); do
		for t in "${tools[@]}"; do
			if [ "$(prefix "$t" "$n")" != all ] && [ "$r" -gt 1 ]; then
				continue # a slow tool runs once, on a prefix
			fi
			read -r s k < <(run "$t" "$n")
			echo "$t $s $k" >>"$dir/times.$n"
			echo "  run $r $t: $s s, $k KiB" >&2
		done
	done
	matched[$n]=$(check "$n")
	echo "  check: ${matched[$n]}" >&2
	for t in "${tools[@]}"; do
		secs[$t.$n]=$(awk -v t="$t" '$1 == t {print $2}' "$dir/times.$n" | median)
		rss[$t.$n]=$(awk -v t="$t" '$1 == t {print $3}' "$dir/times.$n" | median)
	done
done

# The report: lines/s, peak RSS, and ratios from the medians of this run.
linesof() { # tool n → lines the tool read
	if [ "$(prefix "$1" "$2")" != all ]; then prefix "$1" "$2"; else echo "$lines"; fi
}
rate() { awk -v l="$(linesof "$1" "$2")" -v s="${secs[$1.$2]}" 'BEGIN {printf "%.0f", (s > 0 ? l / s : 0)}'; }
fmt_rate() { awk -v r="$1" 'BEGIN {if (r >= 1e6) printf "%.2fM", r/1e6; else printf "%.0fk", r/1e3}'; }
report() {
	echo "Command: \`bench/match.sh $runs\` (LINES=$lines${BEFORE:+, BEFORE=$BEFORE}), $(date -u +%Y-%m-%d)."
	echo
	echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r)."
	echo "Versions: cowbell $(git describe --tags --always --dirty 2>/dev/null), $(go version | cut -d' ' -f3), $(rg --version | head -1), $(grep --version | head -1)$(command -v mtail >/dev/null && echo ", mtail $(mtail --version 2>&1 | awk '{print $3; exit}')")."
	echo "Corpus: $lines lines, $(du -m "$corpus" | cut -f1) MiB (bench/corpus, seed 1); median of $runs runs."
	echo
	local names=(rg "ripgrep \`rg -c -f\`" grep "GNU grep \`grep -c -E -f\`" cowbell "\`cowbell replay --no-builtin --rules DIR --hits --json\`" before "the same, cowbell@${BEFORE:-}" mtail "mtail \`--one_shot\`")
	printf '| tool |'
	for n in $sets; do printf ' %s rules |' "$n"; done
	printf '\n| --- |'
	for n in $sets; do printf ' ---: |'; done
	printf '\n'
	local i
	for ((i = 0; i < ${#names[@]}; i += 2)); do
		local t=${names[i]}
		[[ " ${tools[*]} " == *" $t "* ]] || continue
		printf '| %s |' "${names[i + 1]}"
		for n in $sets; do
			local r
			r=$(rate "$t" "$n")
			printf ' %s lines/s, %s s, %s MiB' "$(fmt_rate "$r")" "${secs[$t.$n]}" "$((${rss[$t.$n]} / 1024))"
			[ "$(linesof "$t" "$n")" != "$lines" ] && printf ' (first %s lines, one run)' "$(linesof "$t" "$n")"
			if [ "$t" != rg ] && [[ " ${tools[*]} " == *" rg "* ]]; then
				awk -v a="$r" -v b="$(rate rg "$n")" 'BEGIN {printf "; %.2f of rg", a / b}'
			fi
			if [ "$t" != mtail ] && [[ " ${tools[*]} " == *" mtail "* ]]; then
				awk -v a="$r" -v b="$(rate mtail "$n")" 'BEGIN {printf "; %.0fx mtail", a / b}'
			fi
			printf ' |'
		done
		printf '\n'
	done
	echo
	local first last
	first=$(echo "$sets" | awk '{print $1}')
	last=$(echo "$sets" | awk '{print $NF}')
	for t in cowbell before rg; do
		[[ " ${tools[*]} " == *" $t "* ]] || continue
		awk -v a="${secs[$t.$last]}" -v b="${secs[$t.$first]}" -v t="$t" -v f="$first" -v l="$last" \
			'BEGIN {printf "%s at %s rules takes %.2fx its time at %s.\n", t, l, a / b, f}'
	done
	echo
	for n in $sets; do echo "Set $n: ${matched[$n]}; every tool agreed."; done
}
report | tee ${OUT:+"$OUT"}
