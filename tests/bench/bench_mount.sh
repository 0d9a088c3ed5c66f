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
# Beside each figure: CPU seconds per GiB (or ms per small file) of jcs, the
# hubs, the mount and the client tool, from /proc/PID/stat and /usr/bin/time;
# REST and mount transfers alternate (BENCH_MOUNT_ROUNDS rounds, default 1).
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
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", 100 * a / b }'; }

head -c $((SIZE_MB << 20)) /dev/urandom >"$T/big"
SUM=$(sha256sum <"$T/big" | cut -d' ' -f1)
BYTES=$((SIZE_MB << 20))
sync

# CPU seconds (user+system, /proc/PID/stat) of each process over a step,
# per GiB moved: on a shared machine the wall-clock ratio is noisy, these
# say what each path costs.
HUBS=$(cat "$C"/hub*/pid)
ticks() { local t=0 p; for p in "$@"; do [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }
HZ=$(getconf CLK_TCK)
# step NAME CMD...: runs CMD (its own CPU from /usr/bin/time), records wall
# seconds and CPU s/GiB of jcs, the hubs, the mount and the client tool.
declare -A WALL CPU
step() {
  local name=$1; shift
  local mp; mp=$(cat "$C/mount/pid")
  local j0 h0 m0 t0 t1
  j0=$(ticks "$JCS_PID"); h0=$(ticks $HUBS); m0=$(ticks "$mp"); t0=$(now)
  /usr/bin/time -f '%U %S' -o "$T/time" "$@" || { echo "bench_mount: $name failed"; exit 1; }
  t1=$(now)
  WALL[$name]=$(awk -v a="$t0" -v b="$t1" -v w="${WALL[$name]:-0}" 'BEGIN { print w + b - a }')
  CPU[$name]=$(awk -v j=$(($(ticks "$JCS_PID") - j0)) -v h=$(($(ticks $HUBS) - h0)) -v m=$(($(ticks "$mp") - m0)) \
    -v c="$(tail -n 1 "$T/time")" -v hz="$HZ" -v mb="$SIZE_MB" -v old="${CPU[$name]:-0 0 0 0}" 'BEGIN {
      split(c, x, " "); split(old, o, " "); g = 1024 / mb
      printf "%.2f %.2f %.2f %.2f", o[1] + j / hz * g, o[2] + h / hz * g, o[3] + m / hz * g, o[4] + (x[1] + x[2]) * g }')
}
check() { [ "$(sha256sum <"$1" | cut -d' ' -f1)" = "$SUM" ] || { echo "bench_mount: $2 differs from the source"; exit 1; }; rm -f "$1"; }
CU=(curl -sS --fail --cacert "$JCS_CA" --cert "$JCS_CERT" --key "$JCS_KEY")

# Interleaved, REST then mount, each direction ROUNDS times (every round
# stores two more copies: BENCH_MOUNT_ROUNDS=1 by default for the disk).
ROUNDS=${BENCH_MOUNT_ROUNDS:-1}
for r in $(seq 1 "$ROUNDS"); do
  step rest_w "${CU[@]}" -o /dev/null -F 'info={"packageID": '"$PID"'};type=application/json' \
    -F "files=@$T/big;filename=rest$r.bin" "$JCS_ENDPOINT/v1/object/upload"
  # dd in 1 MiB blocks; fsync waits for the upload to commit.
  step mnt_w dd if="$T/big" of="$M/bench/p/mount$r.bin" bs=1M conv=fsync status=none
  step rest_r "${CU[@]}" -o "$T/out" "$JCS_ENDPOINT/v1/object/downloadByPath?packageID=$PID&path=rest$r.bin"
  check "$T/out" "the REST download"
  # A remount retires the staged copy: the read comes from the cluster.
  $CL unmount --dir "$C" >/dev/null 2>&1 && $CL mount --dir "$C" >/dev/null 2>&1
  step mnt_r dd if="$M/bench/p/mount$r.bin" of="$T/out" bs=1M status=none
  check "$T/out" "the read through the mount"
done
step mnt_r2 dd if="$M/bench/p/mount1.bin" of="$T/out" bs=1M status=none
check "$T/out" "the cached read"

mibs() { awk -v n="$ROUNDS" -v mb="$SIZE_MB" -v s="$1" 'BEGIN { printf "%.0f", n * mb / s }'; }
w_rest=$(mibs "${WALL[rest_w]}"); r_rest=$(mibs "${WALL[rest_r]}")
w_mnt=$(mibs "${WALL[mnt_w]}"); r_mnt=$(mibs "${WALL[mnt_r]}")
r_mnt2=$(awk -v mb="$SIZE_MB" -v s="${WALL[mnt_r2]}" 'BEGIN { printf "%.0f", mb / s }')
cpu() { awk -v r="$ROUNDS" -v c="${CPU[$1]}" 'BEGIN { split(c, x, " "); printf "%5.2f %5.2f %5.2f %6.2f", x[1] / r, x[2] / r, x[3] / r, x[4] / r }'; }
printf '  %d MiB ec(2,3), 3 hubs, %d round(s)  MiB/s   CPU s/GiB: jcs  hubs mount client\n' "$SIZE_MB" "$ROUNDS"
printf '  write  REST (curl, mTLS)      %6s   %s\n' "$w_rest" "$(cpu rest_w)"
printf '  write  mount (dd, fsync)     %6s   %s   (%s %% of REST; target 70)\n' "$w_mnt" "$(cpu mnt_w)" "$(pct "$w_mnt" "$w_rest")"
printf '  read   REST (curl, mTLS)      %6s   %s\n' "$r_rest" "$(cpu rest_r)"
printf '  read   mount (dd)            %6s   %s   (%s %% of REST; target 80)\n' "$r_mnt" "$(cpu mnt_r)" "$(pct "$r_mnt" "$r_rest")"
printf '  read   mount, second read    %6s   (from the block cache on disk)\n' "$r_mnt2"
echo "  load average: $(cut -d' ' -f1-3 /proc/loadavg)"

# A tree of small files.
mkdir -p "$T/tree"
per=$((NFILES / 100))
for d in $(seq 1 100); do
  mkdir "$T/tree/d$d"
  for f in $(seq 1 "$per"); do head -c 4096 /dev/urandom >"$T/tree/d$d/f$f"; done
done
TSUM=$(cd "$T/tree" && find . -type f | sort | xargs cat | sha256sum | cut -d' ' -f1)
# The tree's CPU per file: the mount is measured until it exits (unmount
# waits for its uploads), jcs and the hubs over the same span.
mp=$(cat "$C/mount/pid")
j0=$(ticks "$JCS_PID"); h0=$(ticks $HUBS); m0=$(ticks "$mp")
t0=$(now)
cp -r "$T/tree" "$M/bench/small/tree"
t1=$(now)
m1=$(ticks "$mp")
$CL unmount --dir "$C" >/dev/null 2>&1
t2=$(now)
j1=$(ticks "$JCS_PID"); h1=$(ticks $HUBS)
$CL mount --dir "$C" >/dev/null 2>&1
mp=$(cat "$C/mount/pid")
m2=$(ticks "$mp")
t3=$(now)
got=$(cd "$M/bench/small/tree" && find . -type f | sort | xargs cat | sha256sum | cut -d' ' -f1)
t4=$(now)
j2=$(ticks "$JCS_PID"); h2=$(ticks $HUBS); m3=$(ticks "$mp")
[ "$got" = "$TSUM" ] || { echo "bench_mount: the tree read back differs"; exit 1; }
n=$((per * 100))
awk -v n=$n -v a="$t0" -v b="$t1" -v c2="$t2" -v d="$t3" -v e="$t4" 'BEGIN {
  printf "  %d files of 4 KiB: written %.0f files/s (cp %.1f s + uploads until unmount %.1f s), read %.0f files/s after a remount\n",
    n, n / (c2 - a), b - a, c2 - b, n / (e - d) }'
# (the mount's CPU while writing is counted until cp ends: its last uploads run in the unmount)
awk -v n=$n -v hz="$HZ" -v jw=$((j1 - j0)) -v hw=$((h1 - h0)) -v mw=$((m1 - m0)) -v jr=$((j2 - j1)) -v hr=$((h2 - h1)) -v mr=$((m3 - m2)) 'BEGIN {
  f = 1000 / hz / n
  printf "  CPU ms per file: write jcs %.2f hubs %.2f mount %.2f (until cp ends); read jcs %.2f hubs %.2f mount %.2f\n",
    jw * f, hw * f, mw * f, jr * f, hr * f, mr * f }'
echo "  load average: $(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared: figures are noisy)"
