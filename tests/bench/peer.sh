#!/usr/bin/env bash
# tests/bench/peer.sh [BUILD_DIR] [SWIFT_PEER_DIR] - the workloads of load.sh
# run against JCS-C and against OpenStack Swift (EC 4+2 over ISA-L and 3
# replicas, TLS with a required client certificate through haproxy) in the
# same run on the same machine, and the ratios JCS-C / Swift.
#
# Swift comes from SWIFT_PEER_DIR (default /work/shared/peers/swift), used
# only by calling its scripts: setup.sh starts an all-in-one Swift in
# SWIFT_WORK (default /tmp/jcs-swiftpeer; installs its Debian packages the
# first time), bench.sh measures it (1 GiB with curl, the download checked by
# sha256; 4 KiB with its own Python client), teardown.sh stops what setup.sh
# started (KEEP_SWIFT=1 leaves it running). The 4 KiB figures of both
# systems also come from the same C client (loadgen), so the ratio compares
# servers, not clients.
# Environment: DURATION (10), CONC (16), BIG_MIB (1024), SWIFT_WORK, KEEP_SWIFT.
set -u
BUILD=${1:-build}
PEER=${2:-/work/shared/peers/swift}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
export DURATION=${DURATION:-10} CONC=${CONC:-16} BIG_MIB=${BIG_MIB:-1024}
LG=$ROOT/$BUILD/tests/bench/loadgen
W=${SWIFT_WORK:-/tmp/jcs-swiftpeer}
OUT=$(mktemp -d /tmp/jcs-peer-XXXXXX)
for f in setup.sh bench.sh teardown.sh; do
  [ -x "$PEER/$f" ] || { echo "peer.sh: $PEER/$f is missing (SWIFT_PEER=...)"; exit 1; }
done
[ -x "$LG" ] || { echo "peer.sh: $LG is not built (make benches)"; exit 1; }

echo "== JCS-C (tests/bench/load.sh; machine shared with other engineers: $(uptime | sed 's/.*load average/load average/'))"
RSS_REQUESTS=0 tests/bench/load.sh "$BUILD" | tee "$OUT/jcs.txt"

echo "== OpenStack Swift ($PEER, in $W)"
started=0
if ! compgen -G "$W/run/*.pid" >/dev/null; then
  mkdir -p "$W"
  if ! "$PEER/setup.sh" "$W" >"$OUT/setup.log" 2>&1; then
    echo "peer.sh: Swift's setup.sh failed:"; tail -n 20 "$OUT/setup.log"; exit 1
  fi
  started=1
fi
stop_swift() {
  if [ "$started" = 1 ] && [ "${KEEP_SWIFT:-0}" != 1 ]; then
    "$PEER/teardown.sh" "$W" >/dev/null 2>&1
  fi
  rm -rf "$OUT"
}
trap stop_swift EXIT
. "$W/swiftpeer.env"
SURL=https://127.0.0.1:$MTLS_PORT
STLS=(--cacert "$CACERT" --cert "$CLIENT_CERT" --key "$CLIENT_KEY")
TOKEN=$(curl -sf "${STLS[@]}" -D - -o /dev/null -H "X-Auth-User: $AUTH_USER" -H "X-Auth-Key: $AUTH_KEY" \
  "$SURL/auth/v1.0" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-auth-token" {print $2}')
[ -n "$TOKEN" ] || { echo "peer.sh: no token from Swift at $SURL"; exit 1; }
echo "4 KiB objects with loadgen (the client load.sh uses), $CONC connections, ${DURATION}s each:"
for pol in ec42 rep3; do
  cont=lg-$pol-$$
  curl -sf "${STLS[@]}" -o /dev/null -X PUT -H "X-Auth-Token: $TOKEN" -H "X-Storage-Policy: $pol" \
    "$SURL/v1/$ACCOUNT/$cont" || { echo "peer.sh: cannot create container $cont"; exit 1; }
  for op in put get; do
    r=$("$LG" --target swift --url "$SURL/v1/$ACCOUNT/$cont" --ca "$CACERT" --cert "$CLIENT_CERT" \
      --key "$CLIENT_KEY" --token "$TOKEN" --op $op --state "$OUT/state-$pol" --size 4096 \
      --conc "$CONC" --duration "$DURATION")
    printf '  %-5s %-4s %s\n' "$pol" "$op" "$r"
    echo "FIG swift_${op}_4KiB_$pol $(sed 's/.*ops_s=\([0-9]*\).*/\1/' <<<"$r") ops/s" >>"$OUT/swift.txt"
  done
done
echo "Swift's own bench.sh (mtls, 1 run: 1 GiB with curl, 4 KiB with its Python client):"
MODES=mtls NO_MTLS=0 SIZE_MIB=$BIG_MIB "$PEER/bench.sh" "$W" 1 >"$OUT/bench.log" 2>&1 ||
  { echo "peer.sh: Swift's bench.sh failed:"; tail -n 20 "$OUT/bench.log"; exit 1; }
sed -n '/^mode /,$p' "$OUT/bench.log" | grep -v '^\[bench\]' | sed 's/^/  /'
awk '/^FIG / {
  kv = ""; for (i = 2; i <= NF; i++) { split($i, a, "="); v[a[1]] = a[2] }
  if (v["test"] ~ /MiB$/) { t = v["test"]; sub(/_[0-9]+MiB$/, "", t); printf "FIG swift_%s_1GiB_%s %s MiB/s\n", t, v["policy"], v["MiB_s"] }
}' "$OUT/bench.log" >>"$OUT/swift.txt"

val() { awk -v k="$2" '$1 == "FIG" && $2 == k {print $3}' "$1" | tail -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.1fx", a / b }'; }
echo
echo "JCS-C / Swift, same run, same machine (shared with other engineers: figures are noisy):"
printf '  %-34s %12s %12s %8s %8s\n' workload JCS-C Swift ratio target
row() { # label jcs-key swift-key unit target
  local j s
  j=$(val "$OUT/jcs.txt" "$2"); s=$(val "$OUT/swift.txt" "$3")
  printf '  %-34s %12s %12s %8s %8s\n' "$1" "${j:--} $4" "${s:--} $4" "$(ratio "$j" "$s")" "$5"
}
row "1 GiB ec PUT (curl, file)" put_1GiB_ec46 swift_put_1GiB_ec42 MiB/s ">=3x"
row "1 GiB ec GET (curl, file)" get_1GiB_ec46 swift_get_1GiB_ec42 MiB/s ">=3x"
row "4 KiB ec(4,6) / EC 4+2 PUT" put_4KiB_ec46 swift_put_4KiB_ec42 /s ">=20x"
row "4 KiB ec(4,6) / EC 4+2 GET" get_4KiB_ec46 swift_get_4KiB_ec42 /s ">=20x"
row "4 KiB rep(3) PUT" put_4KiB_rep3 swift_put_4KiB_rep3 /s ""
row "4 KiB rep(3) GET" get_4KiB_rep3 swift_get_4KiB_rep3 /s ""
