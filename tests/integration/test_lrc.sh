#!/usr/bin/env bash
# JCS's lrc redundancy end to end (issue 15 #3), against a local cluster of 8
# hubs: a package with {"type":"lrc","k":4,"n":7,"groups":[2,2]} (blocks 0-3
# data, 4 the global parity of ec(4,5), 5 = 0^1, 6 = 2^3) takes uploads by
# REST and by jcsctl; whole and ranged reads are byte-identical; a read with
# the hub of a data block stopped still is; after one block's shard is
# deleted RedundancyRecover rebuilds it reading only the rest of its group
# (the job report's repairBytesRead is 2 blocks, where an ec(4,6) object of
# the same size reads k = 4), the rebuilt shard has the old FileHash and a
# checksum sidecar, and the object still reads identical; changeRedundancy
# turns a rep object into lrc (REST) and an lrc one into rep (jcsctl).
# Prints PASS/FAIL lines for tests/run.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
export JCS_BIN=${JCS_BIN:-$ROOT/build/bin}
T=$(mktemp -d "${JCS_ITEST_PREFIX:-/tmp/jcs-itest}-lrc-XXXXXX")
cleanup() {
  deploy/local/cluster down --dir "$T" >/dev/null 2>&1
  [ -n "${JCS_KEEP_TEST_DIRS:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

if ! deploy/local/cluster up --dir "$T" --hubs 8 >"$T/up.log" 2>&1; then
  fail lrc_cluster_up "$(tail -n 20 "$T/up.log")"
  exit 1
fi
# shellcheck disable=SC1091
. "$T/cluster.env"
W=$T/work
mkdir -p "$W"
CURL=(curl -sS --cacert "$JCS_CA" --cert "$JCS_CERT" --key "$JCS_KEY")
CTL=("$JCS_BIN/jcsctl")
export JCS_ENDPOINT JCS_CA JCS_CERT JCS_KEY

# api METHOD PATH [BODY]: the response body on stdout.
api() {
  local args=(-X "$1")
  [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
  "${CURL[@]}" "${args[@]}" "$JCS_ENDPOINT/v1/$2"
}
sha() { sha256sum | cut -c1-64; }
# upload PACKAGE PATH FILE: the new objectID.
upload() {
  "${CURL[@]}" -F "info={\"packageID\": $1};type=application/json" -F "files=@$3;filename=$2" \
    "$JCS_ENDPOINT/v1/object/upload" | jq '.data.uploadeds[0].objectID'
}
download_sha() { "${CURL[@]}" "$JCS_ENDPOINT/v1/object/download?objectID=$1$2" | sha; }
# shard_file OBJECTID INDEX: where block INDEX of the object lies (space I is hub I's).
shard_file() {
  local d sid h
  d=$(api GET "object/detail?objectID=$1")
  sid=$(jq --argjson i "$2" '[.data.blocks[] | select(.index == $i)][0].userSpaceID' <<<"$d")
  h=$(jq -r --argjson i "$2" '[.data.blocks[] | select(.index == $i)][0].fileHash' <<<"$d")
  echo "$T/hub$sid/storage/space/blocks/${h:4:2}/$h"
}
block_hash() {
  api GET "object/detail?objectID=$1" |
    jq -r --argjson i "$2" '[.data.blocks[] | select(.index == $i)][0].fileHash'
}

B=$(api POST bucket/create '{"name": "lrc"}' | jq '.data.bucket.bucketID')
CHUNK=262144
LRC="{\"type\": \"lrc\", \"k\": 4, \"n\": 7, \"groups\": [2, 2], \"chunkSize\": $CHUNK}"
P=$(api POST package/create "{\"bucketID\": $B, \"name\": \"lrc\", \"redundancy\": $LRC}" |
  jq '.data.package.packageID')
PE=$(api POST package/create "{\"bucketID\": $B, \"name\": \"ec\", \"redundancy\": {\"type\": \"ec\", \"k\": 4, \"n\": 6, \"chunkSize\": $CHUNK}}" |
  jq '.data.package.packageID')

# ---- uploads: REST and jcsctl
SIZE=$((3 * 1048576 + 12345)) # three whole strips of 4 x 256 KiB and a short one
head -c "$SIZE" /dev/urandom >"$W/f"
WANT=$(sha <"$W/f")
O=$(upload "$P" big "$W/f")
red=$(api GET "object/detail?objectID=$O" | jq -c '.data.object.redundancy')
nb=$(api GET "object/detail?objectID=$O" | jq '[.data.blocks[].index] | unique | length')
if [ "$red" = '{"type":"lrc","k":4,"n":7,"groups":[2,2],"chunkSize":262144}' ] && [ "$nb" = 7 ]; then
  pass lrc_upload_rest
else
  fail lrc_upload_rest "object $O: redundancy $red, $nb distinct blocks"
fi
head -c 100000 /dev/urandom >"$W/small"
if "${CTL[@]}" put -R 'lrc(4,7,[2,2])' "$W/small" lrc/lrc/small >"$W/put.out" 2>&1 &&
  "${CTL[@]}" info lrc/lrc/small >"$W/info.out" 2>&1 && grep -q 'lrc(4,7,\[2,2\])' "$W/info.out" &&
  "${CTL[@]}" get lrc/lrc/small "$W/small.back" >/dev/null 2>&1 && cmp -s "$W/small" "$W/small.back"; then
  pass lrc_upload_jcsctl
else
  fail lrc_upload_jcsctl "$(cat "$W/put.out" "$W/info.out" 2>/dev/null | head -c 400)"
fi
if "${CTL[@]}" put -R 'lrc(4,4,[2])' "$W/small" lrc/lrc/bad >"$W/bad.out" 2>&1; then
  fail lrc_bad_layout_refused "lrc(4,4,[2]) was accepted"
elif grep -q 'k (4) must be at most n - len(groups)' "$W/bad.out"; then
  pass lrc_bad_layout_refused
else
  fail lrc_bad_layout_refused "$(head -c 300 "$W/bad.out")"
fi

# ---- reads: whole, ranged, degraded
if [ "$(download_sha "$O" "")" = "$WANT" ]; then pass lrc_read_whole; else fail lrc_read_whole "different bytes"; fi
ok=1
for r in "0 1" "262143 2" "1048575 3" "$((SIZE - 1)) 1" "500000 2000000" "3145728 12345"; do
  set -- $r
  got=$(download_sha "$O" "&offset=$1&length=$2")
  exp=$(tail -c +$(($1 + 1)) "$W/f" | head -c "$2" | sha)
  [ "$got" = "$exp" ] || { ok=0; fail lrc_read_ranges "offset $1 length $2 differs"; break; }
done
[ $ok = 1 ] && pass lrc_read_ranges
sid0=$(api GET "object/detail?objectID=$O" | jq '[.data.blocks[] | select(.index == 0)][0].userSpaceID')
deploy/local/cluster stop-hub --dir "$T" "$sid0" >/dev/null 2>&1
if [ "$(download_sha "$O" "")" = "$WANT" ] &&
  [ "$(download_sha "$O" "&offset=100&length=700000")" = "$(tail -c +101 "$W/f" | head -c 700000 | sha)" ]; then
  pass lrc_degraded_read_hub_down
else
  fail lrc_degraded_read_hub_down "hub $sid0 (block 0) down: different bytes or error"
fi
deploy/local/cluster start-hub --dir "$T" "$sid0" >/dev/null 2>&1
# Back online, and past the client's reconnect back-off: an upload to all 8 hubs goes through.
for ((i = 0; i < 60; i++)); do
  "${CTL[@]}" put -R 'rep:8' /etc/hostname lrc/lrc/probe >/dev/null 2>"$W/probe.err" && break
  sleep 0.5
done

# ---- changeRedundancy: rep -> lrc by REST, lrc -> rep by jcsctl
head -c 700001 /dev/urandom >"$W/c"
"${CTL[@]}" put -R 'rep:2' "$W/c" lrc/lrc/change >"$W/putc.out" 2>&1
OC=$(api GET "object/listByPath?packageID=$P&path=change" | jq '.data.objects[0].objectID')
api POST object/changeRedundancy "{\"objectIDs\": [$OC], \"redundancy\": $LRC}" >"$W/chg.json"
red=$(api GET "object/detail?objectID=$OC" | jq -r '.data.object.redundancy.type')
if [ "$red" = lrc ] && [ "$(download_sha "$OC" "")" = "$(sha <"$W/c")" ]; then
  pass lrc_change_redundancy_rest
else
  fail lrc_change_redundancy_rest "object $OC is $red: $(head -c 300 "$W/chg.json" "$W/putc.out")"
fi
if "${CTL[@]}" redundancy set lrc/lrc/small 'rep:2' >"$W/set.out" 2>&1 &&
  "${CTL[@]}" info lrc/lrc/small 2>&1 | grep -q 'rep(2)' &&
  "${CTL[@]}" get lrc/lrc/small "$W/small.back2" >/dev/null 2>&1 && cmp -s "$W/small" "$W/small.back2"; then
  pass lrc_change_redundancy_jcsctl
else
  fail lrc_change_redundancy_jcsctl "$(head -c 300 "$W/set.out")"
fi

# ---- RedundancyRecover of one lost block: its group only, versus EC's k blocks
BS=$((((SIZE + 4 * CHUNK - 1) / (4 * CHUNK)) * CHUNK)) # bytes per block
# Other bytes than the lrc object's: their data blocks would be the same shards (same hash).
head -c "$SIZE" /dev/urandom >"$W/fe"
WANTE=$(sha <"$W/fe")
OE=$(upload "$PE" big "$W/fe")
# recover OBJECTID INDEX NAME: deletes the block's shard, runs the job; sets READ (repairBytesRead).
recover() {
  local old f
  old=$(block_hash "$1" "$2")
  f=$(shard_file "$1" "$2")
  rm -f "$f" "$f".* 2>/dev/null
  "${CTL[@]}" --json job run RedundancyRecover >"$W/$3.json" 2>"$W/$3.err"
  READ=$(jq '.report.repairBytesRead // empty' "$W/$3.json" 2>/dev/null)
  REBUILT=$(jq '.report.blocksRebuilt // 0' "$W/$3.json" 2>/dev/null)
  NEW=$(block_hash "$1" "$2")
  # The rebuilt shard has the old FileHash, and its checksums (§13) like every shard: in its
  # file's attribute user.jcs.crc, or in a sidecar for a large one.
  f=$(shard_file "$1" "$2")
  [ "$NEW" = "$old" ] && [ "${REBUILT:-0}" -ge 1 ] && [ -s "$f" ] && { [ -s "$f.crc" ] ||
    python3 -c 'import os, sys; os.getxattr(sys.argv[1], "user.jcs.crc")' "$f" 2>/dev/null; }
}
if recover "$O" 1 lrc_recover && [ "$READ" = $((2 * BS)) ] && [ "$(download_sha "$O" "")" = "$WANT" ]; then
  pass lrc_recover_reads_only_the_group
else
  fail lrc_recover_reads_only_the_group "read ${READ:-?} bytes (want $((2 * BS)) = 2 blocks), rebuilt ${REBUILT:-?}: $(head -c 400 "$W/lrc_recover.json" "$W/lrc_recover.err")"
fi
LRC_READ=${READ:-0}
if recover "$O" 6 lrc_recover6 && [ "$READ" = $((2 * BS)) ] && [ "$(download_sha "$O" "")" = "$WANT" ]; then
  pass lrc_recover_local_parity
else
  fail lrc_recover_local_parity "read ${READ:-?} bytes (want $((2 * BS))), rebuilt ${REBUILT:-?}"
fi
# Block 4 (the global parity) is in no group: rebuilt from k blocks.
if recover "$O" 4 lrc_recover4 && [ "$READ" = $((4 * BS)) ] && [ "$(download_sha "$O" "")" = "$WANT" ]; then
  pass lrc_recover_global_parity
else
  fail lrc_recover_global_parity "read ${READ:-?} bytes (want $((4 * BS))), rebuilt ${REBUILT:-?}"
fi
if recover "$OE" 1 ec_recover && [ "$READ" = $((4 * BS)) ] && [ "$(download_sha "$OE" "")" = "$WANTE" ]; then
  pass ec_recover_reads_k_blocks
else
  fail ec_recover_reads_k_blocks "read ${READ:-?} bytes (want $((4 * BS))), rebuilt ${REBUILT:-?}"
fi
echo "lrc(4,7,[2,2]) single-block repair read $LRC_READ bytes; ec(4,6) read ${READ:-?} bytes (object $SIZE bytes, block $BS)"
