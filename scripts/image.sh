#!/usr/bin/env bash
# Builds cowbell's image from the Dockerfile with rootful podman, smoke-tests it, and
# runs the systemd unit under systemd with its binary. `make test` runs it (CI is
# root); under CI a missing podman (or root) is a failure, elsewhere the test is skipped.
#
#   scripts/image.sh [all|build|smoke|unit]     (default: all)
#
# unit runs deploy/systemd/cowbell.service under a real systemd in a container
# (scripts/image-unit.sh), with the image's binary.
#
# No image registry needs to be reachable: the base images the Dockerfile takes as
# build arguments are made here, once, and cached:
#   - the Debian base: `debootstrap --variant=minbase bookworm` from the mirror apt
#     uses, trimmed like the slim image and imported with `podman import`;
#   - the Go build image: that base plus gcc, libsystemd-dev and this machine's Go
#     toolchain (`go env GOROOT`).
# The debootstrap tarball lives in $COWBELL_IMAGE_CACHE (default
# /var/cache/cowbell-image), the images in podman's store, the Go module and build
# caches in the Dockerfile's cache mounts: only the first build on a machine is cold.
#
# podman runs with runc, cgroupfs and ulimits no higher than this process's own
# (the machine may lack CAP_SYS_RESOURCE), through a containers.conf of our own
# (CONTAINERS_CONF): the host's configuration is left alone. Module downloads go
# through `go env GOPROXY` and trust the host's CA bundle, passed as a build secret
# that no layer keeps.
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-all}
cache=${COWBELL_IMAGE_CACHE:-/var/cache/cowbell-image}
suite=bookworm
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
image=${IMAGE:-localhost/cowbell:${version//+/-}}
# Bump base_rev when the recipe of the base images changes: the cache is keyed on it.
base_rev=2
base_image=localhost/cowbell-ci/debian:$suite-slim-r$base_rev
go_version=$(go env GOVERSION)
go_image=localhost/cowbell-ci/golang:${go_version#go}-$suite-r$base_rev

log() { echo "image: $*" >&2; }
now() { date +%s; }

# need_tools installs what is missing (as root) and then fails under CI when a tool is
# still missing, or skips the image test elsewhere.
tools=(podman runc debootstrap jq curl nsenter)
packages=(podman buildah runc fuse-overlayfs uidmap debootstrap jq curl util-linux)
missing_tools() {
	local t
	for t in "${tools[@]}"; do command -v "$t" >/dev/null || echo "$t"; done
}
need_tools() {
	local missing
	if [ "$(id -u)" != 0 ]; then
		[ -n "${CI:-}" ] && { log "FAIL: rootful podman needs root"; exit 1; }
		log "SKIP: rootful podman needs root"
		exit 0
	fi
	missing=$(missing_tools | xargs)
	[ -z "$missing" ] && return 0
	if command -v apt-get >/dev/null; then
		log "installing ${packages[*]}"
		export DEBIAN_FRONTEND=noninteractive
		{ apt-get install -y -qq --no-install-recommends "${packages[@]}" </dev/null >/tmp/cowbell-image-deps.log 2>&1 ||
			{ apt-get update -qq && apt-get install -y -qq --no-install-recommends "${packages[@]}" \
				</dev/null >>/tmp/cowbell-image-deps.log 2>&1; }; } || tail -20 /tmp/cowbell-image-deps.log >&2
		missing=$(missing_tools | xargs)
		[ -z "$missing" ] && return 0
	fi
	if [ -n "${CI:-}" ]; then
		log "FAIL: missing $missing (the image must be built in CI)"
		exit 1
	fi
	log "SKIP: missing $missing; install them as root to build the image"
	exit 0
}

limit() { if [ "$1" = unlimited ]; then echo -1; else echo "$1"; fi; }

# podman_conf writes the containers.conf this script runs podman with.
podman_conf() {
	mkdir -p "$cache"
	local conf=$cache/containers.conf nofile nproc
	nofile=$(limit "$(ulimit -Sn)"):$(limit "$(ulimit -Hn)")
	# podman itself runs with at most 32768 processes when it cannot raise the limit,
	# and runc then cannot set a container's limit above that.
	nproc=$(limit "$(ulimit -Hu)")
	if [ "$nproc" = -1 ] || [ "$nproc" -gt 32768 ]; then nproc=32768; fi
	nproc=$nproc:$nproc
	cat >"$conf.new" <<-EOF
		# written by scripts/image.sh
		[containers]
		default_ulimits = ["nofile=$nofile", "nproc=$nproc"]
		[engine]
		runtime = "runc"
		cgroup_manager = "cgroupfs"
		events_logger = "file"
	EOF
	mv "$conf.new" "$conf"
	export CONTAINERS_CONF=$conf
	# podman build does not read default_ulimits: it is given the same limits.
	ulimits=(--ulimit "nofile=$nofile" --ulimit "nproc=$nproc")
}

# debian_mirror prints the Debian mirror apt uses for $suite (deb822 or one-line).
debian_mirror() {
	local f uri
	for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list; do
		[ -r "$f" ] || continue
		uri=$(awk -v s="$suite" '
			/^URIs:/ { u = $2 } /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) { print u; exit } }
			/^deb / { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { if ($(i+1) == s) { print $i; exit } } }
		' "$f")
		if [ -n "$uri" ]; then
			echo "$uri"
			return
		fi
	done
	echo http://deb.debian.org/debian
}

# base_images makes the Debian base and the Go build image when podman lacks them.
base_images() {
	if ! podman image exists "$base_image"; then
		local tarball=$cache/debian-$suite-minbase-r$base_rev.tar
		if [ ! -s "$tarball" ]; then
			local mirror root
			mirror=$(debian_mirror)
			root=$(mktemp -d /var/tmp/cowbell-debootstrap.XXXXXX)
			log "debootstrap $suite from $mirror (cached in $tarball)"
			debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
				{ tail -20 "$cache/debootstrap.log" >&2; rm -rf "$root"; exit 1; }
			# Trim as debian:*-slim is trimmed: no package caches, lists, docs or man pages.
			rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
				"$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
				"$root"/usr/share/locale/* \
				"$root"/var/log/*.log "$root"/var/cache/debconf/*-old
			tar --numeric-owner -C "$root" -cf "$tarball.new" .
			rm -rf "$root"
			mv "$tarball.new" "$tarball"
		fi
		log "import $base_image"
		podman import --quiet --change 'CMD ["bash"]' "$tarball" "$base_image" >/dev/null
	fi
	if ! podman image exists "$go_image"; then
		local goroot ctx
		goroot=$(go env GOROOT)
		ctx=$(mktemp -d)
		cat >"$ctx/Containerfile" <<-EOF
			FROM $base_image
			RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev libsystemd-dev ca-certificates \\
			    && rm -rf /var/lib/apt/lists/*
			RUN cp -a /host-go /usr/local/go
			ENV PATH=/usr/local/go/bin:/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin GOPATH=/go
		EOF
		log "build $go_image (Go from $goroot)"
		podman build --network=host "${ulimits[@]}" -v "$goroot:/host-go:ro" -t "$go_image" "$ctx" >"$cache/go-image.log" 2>&1 ||
			{ tail -20 "$cache/go-image.log" >&2; rm -rf "$ctx"; exit 1; }
		rm -rf "$ctx"
	fi
}

build() {
	local t0 args=()
	t0=$(now)
	base_images
	local base_done
	base_done=$(now)
	for v in GOPROXY GOSUMDB GONOSUMDB GOPRIVATE GONOPROXY GOINSECURE; do
		args+=(--build-arg "$v=$(go env "$v")")
	done
	log "build $image from Dockerfile"
	podman build --network=host "${ulimits[@]}" \
		--build-arg GO_IMAGE="$go_image" --build-arg BASE_IMAGE="$base_image" \
		--build-arg VERSION="$version" --build-arg REVISION="$revision" \
		--build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
		"${args[@]}" \
		--secret id=ca,src="${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}" \
		-t "$image" -f Dockerfile . >"$cache/build.log" 2>&1 ||
		{ tail -40 "$cache/build.log" >&2; exit 1; }
	# Keep the store from growing with every commit: older cowbell images and the
	# build stage's leftovers go (the Go caches stay in the cache mounts).
	# Only what is a day old: another checkout's run may still use a newer one.
	podman images --filter reference=localhost/cowbell --filter until=24h --format '{{.Repository}}:{{.Tag}}' |
		grep -vxF "$image" | xargs -r podman rmi >/dev/null 2>&1 || true
	podman image prune -f --filter until=24h >/dev/null 2>&1 || true
	local size
	size=$(podman image inspect --format '{{.Size}}' "$image")
	log "built $image: $((size / 1000000)) MB ($size bytes); base images $((base_done - t0)) s, image $(($(now) - base_done)) s"
}

# shellcheck source=scripts/image-smoke.sh
source scripts/image-smoke.sh
# shellcheck source=scripts/image-unit.sh
source scripts/image-unit.sh

case $what in all | build | smoke | unit) ;; *)
	echo "usage: $0 [all|build|smoke|unit]" >&2
	exit 2
	;;
esac
need_tools
podman_conf
# One run at a time on a machine: runs share podman's store and the cache.
exec 9>"$cache/lock"
flock 9
case $what in
all)
	build
	smoke
	unit_test
	;;
build) build ;;
smoke) smoke ;;
unit) unit_test ;;
esac
