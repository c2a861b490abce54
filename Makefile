# Orbis: everything a fresh Debian machine needs, from this file.
# `make dev` sets the machine up and runs Orbis; `make test` runs every test.

GO      ?= go
BIN     := bin/orbis
DEVDATA ?= /var/lib/orbis-dev
# Debian packages Orbis uses at run time and in tests.
DEBS    := bash busybox-static debootstrap runc btrfs-progs e2fsprogs iproute2 util-linux openssh-client \
           python3 postgresql openssh-sftp-server nftables tcpdump chromium

# Debian packages `make test-vm` needs besides DEBS; the kernel it boots is
# downloaded by test/vm/run.sh, never installed.
VMDEBS  := qemu-system-x86 busybox-static btrfs-progs e2fsprogs iproute2 nftables

.PHONY: all build deps dev test test-vm vet bench clean

all: build

# ping-orbis is the ping and traceroute of slivers' reference images: a
# static program of its own, as slivers never run the host's binaries;
# plabdump, orbis-lease (the lease broker, run in its own slice) and
# orbis-admin (the admin slice's tool) likewise.
build:
	$(GO) build -o $(BIN) ./cmd/orbis
	CGO_ENABLED=0 $(GO) build -o bin/ping-orbis ./internal/rawsock/cmd/ping-orbis
	CGO_ENABLED=0 $(GO) build -o bin/plabdump ./internal/rawsock/cmd/plabdump
	CGO_ENABLED=0 $(GO) build -o bin/orbis-lease ./internal/broker/cmd/orbis-lease
	CGO_ENABLED=0 $(GO) build -o bin/orbis-admin ./internal/admin/cmd/orbis-admin

# deps installs the Debian packages (once; skipped when all are present) and
# downloads the Go modules.
deps:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	$(GO) mod download

dev: deps build
	$(BIN) dev --data $(DEVDATA)

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

# ORBIS_TEST_DEBIAN=1 also builds a Debian image with debootstrap (about a
# minute, through apt's configured mirror). The browser tests keep their
# screenshots in test-artifacts/.
test: deps vet
	rm -rf $(CURDIR)/test-artifacts
	ORBIS_TEST_DEBIAN=1 ORBIS_TEST_ARTIFACTS=$(CURDIR)/test-artifacts $(GO) test -count=1 -timeout 20m ./...

# test-vm runs the node packages' kernel tests on Debian's 6.1 kernel with
# pure cgroup v2, in qemu (software emulation; 4 to 5 minutes): see
# test/vm/run.sh and docs/kernel.md.
test-vm:
	@missing=""; for p in $(VMDEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	GO=$(GO) test/vm/run.sh

bench: deps build
	$(GO) run ./bench

clean:
	rm -rf bin
