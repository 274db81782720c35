# cowbell's image: built with the same script CI runs (scripts/build.sh), shipped on a
# slim Debian that already carries libsystemd0 (the journald reader loads
# libsystemd.so.0 at run time), running as a non-root user.
#
# The base images are build arguments, pinned to releases (Go 1.26.8, Debian 12.11),
# so a builder without a registry can substitute local ones (scripts/image.sh does,
# in CI). GO_IMAGE needs Go, gcc and, for the cgo journald reader, libsystemd-dev
# (installed below when missing). Module downloads trust an optional CA bundle passed
# as the build secret "ca"; the proxy settings come in as build arguments, as
# `go env` has them.
ARG GO_IMAGE=docker.io/library/golang:1.26.8-bookworm
ARG BASE_IMAGE=docker.io/library/debian:12.11-slim

FROM ${GO_IMAGE} AS build
RUN [ -e /usr/include/systemd/sd-journal.h ] || { apt-get update \
	&& apt-get install -y --no-install-recommends libsystemd-dev \
	&& rm -rf /var/lib/apt/lists/*; }
ENV GOMODCACHE=/go/pkg/mod GOCACHE=/root/.cache/go-build GOFLAGS=-buildvcs=false
ARG GOPROXY
ARG GOSUMDB
ARG GONOSUMDB
ARG GOPRIVATE
ARG GONOPROXY
ARG GOINSECURE
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=secret,id=ca \
	if [ -s /run/secrets/ca ]; then export SSL_CERT_FILE=/run/secrets/ca; fi; \
	go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
	--mount=type=secret,id=ca \
	if [ -s /run/secrets/ca ]; then export SSL_CERT_FILE=/run/secrets/ca; fi; \
	VERSION=$VERSION ./scripts/build.sh /out/usr/local/bin/cowbell \
	&& mkdir -p /out/var/lib/cowbell /out/etc/ssl/certs \
	&& cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/

FROM ${BASE_IMAGE}
# No package installs here: the binary, the CA bundle of the build image's
# ca-certificates (the notifiers speak HTTPS; the package itself would add openssl),
# and the state directory owned by the runtime user, so that a fresh volume mounted
# there is writable.
COPY --from=build /out/usr/local/bin/cowbell /usr/local/bin/cowbell
COPY --from=build /out/etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build --chown=65532:65532 /out/var/lib/ /var/lib/
# Not root: cowbell needs no privilege of its own. Host logs it reads must be readable
# by uid 65532 or a supplementary group (Kubernetes: securityContext.supplementalGroups).
USER 65532:65532
# State (cursors, outbox, open incidents) lives here: mount a volume to keep it.
ENV STATE_DIRECTORY=/var/lib/cowbell
VOLUME /var/lib/cowbell
ENTRYPOINT ["/usr/local/bin/cowbell"]
CMD ["run"]
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED
LABEL org.opencontainers.image.title="cowbell" \
	org.opencontainers.image.description="Rings before memory trouble takes a database down: log rules, a memory-accounting snapshot, durable notifications" \
	org.opencontainers.image.source="https://github.com/cowbell-sidecar/cowbell" \
	org.opencontainers.image.url="https://github.com/cowbell-sidecar/cowbell" \
	org.opencontainers.image.documentation="https://github.com/cowbell-sidecar/cowbell/blob/main/README.md" \
	org.opencontainers.image.version="${VERSION}" \
	org.opencontainers.image.revision="${REVISION}" \
	org.opencontainers.image.created="${CREATED}"
