#!/usr/bin/env bash
# Installs the Debian packages JCS-C needs, by group:
#
#   deploy/deps.sh                 build + test (what `make deps` runs, for `make test`)
#   deploy/deps.sh build           only what compiles the binaries (the Docker build stage)
#   deploy/deps.sh runtime         only what the binaries need to run (the Docker image)
#   deploy/deps.sh deploy          Docker's engine, docker-compose and mmdebstrap
#                                  (`make test-deploy`; never needed by `make test`)
#
# Idempotent: when everything is present it only runs dpkg-query (a second or two).
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
TEST_PKGS=(
  clang time libclang-rt-14-dev
  mariadb-server mariadb-client
  iperf3 openssl jq curl
  iproute2 nftables
  nodejs
)
# Docker's engine from Debian (no registry is needed: the images are built
# on a root file system made by mmdebstrap from Debian's archive).
DEPLOY_PKGS=(docker.io docker-compose mmdebstrap)

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(build test)
PKGS=()
want_npm=0
for g in "${groups[@]}"; do
  case $g in
    build) PKGS+=("${BUILD_PKGS[@]}") ;;
    runtime) PKGS+=("${RUNTIME_PKGS[@]}") ;;
    test) PKGS+=("${TEST_PKGS[@]}"); want_npm=1 ;;
    deploy) PKGS+=("${DEPLOY_PKGS[@]}") ;;
    *) echo "deps: unknown group \"$g\" (build, runtime, test, deploy)" >&2; exit 2 ;;
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
