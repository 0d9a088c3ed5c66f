#!/usr/bin/env bash
# Installs the Debian packages JCS-C needs, by group:
#
#   deploy/deps.sh                 the product: build and run it (`make run`)
#   deploy/deps.sh --test          the product plus what only the tests and benchmarks
#                                  use (clang and its sanitizer runtime, Node.js and the
#                                  local S3 server s3rver from npm, the S3 clients, the
#                                  tools the mount tests drive): `make test`, `make deps`
#   deploy/deps.sh build           only what compiles the binaries (the Docker build stage)
#   deploy/deps.sh runtime         only what the binaries need to run (the Docker image)
#   deploy/deps.sh deploy          Docker's engine, docker-compose and mmdebstrap
#                                  (`make test-deploy`; never needed by `make test`)
#
# Groups may be combined (`deploy/deps.sh deploy runtime`). Idempotent: when
# everything is present it only runs dpkg-query (a second or two).
set -euo pipefail
BUILD_PKGS=(
  gcc make pkg-config
  libgrpc-dev libprotobuf-c-dev protobuf-c-compiler
  libisal-dev libssl-dev libjansson-dev libcurl4-openssl-dev
  libmariadb-dev libmicrohttpd-dev libgnutls28-dev libfuse3-dev
)
# What the release binaries link (the -dev packages above pull these in) plus
# the tools the image's entrypoint uses.
RUNTIME_PKGS=(
  libgrpc29 libprotobuf-c1 libjansson4 libmariadb3 libssl3 libisal2 libcurl4
  libmicrohttpd12 libgnutls30 libfuse3-3 fuse3 ca-certificates curl jq
)
# The product on one machine: build it, MariaDB for its metadata, FUSE for
# the mount, and the tools deploy/local/cluster uses (openssl, jq, curl).
PRODUCT_PKGS=(
  "${BUILD_PKGS[@]}"
  mariadb-server mariadb-client fuse3
  openssl jq curl
)
# Only the tests and benchmarks: `make clang`, the ASan/UBSan runtime of
# clang, the local S3 server (Node.js), the S3 clients the gateway's tests
# drive, the tools the mount tests and benchmarks call, the network tools of
# the netns harness.
TEST_PKGS=(
  clang libclang-rt-14-dev
  time iperf3
  rsync sqlite3 git python3
  iproute2 nftables
  nodejs
  # The S3 gateway's tests drive it with the real clients users have.
  awscli s3cmd rclone python3-boto3
)
# Docker's engine from Debian (no registry is needed: the images are built
# on a root file system made by mmdebstrap from Debian's archive).
DEPLOY_PKGS=(docker.io docker-compose mmdebstrap)

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(product)
PKGS=()
want_npm=0
for g in "${groups[@]}"; do
  case $g in
    product) PKGS+=("${PRODUCT_PKGS[@]}") ;;
    --test | test) PKGS+=("${PRODUCT_PKGS[@]}" "${TEST_PKGS[@]}"); want_npm=1 ;;
    build) PKGS+=("${BUILD_PKGS[@]}") ;;
    runtime) PKGS+=("${RUNTIME_PKGS[@]}") ;;
    deploy) PKGS+=("${DEPLOY_PKGS[@]}") ;;
    -h | --help)
      sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
      exit 0 ;;
    *) echo "deps: unknown argument \"$g\" (usage: deploy/deps.sh [--test | build | runtime | deploy ...])" >&2; exit 2 ;;
  esac
done

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
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ $want_npm = 1 ]; then
  # The storage tests start a local S3 server, s3rver (npm), pinned by
  # tests/s3/package-lock.json. Some Node.js builds (NodeSource) bundle npm;
  # Debian's nodejs does not, so the npm package is added only when the
  # command is missing.
  if ! command -v npm >/dev/null 2>&1; then
    echo "deps: installing npm"
    $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
      --no-install-recommends npm >/dev/null
  fi
  ROOT=$(cd "$(dirname "$0")/.." && pwd)
  if [ ! -d "$ROOT/tests/s3/node_modules/s3rver" ]; then
    echo "deps: npm ci in tests/s3 (s3rver)"
    npm ci --prefix "$ROOT/tests/s3" --no-audit --no-fund --loglevel=error >/dev/null
  fi
fi
echo "deps: all present (${groups[*]})"
