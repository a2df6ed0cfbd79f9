#!/usr/bin/env bash
# Restore a backup (tools/backup.sh) or a data directory's checkpoint into a fresh data
# directory a gofish node starts from.
#
#   tools/restore.sh SRC DIR [gofish-snapshot restore options...]
#
# SRC: a backup (one checkpoint's directory) or a node's data directory; DIR must not exist
# or be empty. Options pass through, e.g. --voters 1 (start a cluster's backup as a single
# node with --node-id 1), --until-index N / --until-time T (point in time, SRC must be a data
# directory with its Raft log), --checkpoint INDEX-TERM. Then: gofish server --dir DIR.
#
# Environment: GOFISH_SNAPSHOT (default gofish-snapshot, else
# "python3 -m gofish.tools.snapshot").
set -euo pipefail

if [[ $# -lt 2 ]]; then
    echo "usage: restore.sh SRC DIR [--voters IDS] [--until-index N | --until-time T] ..." >&2
    exit 2
fi
if [[ -n ${GOFISH_SNAPSHOT:-} ]]; then
    read -r -a snap <<< "$GOFISH_SNAPSHOT"
elif command -v gofish-snapshot > /dev/null; then
    snap=(gofish-snapshot)
else
    snap=(python3 -m gofish.tools.snapshot)
fi
src=$1
dir=$2
shift 2
exec "${snap[@]}" restore "$src" "$dir" "$@"
