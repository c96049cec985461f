#!/usr/bin/env bash
# check.sh EXE EXPECTED [ARGS...] - run EXE ARGS and compare its stdout with
# the file EXPECTED.  Passes (exit 0) when the output is the same and EXE
# exits 0; otherwise prints the difference or the exit status and fails.
#
# In a cross build EXE runs under the cross file's exe_wrapper (qemu-user):
# meson applies it to test programs, not to the arguments of a script like
# this one, but passes it in MESON_EXE_WRAPPER (shell-quoted, meson >= 0.55).
# LWP_EXE_WRAPPER, when set, overrides it (a command line split on blanks).
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
elif [ -n "${MESON_EXE_WRAPPER:-}" ]; then
	eval "wrapper=($MESON_EXE_WRAPPER)" # undo meson's shell quoting
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
