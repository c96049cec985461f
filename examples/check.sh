#!/usr/bin/env bash
# check.sh EXE EXPECTED [ARGS...] - run EXE ARGS and compare its stdout with
# the file EXPECTED.  Passes (exit 0) when the output is the same and EXE
# exits 0; otherwise prints the difference or the exit status and fails.
# Where EXPECTED has a twin NAME.stderr.txt, stderr is compared with it
# too, with the dates of error reports written as DATE.
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
err=$(mktemp) || exit 1
trap 'rm -f "$out" "$err"' EXIT

${wrapper[@]+"${wrapper[@]}"} "$exe" "$@" >"$out" 2>"$err"
rc=$?

status=0
if ! diff -u --label expected --label actual "$expected" "$out"; then
	echo "check.sh: $(basename "$exe"): stdout differs from $expected" >&2
	status=1
fi
expected_err=${expected%.txt}.stderr.txt
if [ -e "$expected_err" ]; then
	date='[0-9]{2}-[A-Z][a-z]{2}-[0-9]{4}::[0-9]{2}:[0-9]{2}:[0-9]{2}'
	if ! sed -E "s/$date/DATE/" "$err" |
		diff -u --label expected --label actual "$expected_err" -; then
		echo "check.sh: $(basename "$exe"): stderr differs from $expected_err" >&2
		status=1
	fi
else
	cat "$err" >&2
fi
if [ "$rc" -ne 0 ]; then
	echo "check.sh: $(basename "$exe") exited with status $rc" >&2
	status=1
fi
exit "$status"
