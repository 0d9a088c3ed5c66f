#!/usr/bin/env bash
# Bad configuration, certificates, databases and coordinators: each must give
# one clear line naming the file, field or address, and a non-zero exit,
# never a crash or a hang. Also: two local clusters side by side.
# Prints PASS/FAIL lines for tests/run.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BIN=${JCS_BIN:-$ROOT/build/bin}
T=$(mktemp -d /tmp/jcs-badinput-XXXXXX)
trap 'deploy/local/cluster down --dir "$T/c1" >/dev/null 2>&1; deploy/local/cluster down --dir "$T/c2" >/dev/null 2>&1; rm -rf "$T"' EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

# expect NAME PATTERN CMD...: CMD exits non-zero within 30 s, prints exactly
# one line on stderr, and that line matches PATTERN (grep -E).
expect() {
  local name=$1 pat=$2; shift 2
  local err=$T/$name.err rc
  timeout 30 "$@" >"$T/$name.out" 2>"$err" </dev/null
  rc=$?
  # Sanitizer reports and crashes must not hide behind a non-zero exit.
  if [ $rc -eq 124 ]; then fail "$name" "hung (killed after 30 s)"; return; fi
  if [ $rc -eq 0 ]; then fail "$name" "exited 0"; return; fi
  if [ $rc -ge 128 ] || grep -q 'Sanitizer\|runtime error' "$err"; then
    fail "$name" "crashed (exit $rc): $(head -c 400 "$err")"; return
  fi
  local lines
  lines=$(grep -vc '^$' "$err")
  if [ "$lines" -ne 1 ]; then fail "$name" "want one line on stderr, got $lines: $(head -c 600 "$err")"; return; fi
  if ! grep -Eq -- "$pat" "$err"; then fail "$name" "stderr does not match /$pat/: $(cat "$err")"; return; fi
  pass "$name"
}

# Certificates for the configs below.
C=$T/certs
"$BIN/coordinator" cert ca --out "$C" >/dev/null || fail certs "cannot create a CA"
"$BIN/coordinator" cert issue --role coordinator --name coordinator --ca "$C" --out "$C" >/dev/null
"$BIN/coordinator" cert issue --role hub --name hub1 --ca "$C" --out "$C" >/dev/null

coord_cfg() { # file, db address, cert file
  cat >"$1" <<EOF
{ "listen": "127.0.0.1:0",
  "rpc": { "rootCA": "$C/ca_cert.pem", "cert": "$3", "key": "$C/coordinator_key.pem" },
  "db": { "address": "$2", "account": "x", "password": "y", "databaseName": "z" } }
EOF
}

expect coordinator_missing_config 'nope\.json' "$BIN/coordinator" serve -c "$T/nope.json"

printf '{ "listen": "127.0.0.1:0",\n  "rpc": { \n' >"$T/broken.json"
expect coordinator_malformed_config 'broken\.json.*line [0-9]+' "$BIN/coordinator" serve -c "$T/broken.json"

echo '{ "rpc": {}, "db": {} }' >"$T/nofield.json"
expect coordinator_missing_field 'nofield\.json: field rpc\.rootCA' "$BIN/coordinator" serve -c "$T/nofield.json"

printf '{ "listen": "127.0.0.1:0", "hubUnavailableSeconds": "ten", "rpc": { "rootCA": "%s", "cert": "%s", "key": "%s" }, "db": { "account": "a", "databaseName": "b" } }' \
  "$C/ca_cert.pem" "$C/coordinator_cert.pem" "$C/coordinator_key.pem" >"$T/wrongtype.json"
expect coordinator_wrong_type 'field hubUnavailableSeconds' "$BIN/coordinator" serve -c "$T/wrongtype.json"

coord_cfg "$T/nocert.json" 127.0.0.1:1 "$C/missing_cert.pem"
expect coordinator_unreadable_cert 'missing_cert\.pem' "$BIN/coordinator" serve -c "$T/nocert.json"

echo "garbage" >"$T/garbage_cert.pem"
coord_cfg "$T/garbage.json" 127.0.0.1:1 "$T/garbage_cert.pem"
expect coordinator_garbage_cert 'garbage_cert\.pem' "$BIN/coordinator" serve -c "$T/garbage.json"

# A port nothing listens on.
coord_cfg "$T/nodb.json" 127.0.0.1:9 "$C/coordinator_cert.pem"
expect coordinator_unreachable_db '127\.0\.0\.1:9' "$BIN/coordinator" serve -c "$T/nodb.json"

hub_cfg() { # file, name, coordinator address
  cat >"$1" <<EOF
{ "name": "$2", "location": "l1", "listen": "127.0.0.1:0",
  "rpc": { "rootCA": "$C/ca_cert.pem", "cert": "$C/hub1_cert.pem", "key": "$C/hub1_key.pem" },
  "coordinatorRPC": { "address": "$3", "startTimeoutSeconds": 2 },
  "storage": { "root": "$T/hubstore" } }
EOF
}
hub_cfg "$T/hub_nocoord.json" hub1 127.0.0.1:9
expect hub_unreachable_coordinator '127\.0\.0\.1:9' "$BIN/hub" serve -c "$T/hub_nocoord.json"

hub_cfg "$T/hub_wrongname.json" hub7 127.0.0.1:9
expect hub_name_not_in_certificate 'field name.*hub7' "$BIN/hub" serve -c "$T/hub_wrongname.json"

hub_cfg "$T/hub_badaddr.json" hub1 nocolon
expect hub_bad_coordinator_address 'coordinatorRPC\.address' "$BIN/hub" serve -c "$T/hub_badaddr.json"

expect hub_usage 'usage|-c' "$BIN/hub" serve

# Certificate CLI: keys 0600, a bad role is refused.
expect cert_bad_role 'role' "$BIN/coordinator" cert issue --role king --name x --ca "$C" --out "$T/x"
if [ "$(stat -c %a "$C/hub1_key.pem")" = 600 ] && [ "$(stat -c %a "$C/ca_key.pem")" = 600 ]; then
  pass cert_keys_are_0600
else
  fail cert_keys_are_0600 "modes $(stat -c %a "$C/hub1_key.pem") $(stat -c %a "$C/ca_key.pem")"
fi

# Two clusters side by side: distinct ports, both serving, both stop cleanly.
if deploy/local/cluster up --dir "$T/c1" --hubs 1 >"$T/c1.log" 2>&1 &&
   deploy/local/cluster up --dir "$T/c2" --hubs 1 >"$T/c2.log" 2>&1; then
  a=$(. "$T/c1/cluster.env"; echo "$COORDINATOR_ADDR $HUB1_ADDR $MARIADB_PORT")
  b=$(. "$T/c2/cluster.env"; echo "$COORDINATOR_ADDR $HUB1_ADDR $MARIADB_PORT")
  if [ "$a" != "$b" ] && [ -n "$a" ]; then pass two_clusters_side_by_side; else fail two_clusters_side_by_side "same addresses: $a / $b"; fi
  if out=$(deploy/local/cluster start-hub --dir "$T/c1" 1 2>&1); then
    fail start_hub_twice_is_refused "a second hub1 was started"
  elif echo "$out" | grep -q "already running"; then
    pass start_hub_twice_is_refused
  else
    fail start_hub_twice_is_refused "unexpected message: $out"
  fi
  p1=$(. "$T/c1/cluster.env"; echo "$HUB1_PID $COORDINATOR_PID")
  deploy/local/cluster down --dir "$T/c1" >/dev/null 2>&1
  deploy/local/cluster down --dir "$T/c2" >/dev/null 2>&1
  alive=0
  for p in $p1; do kill -0 "$p" 2>/dev/null && alive=1; done
  if [ $alive -eq 0 ]; then pass cluster_down_stops_everything; else fail cluster_down_stops_everything "a process survived"; fi
  # Processes stopped by SIGTERM exit cleanly and say so.
  if grep -q 'stopped' "$T/c1/hub1/hub.log" && grep -q 'stopped' "$T/c1/coordinator/coordinator.log"; then
    pass sigterm_is_a_clean_stop
  else
    fail sigterm_is_a_clean_stop "no 'stopped' line in the logs"
  fi
  if grep -q 'Sanitizer\|runtime error' "$T"/c1/*/*.log; then
    fail no_sanitizer_reports_in_cluster_logs "$(grep -l 'Sanitizer\|runtime error' "$T"/c1/*/*.log)"
  else
    pass no_sanitizer_reports_in_cluster_logs
  fi
else
  fail two_clusters_side_by_side "$(tail -n 20 "$T/c1.log" "$T/c2.log")"
fi
