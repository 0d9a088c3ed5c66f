#!/usr/bin/env bash
# deploy/local/mariadb: two servers side by side, idempotent start and stop,
# restart on the same port with the data kept, create-db grants that work
# over TCP, a taken port refused with a clear message, and a failed start
# that shows the server's error log. Prints PASS/FAIL lines for tests/run.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
M=deploy/local/mariadb
T=$(mktemp -d /tmp/jcs-mariadb-sh-XXXXXX)
trap '$M stop --dir "$T/a" >/dev/null 2>&1; $M stop --dir "$T/b" >/dev/null 2>&1; $M stop --dir "$T/c" >/dev/null 2>&1; rm -rf "$T"' EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
envval() { sed -n "s/^$2=//p" "$1/mariadb.env" 2>/dev/null; }
sql() { # dir user password sql...
  local d=$1 u=$2 pw=$3; shift 3
  mariadb --no-defaults --protocol=tcp -h127.0.0.1 -P"$(envval "$d" MARIADB_PORT)" -u"$u" -p"$pw" \
    -N -B -e "$*" 2>&1
}

# Two servers at once, each on its own port, both answering.
out=$($M start --dir "$T/a" 2>&1) && out2=$($M start --dir "$T/b" 2>&1)
rc=$?
pa=$(envval "$T/a" MARIADB_PORT) pb=$(envval "$T/b" MARIADB_PORT)
if [ $rc -ne 0 ]; then
  fail side_by_side "start failed: $out $out2"
elif [ -n "$out$out2" ]; then
  fail side_by_side "start printed something: $out $out2"
elif [ -z "$pa" ] || [ -z "$pb" ] || [ "$pa" = "$pb" ]; then
  fail side_by_side "ports '$pa' and '$pb'"
elif ! mariadb-admin --no-defaults --socket="$T/a/mysqld.sock" -u"$(id -un)" ping >/dev/null 2>&1 ||
  ! mariadb-admin --no-defaults --socket="$T/b/mysqld.sock" -u"$(id -un)" ping >/dev/null 2>&1; then
  fail side_by_side "a server does not answer"
else
  pass side_by_side
fi

# Starting a running server succeeds and changes nothing.
pid=$(envval "$T/a" MARIADB_PID)
if out=$($M start --dir "$T/a" 2>&1) && [ -z "$out" ] && [ "$(envval "$T/a" MARIADB_PID)" = "$pid" ] &&
  [ "$(envval "$T/a" MARIADB_PORT)" = "$pa" ]; then
  pass start_is_idempotent
else
  fail start_is_idempotent "second start: '$out', pid $(envval "$T/a" MARIADB_PID) (was $pid)"
fi

# create-db: the user reaches its database over TCP with its password, twice-run safe.
pw="s3cr'et \"pw\""
if out=$($M create-db --dir "$T/a" --db app --user appuser --password "$pw" 2>&1) &&
  out=$($M create-db --dir "$T/a" --db app --user appuser --password "$pw" 2>&1) &&
  out=$(sql "$T/a" appuser "$pw" "CREATE TABLE app.t (x INT) ENGINE=InnoDB; INSERT INTO app.t VALUES (42)") &&
  [ "$(sql "$T/a" appuser "$pw" "SELECT x FROM app.t")" = 42 ]; then
  pass create_db_grants_work
else
  fail create_db_grants_work "$out"
fi
# Root is reachable by the unix socket only (issue 10): no password-less TCP
# login that would let any local user read every database.
root_tcp() { mariadb --no-defaults --protocol=tcp -h127.0.0.1 -P"$(envval "$1" MARIADB_PORT)" -uroot -N -e 'SELECT 1' 2>&1; }
if out=$(root_tcp "$T/a"); then
  fail root_tcp_refused "root logged in over TCP without a password: $out"
elif ! mariadb --no-defaults --socket="$T/a/mysqld.sock" -u"$(id -un)" -N -e 'SELECT 1' >/dev/null 2>&1; then
  fail root_tcp_refused "the administrator cannot log in over the socket either"
else
  pass root_tcp_refused
fi
# A service user has its own database's rows and DDL, nothing more.
if out=$(sql "$T/a" appuser "$pw" "DROP TABLE app.t"); then
  fail service_user_least_grants "appuser may DROP"
elif out=$(sql "$T/a" appuser "$pw" "CREATE DATABASE other"); then
  fail service_user_least_grants "appuser may create another database"
elif out=$(sql "$T/a" appuser "$pw" "SELECT COUNT(*) FROM mysql.user"); then
  fail service_user_least_grants "appuser reads mysql.user"
else
  pass service_user_least_grants
fi
# A server whose root was reachable over TCP (a datadir of an older version)
# loses that account when it starts again.
mariadb --no-defaults --socket="$T/a/mysqld.sock" -u"$(id -un)" -e \
  "CREATE USER 'root'@'127.0.0.1'; GRANT ALL ON *.* TO 'root'@'127.0.0.1'; ALTER USER 'root'@'localhost' IDENTIFIED BY ''" >/dev/null 2>&1
if ! root_tcp "$T/a" >/dev/null; then
  fail old_root_removed_on_start "could not set up the old accounts"
else
  $M restart --dir "$T/a" >/dev/null 2>&1
  if out=$(root_tcp "$T/a"); then
    fail old_root_removed_on_start "root still logs in over TCP after a restart"
  else
    pass old_root_removed_on_start
  fi
fi
out=$(sql "$T/a" appuser "wrong" "SELECT 1")
if [[ "$out" == *"Access denied"* ]]; then pass wrong_password_refused; else fail wrong_password_refused "$out"; fi

# restart keeps the port and the data.
if out=$($M restart --dir "$T/a" 2>&1) && [ "$(envval "$T/a" MARIADB_PORT)" = "$pa" ] &&
  [ "$(envval "$T/a" MARIADB_PID)" != "$pid" ] &&
  [ "$(sql "$T/a" appuser "$pw" "SELECT x FROM app.t")" = 42 ]; then
  pass restart_keeps_port_and_data
else
  fail restart_keeps_port_and_data "$out (port $(envval "$T/a" MARIADB_PORT), was $pa)"
fi

# A port that is taken is refused, naming it.
out=$($M start --dir "$T/c" --port "$pb" 2>&1)
rc=$?
if [ $rc -ne 0 ] && [[ "$out" == *"127.0.0.1:$pb is already in use"* ]]; then
  pass taken_port_refused
else
  fail taken_port_refused "exit $rc: $out"
fi

# stop: the process is gone; stopping again is fine.
pid=$(envval "$T/b" MARIADB_PID)
gone() { ! [ -d "/proc/$1" ] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
if $M stop --dir "$T/b" && gone "$pid"; then
  if $M stop --dir "$T/b" && $M stop --dir "$T/never-started"; then
    pass stop_is_idempotent
  else
    fail stop_is_idempotent "second stop failed"
  fi
else
  fail stop_is_idempotent "pid $pid still runs"
fi

# A start that fails shows why, from the server's error log.
mkdir -p "$T/d/data" && touch "$T/d/data/junk"
out=$($M start --dir "$T/d" 2>&1)
rc=$?
if [ $rc -ne 0 ] && [[ "$out" == *"not empty"* ]]; then pass non_empty_datadir_refused; else fail non_empty_datadir_refused "exit $rc: $out"; fi
rm -rf "$T/d"
# A datadir that InnoDB cannot use (its redo log is garbage) fails with the log's tail.
$M stop --dir "$T/a" >/dev/null 2>&1
cp -a "$T/a" "$T/e" && rm -f "$T/e/mariadb.env" && head -c 1048576 /dev/urandom >"$T/e/data/ib_logfile0"
out=$(timeout 60 $M start --dir "$T/e" 2>&1)
rc=$?
if [ $rc -ne 0 ] && [[ "$out" == *"last lines of $T/e/error.log"* ]] && [[ "$out" == *ERROR* ]]; then
  pass failed_start_shows_error_log
else
  fail failed_start_shows_error_log "exit $rc: $out"
fi
$M stop --dir "$T/e" >/dev/null 2>&1
