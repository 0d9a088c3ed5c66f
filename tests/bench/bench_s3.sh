#!/usr/bin/env bash
# The S3 gateway end to end, as a user measures it, beside the REST API of
# the same run (same cluster of 6 hubs, same ec(4,6) redundancy):
#   - 1 GiB PUT and GET with awscli (`aws s3 cp`, its default 8 MiB parts and
#     10 threads) and with boto3 in one stream (put_object / get_object, as
#     curl does) through the S3 port, and the same file with curl over mTLS
#     through the REST API (/v1/object/upload, /v1/object/downloadByPath);
#     each download's SHA-256 is checked against the source outside the timing;
#     printed with the S3/REST ratio (target: at least 90 %); also curl
#     itself as the S3 client (--aws-sigv4, UNSIGNED-PAYLOAD): the same client
#     on both sides, so that ratio is the gateway's own cost;
#   - beside each transfer the CPU seconds per GiB of jcs, of the hubs and of
#     the client (the transfers run interleaved: REST, then each S3 client);
#   - 4 KiB objects PUT and GET per second over 16 keep-alive connections,
#     S3 (loadgen --target s3: libcurl signs SigV4, UNSIGNED-PAYLOAD) and
#     REST (loadgen --target jcs, mTLS) into ec(4,6) packages, every GET's
#     bytes checked, with the CPU ms per request of jcs, hubs and MariaDB;
#   - jcs serve's peak RSS (VmHWM) before and after awscli's 10 concurrent
#     parts (bounded by s3.maxTransfers).
# The clients run on this machine too: on 2 cores they take CPU from the
# servers, in the same way for S3 and REST.
#
#   tests/bench/bench_s3.sh [BUILD_DIR] [MiB]     (default build, 1024)
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BUILD=${1:-build}
MIB=${2:-1024}
export JCS_BIN=$ROOT/$BUILD/bin
T=$(mktemp -d /tmp/jcs-bench-s3-XXXXXX)
CL=$T/cluster
trap 'deploy/local/cluster down --dir "$CL" >/dev/null 2>&1; rm -rf "$T"' EXIT
die() { echo "  bench_s3: FAILED: $*"; exit 1; }

deploy/local/cluster up --dir "$CL" --hubs 6 >"$T/up.log" 2>&1 || die "cluster up: $(tail -n 5 "$T/up.log")"
set -a
. "$CL/cluster.env"
set +a
[ -n "${AWS_ENDPOINT_URL:-}" ] && [ -n "${AWS_CA_BUNDLE:-}" ] || die "cluster.env exports no S3 endpoint (AWS_ENDPOINT_URL, AWS_CA_BUNDLE)"
CTL=$JCS_BIN/jcsctl
AWS=
for a in /root/.pyenv/shims/aws /usr/bin/aws; do [ -x "$a" ] && "$a" --version >/dev/null 2>&1 && { AWS=$a; break; }; done
[ -n "$AWS" ] || die "no awscli (make deps installs Debian's)"
export AWS_CONFIG_FILE=$T/aws.config
printf '[default]\nregion = %s\ns3 =\n  addressing_style = path\n' "$AWS_DEFAULT_REGION" >"$AWS_CONFIG_FILE"
# The same with the one setting that changes the picture (README): 64 MiB parts, so
# 16 parts per GiB instead of 128, each paying its request, plan and commit once.
printf '[default]\nregion = %s\ns3 =\n  addressing_style = path\n  multipart_chunksize = 64MB\n' \
  "$AWS_DEFAULT_REGION" >"$T/aws64.config"
A=("$AWS" --endpoint-url "$AWS_ENDPOINT_URL" --only-show-errors)

"$CTL" -q bucket create bench >/dev/null || die "bucket create"
"$CTL" -q package create -R 'ec(4,6)' bench/rest >/dev/null || die "package create"
"$CTL" -q package create -R 'ec(4,6)' bench/s3 >/dev/null || die "package create"
PKG=$("$CTL" --json package ls bench | jq '.packages[] | select(.name == "rest") | .packageID')

head -c $((MIB * 1024 * 1024)) /dev/urandom >"$T/src"
WANT=$(sha256sum <"$T/src" | cut -d' ' -f1)
now() { date +%s.%N; }
mibps() { awk -v m="$MIB" -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", m / (b - a) }'; }
check_sha() { [ "$(sha256sum <"$1" | cut -d' ' -f1)" = "$WANT" ] || die "$2: the downloaded bytes differ from the source"; rm -f "$1"; }
C=(curl -sS --fail --cacert "$JCS_CA" --cert "$JCS_CERT" --key "$JCS_KEY")

# CPU seconds (user+system, /proc/PID/stat) per GiB of jcs, of the six hubs
# and of the client tool (/usr/bin/time) for each transfer: on a shared
# machine the wall-clock ratio is noisy, these say what each path costs.
HUBS=$(cat "$CL"/hub*/pid)
HZ=$(getconf CLK_TCK)
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }
declare -A WALL CPU
# step NAME CMD...: the transfer's wall seconds and CPU s/GiB (jcs hubs client).
step() {
  local name=$1; shift
  local j0 h0 t0 t1
  sync
  j0=$(ticks "$JCS_PID"); h0=$(ticks $HUBS); t0=$(now)
  /usr/bin/time -f '%U %S' -o "$T/time" "$@" || die "$name"
  t1=$(now)
  WALL[$name]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
  CPU[$name]=$(awk -v j=$(($(ticks "$JCS_PID") - j0)) -v h=$(($(ticks $HUBS) - h0)) -v c="$(tail -n 1 "$T/time")" \
    -v hz="$HZ" -v mb="$MIB" 'BEGIN { split(c, x, " "); g = 1024 / mb
      printf "%5.2f %5.2f %6.2f", j / hz * g, h / hz * g, (x[1] + x[2]) * g }')
}
# One stream each way with boto3 (whatever checksum its botocore sends by
# default: CRC32 trailers in aws-chunked bodies since 1.36).
PY=/usr/bin/python3
for py in /root/.pyenv/versions/*/bin/python3; do "$py" -c 'import boto3' 2>/dev/null && { PY=$py; break; }; done
cat >"$T/b3.py" <<'PYEOF'
import os, sys, boto3
from botocore.config import Config
c = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], verify=os.environ["AWS_CA_BUNDLE"],
                 config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}, read_timeout=600))
if sys.argv[1] == "put":
    with open(sys.argv[2], "rb") as f:
        c.put_object(Bucket="bench", Key="s3/one.bin", Body=f)
else:
    with open(sys.argv[2], "wb") as f:
        b = c.get_object(Bucket="bench", Key="s3/one.bin")["Body"]
        for chunk in iter(lambda: b.read(1 << 20), b""):
            f.write(chunk)
PYEOF
BVER=$("$PY" -c 'import boto3; print(boto3.__version__)')
# curl itself as an S3 client (SigV4, UNSIGNED-PAYLOAD, one stream): the
# same client as the REST line, so the ratio is the gateway's own cost.
S=(curl -sS --fail --cacert "$AWS_CA_BUNDLE" --aws-sigv4 "aws:amz:$AWS_DEFAULT_REGION:s3"
  --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")

echo "  $MIB MiB, ec(4,6) on 6 hubs; S3 clients: $("$AWS" --version 2>&1 | cut -d' ' -f1,2,5), boto3 $BVER, curl --aws-sigv4; REST client: curl"
# Interleaved: REST, then each S3 client, for PUT then GET.
step rest_put "${C[@]}" -o /dev/null -F "info={\"packageID\":$PKG};type=application/json" -F "files=@$T/src;filename=big.bin" \
  "$JCS_ENDPOINT/v1/object/upload"
# jcs serve's peak resident memory: the S3 path must stream like REST does.
hwm() { awk '/^VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$JCS_PID/status"; }
hwm_rest=$(hwm)
step curl_put "${S[@]}" -o /dev/null -T "$T/src" "$AWS_ENDPOINT_URL/bench/s3/curl.bin"
step aws_put "${A[@]}" s3 cp "$T/src" s3://bench/s3/big.bin
hwm_aws=$(hwm)
step aws64_put env AWS_CONFIG_FILE="$T/aws64.config" "${A[@]}" s3 cp "$T/src" s3://bench/s3/big64.bin
step b3_put "$PY" "$T/b3.py" put "$T/src"
step rest_get "${C[@]}" -o "$T/rest.out" "$JCS_ENDPOINT/v1/object/downloadByPath?packageID=$PKG&path=big.bin"
check_sha "$T/rest.out" "REST GET"
step curl_get "${S[@]}" -o "$T/curl.out" "$AWS_ENDPOINT_URL/bench/s3/curl.bin"
check_sha "$T/curl.out" "curl S3 GET"
step aws_get "${A[@]}" s3 cp s3://bench/s3/big.bin "$T/s3.out"
check_sha "$T/s3.out" "S3 GET"
step b3_get "$PY" "$T/b3.py" get "$T/one.out"
check_sha "$T/one.out" "boto3 GET"
hwm_s3=$(hwm)
# What S3 stored is what jcsctl reads (outside the timing).
"$CTL" -q get bench/s3/big.bin - | sha256sum | grep -q "^$WANT " || die "jcsctl reads other bytes than the S3 PUT sent"

rate() { awk -v m="$MIB" -v s="${WALL[$1]}" 'BEGIN { printf "%.0f", m / s }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", 100 * a / b }'; }
printf '  %-34s %6s  %5s  CPU s/GiB: jcs  hubs client\n' "" "MiB/s" "S3/REST"
for d in put get; do
  D=$(echo "$d" | tr a-z A-Z)
  printf '  %-34s %6s  %5s        %s\n' "$D REST (curl, mTLS)" "$(rate rest_$d)" "" "${CPU[rest_$d]}"
  printf '  %-34s %6s  %4s%%        %s\n' "$D S3 curl --aws-sigv4 (1 stream)" "$(rate curl_$d)" "$(pct "$(rate curl_$d)" "$(rate rest_$d)")" "${CPU[curl_$d]}"
  printf '  %-34s %6s  %4s%%        %s\n' "$D S3 aws s3 cp (8 MiB parts x10)" "$(rate aws_$d)" "$(pct "$(rate aws_$d)" "$(rate rest_$d)")" "${CPU[aws_$d]}"
  [ $d = put ] && printf '  %-34s %6s  %4s%%        %s\n' "$D S3 aws s3 cp (64 MiB parts x10)" "$(rate aws64_$d)" "$(pct "$(rate aws64_$d)" "$(rate rest_$d)")" "${CPU[aws64_$d]}"
  printf '  %-34s %6s  %4s%%        %s\n' "$D S3 boto3 (1 stream)" "$(rate b3_$d)" "$(pct "$(rate b3_$d)" "$(rate rest_$d)")" "${CPU[b3_$d]}"
done
echo "  (target: S3 >= 90 % of REST)"
printf '  %-38s %6s MiB after the REST PUT, %s MiB after awscli'"'"'s parts, %s MiB at the end (file: %s MiB; s3.maxTransfers %s)\n' \
  "jcs serve peak RSS (VmHWM)" "$hwm_rest" "$hwm_aws" "$hwm_s3" "$MIB" "$(jq -r '.s3.maxTransfers // "default"' "$JCS_CONFIG")"
echo "  load average: $(cut -d' ' -f1-3 /proc/loadavg)"

# 4 KiB objects over 16 connections: S3 then REST, PUT then GET, each for DURATION s.
LG=$ROOT/$BUILD/tests/bench/loadgen
[ -x "$LG" ] || die "$LG is not built (make benches)"
MDB=$(sed -n 's/^MARIADB_PID=//p' "$CL/mariadb/mariadb.env")
"$CTL" -q package create -R 'ec(4,6)' bench/small >/dev/null || die "package create"
SPKG=$("$CTL" --json package ls bench | jq '.packages[] | select(.name == "small") | .packageID')
echo "  4 KiB objects, ec(4,6), 16 keep-alive connections, ${DURATION:-5} s each (loadgen), every GET checked:"
printf '  %-34s %8s %8s   CPU ms/req: jcs  hubs  mariadb\n' "" "ops/s" "p50 ms"
small() { # small LABEL OP loadgen-args...
  local label=$1 op=$2 j0 h0 m0 out ops
  shift 2
  j0=$(ticks "$JCS_PID"); h0=$(ticks $HUBS); m0=$(ticks "$MDB")
  out=$("$LG" "$@" --op "$op" --size 4096 --conc 16 --duration "${DURATION:-5}" 2>"$T/lg.err") ||
    die "$label $op: $out $(head -c 300 "$T/lg.err")"
  ops=$(sed 's/.*ops=\([0-9]*\) .*/\1/' <<<"$out")
  awk -v l="$label $op" -v o="$out" -v n="$ops" -v j=$(($(ticks "$JCS_PID") - j0)) -v h=$(($(ticks $HUBS) - h0)) \
    -v m=$(($(ticks "$MDB") - m0)) -v hz="$HZ" 'BEGIN { split(o, x, "[ =]"); f = 1000 / hz / (n ? n : 1)
      printf "  %-34s %8s %8s               %5.2f %5.2f %5.2f\n", l, x[6], x[10], j * f, h * f, m * f }'
}
SIG=(--target s3 --url "$AWS_ENDPOINT_URL/bench/small" --ca "$AWS_CA_BUNDLE" --s3-user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY"
  --s3-region "$AWS_DEFAULT_REGION" --state "$T/st-s3")
MTLS=(--target jcs --url "$JCS_ENDPOINT" --ca "$JCS_CA" --cert "$JCS_CERT" --key "$JCS_KEY" --package "$SPKG" --state "$T/st-rest")
small "S3 (SigV4)" put "${SIG[@]}"
small "REST (mTLS)" put "${MTLS[@]}"
small "S3 (SigV4)" get "${SIG[@]}"
small "REST (mTLS)" get "${MTLS[@]}"
echo "  load average: $(cut -d' ' -f1-3 /proc/loadavg)"
