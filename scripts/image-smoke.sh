# shellcheck shell=bash disable=SC2154 # image, version, now, log: set by scripts/image.sh
# Smoke test of the built image, sourced by scripts/image.sh (which sets $image,
# $version and the podman configuration). Every container runs with a read-only root
# file system, as the shipped manifests run it, and without a network of its own
# (--network=none): the HTTP checks run curl inside the container's network namespace
# (nsenter), so no port on this machine is used and no network plugin is needed.

# cowbell run is ready when /readyz answers 200: its sources open, its store writable.
readiness_paths="/readyz"

smoke_fail() {
	log "FAIL: $*"
	exit 1
}

# ctr_http PATH prints the HTTP status of PATH on the smoke container's metrics port.
ctr_http() {
	nsenter --net="/proc/$ctr_pid/ns/net" curl -s -o "$smoke_dir/body" -w '%{http_code}' \
		--max-time 2 "http://127.0.0.1:9464$1" || true
}

# wait_ready waits (at most 60 s) until a readiness path answers 200; it prints the path.
wait_ready() {
	local deadline=$(($(now) + 60)) p code
	while [ "$(now)" -lt "$deadline" ]; do
		[ "$(podman inspect -f '{{.State.Running}}' "$ctr")" = true ] ||
			smoke_fail "cowbell run exited: $(podman logs "$ctr" 2>&1 | tail -20)"
		for p in $readiness_paths; do
			code=$(ctr_http "$p")
			if [ "$code" = 200 ]; then
				echo "$p"
				return 0
			fi
		done
		sleep 0.2
	done
	smoke_fail "no 200 from any of $readiness_paths within 60 s: $(podman logs "$ctr" 2>&1 | tail -20)"
}

smoke_cleanup() {
	[ -n "${ctr:-}" ] && podman rm -f -t 0 "$ctr" >/dev/null 2>&1
	[ -n "${smoke_dir:-}" ] && rm -rf "$smoke_dir"
	return 0
}

smoke() {
	local t0 out user
	t0=$(now)
	podman image exists "$image" || smoke_fail "no image $image: run scripts/image.sh build"
	smoke_dir=$(mktemp -d)
	trap smoke_cleanup EXIT
	local run=(podman run --rm --read-only --network=none --cap-drop=ALL --security-opt=no-new-privileges)

	# The image's own metadata: non-root user, labels, version.
	user=$(podman image inspect -f '{{.Config.User}}' "$image")
	[ "$user" = 65532:65532 ] || smoke_fail "image user is '$user', want 65532:65532"
	for l in title source version revision created; do
		out=$(podman image inspect -f "{{index .Labels \"org.opencontainers.image.$l\"}}" "$image")
		if [ -z "$out" ] || [ "$out" = "<no value>" ]; then smoke_fail "no label org.opencontainers.image.$l"; fi
	done
	out=$(podman image inspect -f '{{index .Labels "org.opencontainers.image.version"}}' "$image")
	[ "$out" = "$version" ] || smoke_fail "version label '$out', want $version"

	# It runs as uid 65532, not root, and stamps the version.
	out=$("${run[@]}" --entrypoint /usr/bin/id "$image" -u) || smoke_fail "id: $out"
	[ "$out" = 65532 ] || smoke_fail "runs as uid $out, want 65532"
	out=$("${run[@]}" "$image" version 2>&1) || smoke_fail "cowbell version: $out"
	case $out in "cowbell $version "*"journal reader: sdjournal"*) ;; *) smoke_fail "cowbell version: $out" ;; esac

	# The snapshot reads the container's /proc: the node's overcommit mode and commit figures.
	out=$("${run[@]}" "$image" snapshot --json 2>&1) || smoke_fail "cowbell snapshot: $out"
	local got want
	got=$(jq -r '.snapshot.commit | "\(.mode) \(.limit_kb)"' <<<"$out" 2>/dev/null || true)
	want="$(cat /proc/sys/vm/overcommit_memory) $(awk '/^CommitLimit:/ {print $2}' /proc/meminfo)"
	[ "$got" = "$want" ] || smoke_fail "snapshot mode and CommitLimit '$got', want the host's '$want'"

	# cowbell run: a Redis log and a journal directory (the journal reader loads
	# libsystemd.so.0 from the image), state on the image's volume, metrics served.
	mkdir -p "$smoke_dir/etc" "$smoke_dir/log" "$smoke_dir/journal"
	: >"$smoke_dir/log/redis.log"
	chmod -R a+rX "$smoke_dir"
	cat >"$smoke_dir/etc/cowbell.yaml" <<-'EOF'
		host: smoke
		state_dir: /var/lib/cowbell
		sources:
		  - name: redis
		    type: file
		    paths: [/var/log/redis/redis.log]
		    time_zone: UTC
		  - name: journal
		    type: journald
		    reader: sdjournal
		    directories: [/var/log/journal]
		notifiers:
		  - name: console
		    type: console
		metrics:
		  listen: 0.0.0.0:9464
	EOF
	ctr=$(podman run -d --read-only --network=none --cap-drop=ALL --security-opt=no-new-privileges \
		-v "$smoke_dir/etc:/etc/cowbell:ro" -v "$smoke_dir/log:/var/log/redis:ro" \
		-v "$smoke_dir/journal:/var/log/journal:ro" \
		"$image" run --config /etc/cowbell/cowbell.yaml) || smoke_fail "cowbell run: $ctr"
	ctr_pid=$(podman inspect -f '{{.State.Pid}}' "$ctr")
	local ready
	ready=$(wait_ready)
	# Both sources up (the journal one loads libsystemd.so.0): they may start a moment
	# after the HTTP server answers.
	local deadline=$(($(now) + 30))
	until [ "$(ctr_http /metrics)" = 200 ] &&
		grep -q '^cowbell_source_up{source="redis"} 1$' "$smoke_dir/body" &&
		grep -q '^cowbell_source_up{source="journal"} 1$' "$smoke_dir/body"; do
		[ "$(now)" -lt "$deadline" ] ||
			smoke_fail "/metrics without both sources up: $(grep cowbell_source_up "$smoke_dir/body"; podman logs "$ctr" 2>&1 | tail -5)"
		sleep 0.2
	done

	# SIGTERM: cowbell stops by itself, exit status 0, well before podman's SIGKILL.
	podman kill --signal TERM "$ctr" >/dev/null
	local code
	code=$(timeout 30 podman wait "$ctr") || smoke_fail "cowbell run did not stop within 30 s of SIGTERM"
	[ "$code" = 0 ] || smoke_fail "cowbell run exited $code after SIGTERM: $(podman logs "$ctr" 2>&1 | tail -10)"
	# conmon may still be writing the log when the exit status is known.
	deadline=$(($(now) + 15))
	until podman logs "$ctr" 2>&1 | grep -q 'stopped'; do
		[ "$(now)" -lt "$deadline" ] || smoke_fail "no 'stopped' in the log: $(podman logs "$ctr" 2>&1 | tail -10)"
		sleep 0.2
	done
	podman rm "$ctr" >/dev/null
	ctr=
	log "smoke test passed in $(($(now) - t0)) s: non-root, read-only root, version $version, snapshot, run ready on $ready, /metrics, clean SIGTERM"
}
