#!/usr/bin/env bash
# `make test-deploy`: deploy/docker-compose.yml on this machine's Docker
# engine, as a user would run it. Builds the images (the Debian base from
# deploy/docker/base, reused when present; then docker-compose build), starts
# the whole topology (MariaDB, coordinator, 3 hubs in 3 locations, the jcs
# client with its REST API published on 127.0.0.1), and through jcsctl and
# curl on this host: uploads an ec(2,3) object, stops one hub container, reads
# it back identical (at once, and again once the coordinator calls the hub
# offline). Then tears everything down and checks that no container, network
# or volume of the test is left, and no image: a rebuild replaces the
# images it made before, build stage included. Starts dockerd when it is not running and
# stops it again at the end. Prints PASS/FAIL lines and "N passed, N failed".
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
COMPOSE_FILE=$ROOT/deploy/docker-compose.yml
PROJECT=jcsdeploytest$$
T=$(mktemp -d /tmp/jcs-deploy-test-XXXXXX)
passed=0
failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
}
stamp() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(stamp)" 'BEGIN { printf "%.1f", b - a }'; }
T0=$(stamp)

# ---- the engine: use a running dockerd, or start one and stop it at the end
DOCKERD_PID=
if ! docker info >/dev/null 2>&1; then
  command -v dockerd >/dev/null || { fail docker_engine "dockerd is missing (deploy/deps.sh deploy)"; finish; }
  echo "test-deploy: starting dockerd (log $T/dockerd.log)"
  setsid dockerd >"$T/dockerd.log" 2>&1 </dev/null &
  DOCKERD_PID=$!
  for ((i = 0; i < 300; i++)); do
    docker info >/dev/null 2>&1 && break
    kill -0 "$DOCKERD_PID" 2>/dev/null || break
    sleep 0.1
  done
  if ! docker info >/dev/null 2>&1; then
    fail docker_engine "dockerd did not start: $(tail -n 5 "$T/dockerd.log")"
    DOCKERD_PID=
    finish
  fi
fi
pass docker_engine

compose() { docker-compose -p "$PROJECT" -f "$COMPOSE_FILE" "$@"; }

teardown() {
  compose down -v --remove-orphans --timeout 20 >"$T/down.log" 2>&1
  if [ -n "$DOCKERD_PID" ]; then
    kill -TERM "$DOCKERD_PID" 2>/dev/null
    for ((i = 0; i < 300; i++)); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$DOCKERD_PID" 2>/dev/null && kill -KILL "$DOCKERD_PID"
  fi
  [ -n "${JCS_KEEP_TEST_DIRS:-}" ] || rm -rf "$T"
}
trap teardown EXIT

# The REST port: a free one on 127.0.0.1, so a running deployment does not collide.
JCS_REST_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export JCS_REST_PORT

# ---- images
t=$(stamp)
if deploy/docker/base >"$T/base.log" 2>&1; then
  pass "base_image ($(since "$t") s: $(tail -n 1 "$T/base.log"))"
else
  fail base_image "$(tail -n 5 "$T/base.log")"
  finish
fi
t=$(stamp)
# The images a rebuild replaces would stay behind untagged (about 1 GB each
# run): remember what the tags named before, remove those that lost them.
# The build stage of deploy/docker/Dockerfile (the compiled tree) is no
# image of compose's: the engine's builder keeps it as untagged layers, and
# every source change left a new one beside the old (docker images -a).
# So it is built first under a tag of its own (jcs-c-build), which compose's
# build then reuses layer for layer, and it is replaced like the others.
old_images=$(docker image inspect -f '{{.Id}}' jcs-c:latest jcs-c-mariadb:latest jcs-c-build:latest 2>/dev/null)
dangling_before=$(docker images -q --no-trunc -f dangling=true | sort)
# docker-compose 1.x builds with the engine's own builder (no BuildKit, no buildx).
if DOCKER_BUILDKIT=0 docker build --target build -t jcs-c-build:latest \
  -f deploy/docker/Dockerfile . >"$T/build.log" 2>&1 &&
  COMPOSE_DOCKER_CLI_BUILD=0 DOCKER_BUILDKIT=0 compose build >>"$T/build.log" 2>&1; then
  pass "images_built ($(since "$t") s)"
  new_images=$(docker image inspect -f '{{.Id}}' jcs-c:latest jcs-c-mariadb:latest jcs-c-build:latest 2>/dev/null)
  dangling=0
  for id in $old_images; do
    grep -qxF "$id" <<<"$new_images" && continue
    docker rmi "$id" >/dev/null 2>&1
    ! docker image inspect "$id" >/dev/null 2>&1 || dangling=$((dangling + 1))
  done
  if [ "$dangling" -eq 0 ]; then pass replaced_images_removed; else
    fail replaced_images_removed "$dangling replaced jcs-c images are still stored"
  fi
  # No untagged image that was not there before (a leftover build stage, or what a
  # replaced image stood on); the layers of the tagged images are theirs, not leftovers.
  new_dangling=$(comm -13 <(echo "$dangling_before") <(docker images -q --no-trunc -f dangling=true | sort))
  if [ -z "$new_dangling" ]; then pass no_dangling_image_left; else
    fail no_dangling_image_left "$(wc -w <<<"$new_dangling") untagged images more than before the build: $(docker images -a -f dangling=true | head -n 6)"
  fi
else
  fail images_built "$(tail -n 15 "$T/build.log")"
  finish
fi

# ---- the topology
t=$(stamp)
if ! compose up -d >"$T/up.log" 2>&1; then
  fail compose_up "$(tail -n 15 "$T/up.log")"
  compose logs --tail 20 >"$T/logs.txt" 2>&1
  tail -n 40 "$T/logs.txt"
  finish
fi
CLIENT=$(compose ps -q client)
health=
for ((i = 0; i < 180; i++)); do
  health=$(docker inspect -f '{{.State.Health.Status}}' "$CLIENT" 2>/dev/null)
  [ "$health" = healthy ] && break
  [ "$(docker inspect -f '{{.State.Running}}' "$CLIENT" 2>/dev/null)" = true ] || [ $i -lt 20 ] || break
  sleep 1
done
if [ "$health" = healthy ]; then
  pass "compose_up_client_healthy ($(since "$t") s)"
else
  fail compose_up_client_healthy "client is \"$health\"; last logs:"
  compose logs --tail 15 2>&1 | tail -n 60
  finish
fi
running=$(compose ps --services --filter status=running | sort | tr '\n' ' ')
if [ "$running" = "client coordinator hub1 hub2 hub3 mariadb " ]; then
  pass services_running
else
  fail services_running "running: $running"
fi

# ---- jcsctl and curl on this host, through the published port
for f in ca_cert client_cert client_key; do docker cp "$CLIENT:/client/$f.pem" "$T/$f.pem"; done
docker cp "$CLIENT:/usr/local/bin/jcsctl" "$T/jcsctl"
export JCS_ENDPOINT=https://127.0.0.1:$JCS_REST_PORT JCS_CA=$T/ca_cert.pem \
  JCS_CERT=$T/client_cert.pem JCS_KEY=$T/client_key.pem
ctl() { timeout 120 "$T/jcsctl" "$@"; }
get_curl() { # PATH OUT: downloads by path with curl; prints the HTTP status
  curl -sS --max-time 120 --cacert "$JCS_CA" --cert "$JCS_CERT" --key "$JCS_KEY" -o "$2" \
    -w '%{http_code}' "$JCS_ENDPOINT/v1/object/downloadByPath?packageID=$PKG&path=$1"
}

if ctl --json hub ls >"$T/hubs.json" 2>"$T/err" &&
  jq -e '[.hubs[] | select(.state == "online") | .location] | sort == ["loc1","loc2","loc3"]' \
    "$T/hubs.json" >/dev/null; then
  pass jcsctl_three_hubs_in_three_locations
else
  fail jcsctl_three_hubs_in_three_locations "$(cat "$T/err" "$T/hubs.json")"
fi
if ctl --json space ls >"$T/spaces.json" 2>"$T/err" &&
  jq -e '[.userSpaces[].name] | sort == ["hub1","hub2","hub3"]' "$T/spaces.json" >/dev/null; then
  pass jcsctl_space_on_every_hub
else
  fail jcsctl_space_on_every_hub "$(cat "$T/err" "$T/spaces.json")"
fi

head -c 6000000 /dev/urandom >"$T/obj.bin"
PKG=
if ctl bucket create smoke >/dev/null 2>"$T/err" &&
  ctl package create -R 'ec(2,3)' smoke/p >/dev/null 2>>"$T/err" &&
  ctl put "$T/obj.bin" smoke/p/dir/obj.bin >/dev/null 2>>"$T/err"; then
  pass jcsctl_put_ec23
  PKG=$(ctl --json package ls smoke | jq '.packages[] | select(.name == "p") | .packageID')
else
  fail jcsctl_put_ec23 "$(cat "$T/err")"
  finish
fi
# One block on each hub: the object is spread over the three locations.
ctl --json info smoke/p/dir/obj.bin >"$T/info.json" 2>"$T/err"
if jq -e '.object.redundancy.type == "ec" and ([.blocks[].hub] | sort == ["hub1","hub2","hub3"])' \
  "$T/info.json" >/dev/null 2>&1; then
  pass ec23_block_on_each_hub
else
  fail ec23_block_on_each_hub "$(cat "$T/err"; head -c 800 "$T/info.json")"
fi
code=$(get_curl dir/obj.bin "$T/curl1.bin")
if [ "$code" = 200 ] && cmp -s "$T/obj.bin" "$T/curl1.bin"; then
  pass curl_read_identical
else
  fail curl_read_identical "HTTP $code, $(stat -c %s "$T/curl1.bin" 2>/dev/null) bytes"
fi

# ---- lose a hub: the one holding block 0 (a data block, so reads must decode)
LOST=$(jq -r '.blocks[] | select(.index == 0) | .hub' "$T/info.json")
[ -n "$LOST" ] && [ "$LOST" != null ] || LOST=hub1
if compose stop "$LOST" >"$T/stop.log" 2>&1 &&
  [ "$(docker inspect -f '{{.State.Running}}' "$(compose ps -q "$LOST")")" = false ]; then
  pass "hub_container_stopped ($LOST)"
else
  fail hub_container_stopped "$(cat "$T/stop.log")"
fi
t=$(stamp)
if ctl get smoke/p/dir/obj.bin "$T/get1.bin" >/dev/null 2>"$T/err" && cmp -s "$T/obj.bin" "$T/get1.bin"; then
  pass "jcsctl_read_identical_right_after_stop ($(since "$t") s)"
else
  fail jcsctl_read_identical_right_after_stop "$(cat "$T/err")"
fi
# Once the coordinator has noticed (hubUnavailableSeconds 15), reads skip it.
state=
for ((i = 0; i < 60; i++)); do
  state=$(ctl --json hub ls 2>/dev/null | jq -r --arg h "$LOST" '.hubs[] | select(.name == $h) | .state')
  [ "$state" = offline ] && break
  sleep 1
done
if [ "$state" = offline ]; then pass "lost_hub_offline ($i s)"; else fail lost_hub_offline "$LOST is \"$state\" after 60 s"; fi
t=$(stamp)
if ctl get smoke/p/dir/obj.bin "$T/get2.bin" >/dev/null 2>"$T/err" && cmp -s "$T/obj.bin" "$T/get2.bin"; then
  pass "jcsctl_read_identical_hub_offline ($(since "$t") s)"
else
  fail jcsctl_read_identical_hub_offline "$(cat "$T/err")"
fi
code=$(get_curl dir/obj.bin "$T/curl2.bin")
if [ "$code" = 200 ] && cmp -s "$T/obj.bin" "$T/curl2.bin"; then
  pass curl_read_identical_hub_offline
else
  fail curl_read_identical_hub_offline "HTTP $code"
fi
# Bytes for a range across the lost block's region, through curl's Range header.
code=$(curl -sS --max-time 60 --cacert "$JCS_CA" --cert "$JCS_CERT" --key "$JCS_KEY" \
  -H 'Range: bytes=1000-2000999' -o "$T/range.bin" -w '%{http_code}' \
  "$JCS_ENDPOINT/v1/object/downloadByPath?packageID=$PKG&path=dir/obj.bin")
if [ "$code" = 206 ] && cmp -s <(tail -c +1001 "$T/obj.bin" | head -c 2000000) "$T/range.bin"; then
  pass curl_range_identical_hub_offline
else
  fail curl_range_identical_hub_offline "HTTP $code"
fi

# ---- teardown: nothing of the test is left
t=$(stamp)
compose down -v --remove-orphans --timeout 20 >"$T/down.log" 2>&1
left="$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT")"
left="$left$(docker network ls -q --filter "label=com.docker.compose.project=$PROJECT")"
left="$left$(docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT")"
left="$left$(docker volume ls -q | grep "^${PROJECT}_")"
if [ -z "$left" ]; then
  pass "down_leaves_nothing ($(since "$t") s)"
else
  fail down_leaves_nothing "left: $left"
fi
echo "test-deploy: $(since "$T0") s in all"
finish
