#!/usr/bin/env bash
# jcs mount beside the REST API in the same run, on a local cluster of 3 hubs
# (package redundancy ec(2,3)), every byte checked with SHA-256 on both paths:
#   - a 1 GiB file written through the mount (dd, conv=fsync: the figure
#     includes the upload that fsync waits for) and with curl multipart over
#     mTLS; read back through the mount (dd) and with curl. Targets: mount
#     read >= 80 %, write >= 70 % of REST.
#   - a tree of 10,000 4 KiB files (100 directories) copied into the mount
#     and committed (cp, then unmount, which uploads all staged files), then
#     read back after a remount (files/s). Its package is ec(2,3) with a
#     4 KiB chunkSize: with the default 5 MiB chunk every shard is padded to
#     a whole chunk, so each 4 KiB file would cost 15 MiB on the hubs' disks
#     and the tree 146 GiB (this is what filled the machine's disk once).
# The machine is shared: figures are noisy; compare the ratios of one run.
# The run is bounded: it refuses to start without room for what it writes
# (plus a margin for the other users of the disk), and its directory is
# removed on every exit, including Ctrl-C and SIGTERM.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BIN=${JCS_BIN:-$ROOT/build/bin}
export JCS_BIN=$BIN
CL=deploy/local/cluster
SIZE_MB=${BENCH_MOUNT_MB:-1024}
NFILES=${BENCH_MOUNT_FILES:-10000}
if [ "$(id -u)" != 0 ] || [ ! -e /dev/fuse ]; then
  echo "bench_mount: needs root and /dev/fuse"; exit 1
fi
# What the run puts on the disk at most, in MiB: the local copy of the big
# file, its REST and mount uploads stored as ec(2,3) (1.5 times each), its
# staged copy, the block cache (capped at CACHE_MB), the tree (local, staged,
# 3 shards of 4 KiB on the hubs, metadata) and the cluster's own files.
CACHE_MB=$((SIZE_MB + 256))
NEED_MB=$((SIZE_MB + 3 * SIZE_MB + SIZE_MB + CACHE_MB + NFILES * 32 / 1024 + 512))
MARGIN_MB=${BENCH_MOUNT_MARGIN_MB:-10240}
# A run killed with SIGKILL cannot clean up: name what other runs hold.
for old in /tmp/jcs-bench-mount-*; do
  [ -d "$old" ] && echo "bench_mount: note: $old ($(du -xsh "$old" 2>/dev/null | cut -f1)) is another run of this bench, still running or killed before it could clean up; if killed, remove it with: deploy/local/cluster down --dir $old/c; rm -rf $old"
done
FREE_MB=$(df -Pm /tmp | awk 'NR == 2 { print $4 }')
if [ "${FREE_MB:-0}" -lt $((NEED_MB + MARGIN_MB)) ]; then
  echo "bench_mount: refusing to run: /tmp has ${FREE_MB} MiB free; this run writes up to ${NEED_MB} MiB and leaves at least ${MARGIN_MB} MiB free for the other users of the disk (set BENCH_MOUNT_MB / BENCH_MOUNT_FILES smaller)"
  exit 1
fi
T=$(mktemp -d /tmp/jcs-bench-mount-XXXXXX)
C=$T/c
M=$C/mnt
cleanup() {
  $CL down --dir "$C" >/dev/null 2>&1
  mountpoint -q "$M" 2>/dev/null && umount -l "$M" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
$CL up --dir "$C" --hubs 3 >"$T/up.log" 2>&1 || { tail "$T/up.log"; exit 1; }
cfg=$C/client/config.json
jq ".mount.uploadPendingTime = \"1s\" | .mount.maxCacheSize = $((CACHE_MB << 20))" "$cfg" >"$cfg.tmp" && mv "$cfg.tmp" "$cfg"
. "$C/cluster.env"
c() { curl -sS --fail --cacert "$JCS_CA" --cert "$JCS_CERT" --key "$JCS_KEY" "$@"; }
BID=$(c -X POST -H 'Content-Type: application/json' -d '{"name": "bench"}' "$JCS_ENDPOINT/v1/bucket/create" | jq .data.bucket.bucketID)
PID=$(c -X POST -H 'Content-Type: application/json' -d "{\"bucketID\": $BID, \"name\": \"p\", \"redundancy\": {\"type\": \"ec\", \"k\": 2, \"n\": 3}}" \
  "$JCS_ENDPOINT/v1/package/create" | jq .data.package.packageID)
c -X POST -H 'Content-Type: application/json' -d "{\"bucketID\": $BID, \"name\": \"small\", \"redundancy\": {\"type\": \"ec\", \"k\": 2, \"n\": 3, \"chunkSize\": 4096}}" \
  "$JCS_ENDPOINT/v1/package/create" >/dev/null
$CL mount --dir "$C" >"$T/mount.log" 2>&1 || { tail "$T/mount.log" "$C/mount/mount.log"; exit 1; }

now() { date +%s.%N; }
mibs() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.0f", b / 1048576 / s }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", 100 * a / b }'; }

head -c $((SIZE_MB << 20)) /dev/urandom >"$T/big"
SUM=$(sha256sum <"$T/big" | cut -d' ' -f1)
BYTES=$((SIZE_MB << 20))
sync

# REST: upload and download of the same file (curl streams, sha256sum checks).
t0=$(now)
c -F 'info={"packageID": '"$PID"'}' -F "files=@$T/big;filename=rest.bin" "$JCS_ENDPOINT/v1/object/upload" >/dev/null
t1=$(now)
rest_w=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
t0=$(now)
got=$(c "$JCS_ENDPOINT/v1/object/downloadByPath?packageID=$PID&path=rest.bin" | sha256sum | cut -d' ' -f1)
t1=$(now)
rest_r=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
[ "$got" = "$SUM" ] || { echo "bench_mount: REST download differs"; exit 1; }

# The mount: dd in 1 MiB blocks; fsync waits for the upload to commit.
t0=$(now)
dd if="$T/big" of="$M/bench/p/mount.bin" bs=1M conv=fsync status=none
t1=$(now)
mnt_w=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
# A remount retires the staged copy: the read comes from the cluster.
$CL unmount --dir "$C" >/dev/null 2>&1 && $CL mount --dir "$C" >/dev/null 2>&1
t0=$(now)
got=$(dd if="$M/bench/p/mount.bin" bs=1M status=none | sha256sum | cut -d' ' -f1)
t1=$(now)
mnt_r=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
[ "$got" = "$SUM" ] || { echo "bench_mount: the read through the mount differs"; exit 1; }
t0=$(now)
got=$(dd if="$M/bench/p/mount.bin" bs=1M status=none | sha256sum | cut -d' ' -f1)
t1=$(now)
mnt_r2=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
[ "$got" = "$SUM" ] || { echo "bench_mount: the cached read differs"; exit 1; }

w_rest=$(mibs $BYTES "$rest_w"); r_rest=$(mibs $BYTES "$rest_r")
w_mnt=$(mibs $BYTES "$mnt_w"); r_mnt=$(mibs $BYTES "$mnt_r"); r_mnt2=$(mibs $BYTES "$mnt_r2")
printf '  %d MiB ec(2,3), 3 hubs     write MiB/s  read MiB/s\n' "$SIZE_MB"
printf '  REST (curl, mTLS)          %11s  %10s\n' "$w_rest" "$r_rest"
printf '  mount (dd)                 %11s  %10s   (%s %% / %s %% of REST; targets 70 / 80)\n' \
  "$w_mnt" "$r_mnt" "$(pct "$w_mnt" "$w_rest")" "$(pct "$r_mnt" "$r_rest")"
printf '  mount, second read         %11s  %10s   (from the block cache on disk)\n' "" "$r_mnt2"

# A tree of small files.
mkdir -p "$T/tree"
per=$((NFILES / 100))
for d in $(seq 1 100); do
  mkdir "$T/tree/d$d"
  for f in $(seq 1 "$per"); do head -c 4096 /dev/urandom >"$T/tree/d$d/f$f"; done
done
TSUM=$(cd "$T/tree" && find . -type f | sort | xargs cat | sha256sum | cut -d' ' -f1)
t0=$(now)
cp -r "$T/tree" "$M/bench/small/tree"
t1=$(now)
$CL unmount --dir "$C" >/dev/null 2>&1
t2=$(now)
$CL mount --dir "$C" >/dev/null 2>&1
t3=$(now)
got=$(cd "$M/bench/small/tree" && find . -type f | sort | xargs cat | sha256sum | cut -d' ' -f1)
t4=$(now)
[ "$got" = "$TSUM" ] || { echo "bench_mount: the tree read back differs"; exit 1; }
awk -v n=$((per * 100)) -v a="$t0" -v b="$t1" -v c2="$t2" -v d="$t3" -v e="$t4" 'BEGIN {
  printf "  %d files of 4 KiB: written %.0f files/s (cp %.1f s + uploads until unmount %.1f s), read %.0f files/s after a remount\n",
    n, n / (c2 - a), b - a, c2 - b, n / (e - d) }'
echo "  (the machine is shared by several engineers: figures are noisy)"
