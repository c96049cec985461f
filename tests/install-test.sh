#!/usr/bin/env bash
# install-test.sh - does an installed lwp work for a program outside the tree?
#
#   tests/install-test.sh          (./run test runs it after the native build)
#
# Builds lwp in a temporary directory, installs it into a temporary prefix,
# then compiles tests/install/hello.c with nothing but
# `pkg-config --cflags --libs lwp` (PKG_CONFIG_PATH pointing into the
# prefix), runs it with LD_LIBRARY_PATH into the prefix and checks its
# output.  Then the same against the static library (which needs the .pc
# file's private requirements to be right).  Exits 0 when all of it worked.
#
# Environment: CC (default cc) compiles hello.c; LWP_KEEP_TMP=1 keeps the
# temporary directory (it is always kept when the test fails).
set -euo pipefail

src=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lwp-install-test.XXXXXX")
# Removed on success; kept (for its logs) on failure or with LWP_KEEP_TMP=1.
cleanup()
{
	local rc=$?
	if [ "$rc" -eq 0 ] && [ -z "${LWP_KEEP_TMP:-}" ]; then
		rm -rf "$tmp"
	else
		echo "install-test: kept $tmp" >&2
	fi
}
trap cleanup EXIT
prefix=$tmp/prefix
cc=${CC:-cc}

die()
{
	echo "install-test: FAIL: $*" >&2
	exit 1
}

echo "install-test: build and install into $prefix"
meson setup "$tmp/build" "$src" --prefix="$prefix" \
	--buildtype=debugoptimized -Dtests=disabled -Dexamples=false \
	-Dperf=false >"$tmp/setup.log" 2>&1 ||
	{ cat "$tmp/setup.log"; die "meson setup"; }
meson compile -C "$tmp/build" >"$tmp/compile.log" 2>&1 ||
	{ cat "$tmp/compile.log"; die "meson compile"; }
meson install -C "$tmp/build" --quiet || die "meson install"

pc=$(find "$prefix" -name lwp.pc -print -quit)
[ -n "$pc" ] || die "no lwp.pc installed under $prefix"
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
libdir=$(pkg-config --variable=libdir lwp) || die "pkg-config lwp"
case $libdir in
"$prefix"/*) ;;
*) die "lwp.pc says libdir=$libdir, not inside $prefix" ;;
esac
pkg-config --cflags --libs lwp >/dev/null || die "pkg-config --cflags --libs lwp"
[ -f "$prefix/include/lwp.h" ] || die "lwp.h not installed in $prefix/include"

# check EXE: run it and compare its output with what hello.c must print.
check()
{
	local exe=$1 out rc=0 me kid from
	out=$(LD_LIBRARY_PATH="$libdir" timeout 60 "$exe" 2>&1) || rc=$?
	printf '%s\n' "$out" | sed 's/^/    /'
	[ "$rc" -eq 0 ] || die "$exe exited $rc"
	local pid='<0\.[0-9]+\.[0-9]+>'
	me=$(printf '%s\n' "$out" | sed -En "s/^hello from ($pid)\$/\\1/p")
	kid=$(printf '%s\n' "$out" | sed -En "s/^spawned ($pid)\$/\\1/p")
	from=$(printf '%s\n' "$out" |
		sed -En "s/^got \"hi parent\" \\(tag 7\\) from ($pid)\$/\\1/p")
	[ -n "$me" ] || die "no 'hello from <pid>' line"
	[ -n "$kid" ] || die "no 'spawned <pid>' line"
	[ -n "$from" ] || die "no 'got \"hi parent\" (tag 7) from <pid>' line"
	[ "$from" = "$kid" ] || die "message from $from, but the child is $kid"
	[ "$me" != "$kid" ] || die "parent and child have the same pid $me"
}

echo "install-test: $cc hello.c \$(pkg-config --cflags --libs lwp)"
read -ra cflags <<<"$(pkg-config --cflags lwp)"
read -ra libs <<<"$(pkg-config --libs lwp)"
"$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror "${cflags[@]}" \
	"$src/tests/install/hello.c" -o "$tmp/hello" "${libs[@]}" ||
	die "compiling hello.c against the installed lwp"
# Captured first: with pipefail, `ldd | grep -q` fails whenever grep exits
# before ldd has finished writing (SIGPIPE).
ldd_out=$(LD_LIBRARY_PATH="$libdir" ldd "$tmp/hello")
grep -q "$libdir/liblwp\.so" <<<"$ldd_out" ||
	die "hello does not load liblwp.so from $libdir"
check "$tmp/hello"

# Static: liblwp.a with the .pc file's Libs.private, and the packages of its
# Requires.private linked as shared libraries.  (Not all of
# `pkg-config --static --libs lwp`: Debian's hwloc.pc lists -ludev in its
# Libs.private, which needs libudev-dev, so a fully static pkg-config link
# fails on Debian for reasons that are not lwp's.)  This catches a library
# missing from lwp.pc's Requires.private/Libs.private.
echo "install-test: static liblwp.a, its Requires.private shared"
# pkgconf: depth 2 is lwp.pc itself without its requirements.
read -ra own <<<"$(pkg-config --static --libs --maximum-traverse-depth=2 lwp)"
mapfile -t reqs < <(pkg-config --print-requires-private lwp)
deps=()
if [ ${#reqs[@]} -gt 0 ]; then
	read -ra deps <<<"$(pkg-config --libs "${reqs[@]}")"
fi
libs=()
for a in "${own[@]}"; do
	if [ "$a" = -llwp ]; then
		libs+=("-Wl,-Bstatic" -llwp "-Wl,-Bdynamic")
	else
		libs+=("$a")
	fi
done
printf '    %s\n' "$cc hello.c ${libs[*]} ${deps[*]}"
"$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror "${cflags[@]}" \
	"$src/tests/install/hello.c" -o "$tmp/hello-static" "${libs[@]}" "${deps[@]}" ||
	die "linking hello.c against the installed liblwp.a"
if grep -q 'NEEDED.*liblwp' <<<"$(readelf -d "$tmp/hello-static")"; then
	die "hello-static still needs liblwp.so"
fi
check "$tmp/hello-static"

echo "install-test: ok"
