#!/usr/bin/env bash
# Builds cowbell. The Dockerfile runs this same script, so CI compiles what ships.
# The default build uses cgo for the journald reader (libsystemd.so.0 is loaded at run
# time; building needs its headers, libsystemd-dev). Without the headers, or with
# CGO_ENABLED=0, it builds the pure-Go binary, which reads the journal through a
# `journalctl -o json` child.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bin/cowbell}
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
cgo=${CGO_ENABLED:-1}
if [ "$cgo" = 1 ] && [ ! -e /usr/include/systemd/sd-journal.h ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "build: installing libsystemd-dev for the journald reader" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libsystemd-dev >/dev/null 2>&1 ||
			{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libsystemd-dev >/dev/null; }
	fi
	if [ ! -e /usr/include/systemd/sd-journal.h ]; then
		echo "build: no systemd headers (libsystemd-dev): building with CGO_ENABLED=0; the journal is read through journalctl" >&2
		cgo=0
	fi
fi
mkdir -p "$(dirname "$out")"
CGO_ENABLED=$cgo go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$out" ./cmd/cowbell
echo "built $out ($version, CGO_ENABLED=$cgo)" >&2
