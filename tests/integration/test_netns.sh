#!/usr/bin/env bash
# The multi-host harness: `cluster up --netns` puts MariaDB, the coordinator,
# four hubs (hub1 and hub4 in loc1, hub2 in loc2, hub3 in loc3) and the
# client (loc1) each in a network namespace of its own on a bridge of the
# cluster's own, links between locations limited to 20 Mbit/s. The
# coordinator's latency matrix shows the shaped links (hub2, hub3) several
# ms slower than the local one (hub4). Through jcsctl and curl on this host
# (its leg on the bridge): an ec(2,3) upload of X bytes sends about 1.5·X
# out of the client's namespace (X/2 to each of three hubs) and nothing
# between hubs, no faster than the shaped links allow; a read brings X in
# from two hubs and X out to the user, bytes identical; `down` leaves no
# namespace, veth or process.
# Prints PASS/FAIL lines for tests/run.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BIN=${JCS_BIN:-$ROOT/build/bin}
CTL=$BIN/jcsctl
# Under tests/run's prefix, so a test killed by its timeout still has its
# cluster (namespaces included) taken down by tests/run.
T=$(mktemp -d "${JCS_ITEST_PREFIX:-/tmp/jcs-itest}-netns-XXXXXX")
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

RATE_MBIT=20
echo "kernel qdiscs: $(bash -c ". deploy/local/netns.sh; ns_kernel_offers")"
if ! deploy/local/cluster up --netns --wan-rate ${RATE_MBIT}mbit --dir "$C" --hubs 4 --locations 3 \
  --test-interval 2 >"$T/up.log" 2>&1; then
  fail netns_cluster_up "$(tail -n 20 "$T/up.log")"
  exit 0
fi
pass netns_cluster_up
# shellcheck disable=SC1091
. "$C/cluster.env"
# shellcheck disable=SC1091
. "$C/netns.env"

# ---- every process in its own namespace, with its own address
bad=""
for p in coordinator:$COORDINATOR_PID hub1:$HUB1_PID hub2:$HUB2_PID hub3:$HUB3_PID hub4:$HUB4_PID client:$JCS_PID \
  mariadb:$(sed -n 's/^MARIADB_PID=//p' "$C/mariadb/mariadb.env"); do
  want=$NS_PREFIX-${p%%:*}
  got=$(ip netns identify "${p#*:}" 2>/dev/null)
  [ "$got" = "$want" ] || bad="$bad ${p%%:*} in \"$got\""
done
if [ -z "$bad" ]; then pass every_process_in_its_own_namespace; else fail every_process_in_its_own_namespace "$bad"; fi
addrs="$HUB1_ADDR $HUB2_ADDR $HUB3_ADDR $HUB4_ADDR $COORDINATOR_ADDR ${JCS_ENDPOINT#https://}"
if [ "$(for a in $addrs; do echo "${a%:*}"; done | sort -u | grep -c "^$NS_SUBNET\.")" = 6 ]; then
  pass own_address_on_the_cluster_bridge
else
  fail own_address_on_the_cluster_bridge "$addrs (subnet $NS_SUBNET.0/24)"
fi
# The client (loc1) has one shaped class per other location at the WAN rate.
if [ "$(tc -n "$NS_PREFIX-client" class show dev eth0 | grep -c "rate ${RATE_MBIT}Mbit")" = 2 ]; then
  pass client_links_to_other_locations_shaped
else
  fail client_links_to_other_locations_shaped "$(tc -n "$NS_PREFIX-client" class show dev eth0)"
fi
if "$CTL" --json hub ls >"$T/hubs.json" 2>"$T/err" &&
  jq -e '[.hubs[] | select(.state == "online")] | length == 4' "$T/hubs.json" >/dev/null; then
  pass hubs_online_across_namespaces
else
  fail hubs_online_across_namespaces "$(cat "$T/err" "$T/hubs.json")"
fi

# ---- the latency matrix (hubs probe each other every 2 s) shows the shaping:
# the client's latency to a hub is measured from the hubs of its location (loc1).
lat() { jq -r --arg h "$1" '.hubs[] | select(.name == $h) | .latencyMs // "null"' "$T/hubs.json"; }
for ((i = 0; i < 30; i++)); do
  "$CTL" --json hub ls >"$T/hubs.json" 2>/dev/null
  [ "$(lat hub2)" != null ] && [ "$(lat hub3)" != null ] && [ "$(lat hub4)" != null ] && break
  sleep 1
done
l2=$(lat hub2) l3=$(lat hub3) l4=$(lat hub4)
echo "latency from loc1: hub2 $l2 ms, hub3 $l3 ms (shaped), hub4 $l4 ms (same location)"
# The probe is 16 KiB: at 20 Mbit/s about 6 ms more than within a location.
if [ "$l4" != null ] && awk -v a="$l2" -v b="$l3" -v c="$l4" 'BEGIN { exit !(a >= c + 3 && b >= c + 3) }'; then
  pass "latency_matrix_reflects_the_shaping (hub2 $l2, hub3 $l3 vs hub4 $l4 ms)"
else
  fail latency_matrix_reflects_the_shaping "hub2 $l2, hub3 $l3, hub4 $l4 ms: $(cat "$T/hubs.json")"
fi

# bytes FILE FROM TO: the counter of one pair in a `cluster traffic` snapshot.
bytes() { awk -v f="$2" -v t="$3" '$1 == f && $2 == t { print $3; found = 1 } END { if (!found) print 0 }' "$1"; }
# delta A B FROM TO
delta() { echo $(($(bytes "$2" "$3" "$4") - $(bytes "$1" "$3" "$4"))); }

# ---- upload: X = one full stripe of ec(2,3) (2 chunks of 5 MiB), so each block is X/2
X=10485760
head -c $X /dev/urandom >"$T/obj.bin"
"$CTL" bucket create b >/dev/null && "$CTL" package create -R 'ec(2,3)' b/p >/dev/null ||
  fail package_create "jcsctl failed"
deploy/local/cluster traffic --dir "$C" >"$T/t0"
t0=$(date +%s%N)
if "$CTL" put "$T/obj.bin" b/p/obj.bin >/dev/null 2>"$T/err"; then pass jcsctl_put; else fail jcsctl_put "$(cat "$T/err")"; fi
ms=$((($(date +%s%N) - t0) / 1000000))
deploy/local/cluster traffic --dir "$C" >"$T/t1"
cat "$T/t1"
out=0
got=0
for h in hub1 hub2 hub3 hub4; do
  d=$(delta "$T/t0" "$T/t1" client $h)
  out=$((out + d))
  # Three hubs get a block: X/2, plus TLS, HTTP/2 and TCP/IP framing (3-6%:
  # more when the sender is slow and sends part-filled packets, as under
  # ASan); the fourth gets none (a few control messages at most). A second
  # copy of anything would be far beyond these bounds.
  if [ "$d" -ge $((X / 4)) ]; then
    got=$((got + 1))
    within "upload_client_to_${h}_is_half_x" "$d" $((X / 2)) $((X / 2 * 108 / 100))
  else
    within "upload_client_to_${h}_nothing" "$d" 0 $((X / 100))
  fi
done
if [ $got = 3 ]; then pass upload_three_hubs_get_a_block; else fail upload_three_hubs_get_a_block "$got hubs got one"; fi
within upload_client_sends_1.5x "$out" $((X * 3 / 2)) $((X * 3 / 2 * 108 / 100))
within upload_user_to_client_is_x "$(delta "$T/t0" "$T/t1" user client)" $X $((X * 108 / 100))
# No block goes hub to hub: a pair moving one would carry X/2. What does
# cross is the connectivity probe (16 KiB per pair every 2 s).
hh=""
for f in hub1 hub2 hub3 hub4; do
  for t in hub1 hub2 hub3 hub4; do
    [ $f = $t ] && continue
    d=$(delta "$T/t0" "$T/t1" $f $t)
    [ "$d" -lt $((X / 10)) ] || hh="$hh $f->$t:$d"
  done
done
if [ -z "$hh" ]; then pass upload_no_block_between_hubs; else fail upload_no_block_between_hubs "$hh"; fi
# At least one block crosses a 20 Mbit/s link (ec(2,3) places one block per
# location first, and loc1 has the client): at least X/2·8/20e6 s.
min_ms=$((X / 2 * 8 / (RATE_MBIT * 1000)))
if [ "$ms" -ge $((min_ms * 9 / 10)) ]; then
  pass "shaped_link_bounds_the_upload (${ms} ms >= ${min_ms} ms at ${RATE_MBIT} Mbit/s)"
else
  fail shaped_link_bounds_the_upload "${ms} ms, a ${RATE_MBIT} Mbit/s link needs ${min_ms} ms"
fi

# ---- download through curl: two blocks in (X), X out to the user, identical
code=$(curl -sS --max-time 120 --cacert "$JCS_CA" --cert "$JCS_CERT" --key "$JCS_KEY" \
  -o "$T/back.bin" -w '%{http_code}' "$JCS_ENDPOINT/v1/object/downloadByPath?packageID=$("$CTL" --json package ls b | jq '.packages[0].packageID')&path=obj.bin")
if [ "$code" = 200 ] && cmp -s "$T/obj.bin" "$T/back.bin"; then pass curl_read_identical; else fail curl_read_identical "HTTP $code"; fi
deploy/local/cluster traffic --dir "$C" >"$T/t2"
in=0
for h in hub1 hub2 hub3 hub4; do in=$((in + $(delta "$T/t1" "$T/t2" $h client))); done
within download_hubs_to_client_is_x "$in" $X $((X * 108 / 100))
within download_client_to_user_is_x "$(delta "$T/t1" "$T/t2" client user)" $X $((X * 108 / 100))

# ---- down leaves nothing
deploy/local/cluster down --dir "$C" >"$T/down.log" 2>&1
left=$(ip netns list | grep "^$NS_PREFIX-"; ip -o link show | grep "$NS_HOSTLEG"; pgrep -f "serve -c $C/")
if [ -z "$left" ]; then pass down_leaves_nothing; else fail down_leaves_nothing "$left"; fi
