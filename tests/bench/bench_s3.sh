#!/usr/bin/env bash
# The S3 gateway end to end, as a user measures it, beside the REST API of
# the same run (same cluster of 6 hubs, same ec(4,6) redundancy):
#   - 1 GiB PUT and GET with awscli (`aws s3 cp`, its default 8 MiB parts and
#     10 threads) and with boto3 in one stream (put_object / get_object, as
#     curl does) through the S3 port, and the same file with curl over mTLS
#     through the REST API (/v1/object/upload, /v1/object/downloadByPath);
#     each download's SHA-256 is checked against the source outside the timing;
#     printed with the S3/REST ratio (target: at least 90 %);
#   - 4 KiB objects PUT and GET per second over 16 keep-alive connections,
#     S3 and REST (bench_s3_small.py), every GET's bytes checked.
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

echo "  $MIB MiB, ec(4,6) on 6 hubs; S3 client: $("$AWS" --version 2>&1 | cut -d' ' -f1), REST client: curl"
sync
t0=$(now)
"${C[@]}" -o /dev/null -F "info={\"packageID\":$PKG};type=application/json" -F "files=@$T/src;filename=big.bin" \
  "$JCS_ENDPOINT/v1/object/upload" || die "REST upload"
t1=$(now)
"${C[@]}" -o "$T/rest.out" "$JCS_ENDPOINT/v1/object/downloadByPath?packageID=$PKG&path=big.bin" || die "REST download"
t2=$(now)
check_sha "$T/rest.out" "REST GET"
rest_put=$(mibps "$t0" "$t1")
# jcs serve's peak resident memory: the S3 path must stream like REST does.
hwm() { awk '/^VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$JCS_PID/status"; }
hwm_rest=$(hwm)
rest_get=$(mibps "$t1" "$t2")

t0=$(now)
"${A[@]}" s3 cp "$T/src" s3://bench/s3/big.bin || die "aws s3 cp (PUT)"
t1=$(now)
"${A[@]}" s3 cp s3://bench/s3/big.bin "$T/s3.out" || die "aws s3 cp (GET)"
t2=$(now)
check_sha "$T/s3.out" "S3 GET"
# What S3 stored is what jcsctl reads (outside the timing).
"$CTL" -q get bench/s3/big.bin - | sha256sum | grep -q "^$WANT " || die "jcsctl reads other bytes than the S3 PUT sent"
s3_put=$(mibps "$t0" "$t1")
hwm_s3=$(hwm)
s3_get=$(mibps "$t1" "$t2")

# One stream each way, like curl: boto3 put_object / get_object (whatever
# checksum its botocore sends by default), the bytes checked after.
PY=/usr/bin/python3
for py in /root/.pyenv/versions/*/bin/python3; do "$py" -c 'import boto3' 2>/dev/null && { PY=$py; break; }; done
"$PY" - "$T/src" "$T/one.out" <<'PYEOF' >"$T/one.times" || die "boto3 single-stream PUT/GET"
import os, sys, time, boto3
from botocore.config import Config
c = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], verify=os.environ["AWS_CA_BUNDLE"],
                 config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}, read_timeout=600))
t0 = time.time()
with open(sys.argv[1], "rb") as f:
    c.put_object(Bucket="bench", Key="s3/one.bin", Body=f)
t1 = time.time()
with open(sys.argv[2], "wb") as f:
    b = c.get_object(Bucket="bench", Key="s3/one.bin")["Body"]
    for chunk in iter(lambda: b.read(1 << 20), b""):
        f.write(chunk)
t2 = time.time()
print(t0, t1, t2, boto3.__version__)
PYEOF
check_sha "$T/one.out" "boto3 GET"
read -r o0 o1 o2 bver <"$T/one.times"
one_put=$(mibps "$o0" "$o1")
one_get=$(mibps "$o1" "$o2")

pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", 100 * a / b }'; }
printf '  %-38s %6s MiB/s   REST (curl, mTLS) %6s MiB/s   S3/REST %s %% (target >= 90 %%)\n' \
  "$MIB MiB PUT, S3 (aws s3 cp)" "$s3_put" "$rest_put" "$(pct "$s3_put" "$rest_put")"
printf '  %-38s %6s MiB/s   REST (curl, mTLS) %6s MiB/s   S3/REST %s %% (target >= 90 %%)\n' \
  "$MIB MiB GET, S3 (aws s3 cp)" "$s3_get" "$rest_get" "$(pct "$s3_get" "$rest_get")"
printf '  %-38s %6s MiB/s   REST (curl, mTLS) %6s MiB/s   S3/REST %s %% (one stream each)\n' \
  "$MIB MiB PUT, S3 (boto3 $bver, 1 PUT)" "$one_put" "$rest_put" "$(pct "$one_put" "$rest_put")"
printf '  %-38s %6s MiB/s   REST (curl, mTLS) %6s MiB/s   S3/REST %s %% (one stream each)\n' \
  "$MIB MiB GET, S3 (boto3 $bver, 1 GET)" "$one_get" "$rest_get" "$(pct "$one_get" "$rest_get")"
printf '  %-38s %6s MiB after the REST transfers, %s MiB after the S3 ones (file: %s MiB)\n' \
  "jcs serve peak RSS (VmHWM)" "$hwm_rest" "$hwm_s3" "$MIB"

python3 "$ROOT/tests/bench/bench_s3_small.py" bench s3 "$PKG" rest 4 || die "4 KiB bench"
