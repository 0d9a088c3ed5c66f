#!/bin/sh
# MariaDB for a JCS-C deployment. On first start (no data directory yet) it
# creates one, starts a private server on a socket of its own (so the
# healthcheck, which pings the default socket, stays unhealthy until the
# databases exist), runs every /etc/jcs-initdb/*.sql as root, and stops it.
# Then it runs the server in the foreground on 0.0.0.0:3306.
set -eu
DATA=/var/lib/mysql
mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
chown mysql:mysql "$DATA"
if [ ! -d "$DATA/mysql" ]; then
  echo "jcs-mariadb: creating the data directory"
  mariadb-install-db --user=mysql --datadir="$DATA" --skip-test-db >/dev/null
  sock=/run/mysqld/init.sock
  mariadbd --user=mysql --datadir="$DATA" --skip-networking --socket="$sock" &
  pid=$!
  i=0
  until mariadb-admin --socket="$sock" ping >/dev/null 2>&1; do
    i=$((i + 1))
    [ $i -lt 300 ] || { echo "jcs-mariadb: the init server did not start" >&2; exit 1; }
    kill -0 $pid 2>/dev/null || { echo "jcs-mariadb: the init server exited" >&2; exit 1; }
    sleep 0.2
  done
  for f in /etc/jcs-initdb/*.sql; do
    [ -f "$f" ] || continue
    echo "jcs-mariadb: running $f"
    mariadb --socket="$sock" <"$f"
  done
  mariadb-admin --socket="$sock" shutdown
  wait $pid || true
fi
exec mariadbd --user=mysql --datadir="$DATA" --bind-address=0.0.0.0 --port=3306 \
  --socket=/run/mysqld/mysqld.sock --skip-name-resolve
