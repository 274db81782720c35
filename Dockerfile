# cowbell: build with the same script CI runs, ship on a slim Debian with libsystemd
# (the journald reader loads libsystemd.so.0 at run time).
FROM golang:1.26-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libsystemd-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN VERSION=$VERSION ./scripts/build.sh /out/cowbell

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libsystemd0 systemd ca-certificates \
	&& rm -rf /var/lib/apt/lists/*
COPY --from=build /out/cowbell /usr/local/bin/cowbell
# State (cursors, outbox, open incidents) lives here: mount a volume to keep it.
ENV STATE_DIRECTORY=/var/lib/cowbell
VOLUME /var/lib/cowbell
ENTRYPOINT ["/usr/local/bin/cowbell"]
CMD ["run"]
