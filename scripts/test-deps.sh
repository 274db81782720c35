#!/usr/bin/env bash
# Installs the Debian packages the tests need, when they are missing: a real
# systemd-journald (and systemd-journal-remote, which writes journal files holding
# entries only PID 1 or root could log), redis-server, PostgreSQL,
# prometheus-alertmanager, promtool (from prometheus: it checks and unit-tests the
# alerts shipped in deploy/prometheus), the systemd headers for the cgo journald
# reader, util-linux's prlimit and strace (fault injection makes fork fail with ENOMEM
# for one program), shellcheck for the scripts; systemd-analyze (in systemd) checks
# the unit; e2fsprogs' mkfs.ext4 and mount make the filesystem of the file source's
# inode-reuse tests their own (testenv.PrivateFilesystem). scripts/image.sh installs podman and what the image build needs itself.
# Needs root (CI is).
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null 2>&1; }
[ -x /lib/systemd/systemd-journald ] && have journalctl && have systemd-cat || need+=(systemd)
[ -x /lib/systemd/systemd-journal-remote ] || need+=(systemd-journal-remote)
have redis-server || need+=(redis-server)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
have prometheus-alertmanager || need+=(prometheus-alertmanager)
have promtool || need+=(prometheus)
[ -e /usr/include/systemd/sd-journal.h ] || need+=(libsystemd-dev)
have prlimit || need+=(util-linux)
have strace || need+=(strace)
have gcc || need+=(gcc)
have shellcheck || need+=(shellcheck)
PATH=$PATH:/sbin:/usr/sbin have mkfs.ext4 || need+=(e2fsprogs)
have mount || need+=(mount)
have systemd-analyze || need+=(systemd)
if [ ${#need[@]} -eq 0 ]; then
	echo "test-deps: all present" >&2
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "test-deps: missing ${need[*]}; run as root (or: sudo apt-get install ${need[*]})" >&2
	exit 0 # tests skip what is missing on a laptop; under CI they fail
fi
echo "test-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Package scripts must not start services on this machine: tests start their own.
policy=/usr/sbin/policy-rc.d
created_policy=
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
fi
apt-get install -y -qq --no-install-recommends "${need[@]}" </dev/null >/tmp/cowbell-test-deps.log 2>&1 ||
	{ tail -30 /tmp/cowbell-test-deps.log >&2; [ -n "$created_policy" ] && rm -f "$policy"; exit 1; }
[ -n "$created_policy" ] && rm -f "$policy"
echo "test-deps: done" >&2
