#!/usr/bin/env bash
# Runs the tests that switch this host's vm.overcommit_* for a moment (today one:
# a real BGSAVE refused by strict overcommit accounting). vm.* are host-wide, so they
# run alone, after the suite, and the settings are put back here whatever happens to
# the test process (even kill -9).
set -euo pipefail
cd "$(dirname "$0")/.."
vm=/proc/sys/vm
if [ "$(id -u)" != 0 ] || ! [ -w "$vm/overcommit_memory" ]; then
	if [ -n "${CI:-}" ]; then
		echo "host-vm-test: needs root and a writable $vm" >&2
		exit 1
	fi
	echo "host-vm-test: skipped (needs root and a writable $vm)"
	exit 0
fi
mode=$(cat "$vm/overcommit_memory") ratio=$(cat "$vm/overcommit_ratio") kbytes=$(cat "$vm/overcommit_kbytes")
restore() {
	echo "$mode" >"$vm/overcommit_memory"
	if [ "$kbytes" != 0 ]; then echo "$kbytes" >"$vm/overcommit_kbytes"; else echo "$ratio" >"$vm/overcommit_ratio"; fi
}
trap restore EXIT
COWBELL_TEST_HOST_VM=1 ${GO:-go} test -count=1 -timeout 5m -run '^TestRealForkRefusedUnderMode2$' -v ./rules
