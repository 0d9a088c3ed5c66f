#!/usr/bin/env bash
# Installs the Debian packages JCS-C needs.
#
#   deploy/deps.sh           what the product needs to build and run (`make run`)
#   deploy/deps.sh --test    that, plus what only the tests and benchmarks use
#                            (clang and its sanitizer runtime, Node.js and the
#                            local S3 server s3rver from npm): `make test`, `make deps`
#
# Idempotent: when everything is present it only runs dpkg-query (a second or two).
set -euo pipefail
TEST=0
case "${1:-}" in
  "") ;;
  --test) TEST=1 ;;
  -h | --help)
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit 0 ;;
  *) echo "deps: unknown argument $1 (usage: deploy/deps.sh [--test])" >&2; exit 2 ;;
esac
# The product: compiler and build tools, the libraries it links, MariaDB for
# its metadata, and the tools deploy/local/cluster uses (openssl, jq, curl).
PKGS=(
  gcc make pkg-config
  libgrpc-dev libprotobuf-c-dev protobuf-c-compiler
  libisal-dev libssl-dev libjansson-dev libcurl4-openssl-dev
  libmariadb-dev mariadb-server mariadb-client
  libmicrohttpd-dev libgnutls28-dev
  libfuse3-dev fuse3
  openssl jq curl
)
# Only the tests and benchmarks: `make clang`, the ASan/UBSan runtime of
# clang, the local S3 server (Node.js), tools the benchmarks call.
TEST_PKGS=(
  clang libclang-rt-14-dev
  time iperf3
  rsync sqlite3 git python3
  nodejs
)
[ "$TEST" = 0 ] || PKGS+=("${TEST_PKGS[@]}")
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ "$TEST" = 0 ]; then
  echo "deps: all present (product; deploy/deps.sh --test adds the test tools)"
  exit 0
fi
# The storage tests start a local S3 server, s3rver (npm), pinned by
# tests/s3/package-lock.json. Some Node.js builds (NodeSource) bundle npm;
# Debian's nodejs does not, so the npm package is added only when the command
# is missing.
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
echo "deps: all present (product and tests)"
