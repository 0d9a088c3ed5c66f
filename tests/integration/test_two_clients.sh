#!/usr/bin/env bash
# Two users, one cluster: two jcs clients (two metadata databases, two
# certificates, two REST endpoints) share the coordinator and the three
# hubs, and their user spaces share storage (the same directories on the
# same hubs). Both upload and read back identical bytes and see only their
# own buckets; both run background jobs, and the coordinator's leases keep
# two runs off one storage at once:
#   - hub1 is paused (SIGSTOP) so client's CheckShardStore hangs on it while
#     holding its leases (seen in the coordinator's lease table);
#   - client2's CheckShardStore, started then, waits: still running 4 s
#     later, its log names the holder; once hub1 resumes it runs after the
#     first run has ended (its startTime after the first one's end) and its
#     report shows the wait;
#   - client3, on storage of its own, is not held up by either;
#   - afterwards no lease is left at the coordinator.
# Prints PASS/FAIL lines for tests/run.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BIN=${JCS_BIN:-$ROOT/build/bin}
CTL=$BIN/jcsctl
# Under tests/run's prefix, so a test killed by its timeout still has its
# cluster taken down by tests/run.
T=$(mktemp -d "${JCS_ITEST_PREFIX:-/tmp/jcs-itest}-2cl-XXXXXX")
C=$T
HUB_STOPPED=
cleanup() {
  [ -z "$HUB_STOPPED" ] || kill -CONT "$HUB_STOPPED" 2>/dev/null
  deploy/local/cluster down --dir "$C" >/dev/null 2>&1
  [ -n "${JCS_KEEP_TEST_DIRS:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

if ! deploy/local/cluster up --dir "$C" --hubs 3 >"$T/up.log" 2>&1; then
  fail cluster_up "$(tail -n 20 "$T/up.log")"
  exit 0
fi
if deploy/local/cluster add-client --dir "$C" client2 --share-spaces >"$T/add2.log" 2>&1 &&
  deploy/local/cluster add-client --dir "$C" client3 >"$T/add3.log" 2>&1; then
  pass add_clients
else
  fail add_clients "$(tail -n 20 "$T/add2.log" "$T/add3.log")"
  exit 0
fi
# shellcheck disable=SC1091
. "$C/cluster.env"
# as NAME CMD...: jcsctl as one of the users.
as() {
  local n=$1 u
  shift
  if [ "$n" = client ]; then
    "$CTL" --endpoint "$JCS_ENDPOINT" --ca "$JCS_CA" --cert "$JCS_CERT" --key "$JCS_KEY" "$@"
  else
    u=$(echo "$n" | tr '[:lower:]' '[:upper:]')
    eval "\"$CTL\" --endpoint \"\$${u}_ENDPOINT\" --ca \"\$${u}_CA\" --cert \"\$${u}_CERT\" --key \"\$${u}_KEY\" \"\$@\""
  fi
}
sql() { mariadb --no-defaults --socket="$MARIADB_SOCKET" -uroot -N -B jcs_coordinator -e "$1"; }

# ---- two users, two databases: each sees its own buckets and reads its own bytes
if [ "$CLIENT2_ENDPOINT" != "$JCS_ENDPOINT" ] && as client2 space ls --json >"$T/sp2.json" &&
  [ "$(jq -r '[.userSpaces[].name] | sort | join(",")' "$T/sp2.json")" = hub1,hub2,hub3 ]; then
  pass second_client_serves_with_spaces_on_every_hub
else
  fail second_client_serves_with_spaces_on_every_hub "$(cat "$T/sp2.json" 2>/dev/null)"
fi
ok=1
for n in client client2; do
  head -c 3000000 /dev/urandom >"$T/$n.bin"
  as $n bucket create photos >/dev/null 2>"$T/err" &&
    as $n package create -R 'ec(2,3)' photos/p >/dev/null 2>>"$T/err" &&
    as $n bucket create "only-$n" >/dev/null 2>>"$T/err" &&
    as $n put "$T/$n.bin" photos/p/same/path.bin >/dev/null 2>>"$T/err" || { ok=0; fail "upload_$n" "$(cat "$T/err")"; }
done
[ $ok = 1 ] && pass both_clients_upload_to_the_same_names
for n in client client2; do
  if as $n get photos/p/same/path.bin "$T/$n.back" >/dev/null 2>"$T/err" && cmp -s "$T/$n.bin" "$T/$n.back"; then
    pass "${n}_reads_its_own_bytes"
  else
    fail "${n}_reads_its_own_bytes" "$(cat "$T/err")"
  fi
done
if as client bucket ls --json | jq -e '[.buckets[].name] | index("only-client2") == null' >/dev/null &&
  as client2 bucket ls --json | jq -e '[.buckets[].name] | index("only-client") == null and index("only-client2") != null' >/dev/null; then
  pass each_client_sees_only_its_own_buckets
else
  fail each_client_sees_only_its_own_buckets "$(as client bucket ls 2>&1; as client2 bucket ls 2>&1)"
fi

# ---- jobs from both at once (no shared hang): both finish, each leased 3 storages
as client --json job run CheckShardStore >"$T/j1.json" 2>"$T/j1.err" &
p1=$!
as client2 --json job run CheckShardStore >"$T/j2.json" 2>"$T/j2.err" &
p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
if [ $r1 = 0 ] && [ $r2 = 0 ] && jq -e '.report.leasedStorages == 3' "$T/j1.json" >/dev/null &&
  jq -e '.report.leasedStorages == 3' "$T/j2.json" >/dev/null; then
  pass jobs_from_both_clients_run_with_leases
else
  fail jobs_from_both_clients_run_with_leases "$(cat "$T/j1.err" "$T/j2.err" "$T/j1.json" "$T/j2.json" | head -c 800)"
fi

# ---- serialization: client's run holds the leases (hub1 paused under it)
kill -STOP "$HUB1_PID" && HUB_STOPPED=$HUB1_PID
l1=$(wc -l <"$C/client/client.log")
l2=$(wc -l <"$C/client2/client.log")
as client --json job run CheckShardStore >"$T/s1.json" 2>"$T/s1.err" &
p1=$!
held=""
for ((i = 0; i < 100; i++)); do
  held=$(sql "SELECT holder FROM lease WHERE name LIKE 'jcs/space/local/%' AND holder_cn = 'client'" 2>/dev/null | head -n 1)
  [ -n "$held" ] && break
  sleep 0.1
done
if [ -n "$held" ] && [ "$(sql "SELECT COUNT(*) FROM lease WHERE holder_cn = 'client'")" = 3 ]; then
  pass "coordinator_shows_three_leases_held ($held)"
else
  fail coordinator_shows_three_leases_held "lease table: $(sql 'SELECT name, holder FROM lease' 2>&1)"
fi
as client2 --json job run CheckShardStore >"$T/s2.json" 2>"$T/s2.err" &
p2=$!
as client3 --json job run CheckShardStore >"$T/s3.json" 2>"$T/s3.err" &
p3=$!
sleep 4
if kill -0 $p2 2>/dev/null; then
  pass second_client_run_waits_while_the_first_holds_the_storage
else
  fail second_client_run_waits_while_the_first_holds_the_storage "it ended: $(cat "$T/s2.json" "$T/s2.err" | head -c 600)"
fi
if tail -n +"$((l2 + 1))" "$C/client2/client.log" | grep -q 'CheckShardStore: waiting because lock "jcs/space/local/hub[0-9]*:.*" is held exclusively by client client/CheckShardStore'; then
  pass waiting_run_names_the_holder
else
  fail waiting_run_names_the_holder "$(tail -n +"$((l2 + 1))" "$C/client2/client.log" | grep -i -m 3 'lock\|lease')"
fi
kill -CONT "$HUB1_PID"
HUB_STOPPED=
wait $p1; r1=$?
wait $p2; r2=$?
wait $p3; r3=$?
if [ $r1 = 0 ] && [ $r2 = 0 ]; then
  pass both_runs_finish_after_the_hub_resumes
else
  fail both_runs_finish_after_the_hub_resumes "$(cat "$T/s1.err" "$T/s2.err")"
fi
# Times in ms since the epoch: the second run started after the first had ended.
ms() { date -d "$(jq -r .report.startTime "$1")" +%s%3N; }
if [ $r1 = 0 ] && [ $r2 = 0 ]; then
  s1=$(ms "$T/s1.json") d1=$(jq .report.durationMs "$T/s1.json")
  s2=$(ms "$T/s2.json") w2=$(jq .report.leaseWaitMs "$T/s2.json")
  if [ "$s2" -ge $((s1 + d1 - 5)) ]; then
    pass "runs_on_shared_storage_do_not_overlap (first $s1+${d1} ms, second at $s2)"
  else
    fail runs_on_shared_storage_do_not_overlap "first started $s1 and ran $d1 ms; second started $s2"
  fi
  if [ "$w2" -ge 3000 ]; then
    pass "second_run_reports_its_wait ($w2 ms)"
  else
    fail second_run_reports_its_wait "leaseWaitMs $w2"
  fi
fi
if [ $r3 = 0 ] && [ "$(jq .report.leaseWaitMs "$T/s3.json")" -lt 1000 ]; then
  pass "client_on_its_own_storage_does_not_wait ($(jq .report.leaseWaitMs "$T/s3.json") ms)"
else
  fail client_on_its_own_storage_does_not_wait "$(cat "$T/s3.err" "$T/s3.json" | head -c 600)"
fi
left=$(sql "SELECT COUNT(*) FROM lease" 2>&1)
if [ "$left" = 0 ]; then pass no_lease_left_after_the_runs; else fail no_lease_left_after_the_runs "$left leases: $(sql 'SELECT name, holder FROM lease')"; fi

# ---- both still read their bytes after the jobs
for n in client client2; do
  if as $n get photos/p/same/path.bin "$T/$n.back2" >/dev/null 2>"$T/err" && cmp -s "$T/$n.bin" "$T/$n.back2"; then
    pass "${n}_reads_its_bytes_after_the_jobs"
  else
    fail "${n}_reads_its_bytes_after_the_jobs" "$(cat "$T/err")"
  fi
done
