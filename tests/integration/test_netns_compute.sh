#!/usr/bin/env bash
# Where coding runs (ioswitch.computeAt, docs/DESIGN.md §4), proven by the
# bytes on the wire of the multi-host harness: six hubs (hub1, hub4 in loc1
# with the client; hub2, hub5 in loc2; hub3, hub6 in loc3), each in its own
# network namespace, one user space each.
#   - an ec(4,6) object of X bytes (blocks of B = X/4) loses one shard;
#     RedundancyRecover under computeAt=auto rebuilds it on a hub: the hubs'
#     links carry at most (k+1)·B and the client's link only control
#     messages (a few KiB), no object byte;
#   - a redundancy change of it (ec(4,6) -> rep(2)) likewise codes on a hub:
#     nothing but control messages over the client's link;
#   - the same repair with computeAt=client goes through the client (k blocks
#     in, one out): the check above would catch a plan that codes there;
#   - with clientLinkCost 20 (a dear uplink) an upload sends the object once
#     (to a hub that encodes), not n/k times its size, and a read has one hub
#     decode and send it;
#   - after each step the object reads back identical.
# Prints PASS/FAIL lines for tests/run.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BIN=${JCS_BIN:-$ROOT/build/bin}
CTL=$BIN/jcsctl
T=$(mktemp -d "${JCS_ITEST_PREFIX:-/tmp/jcs-itest}-netnscompute-XXXXXX")
C=$T
trap 'deploy/local/cluster down --dir "$C" >/dev/null 2>&1; [ -n "${JCS_KEEP_TEST_DIRS:-}" ] || rm -rf "$T"' EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
# within NAME VALUE LO HI: LO <= VALUE <= HI (integers).
within() {
  if [ "$2" -ge "$3" ] && [ "$2" -le "$4" ]; then
    pass "$1 ($2 bytes)"
  else
    fail "$1" "$2 bytes, want $3..$4"
  fi
}

echo "$(date +%T) start"
HUBS="hub1 hub2 hub3 hub4 hub5 hub6"
# Unshaped links (the test counts bytes, not seconds); probes every 30 s so
# that few of them (16 KiB per pair) fall inside a measurement.
if ! deploy/local/cluster up --netns --wan-rate 0 --dir "$C" --hubs 6 --locations 3 \
  --test-interval 30 >"$T/up.log" 2>&1; then
  fail netns_compute_cluster_up "$(tail -n 20 "$T/up.log")"
  exit 0
fi
# shellcheck disable=SC1091
. "$C/cluster.env"
echo "$(date +%T) cluster up"

# bytes FILE FROM TO: one pair's counter in a `cluster traffic` snapshot.
bytes() { awk -v f="$2" -v t="$3" '$1 == f && $2 == t { print $3; found = 1 } END { if (!found) print 0 }' "$1"; }
delta() { echo $(($(bytes "$T/$2" "$3" "$4") - $(bytes "$T/$1" "$3" "$4"))); }
# client_bytes A B (snapshots named by snap): bytes between the client and every hub, both ways.
client_bytes() {
  local s=0 h
  for h in $HUBS; do s=$((s + $(delta "$1" "$2" client $h) + $(delta "$1" "$2" $h client))); done
  echo $s
}
# hub_bytes A B: bytes between hubs.
hub_bytes() {
  local s=0 f t
  for f in $HUBS; do for t in $HUBS; do
    [ $f = $t ] || s=$((s + $(delta "$1" "$2" $f $t)))
  done; done
  echo $s
}
snap() { deploy/local/cluster traffic --dir "$C" >"$T/$1"; }
api() { # METHOD PATH [BODY]
  curl -sS --max-time 300 --cacert "$JCS_CA" --cert "$JCS_CERT" --key "$JCS_KEY" -X "$1" \
    ${3:+-H 'Content-Type: application/json' --data "$3"} "$JCS_ENDPOINT$2"
}
readback() { # NAME: the object reads back identical
  rm -f "$T/back.bin"
  if "$CTL" get b/p/obj.bin "$T/back.bin" >/dev/null 2>"$T/err" && cmp -s "$T/obj.bin" "$T/back.bin"; then
    pass "$1"
  else
    fail "$1" "$(cat "$T/err")"
  fi
}
# lose N: deletes the shard of the object's block N from its hub's storage; echoes its hub.
lose() {
  "$CTL" --json info b/p/obj.bin >"$T/info.json" || return 1
  local hash hub
  hash=$(jq -r --argjson i "$1" '.blocks[] | select(.index == $i) | .fileHash' "$T/info.json")
  hub=$(jq -r --argjson i "$1" '.blocks[] | select(.index == $i) | .hub' "$T/info.json")
  find "$C/$hub/storage" -name "$hash" -type f -delete
  [ -z "$(find "$C/$hub/storage" -name "$hash" -type f)" ] && echo "$hub"
}
restart_client() { # JQ-EXPR
  deploy/local/cluster stop-client --dir "$C" >/dev/null 2>&1
  jq "$1" "$C/client/config.json" >"$C/client/config.json.tmp" &&
    mv "$C/client/config.json.tmp" "$C/client/config.json" && chmod 600 "$C/client/config.json"
  deploy/local/cluster start-client --dir "$C" >"$T/start.log" 2>&1
}
recover() { # -> the job's report in $T/rec.json
  api POST /v1/system/tickTock/run '{"job": "RedundancyRecover"}' >"$T/rec.json"
  jq -e '.data.report.blocksRebuilt // .report.blocksRebuilt | . == 1' "$T/rec.json" >/dev/null
}

# An ec(4,6) object of 4 MiB blocks (the chunk size is fitted to the object).
X=$((16 * 1048576))
head -c $X /dev/urandom >"$T/obj.bin"
if ! { "$CTL" bucket create b >/dev/null && "$CTL" package create -R 'ec(4,6)' b/p >/dev/null &&
  "$CTL" put "$T/obj.bin" b/p/obj.bin >/dev/null 2>"$T/err"; }; then
  fail netns_compute_upload "$(cat "$T/err")"
  exit 0
fi
"$CTL" --json info b/p/obj.bin >"$T/info.json"
B=$(jq '[.blocks[].size | tonumber] | max' "$T/info.json")
K=4
echo "$(date +%T) ec(4,6) object of $X bytes, blocks of $B bytes on $(jq -r '[.blocks[].hub] | join(" ")' "$T/info.json")"
# Control messages (plan fragments, results, stats, TLS records of them) stay
# far below one block; 256 KiB is generous for them and 1/16 of a block.
CTRL=262144
# Framing (TLS, HTTP/2, TCP/IP) adds a few percent to the block bytes.
slack() { echo $(($1 * 108 / 100 + CTRL)); }

# ---- repair under auto: on a hub, nothing through the client
lost=$(lose 1) || fail repair_auto_setup "could not delete block 1's shard"
snap t0
if recover; then pass "repair_auto_rebuilds_block_on_$lost"; else fail repair_auto_rebuilds "$(head -c 1500 "$T/rec.json")"; fi
snap t1
within repair_auto_client_link_carries_no_object_bytes "$(client_bytes t0 t1)" 0 $CTRL
within repair_auto_hub_links_at_most_k_plus_1_blocks "$(hub_bytes t0 t1)" $(((K - 1) * B)) "$(slack $(((K + 1) * B)))"
grep -q "repair: coding on hub" "$C/client/client.log" && pass repair_auto_logged_hub_site ||
  fail repair_auto_logged_hub_site "no \"repair: coding on hub\" in client.log"
readback repair_auto_reads_back_identical

echo "$(date +%T) repair under auto done"
# ---- redundancy change under auto: ec(4,6) -> rep(2) on hubs
snap t2
if "$CTL" redundancy set b/p/obj.bin 'rep:2' >/dev/null 2>"$T/err"; then pass change_auto_runs; else fail change_auto_runs "$(cat "$T/err")"; fi
snap t3
within change_auto_client_link_carries_no_object_bytes "$(client_bytes t2 t3)" 0 $CTRL
# K blocks in (at most X) and two copies out (2X), less what stays on a hub.
within change_auto_hub_links_at_most_3x "$(hub_bytes t2 t3)" $X "$(slack $((3 * X)))"
readback change_auto_reads_back_identical
# Back to ec(4,6) for the negative run (this one too codes on a hub).
"$CTL" redundancy set b/p/obj.bin 'ec(4,6)' >/dev/null 2>"$T/err" || fail change_back_to_ec "$(cat "$T/err")"

echo "$(date +%T) redundancy changes done"
# ---- the same repair with computeAt=client goes through the client
if ! restart_client '.ioswitch.computeAt = "client"'; then
  fail client_restart_computeat_client "$(tail -n 5 "$T/start.log")"
  exit 0
fi
"$CTL" --json info b/p/obj.bin >"$T/info.json"
B=$(jq '[.blocks[].size | tonumber] | max' "$T/info.json")
lost=$(lose 2) || fail repair_client_setup "could not delete block 2's shard"
snap t4
if recover; then pass "repair_client_rebuilds_block_on_$lost"; else fail repair_client_rebuilds "$(head -c 1500 "$T/rec.json")"; fi
snap t5
# k blocks in and the rebuilt one out.
within repair_client_goes_through_the_client "$(client_bytes t4 t5)" $(((K + 1) * B)) "$(slack $(((K + 1) * B)))"
readback repair_client_reads_back_identical

# ---- a client on a dear uplink (clientLinkCost 20): an upload sends the
# object once, to a hub of its location, which encodes and sends the blocks
# on; a read has one hub gather and decode, and only X crosses the client's link.
if ! restart_client '.ioswitch.computeAt = "auto" | .ioswitch.clientLinkCost = 20'; then
  fail client_restart_dear_uplink "$(tail -n 5 "$T/start.log")"
  exit 0
fi
snap t6
if "$CTL" put "$T/obj.bin" b/p/obj2.bin >/dev/null 2>"$T/err"; then pass dear_uplink_put; else fail dear_uplink_put "$(cat "$T/err")"; fi
snap t7
out=0
for h in $HUBS; do out=$((out + $(delta t6 t7 client $h))); done
# X once (an encoding client would send 1.5·X).
within dear_uplink_upload_sends_the_object_once "$out" $X "$(slack $X)"
snap t8
rm -f "$T/back.bin"
if "$CTL" get b/p/obj2.bin "$T/back.bin" >/dev/null 2>"$T/err" && cmp -s "$T/obj.bin" "$T/back.bin"; then
  pass dear_uplink_reads_back_identical
else
  fail dear_uplink_reads_back_identical "$(cat "$T/err")"
fi
snap t9
senders=0
for h in $HUBS; do [ "$(delta t8 t9 $h client)" -lt $((X / 2)) ] || senders=$((senders + 1)); done
if [ $senders = 1 ]; then pass dear_uplink_read_decoded_on_one_hub; else fail dear_uplink_read_decoded_on_one_hub "$senders hubs sent the client X/2 or more"; fi
within dear_uplink_read_brings_x "$(client_bytes t8 t9)" $X "$(slack $X)"
echo "$(date +%T) done"
