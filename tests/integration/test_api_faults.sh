#!/usr/bin/env bash
# The REST API under faults and load, against a local cluster:
#  - MariaDB stopped mid-run: a request that outlives the client's retry
#    window fails with a clear 503/500 naming the database; one sent shortly
#    before the server comes back waits and succeeds; later requests succeed
#    without restarting jcs, and everything acknowledged before (buckets,
#    packages, objects) is still listed and reads back byte-identical.
#  - 32 concurrent uploads, then 32 concurrent downloads (separate curl
#    processes): all succeed, every object byte-identical.
# The object parts run once POST /v1/object/upload is served.
# Prints PASS/FAIL lines for tests/run.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
export JCS_BIN=${JCS_BIN:-$ROOT/build/bin}
T=$(mktemp -d "${JCS_ITEST_PREFIX:-/tmp/jcs-itest}-apifaults-XXXXXX")
cleanup() {
  local p
  for p in $(jobs -p); do kill "$p" 2>/dev/null; done
  deploy/local/cluster down --dir "$T" >/dev/null 2>&1
  [ -n "${JCS_KEEP_TEST_DIRS:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

if ! deploy/local/cluster up --dir "$T" --hubs 3 >"$T/up.log" 2>&1; then
  fail cluster_up "$(tail -n 20 "$T/up.log")"
  exit 1
fi
# shellcheck disable=SC1091
. "$T/cluster.env"
W=$T/work
mkdir -p "$W"
CURL=(curl -sS --cacert "$JCS_CA" --cert "$JCS_CERT" --key "$JCS_KEY")

# call METHOD PATH [BODY]: sets ST and RB.
call() {
  local args=(-o "$W/body" -w '%{http_code}' -X "$1")
  [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
  : >"$W/body"
  ST=$("${CURL[@]}" "${args[@]}" "$JCS_ENDPOINT$2" 2>"$W/curl.err")
  RB=$(cat "$W/body")
}
short() { head -c 400 <<<"$RB"; }
ok() { # NAME JQ
  if [ "$ST" = 200 ] && jq -e ".code == \"OK\" and (.data | $2)" >/dev/null 2>&1 <<<"$RB"; then
    pass "$1"
  else
    fail "$1" "HTTP $ST: $(short)"
    return 1
  fi
}

# upload_to OUT PACKAGE PATH FILE: one REST upload; OUT.st gets the HTTP status, OUT the body.
upload_to() {
  "${CURL[@]}" -o "$1" -w '%{http_code}' -F "info={\"packageID\": $2};type=application/json" \
    -F "files=@$4;filename=$(jq -rn --arg p "$3" '$p | @uri')" \
    "$JCS_ENDPOINT/v1/object/upload" >"$1.st" 2>"$1.err"
}
# download_to OUT OBJECTID
download_to() {
  "${CURL[@]}" -o "$1" -w '%{http_code}' "$JCS_ENDPOINT/v1/object/download?objectID=$2" \
    >"$1.st" 2>"$1.err"
}

# ---- acknowledged state before the outage ----------------------------------------------------

call POST /v1/bucket/create '{"name": "faults"}'
ok before_outage_bucket '.bucket.name == "faults"'
B=$(jq '.data.bucket.bucketID' <<<"$RB")
call POST /v1/package/create "{\"bucketID\": $B, \"name\": \"ec\", \"redundancy\": {\"type\": \"ec\", \"k\": 2, \"n\": 3}}"
ok before_outage_package '.package.name == "ec"'
P=$(jq '.data.package.packageID' <<<"$RB")
declare -A ACKED # path -> objectID
i=0
for size in 0 1 4096 65537 1048576 3000001; do
  head -c "$size" /dev/urandom >"$W/pre$i"
  upload_to "$W/up.pre$i" "$P" "pre/$i.bin" "$W/pre$i"
  RB=$(cat "$W/up.pre$i")
  if [ "$(cat "$W/up.pre$i.st")" = 200 ] && id=$(jq -e '.data.uploadeds[0].objectID' <<<"$RB"); then
    ACKED["pre/$i.bin"]=$id
  else
    fail "before_outage_upload_$size" "HTTP $(cat "$W/up.pre$i.st"): $(short)"
  fi
  i=$((i + 1))
done
[ "${#ACKED[@]}" = 6 ] && pass before_outage_uploads

# ---- the outage -------------------------------------------------------------------------------

deploy/local/mariadb stop --dir "$T/mariadb" >/dev/null 2>&1
t0=$(date +%s)
# Sent at once: outlives the retry window, so it must fail, and say why.
"${CURL[@]}" -m 120 -o "$W/during1" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  --data '{"name": "during-outage"}' "$JCS_ENDPOINT/v1/bucket/create" >"$W/during1.st" 2>&1 &
pid1=$!
head -c 200000 /dev/urandom >"$W/during"
upload_to "$W/up.during" "$P" during.bin "$W/during" &
pidu=$!
# Sent a little before the database comes back: it waits and succeeds.
sleep 22
"${CURL[@]}" -m 120 -o "$W/during2" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  --data '{"name": "late-in-outage"}' "$JCS_ENDPOINT/v1/bucket/create" >"$W/during2.st" 2>&1 &
pid2=$!
wait "$pid1"
t1=$(date +%s)
ST=$(cat "$W/during1.st") RB=$(cat "$W/during1")
if [[ "$ST" =~ ^50[03]$ ]] && jq -e '.code == "OperationFailed" and .data == null' >/dev/null 2>&1 <<<"$RB" &&
  jq -r .message <<<"$RB" | grep -Eqi 'database|mariadb|mysql|connect'; then
  pass outage_request_fails_clearly
else
  fail outage_request_fails_clearly "HTTP $ST after $((t1 - t0)) s: $(short)"
fi
wait "$pidu"
ST=$(cat "$W/up.during.st") RB=$(cat "$W/up.during")
if [[ "$ST" =~ ^50[03]$ ]] && jq -e '.code == "OperationFailed"' >/dev/null 2>&1 <<<"$RB"; then
  pass outage_upload_fails_clearly
else
  fail outage_upload_fails_clearly "HTTP $ST: $(short)"
fi
# Same port: the client's config names it.
. "$T/mariadb/mariadb.env"
if ! deploy/local/mariadb start --dir "$T/mariadb" --port "$MARIADB_PORT" >"$W/restart.log" 2>&1; then
  fail mariadb_restart "$(cat "$W/restart.log")"
  exit 1
fi
wait "$pid2"
ST=$(cat "$W/during2.st") RB=$(cat "$W/during2")
ok request_waiting_for_the_database_succeeds '.bucket.name == "late-in-outage"'

# ---- after: the same jcs process serves, nothing acknowledged is lost ------------------------

JPID=$(cat "$T/client/pid")
call GET /v1/system/status
ok status_after_restart '.database.ok == true'
call POST /v1/bucket/create '{"name": "after-outage"}'
ok request_after_restart_succeeds '.bucket.name == "after-outage"'
call GET /v1/bucket/listAll
ok buckets_after_restart '([.buckets[].name] | sort) == ["after-outage", "faults", "late-in-outage"]'
call GET "/v1/package/get?packageID=$P"
ok package_after_restart '.package.name == "ec" and .package.redundancy.type == "ec"'
if [ "$(cat "$T/client/pid")" = "$JPID" ] && kill -0 "$JPID" 2>/dev/null; then
  pass jcs_not_restarted
else
  fail jcs_not_restarted "the client process changed or died"
fi
call GET "/v1/object/getPackageObjects?packageID=$P"
want=$(for p in "${!ACKED[@]}"; do echo "$p ${ACKED[$p]}"; done | sort)
got=$(jq -r '.data.objects[] | select(.path | startswith("pre/")) | "\(.path) \(.objectID)"' <<<"$RB" | sort)
if [ "$ST" = 200 ] && [ "$want" = "$got" ]; then pass acknowledged_objects_listed; else
  fail acknowledged_objects_listed "want [$want] got [$got] (HTTP $ST)"; fi
# The upload that failed left nothing half-made: absent, or whole.
if jq -e '.data.objects[] | select(.path == "during.bin")' >/dev/null 2>&1 <<<"$RB"; then
  id=$(jq '.data.objects[] | select(.path == "during.bin") | .objectID' <<<"$RB")
  download_to "$W/during.back" "$id"
  if cmp -s "$W/during" "$W/during.back"; then pass failed_upload_absent_or_whole; else
    fail failed_upload_absent_or_whole "during.bin is listed but does not read back"; fi
else
  pass failed_upload_absent_or_whole
fi
bad=0
i=0
for size in 0 1 4096 65537 1048576 3000001; do
  id=${ACKED["pre/$i.bin"]:-}
  if [ -n "$id" ]; then
    download_to "$W/back$i" "$id"
    if [ "$(cat "$W/back$i.st")" != 200 ] || ! cmp -s "$W/pre$i" "$W/back$i"; then
      bad=1
      fail "acknowledged_object_reads_back_$size" "HTTP $(cat "$W/back$i.st"): $(head -c 200 "$W/back$i")"
    fi
  fi
  i=$((i + 1))
done
[ $bad = 0 ] && pass acknowledged_objects_read_back_identical
head -c 123457 /dev/urandom >"$W/post"
upload_to "$W/up.post" "$P" post.bin "$W/post"
id=$(jq '.data.uploadeds[0].objectID' "$W/up.post" 2>/dev/null)
download_to "$W/post.back" "${id:-0}"
if cmp -s "$W/post" "$W/post.back"; then pass upload_after_restart; else
  fail upload_after_restart "$(head -c 300 "$W/up.post")"; fi

# ---- 32 concurrent uploads and downloads ------------------------------------------------------

N=32
call POST /v1/package/create "{\"bucketID\": $B, \"name\": \"load\", \"redundancy\": {\"type\": \"ec\", \"k\": 2, \"n\": 3}}"
ok load_package '.package.name == "load"'
PL=$(jq '.data.package.packageID' <<<"$RB")
for ((i = 0; i < N; i++)); do
  head -c $((100000 + i * 37777)) /dev/urandom >"$W/c$i"
done
pids=()
for ((i = 0; i < N; i++)); do
  upload_to "$W/up.c$i" "$PL" "c/$i.bin" "$W/c$i" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
bad=0
declare -A CID
for ((i = 0; i < N; i++)); do
  st=$(cat "$W/up.c$i.st")
  if [ "$st" = 200 ] && id=$(jq -e ".data.uploadeds[0] | select(.path == \"c/$i.bin\") | .objectID" "$W/up.c$i"); then
    CID[$i]=$id
  else
    bad=$((bad + 1))
    [ $bad -le 3 ] && echo "  upload $i: HTTP $st: $(head -c 300 "$W/up.c$i") $(cat "$W/up.c$i.err")"
  fi
done
if [ $bad = 0 ]; then pass concurrent_uploads_32; else fail concurrent_uploads_32 "$bad of $N failed"; fi
call GET "/v1/object/getPackageObjects?packageID=$PL"
ok concurrent_uploads_all_listed "(.objects | length) == $N"
pids=()
for ((i = 0; i < N; i++)); do
  download_to "$W/d$i" "${CID[$i]:-0}" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
bad=0
for ((i = 0; i < N; i++)); do
  if [ "$(cat "$W/d$i.st")" != 200 ] || ! cmp -s "$W/c$i" "$W/d$i"; then
    bad=$((bad + 1))
    [ $bad -le 3 ] && echo "  download $i: HTTP $(cat "$W/d$i.st"): $(head -c 200 "$W/d$i")"
  fi
done
if [ $bad = 0 ]; then pass concurrent_downloads_32_identical; else fail concurrent_downloads_32_identical "$bad of $N differ or failed"; fi
