#!/usr/bin/env bash
# CPU a 1 GiB ec(4,6) GET costs, per process, as a user's curl sees it:
# a 6-hub local cluster from $JCS_BIN (default build/bin), one object
# uploaded with curl, then RUNS GETs with curl to /dev/null (the bytes'
# SHA-256 checked once, outside the timing). Prints per run the MiB/s and
# the CPU seconds (user+system, from /proc/PID/stat) of the jcs client and
# of the six hubs together.
#
#   tests/bench/get_cpu.sh [SIZE_MIB] [RUNS]      e.g. JCS_BIN=/tmp/main/build/bin tests/bench/get_cpu.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
export JCS_BIN=${JCS_BIN:-$ROOT/build/bin}
SIZE_MIB=${1:-1024}
RUNS=${2:-3}
T=$(mktemp -d /tmp/jcs-getcpu-XXXXXX)
trap 'deploy/local/cluster down --dir "$T" >/dev/null 2>&1; rm -rf "$T"' EXIT
deploy/local/cluster up --dir "$T" --hubs 6 >"$T/up.log" 2>&1 || { tail -20 "$T/up.log"; exit 1; }
. "$T/cluster.env"
CURL=(curl -sS --cacert "$JCS_CA" --cert "$JCS_CERT" --key "$JCS_KEY")
B=$("${CURL[@]}" -X POST -H 'Content-Type: application/json' --data '{"name":"cpu"}' \
  "$JCS_ENDPOINT/v1/bucket/create" | jq '.data.bucket.bucketID')
P=$("${CURL[@]}" -X POST -H 'Content-Type: application/json' \
  --data "{\"bucketID\":$B,\"name\":\"ec\",\"redundancy\":{\"type\":\"ec\",\"k\":4,\"n\":6,\"chunkSize\":1048576}}" \
  "$JCS_ENDPOINT/v1/package/create" | jq '.data.package.packageID')
head -c $((SIZE_MIB << 20)) /dev/urandom >"$T/obj"
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
  "${CURL[@]}" -o /dev/null "$JCS_ENDPOINT/v1/object/download?objectID=$O"
  t1=$(date +%s.%N); c1=$(ticks "$JCS_PID"); h1=$(ticks "${HUBS[@]}")
  awk -v s="$SIZE_MIB" -v t0="$t0" -v t1="$t1" -v c=$((c1 - c0)) -v h=$((h1 - h0)) -v hz="$HZ" \
    'BEGIN { printf "GET %d MiB ec(4,6): %.0f MiB/s, CPU jcs %.2f s, hubs %.2f s, total %.2f s\n",
             s, s / (t1 - t0), c / hz, h / hz, (c + h) / hz }'
done
