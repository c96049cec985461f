#!/bin/sh
# run-peer.sh LANG BUILD_DIR ARGS...
#
# Builds the peer benchmark for LANG (go or erlang) into BUILD_DIR when it
# is missing or older than its source, then runs it with ARGS
# (-b NAME [-s N] [-n SCALE], or -l).  No network is needed: the Go peer
# uses the standard library only, the Erlang one kernel and stdlib only.
#
#   perf/peers/run-peer.sh go /tmp/peers -b ring -s 2 -n 1
#   perf/peers/run-peer.sh erlang /tmp/peers -b skynet -s 1
set -eu

usage() {
	echo "usage: $0 go|erlang BUILD_DIR -b NAME [-s N] [-n SCALE] | -l" >&2
	exit 2
}

[ $# -ge 2 ] || usage
lang=$1
build=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$build"
build=$(cd "$build" && pwd)

# stale FILE SRC: FILE is missing, or SRC (a file or a folder) has
# something newer.
stale() {
	[ ! -e "$1" ] || [ -n "$(find "$2" -newer "$1" 2>/dev/null)" ]
}

case $lang in
go)
	bin=$build/lwp-peer-go
	if stale "$bin" "$here/go"; then
		(
			cd "$here/go"
			GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod \
				GOCACHE=${GOCACHE:-$build/go-cache} \
				GOPATH=${GOPATH:-$build/go-path} \
				go build -o "$bin" .
		)
	fi
	exec "$bin" "$@"
	;;
erlang)
	if stale "$build/lwp_peer.beam" "$here/erlang/lwp_peer.erl"; then
		erlc -o "$build" "$here/erlang/lwp_peer.erl"
	fi
	# The scheduler count is an emulator flag: +S from -s.
	scheds=1
	prev=
	for arg in "$@"; do
		[ "$prev" = -s ] && scheds=$arg
		prev=$arg
	done
	case $scheds in
	'' | *[!0-9]*) usage ;;
	esac
	exec erl -noshell +S "$scheds:$scheds" +P 2097152 -pa "$build" \
		-run lwp_peer main -extra "$@"
	;;
*)
	usage
	;;
esac
