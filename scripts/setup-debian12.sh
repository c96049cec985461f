#!/usr/bin/env bash
# setup-debian12.sh - install everything lwp needs on Debian 12 (bookworm).
#
#   sudo scripts/setup-debian12.sh        (or as root; safe to run again)
#
# Installs the native toolchain (gcc, clang + sanitizer runtimes, meson,
# ninja), the libraries (jemalloc, hwloc, Criterion), the tools (valgrind,
# perf, USDT headers, clang-format), the perf peers (Erlang, Go), the aarch64
# cross compiler and qemu-user-static; builds an arm64 sysroot in
# /opt/arm64-sysroot (used by cross/aarch64-linux-gnu.ini) and registers
# qemu-aarch64 with binfmt_misc (Criterion re-executes test binaries, which
# under qemu-user only works through binfmt_misc).
#
# Each step checks first and does nothing when its work is done, so a second
# run takes well under a second and never touches apt.
# See /work/shared/notes/toolchain.md (the tested recipe) for the reasons.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		exec sudo -- "$(readlink -f "$0")" "$@"
	fi
	echo "setup-debian12.sh: must run as root (and sudo is not installed)" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
SYSROOT=/opt/arm64-sysroot # must match cross/aarch64-linux-gnu.ini
BINFMT=/proc/sys/fs/binfmt_misc

PACKAGES=(
	build-essential meson ninja-build pkg-config
	libjemalloc-dev libhwloc-dev hwloc libcriterion-dev
	clang libclang-rt-14-dev clang-format
	valgrind linux-perf systemtap-sdt-dev
	libunwind-dev              # backtraces of suspended processes
	gcc-aarch64-linux-gnu qemu-user-static binfmt-support
	erlang-base golang-go      # perf peers for ./run bench
	python3 gnuplot-nox        # the ./run bench driver, its plots
)

# Other jobs may hold the dpkg lock: wait for it instead of failing.
apt_get() { apt-get -o DPkg::Lock::Timeout=600 "$@"; }

# Packages of PACKAGES that are not fully installed ("ii").
missing_packages()
{
	local p
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${db:Status-Abbrev}\n' "$p" 2>/dev/null |
			grep -q '^ii' || echo "$p"
	done
}

have_arm64_arch() { dpkg --print-foreign-architectures | grep -qx arm64; }
binfmt_ok() { [ -e "$BINFMT/qemu-aarch64" ]; }
# Packages added to the sysroot's list since it was first built: a sysroot
# built by an older version of this script lacks them (step 2b).
SYSROOT_ADDED=(libunwind-dev:arm64 libunwind8:arm64 liblzma-dev:arm64 liblzma5:arm64)
sysroot_current() { [ -e "$SYSROOT/usr/include/aarch64-linux-gnu/libunwind.h" ]; }

# Fast path: nothing to do.
missing=$(missing_packages)
if [ -z "$missing" ] && [ -e "$SYSROOT/.complete" ] && sysroot_current &&
	binfmt_ok; then
	echo "setup: all packages, $SYSROOT and binfmt qemu-aarch64 present"
	exit 0
fi

# Two setups at once (two checkouts, CI jobs) would fight over the sysroot.
lockdir=/run/lock
[ -d "$lockdir" ] || lockdir=/tmp
exec 9>"$lockdir/lwp-setup-debian12.lock"
flock 9

updated=0
apt_update()
{
	if [ "$updated" = 0 ]; then
		apt_get update
		updated=1
	fi
}

if ! have_arm64_arch; then
	dpkg --add-architecture arm64
	apt_update
fi

# 1. Packages.
missing=$(missing_packages)
if [ -n "$missing" ]; then
	echo "setup: installing: ${missing//$'\n'/ }"
	apt_update
	# shellcheck disable=SC2086 # word splitting wanted
	apt_get install -y --no-install-recommends $missing
fi

# 2. arm64 sysroot.  libjemalloc-dev, libnanomsg-dev, libnanomsg5 and
# libhttp-parser-dev are not Multi-Arch: same, so "apt install
# libjemalloc-dev:arm64 libcriterion-dev:arm64" would REMOVE the amd64
# libjemalloc-dev/libcriterion-dev.  Extract the arm64 .debs into a private
# root instead.

# sysroot_add PKG...: download the packages and extract them into
# $SYSROOT (only adds files).  Stale package lists (a version gone from the
# mirror) make the download fail: update once and try again.
sysroot_add()
{
	local tmp d
	apt-cache show libc6:arm64 >/dev/null 2>&1 || apt_update
	tmp=$(mktemp -d)
	chown _apt "$tmp" 2>/dev/null || true
	if ! (cd "$tmp" && apt_get download "$@"); then
		updated=0
		apt_update
		(cd "$tmp" && apt_get download "$@") || { rm -rf "$tmp"; exit 1; }
	fi
	mkdir -p "$SYSROOT"
	for d in "$tmp"/*.deb; do dpkg-deb -x "$d" "$SYSROOT"; done
	rm -rf "$tmp"
	# Absolute symlinks (libm.so -> /lib/aarch64-linux-gnu/libm.so.6) must
	# point inside the sysroot: make them relative.
	find "$SYSROOT" -type l -lname '/*' \
		-exec sh -c 'for l; do ln -sfnr "$0$(readlink "$l")" "$l"; done' \
		"$SYSROOT" {} +
}

# The arm64 packages the build needs, with their library dependencies.
sysroot_packages()
{
	apt-cache depends --recurse --no-recommends --no-suggests \
		--no-conflicts --no-breaks --no-replaces --no-enhances \
		libc6-dev:arm64 libjemalloc-dev:arm64 libhwloc-dev:arm64 \
		libcriterion-dev:arm64 libunwind-dev:arm64 |
		grep -E '^(lib[^ ]*|linux-libc-dev|gcc-12-base|zlib1g[^ ]*):arm64$' |
		sort -u
}

if [ ! -e "$SYSROOT/.complete" ]; then
	echo "setup: building the arm64 sysroot in $SYSROOT"
	apt-cache show libc6:arm64 >/dev/null 2>&1 || apt_update
	rm -rf "$SYSROOT"
	# systemtap-sdt-dev:arm64 depends on python3:any: download it without
	# recursing.
	# shellcheck disable=SC2046 # one word per package
	sysroot_add $(sysroot_packages) systemtap-sdt-dev:arm64
	touch "$SYSROOT/.complete"
	echo "setup: $SYSROOT complete ($(du -sh "$SYSROOT" | cut -f1))"
fi

# 2b. A sysroot from before SYSROOT_ADDED: add those packages to it in
# place (only adds files, so builds using it meanwhile are not disturbed).
if ! sysroot_current; then
	echo "setup: adding ${SYSROOT_ADDED[*]} to $SYSROOT"
	sysroot_add "${SYSROOT_ADDED[@]}"
fi

# 3. binfmt_misc.  On a systemd host installing qemu-user-static registers
# qemu-aarch64; in a container binfmt_misc is often not mounted and the
# postinst registered nothing.  Mounting needs CAP_SYS_ADMIN (a privileged
# container); the registration is kernel-wide (flags PF: the interpreter is
# opened at registration, so it works inside chroots and containers too).
if ! binfmt_ok; then
	[ -e "$BINFMT/register" ] ||
		mount -t binfmt_misc binfmt_misc "$BINFMT" 2>/dev/null || true
	if [ -e "$BINFMT/register" ]; then
		update-binfmts --enable qemu-aarch64 2>/dev/null ||
			{ update-binfmts --import qemu-aarch64 2>/dev/null &&
				update-binfmts --enable qemu-aarch64 2>/dev/null; } ||
			true
	fi
fi
if binfmt_ok; then
	echo "setup: binfmt qemu-aarch64: $(head -1 "$BINFMT/qemu-aarch64")"
else
	echo "setup: WARNING: no binfmt_misc entry for qemu-aarch64:" \
		"Criterion tests cannot run under qemu (needs a privileged" \
		"container, or register it on the host)" >&2
fi
