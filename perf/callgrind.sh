#!/bin/sh
# callgrind.sh - instructions per operation of lwp-bench's timed regions.
#
# usage: perf/callgrind.sh [-B BUILDDIR] [-n SCALE] [-s LIST] [-t TOP] [BENCH...]
#   BUILDDIR  default build-release
#   SCALE     default 0.01 (1/100 of the work)
#   LIST      scheduler counts, as lwp-bench -s (default: lwp-bench's, 1,2)
#   TOP       also list the TOP functions by their own (self) Ir per op
#   BENCH     default: switch ring pingpong spawn-exit spawn
#
# Runs each benchmark once under valgrind --tool=callgrind.  lwp-bench dumps
# the counts of its timed region alone (CALLGRIND_ZERO_STATS at the start,
# CALLGRIND_DUMP_STATS_AT("lwp-bench NAME ops=N") at the end), so the
# figure leaves out start-up, setup and teardown.  The dumps stay in
# $OUTDIR (default /tmp/lwp-callgrind).  callgrind_annotate's inclusive
# figures are meaningless here (every context switch looks like a call
# that never returns), so the per-function list is computed from the
# dump's self costs, which are exact.
set -eu

build="build-release"
scale=0.01
scheds=
top=0
while getopts B:n:s:t: opt; do
	case $opt in
	B) build=$OPTARG ;;
	n) scale=$OPTARG ;;
	s) scheds=$OPTARG ;;
	t) top=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || set -- switch ring pingpong spawn-exit spawn

out=${OUTDIR:-/tmp/lwp-callgrind}
mkdir -p "$out"
bench=$(readlink -f "$build/perf/lwp-bench")

# Print "IR OPS NAME" for a dump, then (with TOP) "SELF FUNCTION" lines.
summarise()
{
	awk '
	function nm(s, id, rest) {
		if (!match(s, /^\([0-9]+\)/))
			return s
		id = substr(s, 2, RLENGTH - 2)
		rest = substr(s, RLENGTH + 1)
		sub(/^ +/, "", rest)
		if (rest != "")
			names[id] = rest
		return names[id]
	}
	/^desc: Trigger: Client Request: lwp-bench / {
		name = $6; ops = substr($7, 5)
	}
	/^(summary|totals):/ { ir = $2 }
	/^fn=/ { fn = nm(substr($0, 4)); sub(/\047[0-9]+$/, "", fn); next }
	/^cfn=/ { nm(substr($0, 5)); next }
	/^calls=/ { skip = 1; next }
	/^[0-9+*-]/ {
		if (skip) { skip = 0; next }
		if (fn != "") self[fn] += $2
	}
	END {
		if (!(ops > 0))
			exit
		printf "%d %d %s\n", ir, ops, name
		for (f in self)
			printf "%.1f %s\n", self[f] / ops, f | "sort -rn"
	}' "$1"
}

for b in "$@"; do
	rm -f "$out/callgrind.out.$b".*
	valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out.$b" \
		"$bench" -b "$b" -n "$scale" -r 1 ${scheds:+-s "$scheds"} >/dev/null 2>"$out/$b.log" ||
		{ echo "callgrind.sh: $b failed, see $out/$b.log" >&2; exit 1; }
	for f in "$out/callgrind.out.$b".*; do
		summarise "$f" | {
			read -r ir ops name || exit 0
			printf "%-10s %7.1f Ir/op  (%d Ir / %d ops; %s)\n" \
				"$name" "$(echo "$ir $ops" | awk '{print $1 / $2}')" \
				"$ir" "$ops" "$f"
			[ "$top" -gt 0 ] || { cat >/dev/null; exit 0; }
			head -n "$top" | awk '{printf "    %7.1f  %s\n", $1, $2}'
			cat >/dev/null
		}
	done
done
