#!/usr/bin/env bash
# make test-vm: runs the node packages' kernel tests as root on Debian's own
# 6.1 kernel (linux-image-cloud-amd64) under qemu with software emulation,
# with cgroup v2 alone at /sys/fs/cgroup and the state on an ext4 disk with
# project quotas, as on a Debian 12 node. It fails if a suite fails, the VM
# does not finish, or a test skips itself; the tests skip.txt lists (each
# with the reason) are not run there.
#
# Environment: ORBIS_VM_PKGS (packages under internal/, default below),
# ORBIS_VM_CACHE (where the kernel package is kept, default
# /var/cache/orbis-vm), ORBIS_VM_MEM (MiB, default 3072), ORBIS_VM_TIMEOUT
# (seconds for the whole VM, default 720), ORBIS_VM_LOG (the console log,
# default test-artifacts/vm-console.log).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
pkgs=${ORBIS_VM_PKGS:-"cgroup disk sandbox sliver rootfs netfilter portmgr rawfd"}
cache=${ORBIS_VM_CACHE:-/var/cache/orbis-vm}
mem=${ORBIS_VM_MEM:-3072}
vmtimeout=${ORBIS_VM_TIMEOUT:-720}
log=${ORBIS_VM_LOG:-$repo/test-artifacts/vm-console.log}
GO=${GO:-go}

# The kernel modules the tests need that Debian's cloud kernel builds as
# modules; run.sh adds their dependencies from modules.dep.
modules="virtio_pci virtio_blk loop overlay btrfs xfs quota_v2 veth"
# Module directories packed whole, for the kernel to load on demand through
# busybox modprobe (nftables expressions, queueing disciplines).
autoload="net/netfilter net/ipv4/netfilter net/ipv6/netfilter net/sched net/core net/bridge net/xfrm"
# Host programs the tests run, copied with their shared libraries.
programs="bash mkfs.btrfs btrfs ip nft sleep"

work=$(mktemp -d /tmp/orbis-vm.XXXXXX)
trap 'rm -rf "$work"' EXIT
step() { printf '[test-vm %s] %s\n' "$(date +%T)" "$*"; }

# fetch_kernel extracts the newest linux-image-*-cloud-amd64 into the cache
# (once) and prints its directory.
fetch_kernel() {
	local pkg dir tmp
	pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
	if [ -z "$pkg" ]; then
		apt-get update -qq >&2
		pkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
	fi
	[ -n "$pkg" ] || { echo "no linux-image-cloud-amd64 in apt's lists (apt-get update)" >&2; return 1; }
	dir=$cache/$pkg
	if [ ! -f "$dir/.done" ]; then
		mkdir -p "$cache"
		tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
		(cd "$tmp" && apt-get download -q "$pkg" >&2 2>/dev/null || apt-get download "$pkg" >&2)
		dpkg-deb -x "$tmp"/*.deb "$tmp/x"
		busybox depmod -b "$tmp/x" "$(ls "$tmp/x/lib/modules")"
		touch "$tmp/x/.done"
		rm -rf "$dir" && mv "$tmp/x" "$dir" && rm -rf "$tmp"
	fi
	echo "$dir"
}

# with_deps prints each module file of $2... after the files it depends on,
# once, reading the modules.dep of directory $1.
with_deps() {
	local mdir=$1 seen=" " f
	shift
	add() {
		local file=$1 dep
		case $seen in *" $file "*) return ;; esac
		seen="$seen$file "
		for dep in $(awk -v f="$file:" '$1 == f { $1 = ""; print }' "$mdir/modules.dep"); do
			add "$dep"
		done
		echo "$file"
	}
	for f in "$@"; do add "$f"; done
}

# module_order prints the module files to insmod at boot, each after its
# dependencies.
module_order() {
	local mdir=$1 m file files=""
	for m in $modules; do
		file=$(awk -v m="/$m.ko:" 'index($1, m) { sub(":", "", $1); print $1; exit }' "$mdir/modules.dep")
		if [ -z "$file" ]; then
			grep -q "/$m.ko$" "$mdir/modules.builtin" || { echo "module $m not found" >&2; return 1; }
			continue
		fi
		files="$files $file"
	done
	with_deps "$mdir" $files
}

# autoload_files prints the modules of the autoload directories and what
# they depend on.
autoload_files() {
	local mdir=$1 d
	with_deps "$mdir" $(for d in $autoload; do
		[ -d "$mdir/kernel/$d" ] && (cd "$mdir" && find "kernel/$d" -name '*.ko')
	done)
}

# copy_program copies a host program and its shared libraries into root.
copy_program() {
	local root=$1 p lib
	p=$(command -v "$2") || { echo "$2 not found (make test-vm installs it)" >&2; return 1; }
	install -D "$p" "$root/usr/bin/$(basename "$p")"
	for lib in $(ldd "$p" | grep -o '/[^ ]*'); do
		[ -e "$root$lib" ] || install -D "$lib" "$root$lib"
	done
}

build_initramfs() {
	local kdir=$1 root=$work/root kver pkg
	kver=$(ls "$kdir/lib/modules")
	mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,run,tmp,root,tests}
	install -m 0755 /bin/busybox "$root/bin/busybox"
	install -m 0755 "$here/init" "$root/init"
	for p in $programs; do copy_program "$root" "$p"; done
	module_order "$kdir/lib/modules/$kver" >"$root/modules.load"
	while read -r m; do
		install -D -m 0644 "$kdir/lib/modules/$kver/$m" "$root/lib/modules/$kver/$m"
	done <"$root/modules.load"
	autoload_files "$kdir/lib/modules/$kver" | while read -r m; do
		install -D -m 0644 "$kdir/lib/modules/$kver/$m" "$root/lib/modules/$kver/$m"
	done
	cp "$kdir/lib/modules/$kver"/modules.{dep,alias,symbols,builtin} "$root/lib/modules/$kver/"
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
	printf 'root:x:0:\n' >"$root/etc/group"
	for pkg in $pkgs; do
		mkdir -p "$root/src/internal/$pkg"
		if [ -d "$repo/internal/$pkg/testdata" ]; then
			cp -a "$repo/internal/$pkg/testdata" "$root/src/internal/$pkg/"
		fi
		(cd "$repo" && CGO_ENABLED=0 $GO test -c -o "$root/tests/$pkg.test" "./internal/$pkg")
		awk -v p="$pkg" '!/^#/ && $1 == p { s = s (s ? "|" : "") $2 } END { if (s) print "^(" s ")$" }' \
			"$here/skip.txt" >"$root/tests/$pkg.skip"
	done
	# The sandbox's tests run every sliver's init from orbis-init and
	# orbis-idle (the VM has no Go or C compiler to build them).
	(cd "$repo" && CGO_ENABLED=0 $GO build -o "$root/tests/orbis-init" ./internal/sandbox/cmd/orbis-init)
	(cd "$repo" && ${IDLE_CC:-cc} -static -Os -o "$root/tests/orbis-idle" internal/sandbox/cmd/orbis-idle/idle.c)
	# rawfd's tests run their probe program in slivers.
	(cd "$repo" && CGO_ENABLED=0 $GO build -o "$root/tests/rawfd-probe" ./internal/rawfd/testdata/probe)
	(cd "$repo" && CGO_ENABLED=0 $GO build -o "$root/tests/rawfd-attacker" ./internal/rawfd/testdata/attacker)
	(cd "$repo" && CGO_ENABLED=0 $GO build -o "$root/tests/rawfd-attacker5" ./internal/rawfd/testdata/attacker5)
	echo "$pkgs" >"$root/tests/order"
	echo "${vmtimeout}s" >"$root/tests/timeout"
	(cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null) >"$work/initrd"
}

# check reads the console log: every suite ended with status 0 and no test
# skipped itself (skip.txt's tests are not run at all).
check() {
	local console=$1 bad=0 pkg rc
	grep -q '^@@orbis-vm done' "$console" || { echo "test-vm: the VM did not finish (see $log)"; bad=1; }
	for pkg in $pkgs; do
		rc=$(awk -v p="$pkg" '$1 == "@@orbis-vm" && $2 == "end" && $3 == p { print $4 }' "$console")
		if [ "$rc" != 0 ]; then
			echo "test-vm: internal/$pkg failed (status ${rc:-none})"
			bad=1
		fi
	done
	if awk '$1 == "@@orbis-vm" && $2 == "begin" { pkg = $3 }
		$1 == "---" && $2 == "SKIP:" { print "internal/" pkg, $3; n++ } END { exit n == 0 }' "$console"; then
		echo "test-vm: the tests above skipped in the VM; fix them or list them with a reason in test/vm/skip.txt"
		bad=1
	fi
	grep -oE '(^--- FAIL.*|@@orbis-vm (kernel|controllers|end|fatal).*)' "$console" || true
	return $bad
}

kdir=$(fetch_kernel)
step "kernel $(basename "$kdir"); building the test binaries and the initramfs"
build_initramfs "$kdir"
truncate -s 8G "$work/state.img"
mkfs.ext4 -q -F -O quota,project -L orbis-state "$work/state.img"
mkdir -p "$(dirname "$log")"
step "booting (qemu, TCG, ${mem} MiB); console in $log"
start=$(date +%s)
timeout --foreground "$vmtimeout" qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m "$mem" \
	-nographic -no-reboot -monitor none -nic none \
	-kernel "$kdir/boot/vmlinuz-$(basename "$kdir" | sed 's/^linux-image-//')" -initrd "$work/initrd" \
	-append "console=ttyS0 quiet loglevel=3 panic=-1 cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1" \
	-drive "file=$work/state.img,if=virtio,format=raw,cache=unsafe" </dev/null | stdbuf -oL tr -d '\r' | tee "$log" || true
step "VM ran $(($(date +%s) - start)) s"
check "$log"
