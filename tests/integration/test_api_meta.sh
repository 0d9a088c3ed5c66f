#!/usr/bin/env bash
# The REST API's metadata endpoints (buckets, packages, user spaces, system)
# over HTTPS with the client certificate, against a local cluster: every
# endpoint's success path with its envelope and fields (API.md), then bad
# input for each (missing, mistyped, unknown, duplicate, badly named, NUL,
# control characters, malformed or oversized JSON) with the right HTTP
# status, code and a message naming the field, and the database unchanged
# afterwards. Also: TLS refusals, user-space tests, secrets never returned or
# logged, and the parts that need stored objects (cached storages, package
# clone with objects, deleting a space that holds blocks) once the object
# upload endpoint exists.
# Prints PASS/FAIL lines for tests/run.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
export JCS_BIN=${JCS_BIN:-$ROOT/build/bin}
T=$(mktemp -d "${JCS_ITEST_PREFIX:-/tmp/jcs-itest}-apimeta-XXXXXX")
S3_PID=
cleanup() {
  [ -n "$S3_PID" ] && kill "$S3_PID" 2>/dev/null
  deploy/local/cluster down --dir "$T" >/dev/null 2>&1
  [ -n "${JCS_KEEP_TEST_DIRS:-}" ] || rm -rf "$T" "$T.s3.log"
}
trap cleanup EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

if ! deploy/local/cluster up --dir "$T" --hubs 2 >"$T/up.log" 2>&1; then
  fail cluster_up "$(tail -n 20 "$T/up.log")"
  exit 1
fi
# shellcheck disable=SC1091
. "$T/cluster.env"
W=$T/work
mkdir -p "$W"

# call METHOD PATH [BODY]: one request with the client certificate. BODY is
# sent as JSON (a string, or @FILE). Sets ST (HTTP status, 000 when none),
# RB (response body) and HD (response headers).
call() {
  local args=(-sS -o "$W/body" -D "$W/headers" -w '%{http_code}' --cacert "$JCS_CA"
    --cert "$JCS_CERT" --key "$JCS_KEY" -X "$1")
  [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
  : >"$W/body"
  ST=$(curl "${args[@]}" "$JCS_ENDPOINT$2" 2>"$W/curl.err")
  RB=$(cat "$W/body")
  HD=$(cat "$W/headers" 2>/dev/null)
}

short() { head -c 400 <<<"$RB"; }

# ok NAME JQ: the last call answered 200 {"code":"OK","message":"",...} and
# `.data | JQ` is true.
ok() {
  if [ "$ST" != 200 ]; then fail "$1" "HTTP $ST: $(short)"; return 1; fi
  if ! jq -e '.code == "OK" and .message == ""' >/dev/null 2>&1 <<<"$RB"; then
    fail "$1" "not an OK envelope: $(short)"; return 1
  fi
  if ! jq -e ".data | $2" >/dev/null 2>&1 <<<"$RB"; then
    fail "$1" "data does not satisfy $2: $(short)"; return 1
  fi
  pass "$1"
}

# err NAME STATUS CODE PATTERN: the last call answered STATUS with an
# envelope of CODE, null data and a message matching PATTERN (grep -E).
err() {
  if [ "$ST" != "$2" ]; then fail "$1" "want HTTP $2, got $ST: $(short)"; return 1; fi
  local code msg
  code=$(jq -r '.code' <<<"$RB" 2>/dev/null)
  msg=$(jq -r '.message' <<<"$RB" 2>/dev/null)
  if [ "$code" != "$3" ]; then fail "$1" "want code $3: $(short)"; return 1; fi
  if ! jq -e '.data == null' >/dev/null 2>&1 <<<"$RB"; then fail "$1" "data is not null: $(short)"; return 1; fi
  if ! grep -Eq -- "$4" <<<"$msg"; then fail "$1" "message does not match /$4/: $msg"; return 1; fi
  pass "$1"
}

# bad NAME METHOD PATH BODY STATUS CODE PATTERN (BODY "-" for none).
bad() {
  if [ "$4" = - ]; then call "$2" "$3"; else call "$2" "$3" "$4"; fi
  err "$1" "$5" "$6" "$7"
}

# The metadata a user sees: buckets, their packages, user spaces.
snapshot() {
  local ids id
  call GET /v1/bucket/listAll
  jq -c '.data.buckets' <<<"$RB"
  ids=$(jq -r '.data.buckets[].bucketID' <<<"$RB")
  for id in $ids; do
    call GET "/v1/package/listBucketPackages?bucketID=$id"
    jq -c '.data.packages' <<<"$RB"
  done
  call GET /v1/userspace/list
  jq -c '.data.userSpaces' <<<"$RB"
}

rep() { head -c "$2" /dev/zero | tr '\0' "$1"; }

# ---- system ---------------------------------------------------------------------------------

call GET /v1/system/status
ok system_status '.version != "" and .database.ok == true and .coordinator.ok == true and
  .hubsOnline == 2 and .hubsTotal == 2 and (.uptimeSeconds | type) == "number" and
  (.startTime | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+([+-][0-9]{2}:[0-9]{2}|Z)$"))'
if grep -qi '^content-type: application/json' <<<"$HD"; then pass envelope_is_json; else fail envelope_is_json "headers: $HD"; fi

call GET /v1/system/hubs
ok system_hubs '(.hubs | length) == 2 and all(.hubs[]; has("hubID") and has("name") and
  has("locationID") and .state == "online" and (.address | test(":[0-9]+$")) and has("latencyMs"))
  and ([.hubs[].name] | sort) == ["hub1", "hub2"]'
HUB1_ID=$(jq '.data.hubs[] | select(.name == "hub1") | .hubID' <<<"$RB")
HUB2_ID=$(jq '.data.hubs[] | select(.name == "hub2") | .hubID' <<<"$RB")

call GET /v1/system/locations
ok system_locations '([.locations[].name] | sort) == ["loc1", "loc2"] and
  all(.locations[]; (.locationID | type) == "number")'
LOC2_ID=$(jq '.data.locations[] | select(.name == "loc2") | .locationID' <<<"$RB")

# A known job either runs (its report) or says plainly why it cannot.
call POST /v1/system/tickTock/run '{"job": "ShardStoreGC"}'
if [ "$ST" = 200 ]; then
  ok ticktock_known_job '(.report | type) == "object"'
else
  err ticktock_known_job 503 OperationFailed 'ShardStoreGC'
fi
bad ticktock_unknown_job POST /v1/system/tickTock/run '{"job": "Nope"}' 400 BadArgument 'field job: unknown job "Nope".*ShardStoreGC'
bad ticktock_missing_job POST /v1/system/tickTock/run '{}' 400 BadArgument 'field job: required'
bad ticktock_job_not_string POST /v1/system/tickTock/run '{"job": 3}' 400 BadArgument 'field job: must be a string'

bad unknown_endpoint GET /v1/bucket/nope - 404 DataNotFound 'no such endpoint: GET /v1/bucket/nope'
call PUT /v1/bucket/listAll
if [ "$ST" = 405 ] && jq -e '.code == "BadArgument"' >/dev/null <<<"$RB" && grep -q 'use GET' <<<"$RB"; then
  pass wrong_method; else fail wrong_method "HTTP $ST: $(short)"; fi

# ---- buckets --------------------------------------------------------------------------------

call POST /v1/bucket/create '{"name": "b1", "userID": 1}'
ok bucket_create '.bucket.name == "b1" and (.bucket.bucketID | type) == "number" and
  (.bucket.createTime | test("^[0-9]{4}-"))'
B1=$(jq '.data.bucket.bucketID' <<<"$RB")
call POST /v1/bucket/create '{"name": "日本語 bucket"}'
ok bucket_create_utf8 '.bucket.name == "日本語 bucket"'
B2=$(jq '.data.bucket.bucketID' <<<"$RB")
N255=$(rep a 255)
call POST /v1/bucket/create "{\"name\": \"$N255\"}"
ok bucket_create_255_bytes ".bucket.name == \"$N255\""
call GET '/v1/bucket/getByName?name=%E6%97%A5%E6%9C%AC%E8%AA%9E%20bucket'
ok bucket_get_by_name ".bucket.bucketID == $B2 and .bucket.name == \"日本語 bucket\""
call GET /v1/bucket/listAll
ok bucket_list_all "([.buckets[].bucketID] | sort) == ([$B1, $B2] + [.buckets[] | select(.name == \"$N255\") | .bucketID] | sort)
  and all(.buckets[]; has(\"name\") and has(\"createTime\"))"

# ---- packages -------------------------------------------------------------------------------

call POST /v1/package/create "{\"bucketID\": $B1, \"name\": \"p1\"}"
ok package_create ".package.name == \"p1\" and .package.bucketID == $B1 and
  (.package.packageID | type) == \"number\" and (.package.createTime | test(\"^[0-9]{4}-\"))"
P1=$(jq '.data.package.packageID' <<<"$RB")
call POST /v1/package/create "{\"bucketID\": $B1, \"name\": \"p2\", \"redundancy\": {\"type\": \"ec\", \"k\": 2, \"n\": 3}}"
ok package_create_with_redundancy '.package.redundancy.type == "ec" and .package.redundancy.k == 2 and .package.redundancy.n == 3'
P2=$(jq '.data.package.packageID' <<<"$RB")
call POST /v1/package/create "{\"bucketID\": $B1, \"name\": \"p3\", \"redundancy\": {\"type\": \"rep\", \"repCount\": 2}}"
ok package_create_rep '.package.redundancy == {"type": "rep", "repCount": 2}'
P3=$(jq '.data.package.packageID' <<<"$RB")
call GET "/v1/package/get?packageID=$P2"
ok package_get ".package.packageID == $P2 and .package.name == \"p2\" and .package.bucketID == $B1"
call GET "/v1/package/getByFullName?bucketName=b1&packageName=p1"
ok package_get_by_full_name ".package.packageID == $P1"
call GET "/v1/package/listBucketPackages?bucketID=$B1"
ok package_list "([.packages[].packageID] | sort) == ([$P1, $P2, $P3] | sort)"
call GET "/v1/package/listBucketPackages?bucketID=$B2"
ok package_list_empty '.packages == []'
call GET "/v1/package/getCachedStorages?packageID=$P1"
ok package_cached_storages_empty '.stgInfos == [] and .packageSize == 0'
call POST /v1/package/clone "{\"packageID\": $P2, \"bucketID\": $B2, \"name\": \"p2copy\"}"
ok package_clone ".package.name == \"p2copy\" and .package.bucketID == $B2 and .package.packageID != $P2
  and .package.redundancy.type == \"ec\""
PC=$(jq '.data.package.packageID' <<<"$RB")
call GET "/v1/package/get?packageID=$P2"
ok package_clone_keeps_source ".package.bucketID == $B1 and .package.name == \"p2\""

# ---- bad input: buckets and packages --------------------------------------------------------

BEFORE=$(snapshot)

bad bucket_create_missing_name POST /v1/bucket/create '{}' 400 BadArgument 'field name: required'
bad bucket_create_name_not_string POST /v1/bucket/create '{"name": 5}' 400 BadArgument 'field name: must be a string'
bad bucket_create_name_null POST /v1/bucket/create '{"name": null}' 400 BadArgument 'field name: required'
bad bucket_create_empty_name POST /v1/bucket/create '{"name": ""}' 400 BadArgument 'field name: must not be empty'
bad bucket_create_slash POST /v1/bucket/create '{"name": "a/b"}' 400 BadArgument "field name: .*'/'"
bad bucket_create_control POST /v1/bucket/create '{"name": "a\u0001b"}' 400 BadArgument 'field name: control character'
bad bucket_create_del POST /v1/bucket/create '{"name": "a\u007fb"}' 400 BadArgument 'field name: control character'
bad bucket_create_c1_control POST /v1/bucket/create '{"name": "a\u0085b"}' 400 BadArgument 'field name: control character'
bad bucket_create_newline POST /v1/bucket/create '{"name": "a\nb"}' 400 BadArgument 'field name: control character'
bad bucket_create_nul POST /v1/bucket/create '{"name": "a\u0000b"}' 400 BadArgument 'line 1, column [0-9]+.*(NUL|\\u0000)'
bad bucket_create_raw_control POST /v1/bucket/create $'{"name": "a\x01b"}' 400 BadArgument 'line 1, column [0-9]+.*control character'
bad bucket_create_invalid_utf8 POST /v1/bucket/create $'{"name": "a\xffb"}' 400 BadArgument 'line 1, column [0-9]+.*(UTF-8|byte 0xff)'
bad bucket_create_256_bytes POST /v1/bucket/create "{\"name\": \"$(rep a 256)\"}" 400 BadArgument 'field name: 256 bytes, at most 255'
bad bucket_create_duplicate POST /v1/bucket/create '{"name": "b1"}' 409 Conflict 'bucket "b1" already exists'
bad bucket_create_malformed POST /v1/bucket/create '{"name": ' 400 BadArgument 'malformed JSON body at line 1, column [0-9]+'
bad bucket_create_malformed_line3 POST /v1/bucket/create $'{\n  "name":\n  oops }' 400 BadArgument 'malformed JSON body at line 3, column [0-9]+'
bad bucket_create_trailing_garbage POST /v1/bucket/create '{"name": "x"} {}' 400 BadArgument 'malformed JSON body at line 1'
bad bucket_create_array POST /v1/bucket/create '[{"name": "x"}]' 400 BadArgument 'must be a JSON object'
bad bucket_create_string_body POST /v1/bucket/create '"x"' 400 BadArgument 'must be a JSON object|line 1, column [0-9]+.*expected'
bad bucket_create_number_body POST /v1/bucket/create '42' 400 BadArgument 'must be a JSON object|line 1, column [0-9]+.*expected'
bad bucket_create_empty_body POST /v1/bucket/create '' 400 BadArgument 'must be a JSON object'
# Over http.maxBodySize (5 MiB by default): announced, and chunked (length unknown up front).
{ printf '{"name": "'; rep a $((5 * 1048576 + 100)); printf '"}'; } >"$W/big.json"
bad bucket_create_too_large POST /v1/bucket/create "@$W/big.json" 413 TooLarge 'http\.maxBodySize'
ST=$(curl -sS -o "$W/body" -w '%{http_code}' --cacert "$JCS_CA" --cert "$JCS_CERT" --key "$JCS_KEY" \
  -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' --data-binary "@$W/big.json" \
  "$JCS_ENDPOINT/v1/bucket/create" 2>"$W/curl.err")
RB=$(cat "$W/body")
err bucket_create_too_large_chunked 413 TooLarge 'http\.maxBodySize'

bad bucket_get_missing GET /v1/bucket/getByName - 400 BadArgument 'query parameter name is required'
bad bucket_get_unknown GET '/v1/bucket/getByName?name=nope' - 404 DataNotFound 'bucket "nope" not found'
bad bucket_get_slash GET '/v1/bucket/getByName?name=b%2F1' - 400 BadArgument "query parameter name: .*'/'"
bad bucket_get_nul GET '/v1/bucket/getByName?name=b1%00x' - 400 BadArgument 'query parameter name contains a NUL'
bad bucket_get_bad_utf8 GET '/v1/bucket/getByName?name=%FF' - 400 BadArgument 'query parameter name: not valid UTF-8'
bad bucket_get_twice GET '/v1/bucket/getByName?name=b1&name=b1' - 400 BadArgument 'query parameter name is given 2 times'

bad bucket_delete_missing POST /v1/bucket/delete '{}' 400 BadArgument 'field bucketID: required'
bad bucket_delete_string_id POST /v1/bucket/delete "{\"bucketID\": \"$B1\"}" 400 BadArgument 'field bucketID: must be a positive integer'
bad bucket_delete_negative POST /v1/bucket/delete '{"bucketID": -1}' 400 BadArgument 'field bucketID: must be a positive integer'
bad bucket_delete_zero POST /v1/bucket/delete '{"bucketID": 0}' 400 BadArgument 'field bucketID: must be a positive integer'
bad bucket_delete_float POST /v1/bucket/delete '{"bucketID": 1.5}' 400 BadArgument 'field bucketID: must be a positive integer'
bad bucket_delete_unknown POST /v1/bucket/delete '{"bucketID": 999999}' 404 DataNotFound 'bucket 999999 not found'

bad package_create_missing_bucket POST /v1/package/create '{"name": "x"}' 400 BadArgument 'field bucketID: required'
bad package_create_bucket_string POST /v1/package/create '{"bucketID": "1", "name": "x"}' 400 BadArgument 'field bucketID: must be a positive integer'
bad package_create_unknown_bucket POST /v1/package/create '{"bucketID": 999999, "name": "x"}' 404 DataNotFound 'bucket 999999 not found'
bad package_create_missing_name POST /v1/package/create "{\"bucketID\": $B1}" 400 BadArgument 'field name: required'
bad package_create_empty_name POST /v1/package/create "{\"bucketID\": $B1, \"name\": \"\"}" 400 BadArgument 'field name: must not be empty'
bad package_create_slash POST /v1/package/create "{\"bucketID\": $B1, \"name\": \"x/y\"}" 400 BadArgument "field name: .*'/'"
bad package_create_control POST /v1/package/create "{\"bucketID\": $B1, \"name\": \"x\\u001fy\"}" 400 BadArgument 'field name: control character'
bad package_create_nul POST /v1/package/create "{\"bucketID\": $B1, \"name\": \"x\\u0000y\"}" 400 BadArgument 'line 1, column [0-9]+'
bad package_create_duplicate POST /v1/package/create "{\"bucketID\": $B1, \"name\": \"p1\"}" 409 Conflict "package \"p1\" already exists in bucket $B1"
bad package_create_bad_red_type POST /v1/package/create "{\"bucketID\": $B1, \"name\": \"x\", \"redundancy\": {\"type\": \"raid\"}}" 400 BadArgument 'redundancy\.type: .*"raid"'
bad package_create_red_not_object POST /v1/package/create "{\"bucketID\": $B1, \"name\": \"x\", \"redundancy\": \"ec\"}" 400 BadArgument 'redundancy: must be an object'
bad package_create_red_k_over_n POST /v1/package/create "{\"bucketID\": $B1, \"name\": \"x\", \"redundancy\": {\"type\": \"ec\", \"k\": 4, \"n\": 3}}" 400 BadArgument 'redundancy: k \(4\).*n \(3\)'
bad package_create_red_k_string POST /v1/package/create "{\"bucketID\": $B1, \"name\": \"x\", \"redundancy\": {\"type\": \"ec\", \"k\": \"2\", \"n\": 3}}" 400 BadArgument 'redundancy.*k'
bad package_create_not_object POST /v1/package/create '[1, 2]' 400 BadArgument 'must be a JSON object'

bad package_get_missing GET /v1/package/get - 400 BadArgument 'query parameter packageID is required'
bad package_get_not_integer GET '/v1/package/get?packageID=abc' - 400 BadArgument 'query parameter packageID="abc" is not an integer'
bad package_get_exponent GET '/v1/package/get?packageID=1e3' - 400 BadArgument 'query parameter packageID="1e3" is not an integer'
bad package_get_negative GET '/v1/package/get?packageID=-1' - 400 BadArgument 'query parameter packageID=-1 is out of range'
bad package_get_empty GET '/v1/package/get?packageID=' - 400 BadArgument 'query parameter packageID="" is not an integer'
bad package_get_overflow GET '/v1/package/get?packageID=99999999999999999999' - 400 BadArgument 'query parameter packageID'
bad package_get_nul GET "/v1/package/get?packageID=${P1}%00" - 400 BadArgument 'query parameter packageID contains a NUL'
bad package_get_unknown GET '/v1/package/get?packageID=999999' - 404 DataNotFound 'package 999999 not found'
bad package_full_name_no_package GET '/v1/package/getByFullName?bucketName=b1' - 400 BadArgument 'query parameter packageName is required'
bad package_full_name_no_bucket GET '/v1/package/getByFullName?packageName=p1' - 400 BadArgument 'query parameter bucketName is required'
bad package_full_name_unknown_bucket GET '/v1/package/getByFullName?bucketName=zz&packageName=p1' - 404 DataNotFound 'bucket "zz" not found'
bad package_full_name_unknown_package GET '/v1/package/getByFullName?bucketName=b1&packageName=zz' - 404 DataNotFound 'package "zz" not found in bucket "b1"'
bad package_full_name_slash GET '/v1/package/getByFullName?bucketName=b1&packageName=a%2Fb' - 400 BadArgument "query parameter packageName: .*'/'"
bad package_list_missing GET /v1/package/listBucketPackages - 400 BadArgument 'query parameter bucketID is required'
bad package_list_not_integer GET '/v1/package/listBucketPackages?bucketID=x1' - 400 BadArgument 'query parameter bucketID="x1" is not an integer'
bad package_list_unknown GET '/v1/package/listBucketPackages?bucketID=999999' - 404 DataNotFound 'bucket 999999 not found'
bad package_delete_missing POST /v1/package/delete '{}' 400 BadArgument 'field packageID: required'
bad package_delete_bool POST /v1/package/delete '{"packageID": true}' 400 BadArgument 'field packageID: must be a positive integer'
bad package_delete_unknown POST /v1/package/delete '{"packageID": 999999}' 404 DataNotFound 'package 999999 not found'
bad package_clone_missing_package POST /v1/package/clone "{\"bucketID\": $B1, \"name\": \"c\"}" 400 BadArgument 'field packageID: required'
bad package_clone_missing_bucket POST /v1/package/clone "{\"packageID\": $P1, \"name\": \"c\"}" 400 BadArgument 'field bucketID: required'
bad package_clone_missing_name POST /v1/package/clone "{\"packageID\": $P1, \"bucketID\": $B1}" 400 BadArgument 'field name: required'
bad package_clone_slash POST /v1/package/clone "{\"packageID\": $P1, \"bucketID\": $B1, \"name\": \"/\"}" 400 BadArgument "field name: .*'/'"
bad package_clone_unknown_package POST /v1/package/clone "{\"packageID\": 999999, \"bucketID\": $B1, \"name\": \"c\"}" 404 DataNotFound 'package 999999 not found'
bad package_clone_unknown_bucket POST /v1/package/clone "{\"packageID\": $P1, \"bucketID\": 999999, \"name\": \"c\"}" 404 DataNotFound 'bucket 999999 not found'
bad package_clone_duplicate POST /v1/package/clone "{\"packageID\": $P1, \"bucketID\": $B1, \"name\": \"p2\"}" 409 Conflict 'package "p2" already exists'
bad package_cached_missing GET /v1/package/getCachedStorages - 400 BadArgument 'query parameter packageID is required'
bad package_cached_not_integer GET '/v1/package/getCachedStorages?packageID=1.0' - 400 BadArgument 'query parameter packageID="1.0" is not an integer'
bad package_cached_unknown GET '/v1/package/getCachedStorages?packageID=999999' - 404 DataNotFound 'package 999999 not found'

AFTER=$(snapshot)
if [ "$BEFORE" = "$AFTER" ]; then pass bad_input_leaves_buckets_and_packages_unchanged; else
  fail bad_input_leaves_buckets_and_packages_unchanged "$(diff <(echo "$BEFORE") <(echo "$AFTER") | head -c 600)"
fi

# ---- TLS --------------------------------------------------------------------------------------

"$JCS_BIN/coordinator" cert ca --out "$W/foreign" >/dev/null
"$JCS_BIN/coordinator" cert issue --role client --name client --ca "$W/foreign" --out "$W/foreign" >/dev/null
# tls_refused NAME CURL-ARGS...: the request gets no data: either the
# handshake fails or a 403 Unauthorized envelope comes back.
tls_refused() {
  local name=$1; shift
  local st
  : >"$W/body"
  st=$(curl -sS -o "$W/body" -w '%{http_code}' "$@" 2>"$W/curl.err")
  RB=$(cat "$W/body")
  if [ "$st" = 000 ]; then pass "$name"; return; fi
  ST=$st
  err "$name" 403 Unauthorized 'client certificate'
}
tls_refused tls_no_client_cert --cacert "$JCS_CA" "$JCS_ENDPOINT/v1/bucket/listAll"
tls_refused tls_foreign_client_cert --cacert "$JCS_CA" --cert "$W/foreign/client_cert.pem" \
  --key "$W/foreign/client_key.pem" "$JCS_ENDPOINT/v1/bucket/listAll"
# The cluster's RPC client certificate comes from another CA than the REST API's.
tls_refused tls_rpc_cert_is_not_a_rest_cert --cacert "$JCS_CA" --cert "$RPC_CLIENT_CERT" \
  --key "$RPC_CLIENT_KEY" "$JCS_ENDPOINT/v1/userspace/list"
tls_refused tls_no_cert_cannot_create --cacert "$JCS_CA" -X POST -H 'Content-Type: application/json' \
  --data '{"name": "intruder"}' "$JCS_ENDPOINT/v1/bucket/create"
call GET '/v1/bucket/getByName?name=intruder'
err tls_refused_create_stored_nothing 404 DataNotFound 'bucket "intruder" not found'
if curl -sS -m 10 -o "$W/plain" "http://${JCS_ENDPOINT#https://}/v1/bucket/listAll" 2>/dev/null &&
  grep -q '"data"' "$W/plain"; then
  fail tls_plain_http_refused "a plain HTTP request got an answer: $(head -c 200 "$W/plain")"
else
  pass tls_plain_http_refused
fi
if curl -sS -m 10 -o /dev/null "$JCS_ENDPOINT/v1/bucket/listAll" 2>/dev/null; then
  fail tls_server_cert_needs_the_ca "curl trusted the server without --cacert"
else
  pass tls_server_cert_needs_the_ca
fi

# ---- user spaces ------------------------------------------------------------------------------

call GET /v1/userspace/list
ok userspace_list_cluster_spaces '([.userSpaces[].name] | sort) == ["hub1", "hub2"] and
  all(.userSpaces[]; (.userSpaceID | type) == "number" and .state == "normal" and
  .storage.type == "local" and has("locationID") and .usedBytes == 0 and .blockCount == 0)'
SP1=$(jq '.data.userSpaces[] | select(.name == "hub1") | .userSpaceID' <<<"$RB")
SP2=$(jq '.data.userSpaces[] | select(.name == "hub2") | .userSpaceID' <<<"$RB")

call POST /v1/userspace/test "{\"userSpaceID\": $SP1}"
ok userspace_test_existing '.ok == true and .message == "" and (.latencyMs | type) == "number"'

ROOT2=$HUB2_ROOT/extra
call POST /v1/userspace/create "{\"name\": \"extra\", \"storage\": {\"type\": \"local\", \"hubID\": $HUB2_ID, \"root\": \"$ROOT2\"}}"
ok userspace_create_local ".userSpace.name == \"extra\" and .userSpace.storage.type == \"local\" and
  .userSpace.storage.hubID == $HUB2_ID and .userSpace.storage.root == \"$ROOT2\" and
  .userSpace.locationID == $LOC2_ID and .userSpace.state == \"normal\" and .userSpace.blockCount == 0"
SPX=$(jq '.data.userSpace.userSpaceID' <<<"$RB")
call GET "/v1/userspace/get?userSpaceID=$SPX"
ok userspace_get ".userSpace.userSpaceID == $SPX and .userSpace.name == \"extra\" and .userSpace.storage.root == \"$ROOT2\""
call POST /v1/userspace/test "{\"userSpaceID\": $SPX}"
ok userspace_test_new_space '.ok == true'
call GET /v1/userspace/list
ok userspace_list_has_new "[.userSpaces[].userSpaceID] | index($SPX) != null"

# A create body is tested without being stored.
SPACES_BEFORE=$(call GET /v1/userspace/list; jq -c '[.data.userSpaces[].userSpaceID]' <<<"$RB")
call POST /v1/userspace/test "{\"name\": \"probe\", \"storage\": {\"type\": \"local\", \"hubID\": $HUB1_ID, \"root\": \"$HUB1_ROOT/probe\"}}"
ok userspace_test_create_body '.ok == true'
# A root the hub refuses (outside its storage root): ok false, and a message saying why.
call POST /v1/userspace/test "{\"name\": \"probe\", \"storage\": {\"type\": \"local\", \"hubID\": $HUB1_ID, \"root\": \"/proc/jcs-nowhere\"}}"
ok userspace_test_bad_root '.ok == false and (.message | test("probe")) and (.message | length) > 20'
SPACES_AFTER=$(call GET /v1/userspace/list; jq -c '[.data.userSpaces[].userSpaceID]' <<<"$RB")
if [ "$SPACES_BEFORE" = "$SPACES_AFTER" ]; then pass userspace_test_stores_nothing; else
  fail userspace_test_stores_nothing "$SPACES_BEFORE -> $SPACES_AFTER"; fi

# S3 spaces: against s3rver when it starts, else with keys nothing checks. Either way the
# secret never comes back, nor reaches a log.
SECRET=S3cr3t-$RANDOM$RANDOM
if tests/s3/start "$T/s3" jcsbkt "$T/s3.env" >/dev/null 2>"$W/s3.err"; then
  # shellcheck disable=SC1091
  . "$T/s3.env"
  HAVE_S3=1
else
  echo "note: no local S3 server ($(head -c 200 "$W/s3.err")); S3 space checked with fake keys"
  S3_ENDPOINT=http://127.0.0.1:9 S3_BUCKET=jcsbkt HAVE_S3=0
fi
S3_BODY="{\"name\": \"s3space\", \"storage\": {\"type\": \"s3\", \"endpoint\": \"$S3_ENDPOINT\", \"bucket\": \"$S3_BUCKET\", \"pathStyle\": true, \"accessKey\": \"S3RVER\", \"secretKey\": \"$SECRET\", \"hubID\": $HUB1_ID}}"
call POST /v1/userspace/create "$S3_BODY"
ok userspace_create_s3 '.userSpace.storage.type == "s3" and .userSpace.storage.bucket == "jcsbkt" and
  .userSpace.storage.pathStyle == true and (.userSpace.storage | has("secretKey") | not)'
SPS3=$(jq '.data.userSpace.userSpaceID' <<<"$RB")
if grep -q "$SECRET" <<<"$RB"; then fail userspace_create_s3_hides_secret "the reply holds the secret"; else pass userspace_create_s3_hides_secret; fi
call GET "/v1/userspace/get?userSpaceID=$SPS3"
if [ "$ST" = 200 ] && ! grep -q 'secretKey\|'"$SECRET" <<<"$RB"; then pass userspace_get_hides_secret; else
  fail userspace_get_hides_secret "HTTP $ST: $(short)"; fi
call GET /v1/userspace/list
if [ "$ST" = 200 ] && grep -q s3space <<<"$RB" && ! grep -q 'secretKey\|'"$SECRET" <<<"$RB"; then
  pass userspace_list_hides_secret; else fail userspace_list_hides_secret "HTTP $ST: $(short)"; fi
if [ "$HAVE_S3" = 1 ]; then
  call POST /v1/userspace/test "{\"userSpaceID\": $SPS3}"
  ok userspace_test_s3 '.ok == true'
  call POST /v1/userspace/test "${S3_BODY/\"accessKey\": \"S3RVER\"/\"accessKey\": \"NOT-A-KEY\"}"
  ok userspace_test_s3_bad_key '.ok == false and (.message | test("probe"))'
  call POST /v1/userspace/test "${S3_BODY/\"bucket\": \"jcsbkt\"/\"bucket\": \"nobucket\"}"
  ok userspace_test_s3_no_bucket '.ok == false and (.message | test("nobucket|NoSuchBucket"))'
fi

# ---- bad input: user spaces -------------------------------------------------------------------

BEFORE=$(snapshot)
L="\"type\": \"local\", \"hubID\": $HUB1_ID"
bad space_create_missing_name POST /v1/userspace/create "{\"storage\": {$L, \"root\": \"$HUB1_ROOT/x\"}}" 400 BadArgument 'field name: required'
bad space_create_empty_name POST /v1/userspace/create "{\"name\": \"\", \"storage\": {$L, \"root\": \"$HUB1_ROOT/x\"}}" 400 BadArgument 'field name: must not be empty'
bad space_create_slash POST /v1/userspace/create "{\"name\": \"a/b\", \"storage\": {$L, \"root\": \"$HUB1_ROOT/x\"}}" 400 BadArgument "field name: .*'/'"
bad space_create_control POST /v1/userspace/create "{\"name\": \"a\\tb\", \"storage\": {$L, \"root\": \"$HUB1_ROOT/x\"}}" 400 BadArgument 'field name: control character'
bad space_create_nul POST /v1/userspace/create "{\"name\": \"a\\u0000\", \"storage\": {$L, \"root\": \"$HUB1_ROOT/x\"}}" 400 BadArgument 'line 1, column [0-9]+'
bad space_create_duplicate POST /v1/userspace/create "{\"name\": \"hub1\", \"storage\": {$L, \"root\": \"$HUB1_ROOT/x\"}}" 409 Conflict 'user space "hub1" already exists'
bad space_create_no_storage POST /v1/userspace/create '{"name": "x"}' 400 BadArgument 'field storage: required'
bad space_create_storage_string POST /v1/userspace/create '{"name": "x", "storage": "local"}' 400 BadArgument 'field storage: required, an object'
bad space_create_no_type POST /v1/userspace/create "{\"name\": \"x\", \"storage\": {\"hubID\": $HUB1_ID, \"root\": \"/x\"}}" 400 BadArgument 'field storage.type: required'
bad space_create_unknown_type POST /v1/userspace/create "{\"name\": \"x\", \"storage\": {\"type\": \"nfs\", \"hubID\": $HUB1_ID, \"root\": \"/x\"}}" 400 BadArgument 'field storage.type: "nfs"'
bad space_create_type_number POST /v1/userspace/create '{"name": "x", "storage": {"type": 1}}' 400 BadArgument 'field storage.type: must be a string'
bad space_create_unknown_hub POST /v1/userspace/create '{"name": "x", "storage": {"type": "local", "hubID": 4242, "root": "/x"}}' 404 DataNotFound 'hub 4242 not found'
bad space_create_hub_string POST /v1/userspace/create '{"name": "x", "storage": {"type": "local", "hubID": "1", "root": "/x"}}' 400 BadArgument 'field storage.hubID: must be a positive integer'
bad space_create_local_no_hub POST /v1/userspace/create '{"name": "x", "storage": {"type": "local", "root": "/x"}}' 400 BadArgument 'field storage.hubID: required'
bad space_create_relative_root POST /v1/userspace/create "{\"name\": \"x\", \"storage\": {$L, \"root\": \"rel/dir\"}}" 400 BadArgument 'field storage.root: "rel/dir" must be an absolute path'
bad space_create_dotdot_root POST /v1/userspace/create "{\"name\": \"x\", \"storage\": {$L, \"root\": \"$HUB1_ROOT/../etc\"}}" 400 BadArgument 'field storage.root: .*"\.\."'
bad space_create_no_root POST /v1/userspace/create "{\"name\": \"x\", \"storage\": {$L}}" 400 BadArgument 'field storage.root: required'
bad space_create_empty_root POST /v1/userspace/create "{\"name\": \"x\", \"storage\": {$L, \"root\": \"\"}}" 400 BadArgument 'field storage.root: must not be empty'
bad space_create_root_control POST /v1/userspace/create "{\"name\": \"x\", \"storage\": {$L, \"root\": \"/a\\u0001b\"}}" 400 BadArgument 'field storage.root: control character'
bad space_create_unknown_storage_field POST /v1/userspace/create "{\"name\": \"x\", \"storage\": {$L, \"root\": \"/x\", \"color\": \"red\"}}" 400 BadArgument 'storage\.color: unknown field'
bad space_create_unknown_field POST /v1/userspace/create "{\"name\": \"x\", \"colour\": 1, \"storage\": {$L, \"root\": \"/x\"}}" 400 BadArgument 'colour: unknown field'
bad space_create_unknown_location POST /v1/userspace/create "{\"name\": \"x\", \"locationID\": 4242, \"storage\": {$L, \"root\": \"/x\"}}" 404 DataNotFound 'location 4242 not found'
bad space_create_location_negative POST /v1/userspace/create "{\"name\": \"x\", \"locationID\": -2, \"storage\": {$L, \"root\": \"/x\"}}" 400 BadArgument 'field locationID: must be a positive integer'
S3F='"type": "s3", "endpoint": "http://127.0.0.1:9", "bucket": "b"'
bad space_create_s3_no_secret POST /v1/userspace/create "{\"name\": \"x\", \"storage\": {$S3F, \"accessKey\": \"a\"}}" 400 BadArgument 'field storage.secretKey: required'
bad space_create_s3_no_access POST /v1/userspace/create "{\"name\": \"x\", \"storage\": {$S3F, \"secretKey\": \"s\"}}" 400 BadArgument 'field storage.accessKey: required'
bad space_create_s3_empty_secret POST /v1/userspace/create "{\"name\": \"x\", \"storage\": {$S3F, \"accessKey\": \"a\", \"secretKey\": \"\"}}" 400 BadArgument 'field storage.secretKey: must not be empty'
bad space_create_s3_no_bucket POST /v1/userspace/create '{"name": "x", "storage": {"type": "s3", "endpoint": "http://127.0.0.1:9", "accessKey": "a", "secretKey": "s"}}' 400 BadArgument 'field storage.bucket: required'
bad space_create_s3_no_endpoint POST /v1/userspace/create '{"name": "x", "storage": {"type": "s3", "bucket": "b", "accessKey": "a", "secretKey": "s"}}' 400 BadArgument 'field storage.endpoint: required'
bad space_create_s3_bad_scheme POST /v1/userspace/create '{"name": "x", "storage": {"type": "s3", "endpoint": "ftp://h", "bucket": "b", "accessKey": "a", "secretKey": "s"}}' 400 BadArgument 'field storage.endpoint: "ftp://h"'
bad space_create_s3_path_style POST /v1/userspace/create "{\"name\": \"x\", \"storage\": {$S3F, \"accessKey\": \"a\", \"secretKey\": \"s\", \"pathStyle\": \"yes\"}}" 400 BadArgument 'field storage.pathStyle: must be true or false'
bad space_create_s3_root POST /v1/userspace/create "{\"name\": \"x\", \"storage\": {$S3F, \"accessKey\": \"a\", \"secretKey\": \"s\", \"root\": \"/x\"}}" 400 BadArgument 'storage\.root: unknown field'
bad space_create_malformed POST /v1/userspace/create '{"name": "x", "storage": {' 400 BadArgument 'malformed JSON body at line 1, column [0-9]+'
bad space_get_missing GET /v1/userspace/get - 400 BadArgument 'query parameter userSpaceID is required'
bad space_get_not_integer GET '/v1/userspace/get?userSpaceID=one' - 400 BadArgument 'query parameter userSpaceID="one" is not an integer'
bad space_get_unknown GET '/v1/userspace/get?userSpaceID=999999' - 404 DataNotFound 'user space 999999 not found'
bad space_test_unknown POST /v1/userspace/test '{"userSpaceID": 999999}' 404 DataNotFound 'user space 999999 not found'
bad space_test_id_string POST /v1/userspace/test '{"userSpaceID": "1"}' 400 BadArgument 'field userSpaceID: must be a positive integer'
bad space_test_bad_body POST /v1/userspace/test "{\"name\": \"x\", \"storage\": {$L, \"root\": \"rel\"}}" 400 BadArgument 'field storage.root: "rel" must be an absolute path'
bad space_test_not_object POST /v1/userspace/test '[]' 400 BadArgument 'must be a JSON object'
bad space_delete_missing POST /v1/userspace/delete '{}' 400 BadArgument 'field userSpaceID: required'
bad space_delete_string POST /v1/userspace/delete '{"userSpaceID": "x"}' 400 BadArgument 'field userSpaceID: must be a positive integer'
bad space_delete_migrate_string POST /v1/userspace/delete "{\"userSpaceID\": $SPX, \"migrate\": \"yes\"}" 400 BadArgument 'field migrate: must be true or false'
bad space_delete_unknown POST /v1/userspace/delete '{"userSpaceID": 999999}' 404 DataNotFound 'user space 999999 not found'
AFTER=$(snapshot)
if [ "$BEFORE" = "$AFTER" ]; then pass bad_input_leaves_user_spaces_unchanged; else
  fail bad_input_leaves_user_spaces_unchanged "$(diff <(echo "$BEFORE") <(echo "$AFTER") | head -c 600)"
fi

# ---- deletions --------------------------------------------------------------------------------

call POST /v1/userspace/delete "{\"userSpaceID\": $SPX}"
ok userspace_delete_empty 'true'
bad userspace_delete_gone GET "/v1/userspace/get?userSpaceID=$SPX" - 404 DataNotFound "user space $SPX not found"
call POST /v1/userspace/delete "{\"userSpaceID\": $SPS3}"
ok userspace_delete_s3 'true'
call GET /v1/userspace/list
ok userspace_list_after_delete "([.userSpaces[].userSpaceID] | index($SPX) == null and index($SPS3) == null)
  and ([.userSpaces[].name] | sort) == [\"hub1\", \"hub2\"]"

# ---- with objects (needs POST /v1/object/upload) ---------------------------------------------

# upload PACKAGE PATH FILE: one file through the REST upload.
upload() {
  local info="{\"packageID\": $1}"
  : >"$W/body"
  ST=$(curl -sS -o "$W/body" -w '%{http_code}' --cacert "$JCS_CA" --cert "$JCS_CERT" --key "$JCS_KEY" \
    -F "info=$info;type=application/json" -F "files=@$3;filename=$(jq -rn --arg p "$2" '$p | @uri')" \
    "$JCS_ENDPOINT/v1/object/upload" 2>"$W/curl.err")
  RB=$(cat "$W/body")
}
head -c 300000 /dev/urandom >"$W/obj1"
head -c 1000 /dev/urandom >"$W/obj2"
# p3 keeps two replicas: one on each cluster space (the only spaces left).
upload "$P3" dir/one.bin "$W/obj1"
ok upload_for_meta_tests '(.uploadeds | length) == 1 and .uploadeds[0].size == "300000"'
OBJ1=$(jq '.data.uploadeds[0].objectID' <<<"$RB")
upload "$P3" two.bin "$W/obj2"
ok upload_second_for_meta_tests '.uploadeds[0].size == "1000"'
call GET "/v1/package/getCachedStorages?packageID=$P3"
ok package_cached_storages ".packageSize == 301000 and ([.stgInfos[].userSpaceID] | sort) == ([$SP1, $SP2] | sort) and
  all(.stgInfos[]; .objectCount == 2 and .fileSize == 301000)"
call POST /v1/package/clone "{\"packageID\": $P3, \"bucketID\": $B2, \"name\": \"p3copy\"}"
ok package_clone_with_objects '.package.name == "p3copy"'
PC3=$(jq '.data.package.packageID' <<<"$RB")
call GET "/v1/object/getPackageObjects?packageID=$PC3"
ok package_clone_copies_objects '([.objects[].path] | sort) == ["dir/one.bin", "two.bin"] and
  ([.objects[].size] | sort) == ["1000", "300000"]'
CLONE_OBJ1=$(jq '.data.objects[] | select(.path == "dir/one.bin") | .objectID' <<<"$RB")
# The clone's bytes are the original's; deleting the source package keeps them.
call POST /v1/package/delete "{\"packageID\": $P3}"
ok package_delete_source_of_clone 'true'
curl -sS -o "$W/back1" --cacert "$JCS_CA" --cert "$JCS_CERT" --key "$JCS_KEY" \
  "$JCS_ENDPOINT/v1/object/download?objectID=$CLONE_OBJ1" 2>"$W/curl.err"
if cmp -s "$W/obj1" "$W/back1"; then pass package_clone_reads_back_after_source_deleted; else
  fail package_clone_reads_back_after_source_deleted "$(head -c 200 "$W/back1") $(cat "$W/curl.err")"; fi
call GET "/v1/object/detail?objectID=$OBJ1"
err package_delete_deleted_its_objects 404 DataNotFound "$OBJ1"
# A space holding blocks cannot go (unless migrated).
BUSY=$(call GET "/v1/package/getCachedStorages?packageID=$PC3"; jq '.data.stgInfos[0].userSpaceID' <<<"$RB")
bad space_delete_with_blocks POST /v1/userspace/delete "{\"userSpaceID\": $BUSY}" 409 Conflict "user space $BUSY still holds [0-9]+ blocks.*migrate"
call GET "/v1/userspace/get?userSpaceID=$BUSY"
ok space_delete_with_blocks_keeps_it ".userSpace.userSpaceID == $BUSY and .userSpace.blockCount >= 2 and .userSpace.usedBytes > 0"

# ---- packages and buckets go -------------------------------------------------------------

call POST /v1/package/delete "{\"packageID\": $P1}"
ok package_delete 'true'
bad package_delete_gone GET "/v1/package/get?packageID=$P1" - 404 DataNotFound "package $P1 not found"
call POST /v1/bucket/delete "{\"bucketID\": $B1}"
ok bucket_delete 'true'
bad bucket_delete_takes_packages GET "/v1/package/get?packageID=$P2" - 404 DataNotFound "package $P2 not found"
bad bucket_delete_gone GET '/v1/bucket/getByName?name=b1' - 404 DataNotFound 'bucket "b1" not found'
call GET "/v1/package/get?packageID=$PC"
ok bucket_delete_keeps_other_buckets_clone ".package.bucketID == $B2"
call GET /v1/bucket/listAll
ok bucket_list_after_delete "[.buckets[].bucketID] | index($B1) == null and index($B2) != null"

# The secret never reached a log.
if grep -rq "$SECRET" "$T"/client/*.log "$T"/hub*/*.log "$T"/coordinator/*.log 2>/dev/null; then
  fail secret_never_logged "$(grep -rl "$SECRET" "$T"/*/*.log)"
else
  pass secret_never_logged
fi
