#!/usr/bin/env bash
# Installs every Debian package JCS-C needs to build, test and run.
# Idempotent: when everything is present it only runs dpkg-query (a second or two).
set -euo pipefail
PKGS=(
  gcc clang make pkg-config time
  libgrpc-dev libprotobuf-c-dev protobuf-c-compiler
  libisal-dev libssl-dev libjansson-dev libcurl4-openssl-dev
  libmariadb-dev mariadb-server mariadb-client
  libmicrohttpd-dev libgnutls28-dev
  libfuse3-dev fuse3
  libclang-rt-14-dev
  iperf3 openssl jq curl
  nodejs
  # The S3 gateway's tests drive it with the real clients users have.
  awscli s3cmd rclone python3-boto3
)
missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The storage tests start a local S3 server, s3rver (npm), pinned by
# tests/s3/package-lock.json. Some Node.js builds (NodeSource) bundle npm;
# Debian's nodejs does not, so the npm package is added only when the command
# is missing.
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! command -v npm >/dev/null 2>&1; then
  echo "deps: installing npm"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -d "$ROOT/tests/s3/node_modules/s3rver" ]; then
  echo "deps: npm ci in tests/s3 (s3rver)"
  npm ci --prefix "$ROOT/tests/s3" --no-audit --no-fund --loglevel=error >/dev/null
fi
echo "deps: all present"
