#!/usr/bin/env bash
# Back up a running gofish node: take a checkpoint with BGSAVE, copy it, verify the copy.
#
#   tools/backup.sh HOST:PORT DEST [DATA_DIR]
#
# 1. Notes LASTSAVE, sends BGSAVE (waiting out one already running), and polls until
#    LASTSAVE advances (the node sets it when the checkpoint is durable). A checkpoint that
#    fails (INFO persistence: rdb_last_bgsave_status:err, or no longer in progress while
#    LASTSAVE has not moved) is an error.
# 2. Finds the checkpoint: DATA_DIR (default: the node's CONFIG GET dir, which must be
#    reachable from here) + "checkpoints/" + INFO persistence's checkpoint_dir; without that
#    field, the newest sound checkpoint in DATA_DIR.
# 3. Copies it into DEST.tmp, verifies every checksum of the copy (gofish-snapshot verify),
#    syncs, and renames DEST.tmp to DEST. DEST must not exist. DEST is then one checkpoint's
#    directory: `gofish-snapshot restore DEST NEWDIR` (tools/restore.sh) makes a data
#    directory a node starts from.
#
# Environment: REDIS_CLI (default redis-cli; REDISCLI_AUTH passes a password to it),
# GOFISH_SNAPSHOT (default gofish-snapshot, else "python3 -m gofish.tools.snapshot"),
# BACKUP_TIMEOUT seconds to wait for the checkpoint (default 3600).
# Exit status: 0 done, 1 failed (the message says why), 2 bad usage.
set -euo pipefail

me=backup.sh
die() { echo "$me: $*" >&2; exit 1; }
if [[ $# -lt 2 || $# -gt 3 || $1 != *:* ]]; then
    echo "usage: $me HOST:PORT DEST [DATA_DIR]" >&2
    exit 2
fi
addr=$1
dest=${2%/}
data_dir=${3:-}
host=${addr%:*}
port=${addr##*:}
timeout=${BACKUP_TIMEOUT:-3600}
read -r -a cli_cmd <<< "${REDIS_CLI:-redis-cli}"
if [[ -n ${GOFISH_SNAPSHOT:-} ]]; then
    read -r -a snap <<< "$GOFISH_SNAPSHOT"
elif command -v gofish-snapshot > /dev/null; then
    snap=(gofish-snapshot)
else
    snap=(python3 -m gofish.tools.snapshot)
fi

[[ -e $dest ]] && die "$dest exists: choose a new destination"
[[ -e $dest.tmp ]] && die "$dest.tmp exists (an interrupted backup?): remove it first"

cli() { "${cli_cmd[@]}" -h "$host" -p "$port" "$@" | tr -d '\r'; }
info_field() {  # INFO persistence field $1 ("" if absent)
    cli INFO persistence | sed -n "s/^$1://p"
}
is_int() { [[ $1 =~ ^[0-9]+$ ]]; }

last=$(cli LASTSAVE) || die "cannot reach $addr"
is_int "$last" || die "LASTSAVE answered '$last'"
# A save finishing within the same second as the last one would not move LASTSAVE.
while (( $(date +%s) <= last )); do sleep 0.2; done

deadline=$(( $(date +%s) + timeout ))
started=0
for _ in 1 2 3; do
    reply=$(cli BGSAVE)
    case $reply in
        *"Background saving started"*) started=1; break ;;
        *"already in progress"*)
            echo "$me: a checkpoint is already running; waiting for it, then starting ours" >&2
            while [[ $(info_field rdb_bgsave_in_progress) == 1 ]]; do
                (( $(date +%s) < deadline )) || die "timed out waiting for the running checkpoint"
                sleep 0.5
            done
            last=$(cli LASTSAVE)
            while (( $(date +%s) <= last )); do sleep 0.2; done ;;
        *) die "BGSAVE failed: $reply" ;;
    esac
done
(( started )) || die "BGSAVE could not be started"

while :; do
    in_progress=$(info_field rdb_bgsave_in_progress)
    status=$(info_field rdb_last_bgsave_status)
    now_save=$(cli LASTSAVE)
    is_int "$now_save" || die "LASTSAVE answered '$now_save'"
    (( now_save > last )) && break
    [[ $status == err ]] && die "the checkpoint failed (rdb_last_bgsave_status:err; see the node's log)"
    [[ $in_progress == 0 ]] && die "BGSAVE ended without a new checkpoint (see the node's log)"
    (( $(date +%s) < deadline )) || die "timed out after ${timeout}s waiting for the checkpoint"
    sleep 0.3
done

if [[ -z $data_dir ]]; then
    data_dir=$(cli CONFIG GET dir | sed -n 2p)
    [[ -n $data_dir ]] || die "CONFIG GET dir gave nothing: pass DATA_DIR"
fi
[[ -d $data_dir ]] || die "data directory $data_dir not found here: pass DATA_DIR (the node's --dir as seen from this machine)"
name=$(info_field checkpoint_dir)
if [[ -n $name ]]; then
    src=$data_dir/checkpoints/$name
else
    src=$("${snap[@]}" list "$data_dir" --newest) || die "no checkpoint found in $data_dir"
fi
[[ -f $src/manifest ]] || die "checkpoint $src not found (pruned by newer checkpoints? run again)"

cp -a -- "$src" "$dest.tmp"
if ! "${snap[@]}" verify "$dest.tmp" >&2; then
    rm -rf -- "$dest.tmp"
    die "the copy of $src does not verify (was it pruned while copying? run again)"
fi
sync
mv -- "$dest.tmp" "$dest"
sync
echo "$me: checkpoint $(basename "$src") of $addr backed up to $dest" >&2
echo "$dest"
