#!/usr/bin/env bash
# Hedged reads (issue 15 #4), against a local cluster of 3 hubs:
#  - ec(2,3) objects of 1 MiB (one strip, and four strips of 128 KiB chunks),
#    and a rep(2) one, read through the REST API while the hub holding a
#    data block (a copy) is frozen with SIGSTOP: every GET returns identical
#    bytes (whole objects and a Range of a partial strip) and finishes well
#    before the hubs' RPC deadline (30 s; asserted < 10 s each: a functional
#    bound, the speed figures are in make bench), because the read starts a
#    spare read of a parity block (another copy) once the frozen hub is later
#    than its hedge delay and serves from whichever k blocks answer first.
#  - /v1/system/status counts the hedges (reads.hedged, reads.hedgeWon) and
#    the client's log says which hub was late.
# Without hedging (downloader.hedgeAfterPercentile 0) each of these GETs
# waits for the frozen hub until the 30 s deadline.
# Prints PASS/FAIL lines for tests/run.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
export JCS_BIN=${JCS_BIN:-$ROOT/build/bin}
T=$(mktemp -d "${JCS_ITEST_PREFIX:-/tmp/jcs-itest}-hedge-XXXXXX")
STOPPED=
cleanup() {
  [ -z "$STOPPED" ] || kill -CONT "$STOPPED" 2>/dev/null
  deploy/local/cluster down --dir "$T" >/dev/null 2>&1
  [ -n "${JCS_KEEP_TEST_DIRS:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

if ! deploy/local/cluster up --dir "$T" --hubs 4 >"$T/up.log" 2>&1; then
  fail cluster_up "$(tail -n 20 "$T/up.log")"
  exit 1
fi
# shellcheck disable=SC1091
. "$T/cluster.env"
W=$T/work
mkdir -p "$W"
CURL=(curl -sS --cacert "$JCS_CA" --cert "$JCS_CERT" --key "$JCS_KEY")
api() { # METHOD PATH [BODY] -> .data on stdout
  local args=(-X "$1")
  [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
  "${CURL[@]}" "${args[@]}" "$JCS_ENDPOINT$2" | jq -c .data
}
upload() { # PACKAGE NAME FILE -> objectID (block 0 on the space $AFF)
  "${CURL[@]}" -F "info={\"packageID\": $1, \"affinity\": $AFF};type=application/json" \
    -F "files=@$3;filename=$2" "$JCS_ENDPOINT/v1/object/upload" | jq '.data.uploadeds[0].objectID'
}
# get OUT OBJECTID [RANGE]: prints "HTTP-status seconds".
get() {
  local r=()
  [ $# -ge 3 ] && r=(-H "Range: bytes=$3")
  "${CURL[@]}" -m 60 "${r[@]}" -o "$1" -w '%{http_code} %{time_total}' \
    "$JCS_ENDPOINT/v1/object/download?objectID=$2" 2>"$1.err"
}

B=$(api POST /v1/bucket/create '{"name": "hedge"}' | jq .bucket.bucketID)
PE=$(api POST /v1/package/create "{\"bucketID\": $B, \"name\": \"ec\", \"redundancy\": {\"type\": \"ec\", \"k\": 2, \"n\": 3}}" | jq .package.packageID)
PS=$(api POST /v1/package/create "{\"bucketID\": $B, \"name\": \"ec4\", \"redundancy\": {\"type\": \"ec\", \"k\": 2, \"n\": 3, \"chunkSize\": 131072}}" | jq .package.packageID)
PM=$(api POST /v1/package/create "{\"bucketID\": $B, \"name\": \"ec1m\", \"redundancy\": {\"type\": \"ec\", \"k\": 2, \"n\": 3, \"chunkSize\": 1048576}}" | jq .package.packageID)
PR=$(api POST /v1/package/create "{\"bucketID\": $B, \"name\": \"rep\", \"redundancy\": {\"type\": \"rep\", \"repCount\": 2}}" | jq .package.packageID)
# lrc(2,4,[2]): blocks 0, 1 data, 2 global parity, 3 the XOR of 0 and 1. A hedge may decode
# only from the global parity (the XOR is not a row of the ec matrix).
PL=$(api POST /v1/package/create "{\"bucketID\": $B, \"name\": \"lrc\", \"redundancy\": {\"type\": \"lrc\", \"k\": 2, \"n\": 4, \"groups\": [2]}}" | jq .package.packageID)
# Block 0 (the first data block, or the first copy) of every object is on hub2's space
# (upload affinity): that is the hub frozen below.
HUBNAME=hub2
AFF=$(api GET /v1/userspace/list | jq '.userSpaces[] | select(.name == "hub2") | .userSpaceID')
head -c 1048576 /dev/urandom >"$W/a"
head -c 1048576 /dev/urandom >"$W/b"
head -c 700000 /dev/urandom >"$W/c"
head -c 12582912 /dev/urandom >"$W/d"
head -c 1048576 /dev/urandom >"$W/e"
OA=$(upload "$PE" a.bin "$W/a")
OB=$(upload "$PS" b.bin "$W/b")
OC=$(upload "$PR" c.bin "$W/c")
OD=$(upload "$PM" d.bin "$W/d")
OE=$(upload "$PL" e.bin "$W/e")
if ! [[ "$OA" =~ ^[0-9]+$ && "$OB" =~ ^[0-9]+$ && "$OC" =~ ^[0-9]+$ && "$OD" =~ ^[0-9]+$ && "$OE" =~ ^[0-9]+$ ]]; then
  fail upload "objects $OA $OB $OC $OD $OE"
  exit 1
fi

# A few reads with every hub up: they fill the client's latency rings.
bad=0
for i in 1 2 3 4; do
  for o in "$OA:a" "$OB:b" "$OC:c" "$OE:e"; do
    st=$(get "$W/out" "${o%%:*}")
    [ "${st%% *}" = 200 ] && cmp -s "$W/out" "$W/${o##*:}" || bad=$((bad + 1))
  done
done
if [ $bad = 0 ]; then pass reads_before_freeze_identical; else fail reads_before_freeze_identical "$bad bad"; fi

bad=""
for o in "$OA" "$OB" "$OC" "$OD" "$OE"; do
  sp=$(api GET "/v1/object/detail?objectID=$o" | jq '.blocks[] | select(.index == 0) | .userSpaceID')
  [ "$sp" = "$AFF" ] || bad="$bad object $o: block 0 on space $sp, not $AFF;"
done
STOPPED=${HUB2_PID:-}
if [ -n "$bad" ] || ! [[ "$STOPPED" =~ ^[0-9]+$ ]]; then
  fail block0_on_hub2 "$bad pid '$STOPPED'"
  exit 1
fi
kill -STOP "$STOPPED"

# read_frozen NAME OBJECTID FILE [RANGE FIRST LAST]: 3 GETs, identical and each < 10 s.
read_frozen() {
  local name=$1 o=$2 f=$3 want=$3 i st bad=0 worst=0 why=""
  if [ $# -ge 6 ]; then
    want=$W/$name.want
    tail -c +$(($5 + 1)) "$f" | head -c $(($6 - $5 + 1)) >"$want"
  fi
  for i in 1 2 3; do
    if [ $# -ge 6 ]; then st=$(get "$W/out" "$o" "$4"); else st=$(get "$W/out" "$o"); fi
    local code=${st%% *} secs=${st##* }
    worst=$(awk -v a="$worst" -v b="$secs" 'BEGIN { print (b > a) ? b : a }')
    if ! [[ "$code" =~ ^20[06]$ ]] || ! cmp -s "$W/out" "$want"; then
      bad=$((bad + 1))
      why="HTTP $code $(head -c 200 "$W/out")"
    elif awk -v s="$secs" 'BEGIN { exit !(s >= 10) }'; then
      bad=$((bad + 1))
      why="took $secs s"
    fi
  done
  if [ $bad = 0 ]; then
    pass "$name"
    echo "  $name: slowest of 3 GETs $worst s with $HUBNAME frozen"
  else
    fail "$name" "$bad of 3: $why"
  fi
}
read_frozen frozen_hub_ec_1mib_identical_fast "$OA" "$W/a"
read_frozen frozen_hub_ec_range_identical_fast "$OA" "$W/a" 1000-700000 1000 700000
read_frozen frozen_hub_ec_4strips_identical_fast "$OB" "$W/b"
read_frozen frozen_hub_rep_identical_fast "$OC" "$W/c"
read_frozen frozen_hub_lrc_1mib_identical_fast "$OE" "$W/e"
# Ranged reads of a 12 MiB object (six strips of 2 MiB) go through the strip cache, whose
# fetches of two strips read the data blocks directly, hedged as well. Strips 0, 2 and 4: each
# read misses the cache.
bad=0 why=
for s0 in 0 2 4; do
  first=$((s0 * 2097152 + 12345))
  last=$((first + 999999))
  tail -c +$((first + 1)) "$W/d" | head -c 1000000 >"$W/d.want"
  st=$(get "$W/out" "$OD" "$first-$last")
  if [ "${st%% *}" != 206 ] || ! cmp -s "$W/out" "$W/d.want"; then
    bad=$((bad + 1)) why="strip $s0: HTTP $st"
  elif awk -v s="${st##* }" 'BEGIN { exit !(s >= 10) }'; then
    bad=$((bad + 1)) why="strip $s0: took ${st##* } s"
  fi
done
if [ $bad = 0 ]; then pass frozen_hub_ec_strip_fetch_identical_fast; else fail frozen_hub_ec_strip_fetch_identical_fast "$why"; fi

R=$(api GET /v1/system/status | jq -c .reads)
ADDRVAR=${HUBNAME^^}_ADDR
if jq -e '.hedged >= 12 and .hedgeWon >= 12' >/dev/null <<<"$R" &&
  grep -qF "is late" "$T/client/client.log" && grep "is late" "$T/client/client.log" | grep -qF "${!ADDRVAR:-?}"; then
  pass hedges_counted_and_logged
else
  fail hedges_counted_and_logged "status reads $R; late hub ${!ADDRVAR:-?}; log: $(grep 'is late' "$T/client/client.log" | tail -n 2)"
fi

kill -CONT "$STOPPED"
STOPPED=
st=$(get "$W/out" "$OA")
if [ "${st%% *}" = 200 ] && cmp -s "$W/out" "$W/a"; then pass read_after_thaw_identical; else fail read_after_thaw_identical "$st"; fi
