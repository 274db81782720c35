# cowbell: `make build` builds bin/cowbell; `make test` installs what the tests need
# (Debian packages, when missing) and runs the whole suite.

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
STATICCHECK = honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOLANGCI    = github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0

.PHONY: build build-nocgo test deps lint vet fuzz bench clean image image-test deploy-test

build:
	VERSION=$(VERSION) ./scripts/build.sh bin/cowbell

build-nocgo:
	CGO_ENABLED=0 VERSION=$(VERSION) ./scripts/build.sh bin/cowbell-nocgo

deps:
	./scripts/test-deps.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	$(GO) run $(GOLANGCI) run ./...   # .golangci.yml: the import direction (depguard), errorlint, ...
	cd deploy/validate && $(GO) vet ./... && $(GO) run $(STATICCHECK) ./...
	shellcheck -S warning -x scripts/*.sh bench/*.sh .ci/run

# The one test command (.ci/run calls it). It builds both binaries through the script
# the Dockerfile runs, then the tests. Integration tests start real journald,
# redis-server, PostgreSQL and Alertmanager on loopback; under CI a missing one fails.
# Then the image, built from the Dockerfile with podman and smoke-tested, and the
# deploy/ checks in their own module (the Kubernetes API and Pod Security libraries
# stay out of cowbell's).
test: deps lint
	VERSION=$(VERSION) ./scripts/build.sh bin/cowbell
	CGO_ENABLED=0 VERSION=$(VERSION) ./scripts/build.sh bin/cowbell-nocgo
	$(GO) test -race -timeout 20m ./...
	./scripts/host-vm-test.sh   # alone: switches this host to vm.overcommit_memory=2 for seconds
	# Every fuzz target briefly, from its seeds and kept corpus. A count, not a time: Go
	# 1.26's fuzz coordinator can fail a run whose -fuzztime ends while a worker is
	# busy ("context deadline exceeded", no input found: golang/go#75804).
	./scripts/fuzz.sh 2000x
	$(MAKE) image-test deploy-test

# Manifests decoded into the Kubernetes API types and checked against Pod Security
# Admission; the compose example loaded as compose does; the dashboard's metrics
# against a freshly built cowbell (-count=1: go test cannot see that build's inputs).
deploy-test:
	cd deploy/validate && $(GO) test -count=1 -timeout 5m ./...

# The image, as `make test` builds and checks it (scripts/image.sh says how).
image:
	VERSION=$(VERSION) ./scripts/image.sh build

image-test:
	VERSION=$(VERSION) ./scripts/image.sh all

# Fuzzing runs of every fuzz target (FUZZTIME per target: a time or a count, 1000000x);
# make test runs each for 2000 executions. A time can end in the coordinator's
# spurious "context deadline exceeded" (golang/go#75804): rerun, or give a count.
FUZZTIME ?= 30s
fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

bench:
	./bench/run.sh

clean:
	rm -rf bin
