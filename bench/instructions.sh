#!/usr/bin/env bash
# Instructions per request of gofish's own code: exact, whatever else the machine is doing.
#
# Runs bench/inproc.py (a real node in process, fake transports) under
# `valgrind --tool=callgrind` twice, with 4,000 and 8,000 requests, and prints the difference
# divided by 4,000: startup and warm-up cancel out. Repeatable to about 0.01-2% (thread
# timing moves batch sizes a little). About a minute per test on this machine.
#
#   bench/instructions.sh [TEST] [PIPELINE] [INPROC OPTIONS...]   # TEST: set get incr lpush sadd hset
#
# Not for `--nodes 3`: under valgrind a request takes ~50 times longer, so the cluster's
# time-driven work (ticks, heartbeats) per request grows as much, and counts vary by ±20%.
#
# Needs valgrind (Debian's package; installed when absent).
set -euo pipefail
cd "$(dirname "$0")/.."
T=${1:-set}
P=${2:-1}
shift $(( $# < 2 ? $# : 2 ))
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
counts=()
for n in 4000 8000; do
  valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$n" .venv/bin/python bench/inproc.py \
    --test "$T" --pipeline "$P" --requests "$n" --repeat 1 --warmup 2000 "$@" >/dev/null 2>"$tmp/err.$n"
  counts+=("$(grep -E 'refs:' "$tmp/err.$n" | awk '{gsub(",", "", $NF); print $NF}')")
done
echo "$T -P $P${*:+ $*}: $(( (counts[1] - counts[0]) / 4000 )) instructions/request"
