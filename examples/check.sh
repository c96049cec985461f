#!/usr/bin/env bash
# check.sh EXE EXPECTED [ARGS...] - run EXE ARGS and compare its stdout with
# the file EXPECTED.  Passes (exit 0) when the output is the same and EXE
# exits 0; otherwise prints the difference or the exit status and fails.
#
# LWP_EXE_WRAPPER, when set, is a command line to run EXE under (e.g.
# "env QEMU_LD_PREFIX=/opt/arm64-sysroot qemu-aarch64-static" in a cross
# build): meson applies its exe_wrapper to test programs, not to the
# arguments of a script like this one.
set -uo pipefail

if [ $# -lt 2 ]; then
	echo "usage: $0 EXE EXPECTED [ARGS...]" >&2
	exit 2
fi
exe=$1 expected=$2
shift 2

wrapper=()
if [ -n "${LWP_EXE_WRAPPER:-}" ]; then
	read -r -a wrapper <<<"$LWP_EXE_WRAPPER"
fi

out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT

${wrapper[@]+"${wrapper[@]}"} "$exe" "$@" >"$out"
rc=$?

status=0
if ! diff -u --label expected --label actual "$expected" "$out"; then
	echo "check.sh: $(basename "$exe"): stdout differs from $expected" >&2
	status=1
fi
if [ "$rc" -ne 0 ]; then
	echo "check.sh: $(basename "$exe") exited with status $rc" >&2
	status=1
fi
exit "$status"
