#!/usr/bin/env bash
# Hedged reads (issue 15 #4) as a user sees them: the latency of 1 MiB GETs
# of an ec(2,3) object through the REST API (curl over mTLS, one keep-alive
# connection, GETs one after the other), p50 and p99, in three runs on the
# same cluster of 3 hubs:
#   - unslowed: every hub answers;
#   - frozen:   the hub holding data block 0 is stopped (SIGSTOP) for the run;
#   - stutter:  that hub is stopped 150 ms of every 200 ms (SIGSTOP/SIGCONT),
#               a hub that answers, but late and unevenly.
# Printed: p50/p99 per run and the slowed run's p99 / the unslowed p99
# beside the issue's target (at most 1.5x). Every GET's length is checked,
# and a sample of the bodies against the source, outside the timing.
#
#   tests/bench/bench_hedge.sh [BUILD_DIR] [GETS]     (default build, 200)
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BUILD=${1:-build}
N=${2:-200}
export JCS_BIN=$ROOT/$BUILD/bin
T=$(mktemp -d /tmp/jcs-bench-hedge-XXXXXX)
CL=$T/cluster
HUBPID=
STUTTER=
cleanup() {
  [ -z "$STUTTER" ] || kill "$STUTTER" 2>/dev/null
  [ -z "$HUBPID" ] || kill -CONT "$HUBPID" 2>/dev/null
  deploy/local/cluster down --dir "$CL" >/dev/null 2>&1
  rm -rf "$T"
}
trap cleanup EXIT
die() { echo "  bench_hedge: FAILED: $*"; exit 1; }

deploy/local/cluster up --dir "$CL" --hubs 3 >"$T/up.log" 2>&1 || die "cluster up: $(tail -n 5 "$T/up.log")"
. "$CL/cluster.env"
C=(curl -sS --fail --cacert "$JCS_CA" --cert "$JCS_CERT" --key "$JCS_KEY")
api() { "${C[@]}" "$JCS_ENDPOINT$1" | jq -c .data; }
B=$("${C[@]}" -X POST -H 'Content-Type: application/json' --data-binary '{"name": "hedge"}' \
  "$JCS_ENDPOINT/v1/bucket/create" | jq .data.bucket.bucketID)
P=$("${C[@]}" -X POST -H 'Content-Type: application/json' \
  --data-binary "{\"bucketID\": $B, \"name\": \"ec\", \"redundancy\": {\"type\": \"ec\", \"k\": 2, \"n\": 3}}" \
  "$JCS_ENDPOINT/v1/package/create" | jq .data.package.packageID)
head -c 1048576 /dev/urandom >"$T/src"
O=$("${C[@]}" -F "info={\"packageID\": $P};type=application/json" -F "files=@$T/src;filename=a.bin" \
  "$JCS_ENDPOINT/v1/object/upload" | jq .data.uploadeds[0].objectID)
[[ "$O" =~ ^[0-9]+$ ]] || die "upload: $O"
URL="$JCS_ENDPOINT/v1/object/download?objectID=$O"
SPACE=$(api "/v1/object/detail?objectID=$O" | jq '.blocks[] | select(.index == 0) | .userSpaceID')
HUB=$(api /v1/userspace/list | jq -r --argjson s "$SPACE" '.userSpaces[] | select(.userSpaceID == $s) | .name')
V=${HUB^^}_PID
PID=${!V:-}
[[ "$PID" =~ ^[0-9]+$ ]] || die "no pid for $HUB"

# run NAME: N GETs on one connection; prints "p50 p99" (ms) and keeps the sorted times.
run() {
  local args=() i
  for ((i = 0; i < N; i++)); do args+=(-o /dev/null "$URL"); done
  "${C[@]}" -w '%{size_download} %{time_total}\n' "${args[@]}" >"$T/$1.raw" || die "$1: a GET failed"
  awk '$1 != 1048576 { bad++ } END { exit bad > 0 }' "$T/$1.raw" || die "$1: a GET returned the wrong length"
  awk '{ print $2 * 1000 }' "$T/$1.raw" | sort -n >"$T/$1.ms"
  awk -v n="$N" '{ a[NR] = $1 } END { i50 = int(0.50 * n + 0.999); i99 = int(0.99 * n + 0.999);
    printf "%.1f %.1f\n", a[i50], a[i99] }' "$T/$1.ms"
}
check_body() { "${C[@]}" -o "$T/got" "$URL" && cmp -s "$T/got" "$T/src" || die "$1: the bytes differ"; }

run warmup >/dev/null
read -r U50 U99 < <(run unslowed)
check_body unslowed
HUBPID=$PID
kill -STOP "$PID"
read -r F50 F99 < <(run frozen)
check_body frozen
kill -CONT "$PID"
( while :; do kill -STOP "$PID"; sleep 0.15; kill -CONT "$PID"; sleep 0.05; done ) &
STUTTER=$!
read -r S50 S99 < <(run stutter)
check_body stutter
kill "$STUTTER"; wait "$STUTTER" 2>/dev/null; STUTTER=
kill -CONT "$PID"
HUBPID=
ST=$(api /v1/system/status | jq -c .reads)
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
echo "  1 MiB ec(2,3) GETs, $N per run, one keep-alive connection; load average $LOAD"
printf '  %-9s p50 %7.1f ms  p99 %7.1f ms\n' unslowed "$U50" "$U99"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
printf '  %-9s p50 %7.1f ms  p99 %7.1f ms  p99 ratio %sx (target <= 1.5x)\n' \
  "frozen" "$F50" "$F99" "$(ratio "$F99" "$U99")"
printf '  %-9s p50 %7.1f ms  p99 %7.1f ms  p99 ratio %sx (target <= 1.5x)\n' \
  "stutter" "$S50" "$S99" "$(ratio "$S99" "$U99")"
echo "  hedges counted by the client: $ST ($HUB held data block 0)"
