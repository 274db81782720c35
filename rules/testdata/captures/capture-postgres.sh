#!/bin/bash
# Captures PostgreSQL 15's stderr, csvlog and jsonlog of: statements quoting incident
# phrases (one spanning two lines, with double quotes), an out-of-memory error under an address-space limit, a backend
# killed by SIGKILL and its crash restart, and the postmaster itself killed by SIGKILL
# and started again.
set -eu
bin=/usr/lib/postgresql/15/bin
dir=$(mktemp -d /tmp/pgcapXXXX); chown postgres "$dir"
port=55433
su postgres -c "$bin/initdb -D $dir/data -U postgres --auth=trust -E UTF8 --no-sync >/dev/null"
conf="-c logging_collector=on -c log_destination=stderr,csvlog,jsonlog -c log_directory=$dir/log -c log_filename=pg -c log_statement=all -c fsync=off"
start() { su postgres -c "ulimit -v 700000; $bin/pg_ctl -D $dir/data -o '-h 127.0.0.1 -p $port -k $dir $conf' -w start >/dev/null"; }
psql() { $bin/psql -h 127.0.0.1 -p $port -U postgres -Atc "$1" postgres; }
start
psql "select 'server process (PID 1) was terminated by signal 9: Killed' as quoted" >/dev/null
psql $'select \'a "quoted" word\' as a,\n       \'ERROR:  out of memory\' as b' >/dev/null
pm=$(head -1 $dir/data/postmaster.pid)
psql "select length(repeat('x', 400*1024*1024))" >/dev/null 2>&1 || true
( psql "select pg_sleep(60)" >/dev/null 2>&1 & )
for i in $(seq 50); do b=$(psql "select pid from pg_stat_activity where query = 'select pg_sleep(60)'"); [ -n "$b" ] && break; sleep 0.1; done
kill -9 $b
for i in $(seq 100); do grep -q "ready to accept connections" <(tail -n 3 $dir/log/pg) 2>/dev/null && [ $(grep -c "ready to accept" $dir/log/pg) -ge 2 ] && break; sleep 0.1; done
pm=$(head -1 $dir/data/postmaster.pid)
kill -9 $pm
sleep 1
pkill -9 -P $pm 2>/dev/null || true
for p in $(pgrep -u postgres -f "$dir/data" ); do kill -9 $p 2>/dev/null || true; done
sleep 1
rm -f $dir/data/postmaster.pid
start
psql "select 1" >/dev/null
su postgres -c "$bin/pg_ctl -D $dir/data -m fast -w stop >/dev/null"
ls -la $dir/log
echo $dir
