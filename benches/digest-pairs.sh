#!/usr/bin/env bash
# Plain run vs digest run of the end-to-end benchmark, alternating, each run on a freshly made
# ext4 file system (a loop-mounted image), so that no run pays for inodes an earlier run freed
# (ext4 searches past recently freed inodes when it allocates new ones).
#
# usage (as root, after `cargo build --release`):
#   benches/digest-pairs.sh RECORDS PAIRS SEED_DIR [IMAGE] [MOUNT] [INPUT_DIR]
#
# SEED_DIR holds data/digest/keys from an earlier digest run (so the digest runs measure signing,
# not key generation). IMAGE (default /tmp/ot-benchfs.img, 24 GiB sparse) is remade and mounted
# at MOUNT (default /mnt/ot-bench) before every run; the input is generated once in INPUT_DIR
# (default /tmp/ot-bench-input) and linked in. Prints one JSON line per run (see e2e.py).
set -euo pipefail

records=${1:?records}
pairs=${2:?pairs}
seed=${3:?seed dir with data/digest/keys}
image=${4:-/tmp/ot-benchfs.img}
mnt=${5:-/mnt/ot-bench}
inputs=${6:-/tmp/ot-bench-input}
root=$(cd "$(dirname "$0")/.." && pwd)
input="$inputs/input-$records.jsonl"

mkdir -p "$inputs" "$mnt"
[ -f "$input" ] || python3 "$root/benches/gen_corpus.py" "$input" "$records"
[ -f "$image" ] || truncate -s 24G "$image"

fresh_fs() {
    if mountpoint -q "$mnt"; then umount "$mnt"; fi
    mkfs.ext4 -q -F "$image"
    mount -o loop "$image" "$mnt"
    mkdir -p "$mnt/w"
    ln -s "$input" "$mnt/w/"
    sync
    sleep 5
}

for _ in $(seq 1 "$pairs"); do
    fresh_fs
    python3 "$root/benches/e2e.py" --records "$records" --runs 1 --workdir "$mnt/w" --keep \
        | grep -v '^median' | sed 's/^/plain  /'
    fresh_fs
    python3 "$root/benches/e2e.py" --records "$records" --runs 1 --workdir "$mnt/w" --keep \
        --seed "$seed" --config-extra 'enable_log_file_validation = true' \
        | grep -v '^median' | sed 's/^/digest /'
done
umount "$mnt"
