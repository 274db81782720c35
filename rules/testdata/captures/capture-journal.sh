#!/bin/bash
# Captures `journalctl -o json` of: two redis-server instances whose stdout goes to
# the journal (as under systemd or a container runtime's journald driver), one whose forks fail with EAGAIN (strace's fault injection on clone)
# and one whose BGSAVE succeeds; bash failing to fork with EAGAIN, its stderr in the
# journal.
set -u
out=$1
/lib/systemd/systemd-journald & J=$!
for i in $(seq 50); do [ -S /run/systemd/journal/socket ] && journalctl -n0 >/dev/null 2>&1 && break; sleep 0.1; done
since=$(date +%s)
d=$(mktemp -d /tmp/rjcapXXXX)
strace -f -qq -o /dev/null -e trace=clone -e inject=clone:error=EAGAIN -- redis-server --port 56381 --bind 127.0.0.1 --dir $d --save "" --appendonly no --logfile "" 2>&1 | systemd-cat -t redis-a & A=$!
redis-server --port 56382 --bind 127.0.0.1 --dir $d --save "" --appendonly no --logfile "" 2>&1 | systemd-cat -t redis-b & B=$!
for i in $(seq 50); do redis-cli -p 56381 ping >/dev/null 2>&1 && redis-cli -p 56382 ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p 56381 bgsave >/dev/null; redis-cli -p 56381 config set appendonly yes >/dev/null; sleep 0.3
redis-cli -p 56382 bgsave >/dev/null; sleep 1
strace -f -qq -o /dev/null -e trace=clone -e inject=clone:error=EAGAIN -- bash -c '/bin/true; /bin/true' 2>&1 | systemd-cat -t bash
sleep 0.5
redis-cli -p 56381 shutdown nosave >/dev/null; redis-cli -p 56382 shutdown nosave >/dev/null
wait $A $B 2>/dev/null
sleep 0.5
journalctl -o json --since=@$since -t redis-a -t redis-b -t bash > $out
kill $J; wait $J
rm -rf $d
