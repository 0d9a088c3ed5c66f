#!/usr/bin/env bash
# The S3 gateway of `jcs serve` (issue 13) operation by operation, against one
# local cluster of 3 hubs: every S3 operation and error code through boto3 -
# Debian's python3-boto3 and, when the machine image has one, a newer boto3
# whose botocore sends CRC32 trailers over HTTPS by default - and hand-signed
# raw requests (signed chunks, trailers, bad and expired signatures, skewed
# clocks, checksums, a client dropping mid-PUT). What S3 writes is read back
# through jcsctl and what jcsctl writes through S3. The cases live in
# tests/s3client/*.py; this script starts the cluster and runs them.
# Prints PASS/FAIL lines for tests/run.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
export JCS_BIN=${JCS_BIN:-$ROOT/build/bin}
T=$(mktemp -d "${JCS_ITEST_PREFIX:-/tmp/jcs-itest}-s3api-XXXXXX")
CL=$T/cluster
trap 'deploy/local/cluster down --dir "$CL" >/dev/null 2>&1; [ -n "${JCS_KEEP_TEST_DIRS:-}" ] || rm -rf "$T"' EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

if ! deploy/local/cluster up --dir "$CL" --hubs 3 >"$T/up.log" 2>&1; then
  fail cluster_up "$(tail -n 5 "$T/up.log")"
  exit 1
fi
set -a
. "$CL/cluster.env"
set +a
missing=
for v in AWS_ENDPOINT_URL S3_ENDPOINT AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_DEFAULT_REGION AWS_CA_BUNDLE S3_PORT; do
  [ -n "${!v:-}" ] || missing="$missing $v"
done
if [ -n "$missing" ]; then
  fail s3_cluster_env "cluster.env does not export$missing (the S3 listener is not started)"
  exit 1
fi
# Exported, not only assigned: a child process (aws, boto3) must see them.
if ! env | grep -q '^AWS_ENDPOINT_URL='; then
  fail s3_cluster_env "cluster.env assigns AWS_ENDPOINT_URL but does not export it"
fi
pass s3_cluster_env
# Virtual-host-style requests need s3.domain (README): set it and restart
# the client; the S3 port must survive the restart as the REST port does.
port_before=$S3_PORT
jq '.s3.domain = "s3.test" | .s3.maxTransfers = 2' "$CL/client/config.json" >"$T/config.json" && cp "$T/config.json" "$CL/client/config.json"
if deploy/local/cluster stop-client --dir "$CL" >"$T/restart.log" 2>&1 &&
  deploy/local/cluster start-client --dir "$CL" >>"$T/restart.log" 2>&1; then
  set -a
  . "$CL/cluster.env"
  set +a
  if [ "$S3_PORT" = "$port_before" ]; then
    pass s3_port_kept_across_restart
  else
    fail s3_port_kept_across_restart "S3_PORT was $port_before, is $S3_PORT after stop-client/start-client"
  fi
else
  fail s3_client_restart "$(tail -n 5 "$T/restart.log")"
fi
export S3TEST_VHOST_DOMAIN=s3.test
export PYTHONPATH=$ROOT/tests/s3client${PYTHONPATH:+:$PYTHONPATH}
export PYTHONDONTWRITEBYTECODE=1

# run_py NAME PYTHON SCRIPT ARGS...: a test program; its PASS/FAIL lines pass
# through; dying without a summary line (a crash, a hang) is a FAIL.
run_py() {
  local name=$1 py=$2
  shift 2
  timeout 400 "$py" "$@" >"$T/$name.out" 2>"$T/$name.err"
  local rc=$?
  cat "$T/$name.out"
  if [ $rc -ge 124 ]; then
    fail "$name" "timed out or killed (exit $rc)"
  elif [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$T/$name.out"; then
    fail "$name" "exit $rc: $(tail -c 800 "$T/$name.err")"
  fi
}

# Hand-signed requests: only the standard library, Debian's Python.
run_py raw /usr/bin/python3 tests/s3client/s3_raw.py raw raw "$T"

# Debian's boto3 is installed by deploy/deps.sh: missing is a failure.
if /usr/bin/python3 -c 'import boto3' 2>/dev/null; then
  run_py boto3_debian /usr/bin/python3 tests/s3client/s3_boto3.py boto3-debian deb "$T"
else
  fail boto3_debian "/usr/bin/python3 has no boto3: run make deps (python3-boto3)"
fi

# The machine image's own Python (pyenv) with a newer boto3, when present.
IMG_PY=
for py in /root/.pyenv/versions/*/bin/python3 "$(command -v python3.11 || true)"; do
  [ -x "$py" ] || continue
  [ "$(readlink -f "$py")" = "$(readlink -f /usr/bin/python3)" ] && continue
  if "$py" -c 'import boto3' 2>/dev/null; then IMG_PY=$py; break; fi
done
if [ -n "$IMG_PY" ]; then
  run_py boto3_image "$IMG_PY" tests/s3client/s3_boto3.py boto3-image img "$T"
else
  echo "  no newer boto3 in this machine image (looked in /root/.pyenv and python3.11): only Debian's ran"
fi

# Nothing the gateway served may have killed it.
if kill -0 "$JCS_PID" 2>/dev/null; then
  pass s3_jcs_alive
else
  fail s3_jcs_alive "jcs serve (pid $JCS_PID) is gone; last lines: $(tail -n 5 "$CL/client/client.log")"
fi
