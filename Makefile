# Orbis: everything a fresh Debian machine needs, from this file.
# `make dev` sets the machine up and runs Orbis; `make test` runs every test.

GO      ?= go
BIN     := bin/orbis
DEVDATA ?= /var/lib/orbis-dev
# VERSION names the build (`orbis version`) and the Debian package: the
# number of commits, so that each package upgrades the one before.
VERSION ?= 0.1.$(shell git rev-list --count HEAD 2>/dev/null || echo 0)
LDFLAGS := -X github.com/orbisproject/orbis/internal/cli.Version=$(VERSION)
# Debian packages Orbis uses at run time (`make dev` installs only these)...
DEBS    := bash busybox-static debootstrap btrfs-progs e2fsprogs iproute2 util-linux openssh-sftp-server
# ...and those only the tests use (`make test` adds them): the PostgreSQL
# store's suite, the browser tests, Python's PLCAPI clients, the units'
# check (systemd-analyze), the kernel state the tests inspect, and the
# runtimes the benchmarks compare slivers with (runc, crun, lxc).
TEST_DEBS := postgresql chromium python3 openssh-client nftables tcpdump runc crun lxc systemd haproxy

# ...and those `make build` needs besides Go: a C compiler and musl, for
# orbis-idle (below).
BUILD_DEBS := gcc musl-tools
# orbis-idle is C: static against musl if there is musl-gcc (34 KB), else
# against the C compiler's libc.
IDLE_CC ?= $(shell command -v musl-gcc 2>/dev/null || echo cc)

# Debian packages `make test-vm` needs besides DEBS; the kernel it boots is
# downloaded by test/vm/run.sh, never installed.
VMDEBS  := qemu-system-x86 busybox-static btrfs-progs e2fsprogs iproute2 nftables

.PHONY: all build deps test-deps apt-install deb dev test test-host test-vm vet bench clean

all: build

# ping-orbis is the ping and traceroute of slivers' reference images: a
# static program of its own, as slivers never run the host's binaries;
# plabdump, orbis-lease (the lease broker, run in its own slice) and
# orbis-admin (the admin slice's tool) likewise. orbis-init is every running
# sliver's init, which the node holds in one sealed memfd: small and
# stripped, since all of it stays in memory while a sliver runs; once the
# init has set the sliver up and its commands run, it becomes orbis-idle,
# a few pages of C (internal/sandbox/idle_linux.go).
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/orbis
	CGO_ENABLED=0 $(GO) build -ldflags='-s -w' -o bin/orbis-init ./internal/sandbox/cmd/orbis-init
	$(IDLE_CC) -static -Os -s -Wall -o bin/orbis-idle internal/sandbox/cmd/orbis-idle/idle.c
	CGO_ENABLED=0 $(GO) build -o bin/ping-orbis ./internal/rawsock/cmd/ping-orbis
	CGO_ENABLED=0 $(GO) build -o bin/plabdump ./internal/rawsock/cmd/plabdump
	CGO_ENABLED=0 $(GO) build -o bin/orbis-lease ./internal/broker/cmd/orbis-lease
	CGO_ENABLED=0 $(GO) build -o bin/orbis-admin ./internal/admin/cmd/orbis-admin

# deb builds bin/orbis_VERSION_ARCH.deb (nfpm): the programs in /usr/bin,
# the units in /usr/lib/systemd/system, not enabled (`orbis install`
# enables one; docs/deploy.md).
deb: build
	$(GO) run ./internal/install/cmd/orbis-deb --bin bin --version $(VERSION)

# deps installs the Debian packages Orbis runs with (once; skipped when all
# are present) and downloads the Go modules; test-deps adds the tests' own.
deps:
	@$(MAKE) --no-print-directory apt-install PKGS="$(DEBS) $(BUILD_DEBS)"
	$(GO) mod download

test-deps:
	@$(MAKE) --no-print-directory apt-install PKGS="$(TEST_DEBS)"

apt-install:
	@missing=""; for p in $(PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

dev: deps build
	$(BIN) dev --data $(DEVDATA)

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

# test runs every test: the whole module on this machine's kernel
# (test-host), then the node's kernel tests on Debian's 6.1 kernel under
# pure cgroup v2 (test-vm).
test: test-host
	@$(MAKE) --no-print-directory test-vm

# ORBIS_TEST_DEBIAN=1 also builds a Debian image with debootstrap (about a
# minute, through apt's configured mirror). The browser tests keep their
# screenshots in test-artifacts/.
test-host: deps test-deps vet
	rm -rf $(CURDIR)/test-artifacts
	ORBIS_TEST_DEBIAN=1 ORBIS_TEST_ARTIFACTS=$(CURDIR)/test-artifacts $(GO) test -count=1 -timeout 20m ./...

# test-vm runs the node packages' kernel tests on Debian's 6.1 kernel with
# pure cgroup v2, in qemu (software emulation; about 2 minutes on an idle
# 2-core machine): see test/vm/run.sh and docs/kernel.md.
test-vm:
	@$(MAKE) --no-print-directory apt-install PKGS="$(VMDEBS)"
	GO=$(GO) IDLE_CC=$(IDLE_CC) test/vm/run.sh

bench: deps build
	$(GO) run ./bench

clean:
	rm -rf bin
