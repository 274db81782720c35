# shellcheck shell=bash disable=SC2154 # image, base_image, ulimits, now, log: set by scripts/image.sh
# The systemd unit under a real systemd, sourced by scripts/image.sh. systemd-analyze
# rates the unit's sandbox offline (deploy/systemd/unit_test.go); this starts it: a
# container of the Debian base plus systemd runs systemd as PID 1 (podman
# --systemd=always, privileged so that systemd can build the unit's namespaces), and
# deploy/systemd/cowbell.service runs the cowbell binary of the image just built.
#
# Checked: the unit starts (READY=1) with no capability, no new privileges, a seccomp
# filter and a dynamic user; it reads the journal and a 0640 root:adm log in
# /var/log through its groups and opens an incident from it; it serves /metrics and
# writes its state; a broken configuration is refused by `systemctl reload` with
# cowbell left running, and by `systemctl start` without cowbell run ever starting,
# until the start limit stops the retries; `systemctl stop` ends it with status 0.

# cowbell reloads on SIGHUP: the test also reloads a good configuration and checks
# that the same process goes on.
reload_on_sighup=1

unit_fail() {
	log "FAIL (unit): $*"
	[ -n "${unit_ctr:-}" ] && podman exec "$unit_ctr" journalctl -u cowbell --no-pager 2>&1 | tail -25 >&2
	exit 1
}

unit_cleanup() {
	[ -n "${unit_ctr:-}" ] && podman rm -f -t 0 "$unit_ctr" >/dev/null 2>&1
	[ -n "${unit_dir:-}" ] && rm -rf "$unit_dir"
	smoke_cleanup
}

# in CMD...: runs CMD in the systemd container.
inside() { podman exec "$unit_ctr" "$@"; }

# unit_prop NAME: a property of cowbell.service.
unit_prop() { inside systemctl show -p "$1" --value cowbell.service; }

# unit_wait WHAT SECONDS CMD...: waits until CMD succeeds.
unit_wait() {
	local what=$1 secs=$2 deadline=$(($(now) + $2))
	shift 2
	until "$@" >/dev/null 2>&1; do
		[ "$(now)" -lt "$deadline" ] || unit_fail "no $what within $secs s"
		sleep 0.2
	done
}

metric() { inside curl -s --max-time 2 http://127.0.0.1:9464/metrics | awk -v m="$1" '$1 == m {print $2}'; }
metric_at_least() { local v; v=$(metric "$1"); [ -n "$v" ] && awk -v v="$v" -v n="$2" 'BEGIN { exit !(v >= n) }'; }

systemd_image() {
	systemd_image=localhost/cowbell-ci/systemd:bookworm-r$base_rev
	podman image exists "$systemd_image" && return
	local ctx
	ctx=$(mktemp -d)
	cat >"$ctx/Containerfile" <<-EOF
		FROM $base_image
		RUN apt-get update && apt-get install -y --no-install-recommends systemd procps curl \\
		    && rm -rf /var/lib/apt/lists/*
	EOF
	log "build $systemd_image"
	podman build --network=host "${ulimits[@]}" -t "$systemd_image" "$ctx" >"$cache/systemd-image.log" 2>&1 ||
		{ tail -20 "$cache/systemd-image.log" >&2; rm -rf "$ctx"; exit 1; }
	rm -rf "$ctx"
}

unit_test() {
	local t0 c
	t0=$(now)
	podman image exists "$image" || unit_fail "no image $image: run scripts/image.sh build"
	systemd_image
	unit_dir=$(mktemp -d)
	trap unit_cleanup EXIT

	# The image's binary, as shipped.
	c=$(podman create "$image")
	podman cp "$c:/usr/local/bin/cowbell" "$unit_dir/cowbell" >/dev/null
	podman rm "$c" >/dev/null
	mkdir -p "$unit_dir/etc"
	cat >"$unit_dir/etc/good.yaml" <<-'EOF'
		host: unit-test
		sources:
		  - name: journal
		    type: journald
		    identifiers: [unit-test]
		  - name: redis
		    type: file
		    paths: [/var/log/redis/redis-server.log]
		    time_zone: UTC
		notifiers:
		  - {name: console, type: console}
		metrics: {listen: "127.0.0.1:9464"}
	EOF
	printf 'host: unit-test\nsources:\n  - name: redis\n    type: file\n    pathz: [/var/log/redis.log]\n' >"$unit_dir/etc/broken.yaml"

	unit_ctr=$(podman run -d --privileged --systemd=always --network=none \
		-v "$unit_dir:/unit:ro" "$systemd_image" /lib/systemd/systemd) || unit_fail "systemd container: $unit_ctr"
	unit_wait "systemd" 60 inside systemctl is-system-running --wait
	inside install -m 0755 /unit/cowbell /usr/local/bin/cowbell
	inside install -D -m 0644 /unit/etc/good.yaml /etc/cowbell/cowbell.yaml
	podman cp deploy/systemd/cowbell.service "$unit_ctr:/etc/systemd/system/cowbell.service" >/dev/null
	# Redis's log as Debian has it: the adm group reads it, others do not.
	inside install -d -o root -g adm -m 0750 /var/log/redis
	inside install -o root -g adm -m 0640 /dev/null /var/log/redis/redis-server.log
	# The one change to the unit under test: restarts 1 s apart instead of 5 s, so the
	# start limit (5 starts in 10 minutes) is reached in seconds.
	inside sh -c 'mkdir -p /etc/systemd/system/cowbell.service.d &&
		printf "[Service]\nRestartSec=1s\n" >/etc/systemd/system/cowbell.service.d/restart.conf'
	inside systemctl daemon-reload

	# Start: Type=notify, so this returns once cowbell said READY=1.
	inside systemctl start cowbell.service || unit_fail "systemctl start"
	local pid status
	pid=$(unit_prop MainPID)
	status=$(inside cat "/proc/$pid/status")
	grep -qE '^CapEff:\s+0+$' <<<"$status" || unit_fail "capabilities: $(grep CapEff <<<"$status")"
	grep -qE '^NoNewPrivs:\s+1$' <<<"$status" || unit_fail "no NoNewPrivs"
	grep -qE '^Seccomp:\s+2$' <<<"$status" || unit_fail "no seccomp filter"
	grep -qE '^Uid:\s+0\s' <<<"$status" && unit_fail "runs as root"
	unit_wait "metrics" 30 metric_at_least 'cowbell_source_up{source="redis"}' 1
	unit_wait "journal source up" 30 metric_at_least 'cowbell_source_up{source="journal"}' 1

	# The journal and the 0640 log, read through the unit's groups; an incident opens.
	inside systemd-cat -t unit-test echo "a line for the journal source"
	grep -h 'WARNING Memory overcommit must be enabled' rules/testdata/samples/redis-7.0-real.log |
		podman exec -i "$unit_ctr" sh -c 'cat >>/var/log/redis/redis-server.log'
	unit_wait "journal line read" 30 metric_at_least 'cowbell_lines_read_total{source="journal"}' 1
	unit_wait "redis line read" 30 metric_at_least 'cowbell_lines_read_total{source="redis"}' 1
	unit_wait "incident" 30 metric_at_least 'cowbell_incident_events_total{event="open",rule="redis/overcommit-warning"}' 1
	inside sh -c 'ls /var/lib/private/cowbell/* >/dev/null' || unit_fail "no state in /var/lib/private/cowbell"

	# A broken configuration: reload refuses it (cowbell check) and cowbell goes on.
	inside install -m 0644 /unit/etc/broken.yaml /etc/cowbell/cowbell.yaml
	inside systemctl reload cowbell.service 2>/dev/null && unit_fail "reload of a broken configuration succeeded"
	[ "$(unit_prop MainPID)" = "$pid" ] || unit_fail "cowbell was restarted by a refused reload"
	[ "$(unit_prop ActiveState)" = active ] || unit_fail "not active after a refused reload"
	journal_has() { inside journalctl -u cowbell --no-pager | grep -qF "$1"; }
	unit_wait "position of the error in the journal" 30 journal_has '/etc/cowbell/cowbell.yaml:5:5: source "redis": unknown field "pathz"'
	if [ "$reload_on_sighup" = 1 ]; then
		inside install -m 0644 /unit/etc/good.yaml /etc/cowbell/cowbell.yaml
		inside systemctl reload cowbell.service || unit_fail "reload"
		[ "$(unit_prop MainPID)" = "$pid" ] || unit_fail "reload restarted cowbell"
		inside install -m 0644 /unit/etc/broken.yaml /etc/cowbell/cowbell.yaml
	fi

	# Stop: SIGTERM, exit status 0.
	inside systemctl stop cowbell.service
	[ "$(unit_prop Result)" = success ] || unit_fail "stop: result $(unit_prop Result)"
	[ "$(unit_prop ExecMainStatus)" = 0 ] || unit_fail "stop: exit status $(unit_prop ExecMainStatus)"

	# Start with the broken configuration: ExecStartPre fails, cowbell run never starts,
	# and the start limit ends the retries (5 starts in 10 minutes).
	local runs
	runs=$(inside journalctl -u cowbell --no-pager | grep -c ': configuration from ')
	inside systemctl reset-failed cowbell.service 2>/dev/null || true
	inside systemctl start cowbell.service 2>/dev/null && unit_fail "start with a broken configuration succeeded"
	unit_wait "start limit" 60 journal_has 'cowbell.service: Start request repeated too quickly.'
	unit_state_is() { [ "$(unit_prop ActiveState)" = "$1" ]; }
	unit_wait "failed state after the start limit" 30 unit_state_is failed
	[ "$(inside journalctl -u cowbell --no-pager | grep -c ': configuration from ')" = "$runs" ] ||
		unit_fail "cowbell run was started with a broken configuration"
	[ "$(unit_prop NRestarts)" -le 5 ] || unit_fail "restarted $(unit_prop NRestarts) times"
	log "unit test passed in $(($(now) - t0)) s: started under systemd $(inside systemctl --version | head -1 | cut -d' ' -f2) (no capabilities, seccomp, dynamic user), journal and 0640 log read, incident, broken config refused at reload and start, start limit hit, clean stop"
}
