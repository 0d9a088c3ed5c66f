#!/usr/bin/env bash
# tests/bench/load.sh [BUILD_DIR] - JCS-C measured as a user measures it, on a
# 6-hub deploy/local/cluster over mutual TLS, beside this machine's ceilings
# measured in the same run:
#   - 4 KiB objects PUT then GET per second over CONC keep-alive connections
#     (loadgen, every body checked), for none, rep(3) and ec(4,6) chunk 1 MiB;
#   - 1 GiB ec(4,6) PUT from a file and GET to a file (sha256 checked outside
#     the timing) and GET to /dev/null, with curl;
#   - CPU seconds of each process (jcs, the hubs, MariaDB, coordinator) per
#     GiB or per 1,000 requests, from /proc/<pid>/stat;
#   - jcs and hub RSS after the small-object runs and after 100,000 requests.
# Environment: DURATION (10 s per small run), CONC (16), BIG_MIB (1024),
#   RSS_REQUESTS (100000; 0 skips that run), KEEP=1 keeps the cluster,
#   BIG_ONLY=1 runs only the large transfers (and no RSS run), BULK=0 turns the
#   client's bulk data channel off (rpc.bulkChannel false: plan streams on gRPC;
#   on by default), BULK=1 sets it on explicitly.
# Prints "FIG name value unit" lines (tests/bench/peer.sh reads them).
set -u
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
DURATION=${DURATION:-10}
CONC=${CONC:-16}
BIG_MIB=${BIG_MIB:-1024}
RSS_REQUESTS=${RSS_REQUESTS:-100000}
LG=$ROOT/$BUILD/tests/bench/loadgen
export JCS_BIN=$ROOT/$BUILD/bin
[ -x "$LG" ] || { echo "load.sh: $LG is not built (make benches)"; exit 1; }
T=$(mktemp -d /tmp/jcs-load-XXXXXX)
CL=$T/cluster
cleanup() {
  [ "${KEEP:-0}" = 1 ] && { echo "load.sh: cluster kept in $CL"; return; }
  deploy/local/cluster down --dir "$CL" >/dev/null 2>&1
  rm -rf "$T"
}
trap cleanup EXIT
fig() { echo "FIG $*"; }

if ! deploy/local/cluster up --dir "$CL" --hubs 6 --test-interval 300 >"$T/up.log" 2>&1; then
  echo "load.sh: the cluster did not start:"; tail -n 20 "$T/up.log"; exit 1
fi
if [ -n "${BULK:-}" ]; then
  on=$([ "$BULK" = 1 ] && echo true || echo false)
  jq ".rpc.bulkChannel = $on" "$CL/client/config.json" >"$CL/client/config.json.new" &&
    mv "$CL/client/config.json.new" "$CL/client/config.json" &&
    deploy/local/cluster stop-client --dir "$CL" >/dev/null &&
    deploy/local/cluster start-client --dir "$CL" >/dev/null || { echo "load.sh: BULK=$BULK: no restart"; exit 1; }
  echo "rpc.bulkChannel $on in the client: plan streams over $([ "$on" = true ] && echo "the bulk channel" || echo gRPC)"
fi
. "$CL/cluster.env"
C=(curl -sS --cacert "$JCS_CA" --cert "$JCS_CERT" --key "$JCS_KEY")
api() { "${C[@]}" -X POST -H 'Content-Type: application/json' --data "$2" "$JCS_ENDPOINT/v1/$1"; }
MARIADB_PID=$(sed -n 's/^MARIADB_PID=//p' "$CL/mariadb/mariadb.env" 2>/dev/null)
HUB_PIDS=()
for i in 1 2 3 4 5 6; do v=HUB${i}_PID; HUB_PIDS+=("${!v}"); done
TICK=$(getconf CLK_TCK)
# cpu PID...: their CPU seconds (user + system) so far.
cpu() {
  local t=0 p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    t=$((t + $(awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$p/stat")))
  done
  awk -v t="$t" -v k="$TICK" 'BEGIN {printf "%.2f", t / k}'
}
rss_mb() { awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status" 2>/dev/null || echo 0; }
max_hub_rss() {
  local m=0 p r
  for p in "${HUB_PIDS[@]}"; do r=$(rss_mb "$p"); [ "$r" -gt "$m" ] && m=$r; done
  echo "$m"
}
snap() { # the CPU counters of each group: jcs hubs mariadb coordinator total-of-machine
  echo "$(cpu "$JCS_PID") $(cpu "${HUB_PIDS[@]}") $(cpu "$MARIADB_PID") $(cpu "$COORDINATOR_PID")"
}
# delta A B UNITS LABEL: CPU seconds per unit of work by process group.
delta() {
  read -r a1 a2 a3 a4 <<<"$1"
  read -r b1 b2 b3 b4 <<<"$2"
  awk -v u="$3" -v l="$4" -v a1="$a1" -v a2="$a2" -v a3="$a3" -v a4="$a4" \
    -v b1="$b1" -v b2="$b2" -v b3="$b3" -v b4="$b4" 'BEGIN {
      printf "    CPU s %-14s jcs %6.2f  hubs %6.2f  mariadb %6.2f  coordinator %5.2f  total %6.2f\n",
        l, (b1 - a1) / u, (b2 - a2) / u, (b3 - a3) / u, (b4 - a4) / u,
        (b1 + b2 + b3 + b4 - a1 - a2 - a3 - a4) / u }'
}

echo "ceilings on this machine, measured now (machine shared: $(uptime | sed 's/.*load average/load average/')):"
dd if=/dev/zero of="$T/dd" bs=1M count=512 conv=fdatasync 2>"$T/dd.log" >/dev/null
echo "  disk write+fdatasync                 $(awk '/copied/ {print $(NF-1), $NF}' "$T/dd.log")"
rm -f "$T/dd"
if [ -x "$ROOT/$BUILD/tests/bench/bench_shard" ]; then
  # What one small shard's durability costs at least: a 4 KiB ec(4,6) PUT needs 6 of these
  # on this one disk shared by the six hubs, a rep(3) PUT 3, a none PUT 1.
  echo "  durable 4 KiB file creations         $(TMPDIR=$T "$ROOT/$BUILD/tests/bench/bench_shard" --ceiling | cut -d' ' -f1)/s (16 threads: create, write, fdatasync, rename, directory fsync)"
fi
SRC=$T/src.bin
head -c $((BIG_MIB << 20)) /dev/urandom >"$SRC"
t0=$(date +%s.%N); SRC_SHA=$(sha256sum "$SRC" | cut -d' ' -f1); t1=$(date +%s.%N)
echo "  sha256sum, one core                  $(awk -v m="$BIG_MIB" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f MiB/s", m / (b - a)}')"
echo "  AES-128-GCM (TLS), one core          $(openssl speed -evp aes-128-gcm -seconds 1 -bytes 16384 2>/dev/null | awk '/^AES-128-GCM/ {printf "%.0f MiB/s", $NF / 1.048576 / 1000}')"
r=$("$LG" --target jcs --url "$JCS_ENDPOINT/v1/nothing" --ca "$JCS_CA" --cert "$JCS_CERT" --key "$JCS_KEY" --op ping --conc "$CONC" --duration 3 2>/dev/null)
echo "  REST, no data (404), $CONC connections  $(sed 's/.*ops_s=\([0-9]*\).*/\1/' <<<"$r") req/s (TLS + routing: the ceiling of a request)"

BUCKET=$(api bucket/create '{"name":"load"}' | jq .data.bucket.bucketID)
declare -A PKG
PKG[none]=$(api package/create "{\"bucketID\":$BUCKET,\"name\":\"none\",\"redundancy\":{\"type\":\"none\"}}" | jq .data.package.packageID)
PKG[rep3]=$(api package/create "{\"bucketID\":$BUCKET,\"name\":\"rep3\",\"redundancy\":{\"type\":\"rep\",\"repCount\":3}}" | jq .data.package.packageID)
PKG[ec46]=$(api package/create "{\"bucketID\":$BUCKET,\"name\":\"ec46\",\"redundancy\":{\"type\":\"ec\",\"k\":4,\"n\":6,\"chunkSize\":1048576}}" | jq .data.package.packageID)

echo "4 KiB objects, $CONC keep-alive mTLS connections, ${DURATION}s each, every body checked:"
REQS=0
status=0
SMALL_REDS="none rep3 ec46"
[ "${BIG_ONLY:-0}" = 1 ] && { SMALL_REDS=""; RSS_REQUESTS=0; }
for red in $SMALL_REDS; do
  for op in put get; do
    s0=$(snap)
    r=$("$LG" --target jcs --url "$JCS_ENDPOINT" --ca "$JCS_CA" --cert "$JCS_CERT" --key "$JCS_KEY" \
      --package "${PKG[$red]}" --op $op --state "$T/state-$red" --prefix "$red" --size 4096 \
      --conc "$CONC" --duration "$DURATION" 2>"$T/lg.err") || status=1
    s1=$(snap)
    ops=$(sed 's/.*ops=\([0-9]*\).*/\1/' <<<"$r")
    REQS=$((REQS + ops))
    printf '  %-5s %-4s %s\n' "$red" "$op" "$r"
    [ -s "$T/lg.err" ] && sed 's/^/    /' "$T/lg.err"
    [ "${ops:-0}" -gt 0 ] && delta "$s0" "$s1" "$(awk -v o="$ops" 'BEGIN {print o / 1000}')" "per 1k req"
    fig "${op}_4KiB_$red $(sed 's/.*ops_s=\([0-9]*\).*/\1/' <<<"$r") ops/s"
  done
done
echo "  after $REQS requests: jcs RSS $(rss_mb "$JCS_PID") MB, largest hub RSS $(max_hub_rss) MB"
fig "rss_jcs_after_${REQS}_req $(rss_mb "$JCS_PID") MB"

echo "1 GiB-class transfers with curl, ec(4,6) chunk 1 MiB ($BIG_MIB MiB):"
CURL_TIME=(-w '%{time_total} %{size_download} %{size_upload} %{http_code}')
s0=$(snap)
out=$("${C[@]}" -o "$T/up.json" "${CURL_TIME[@]}" -F "info={\"packageID\":${PKG[ec46]}};type=application/json" \
  -F "files=@$SRC;filename=big" "$JCS_ENDPOINT/v1/object/upload")
s1=$(snap)
read -r secs _ up code <<<"$out"
BIG_ID=$(jq -r '.data.uploadeds[0].objectID' "$T/up.json" 2>/dev/null)
if [ "$code" = 200 ]; then
  v=$(awk -v m="$BIG_MIB" -v s="$secs" 'BEGIN {printf "%.0f", m / s}')
  echo "  PUT from a file                      $v MiB/s"
  delta "$s0" "$s1" "$(awk -v m="$BIG_MIB" 'BEGIN {print m / 1024}')" "per GiB"
  fig "put_1GiB_ec46 $v MiB/s"
else
  echo "  PUT failed: HTTP $code $(head -c 300 "$T/up.json")"; status=1
fi
s0=$(snap)
out=$("${C[@]}" -o "$T/down.bin" "${CURL_TIME[@]}" "$JCS_ENDPOINT/v1/object/download?objectID=$BIG_ID")
s1=$(snap)
read -r secs got _ code <<<"$out"
if [ "$code" = 200 ] && [ "$(sha256sum "$T/down.bin" | cut -d' ' -f1)" = "$SRC_SHA" ]; then
  v=$(awk -v m="$BIG_MIB" -v s="$secs" 'BEGIN {printf "%.0f", m / s}')
  echo "  GET to a file (sha256 ok)            $v MiB/s"
  delta "$s0" "$s1" "$(awk -v m="$BIG_MIB" 'BEGIN {print m / 1024}')" "per GiB"
  fig "get_1GiB_ec46 $v MiB/s"
else
  echo "  GET to a file failed: HTTP $code, $got bytes, sha256 $(sha256sum "$T/down.bin" | cut -c1-16)"; status=1
fi
rm -f "$T/down.bin"
s0=$(snap)
out=$("${C[@]}" -o /dev/null "${CURL_TIME[@]}" "$JCS_ENDPOINT/v1/object/download?objectID=$BIG_ID")
s1=$(snap)
read -r secs got _ code <<<"$out"
if [ "$code" = 200 ] && [ "${got%.*}" = $((BIG_MIB << 20)) ]; then
  v=$(awk -v m="$BIG_MIB" -v s="$secs" 'BEGIN {printf "%.0f", m / s}')
  echo "  GET to /dev/null                     $v MiB/s"
  delta "$s0" "$s1" "$(awk -v m="$BIG_MIB" 'BEGIN {print m / 1024}')" "per GiB"
  fig "get_1GiB_ec46_devnull $v MiB/s"
else
  echo "  GET to /dev/null failed: HTTP $code, $got bytes"; status=1
fi

if [ "$RSS_REQUESTS" -gt 0 ]; then
  # Small GETs (rep3) until RSS_REQUESTS were served in all: does RSS grow with requests?
  left=$((RSS_REQUESTS - REQS))
  rate=$(awk -v r="$REQS" 'BEGIN {print r}')
  r0=$(rss_mb "$JCS_PID")
  while [ "$left" -gt 0 ]; do
    r=$("$LG" --target jcs --url "$JCS_ENDPOINT" --ca "$JCS_CA" --cert "$JCS_CERT" --key "$JCS_KEY" \
      --op get --state "$T/state-rep3" --size 4096 --conc "$CONC" --duration 10 2>/dev/null) || status=1
    n=$(sed 's/.*ops=\([0-9]*\).*/\1/' <<<"$r")
    [ "${n:-0}" -gt 0 ] || break
    left=$((left - n))
    REQS=$((REQS + n))
  done
  : "$rate"
  echo "  after $REQS requests: jcs RSS $(rss_mb "$JCS_PID") MB (was $r0 MB), largest hub RSS $(max_hub_rss) MB"
  fig "rss_jcs_after_${REQS}_req $(rss_mb "$JCS_PID") MB"
  fig "rss_hub_max $(max_hub_rss) MB"
fi
echo "targets (issue 12): 1 GiB ec PUT >= 400, GET >= 600 MiB/s; 4 KiB ec PUT >= 1500/s, GET >= 4000/s;"
echo "  4 KiB rep3 PUT >= 3000/s, GET >= 10000/s; jcs RSS <= 128 MB after 100k requests, hubs <= 64 MB"
exit $status
