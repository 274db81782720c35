#!/bin/sh
# capture.sh copies what the enricher reads from this machine into a fixture tree:
#   enrich/testdata/capture.sh [DEST]     (default: enrich/testdata/host)
# DEST gets proc/, sys/ and etc/ laid out as on the host, so a test reads it with
# Config{Proc: DEST/proc, Sys: DEST/sys, Etc: DEST/etc}. Target processes (redis-server,
# postgres) are copied when running. Run it as root to read every vm knob.
set -eu

dest=${1:-$(dirname "$0")/host}
rm -rf "$dest"
mkdir -p "$dest/proc/sys/vm" "$dest/proc/sys/kernel/random" "$dest/proc/self" \
	"$dest/sys/kernel/mm/transparent_hugepage" "$dest/etc"

# copy SRC DST: copy one file's content (proc and sys files report size 0, so cp -a
# is not enough); files that cannot be read are left out, as the enricher skips them.
copy() {
	mkdir -p "$(dirname "$2")"
	cat "$1" >"$2" 2>/dev/null || rm -f "$2"
}

for f in /proc/sys/vm/*; do
	[ -f "$f" ] && [ -r "$f" ] && copy "$f" "$dest/proc/sys/vm/$(basename "$f")"
done
# an empty file (stat_refresh) says nothing
find "$dest/proc/sys/vm" -type f -empty -delete
copy /proc/meminfo "$dest/proc/meminfo"
for f in osrelease hostname random/boot_id; do
	copy "/proc/sys/kernel/$f" "$dest/proc/sys/kernel/$f"
done
for f in enabled defrag; do
	copy "/sys/kernel/mm/transparent_hugepage/$f" "$dest/sys/kernel/mm/transparent_hugepage/$f"
done
copy /etc/machine-id "$dest/etc/machine-id"

# cgroup PIDDIR DESTPIDDIR: the process's cgroup membership and its memory cgroup files
# (the v1 memory controller when listed, else the v2 unified group).
cgroup() {
	copy "$1/cgroup" "$2/cgroup"
	v1=$(sed -n 's/^[0-9]*:\([^:]*,\)\{0,1\}memory\(,[^:]*\)\{0,1\}:\(.*\)$/\3/p' "$1/cgroup")
	if [ -n "$v1" ]; then
		src=/sys/fs/cgroup/memory$v1
		files="memory.limit_in_bytes memory.usage_in_bytes memory.max_usage_in_bytes
			memory.failcnt memory.oom_control memory.memsw.limit_in_bytes"
	else
		v2=$(sed -n 's/^0::\(.*\)$/\1/p' "$1/cgroup")
		src=/sys/fs/cgroup$v2
		files="memory.max memory.current memory.peak memory.swap.max memory.events"
	fi
	for f in $files; do
		[ -r "$src/$f" ] && copy "$src/$f" "$dest/sys/fs/cgroup${src#/sys/fs/cgroup}/$f"
	done
	return 0
}
cgroup /proc/self "$dest/proc/self"

for d in /proc/[0-9]*; do
	comm=$(cat "$d/comm" 2>/dev/null) || continue
	case $comm in
	redis-server | postgres | postmaster)
		for f in comm status oom_score_adj; do copy "$d/$f" "$dest$d/$f"; done
		cgroup "$d" "$dest$d"
		;;
	esac
done
echo "captured into $dest"
