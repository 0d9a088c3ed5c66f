#!/usr/bin/env bash
# The first hour of a new user (issue 10): `make run` installs only what the
# product needs (test tools come with `make test`); the cluster it starts
# keeps every file that holds a secret 0600, also after the files are
# rewritten; MariaDB stops and starts again by the documented commands; and
# closing the terminal of `make run` (SIGHUP) stops every process it started,
# MariaDB included. deploy/local/run runs in a real pseudo-terminal (script)
# that is then closed. Prints PASS/FAIL lines for tests/run.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
T=$(mktemp -d /tmp/jcs-first-hour-XXXXXX)
RUNPID=""
trap '[ -n "$RUNPID" ] && kill -KILL "$RUNPID" 2>/dev/null; deploy/local/cluster down --dir "$T/c" >/dev/null 2>&1; [ -n "${JCS_KEEP_TEST_DIRS:-}" ] || rm -rf "$T"' EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

# ---- deploy/deps.sh: the product's packages only, unless --test.
# A copy of the script in a scratch tree, with dpkg-query, apt-get and npm
# replaced by recorders on PATH: it shows what each mode would install
# without touching the machine.
D=$T/deps
mkdir -p "$D/deploy" "$D/tests/s3" "$D/bin"
cp deploy/deps.sh "$D/deploy/"
cp tests/s3/package.json tests/s3/package-lock.json "$D/tests/s3/" 2>/dev/null
for tool in dpkg-query apt-get npm sudo; do
  cat >"$D/bin/$tool" <<EOF
#!/usr/bin/env bash
echo "$tool \$*" >>"$D/calls"
[ "$tool" != dpkg-query ] || echo 'install ok installed'
EOF
  chmod +x "$D/bin/$tool"
done
: >"$D/calls"
if ! PATH="$D/bin:$PATH" "$D/deploy/deps.sh" >"$D/out" 2>&1; then
  fail deps_product_only "deploy/deps.sh failed: $(cat "$D/out")"
elif grep -q '^npm' "$D/calls"; then
  fail deps_product_only "deploy/deps.sh (product) ran npm: $(grep '^npm' "$D/calls")"
elif grep -Eq 'dpkg-query .* (nodejs|clang|npm)$' "$D/calls"; then
  fail deps_product_only "deploy/deps.sh (product) wants test packages: $(grep -E 'nodejs|clang' "$D/calls")"
elif ! grep -Eq 'dpkg-query .* mariadb-server$' "$D/calls"; then
  fail deps_product_only "deploy/deps.sh (product) does not check mariadb-server"
else
  pass deps_product_only
fi
: >"$D/calls"
if ! PATH="$D/bin:$PATH" "$D/deploy/deps.sh" --test >"$D/out" 2>&1; then
  fail deps_test_adds_s3rver "deploy/deps.sh --test failed: $(cat "$D/out")"
elif ! grep -q '^npm ci' "$D/calls" || ! grep -Eq 'dpkg-query .* nodejs$' "$D/calls"; then
  fail deps_test_adds_s3rver "deploy/deps.sh --test did not install nodejs and s3rver: $(cat "$D/calls")"
else
  pass deps_test_adds_s3rver
fi
# The Makefile: `make run` uses the product mode, `make test` the test mode.
mr=$(make -n run 2>/dev/null | grep 'deploy/deps.sh')
mt=$(make -n test 2>/dev/null | grep 'deploy/deps.sh')
if [ "$mr" = "./deploy/deps.sh" ] && [ "$mt" = "./deploy/deps.sh --test" ]; then
  pass make_run_installs_product_only
else
  fail make_run_installs_product_only "make run: '$mr', make test: '$mt'"
fi

# ---- `make run` (deploy/local/run) in a terminal, with one hub.
export JCS_RUN_DIR=$T/c
setsid script -qfec "deploy/local/run --hubs 1" "$T/run.typescript" </dev/null >/dev/null 2>&1 &
RUNPID=$!
for ((i = 0; i < 1200; i++)); do
  grep -q 'is running' "$T/run.typescript" 2>/dev/null && break
  kill -0 "$RUNPID" 2>/dev/null || break
  sleep 0.1
done
if ! grep -q 'is running' "$T/run.typescript" 2>/dev/null; then
  fail make_run_starts "$(tail -n 20 "$T/run.typescript" 2>/dev/null)"
  exit 0
fi
pass make_run_starts
if grep -q 'stop-mariadb' "$T/run.typescript" && deploy/local/cluster --help 2>&1 | grep -q 'start-mariadb'; then
  pass stop_and_restart_mariadb_documented
else
  fail stop_and_restart_mariadb_documented "make run's banner or cluster --help does not say how"
fi

# Files with secrets are 0600, also after start-client rewrote config.json.
modes() {
  local f bad=""
  for f in "$T/c/client/config.json" "$T/c/coordinator/coordinator.json" "$T/c/mariadb/"*.pw \
    "$T/c/certs/"*_key.pem "$T/c/client/"*_key.pem; do
    [ "$(stat -c %a "$f")" = 600 ] || bad+=" $f:$(stat -c %a "$f")"
  done
  echo "$bad"
}
bad=$(modes)
if [ -n "$bad" ]; then fail secrets_0600 "$bad"; else pass secrets_0600; fi
deploy/local/cluster stop-client --dir "$T/c" >/dev/null 2>&1
chmod 644 "$T/c/client/config.json"
deploy/local/cluster start-client --dir "$T/c" >"$T/start-client.log" 2>&1
bad=$(modes)
if [ -n "$bad" ]; then fail secrets_0600_after_rewrite "$bad"; else pass secrets_0600_after_rewrite; fi

# MariaDB stops and starts again on its port; the client reconnects.
# shellcheck disable=SC1091
. "$T/c/cluster.env"
st() { curl -s -o /dev/null -w '%{http_code}' --max-time 60 --cacert "$JCS_CA" --cert "$JCS_CERT" --key "$JCS_KEY" "$JCS_ENDPOINT/v1/bucket/listAll"; }
if ! deploy/local/cluster stop-mariadb --dir "$T/c" >"$T/sm.log" 2>&1; then
  fail stop_start_mariadb "stop-mariadb: $(cat "$T/sm.log")"
elif [ "$(st)" = 200 ]; then
  fail stop_start_mariadb "a request succeeded with MariaDB stopped"
elif ! deploy/local/cluster start-mariadb --dir "$T/c" >"$T/sm.log" 2>&1; then
  fail stop_start_mariadb "start-mariadb: $(cat "$T/sm.log")"
elif [ "$(st)" != 200 ]; then
  fail stop_start_mariadb "no 200 after start-mariadb"
else
  pass stop_start_mariadb
fi

# Close the terminal: the kernel hangs up the session (SIGHUP).
. "$T/c/mariadb/mariadb.env"
pids="$COORDINATOR_PID $HUB1_PID $(cat "$T/c/client/pid") $MARIADB_PID"
kill -KILL "$RUNPID"
RUNPID=""
left=""
for ((i = 0; i < 600; i++)); do
  left=""
  for p in $pids; do
    if [ -d "/proc/$p" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$p/status" 2>/dev/null; then left+=" $p"; fi
  done
  [ -z "$left" ] && break
  sleep 0.1
done
if [ -z "$left" ]; then
  pass sighup_stops_everything
else
  fail sighup_stops_everything "still running 60 s after the terminal closed:$(for p in $left; do echo -n " $(tr '\0' ' ' <"/proc/$p/cmdline" | cut -c1-60)"; done)"
fi
