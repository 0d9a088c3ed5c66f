#!/usr/bin/env bash
# CPU a GET costs, per process, as a user's curl sees it: a 6-hub local
# cluster from $JCS_BIN (default build/bin), one object uploaded with curl,
# then RUNS runs of GETS GETs with curl to /dev/null (the bytes' SHA-256
# checked once, outside the timing). Prints per run the MiB/s and the CPU
# seconds (user+system, from /proc/PID/stat) of the jcs client and of the
# six hubs together.
#
#   tests/bench/get_cpu.sh [SIZE_KIB] [RUNS] [REDUNDANCY] [GETS]
#   default: 1 GiB, 3 runs, ec(4,6) with 1 MiB chunks, 1 GET per run, e.g.
#   JCS_BIN=/tmp/main/build/bin tests/bench/get_cpu.sh
#   tests/bench/get_cpu.sh 512 3 '{"type":"rep","repCount":2}' 200
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
export JCS_BIN=${JCS_BIN:-$ROOT/build/bin}
SIZE_KIB=${1:-1048576}
RUNS=${2:-3}
RED=${3:-'{"type":"ec","k":4,"n":6,"chunkSize":1048576}'}
GETS=${4:-1}
T=$(mktemp -d /tmp/jcs-getcpu-XXXXXX)
trap 'deploy/local/cluster down --dir "$T" >/dev/null 2>&1; rm -rf "$T"' EXIT
deploy/local/cluster up --dir "$T" --hubs 6 >"$T/up.log" 2>&1 || { tail -20 "$T/up.log"; exit 1; }
. "$T/cluster.env"
CURL=(curl -sS --cacert "$JCS_CA" --cert "$JCS_CERT" --key "$JCS_KEY")
B=$("${CURL[@]}" -X POST -H 'Content-Type: application/json' --data '{"name":"cpu"}' \
  "$JCS_ENDPOINT/v1/bucket/create" | jq '.data.bucket.bucketID')
P=$("${CURL[@]}" -X POST -H 'Content-Type: application/json' \
  --data "{\"bucketID\":$B,\"name\":\"p\",\"redundancy\":$RED}" \
  "$JCS_ENDPOINT/v1/package/create" | jq '.data.package.packageID')
head -c $((SIZE_KIB << 10)) /dev/urandom >"$T/obj"
want=$(sha256sum <"$T/obj" | cut -d' ' -f1)
O=$("${CURL[@]}" -F "info={\"packageID\": $P};type=application/json" -F "files=@$T/obj;filename=obj" \
  "$JCS_ENDPOINT/v1/object/upload" | jq '.data.uploadeds[0].objectID')
rm -f "$T/obj"
got=$("${CURL[@]}" "$JCS_ENDPOINT/v1/object/download?objectID=$O" | sha256sum | cut -d' ' -f1)
[ "$got" = "$want" ] || { echo "get_cpu: the object read back differs"; exit 1; }
ticks() { # sum of utime+stime of the pids, in clock ticks
  local t=0 p
  for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
  echo "$t"
}
HUBS=()
for ((i = 1; i <= HUB_COUNT; i++)); do v=HUB${i}_PID; HUBS+=("${!v}"); done
HZ=$(getconf CLK_TCK)
for ((r = 1; r <= RUNS; r++)); do
  c0=$(ticks "$JCS_PID"); h0=$(ticks "${HUBS[@]}"); t0=$(date +%s.%N)
  for ((g = 0; g < GETS; g++)); do
    "${CURL[@]}" -o /dev/null "$JCS_ENDPOINT/v1/object/download?objectID=$O"
  done
  t1=$(date +%s.%N); c1=$(ticks "$JCS_PID"); h1=$(ticks "${HUBS[@]}")
  awk -v s="$SIZE_KIB" -v g="$GETS" -v red="$RED" -v t0="$t0" -v t1="$t1" -v c=$((c1 - c0)) \
    -v h=$((h1 - h0)) -v hz="$HZ" \
    'BEGIN { printf "%d GET of %d KiB %s: %.0f MiB/s, CPU jcs %.2f s, hubs %.2f s, total %.2f s\n",
             g, s, red, g * s / 1024 / (t1 - t0), c / hz, h / hz, (c + h) / hz }'
done
