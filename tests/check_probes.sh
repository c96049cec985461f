#!/bin/sh
# check_probes.sh LIB - the USDT probes (provider lwp) are in LIB's notes.
set -eu
notes=$(readelf -n "$1")
for probe in switch spawn exit send receive steal park unpark \
	preempt_deferred timer register long_schedule; do
	printf '%s\n' "$notes" | grep -A2 'Provider: lwp$' |
		grep -q "Name: $probe\$" ||
		{ echo "check_probes: no probe lwp:$probe in $1" >&2; exit 1; }
done
echo "check_probes: $1: every lwp probe is there"
