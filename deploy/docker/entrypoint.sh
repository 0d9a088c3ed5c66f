#!/bin/sh
# Runs one JCS-C program. ROLE=certs|coordinator|hub|client selects it.
#  certs        creates the cluster CA in /ca (its key never leaves that
#               volume) and one certificate per service in /certs (the volume
#               the services mount) unless they exist, then exits.
#  coordinator  /etc/jcs/coordinator.json
#  hub          /etc/jcs/$NAME.json (NAME is also the certificate's CN)
#  client       writes its own config with `jcs init` into /client on first
#               start, serves, waits until every hub in $HUBS is registered
#               and creates one local user space per hub (/data/space on that
#               hub's volume) that it does not have yet.
# Anything else runs the given command (e.g. `jcsctl`).
set -eu
case "${ROLE:-}" in
  certs)
    # The CA's key stays in /ca, a volume no service mounts.
    [ -f /ca/ca_cert.pem ] || coordinator cert ca --out /ca
    cp /ca/ca_cert.pem /certs/ca_cert.pem
    [ -f /certs/coordinator_cert.pem ] ||
      coordinator cert issue --role coordinator --name coordinator --ca /ca --out /certs \
        --san coordinator --san 127.0.0.1
    [ -f /certs/client_cert.pem ] ||
      coordinator cert issue --role client --name client --ca /ca --out /certs
    for h in ${HUBS:-hub1 hub2 hub3}; do
      [ -f "/certs/${h}_cert.pem" ] ||
        coordinator cert issue --role hub --name "$h" --ca /ca --out /certs --san "$h" --san 127.0.0.1
    done
    # The services run as root in their containers; the keys stay 0600.
    echo "certs: $(ls /certs | tr '\n' ' ')" ;;
  coordinator) exec coordinator serve -c "/etc/jcs/${NAME:-coordinator}.json" ;;
  hub) exec hub serve -c "/etc/jcs/${NAME:?NAME names the hub}.json" ;;
  client)
    if [ ! -f /client/config.json ]; then
      jcs init --yes --dir /client --coordinator "${COORDINATOR:-coordinator:5009}" \
        --rpc-ca /certs/ca_cert.pem --rpc-cert /certs/client_cert.pem --rpc-key /certs/client_key.pem \
        --location "${LOCATION:-}" --db-address "${DB_ADDRESS:-mariadb:3306}" \
        --db-account "${DB_ACCOUNT:-client}" --db-password "${DB_PASSWORD:?}" \
        --db-name "${DB_NAME:-jcs_client}" --http-listen 0.0.0.0:7890 --s3-listen 0.0.0.0:7891
      jq '.logger.output = "stdout" | .logger.level = "info"' /client/config.json >/client/config.json.tmp
      mv /client/config.json.tmp /client/config.json
    fi
    rm -f /tmp/ready
    jcs serve -c /client/config.json --ready-file /tmp/ready &
    pid=$!
    trap 'kill -TERM $pid 2>/dev/null' TERM INT
    while [ ! -s /tmp/ready ]; do kill -0 "$pid" || exit 1; sleep 0.5; done
    api() {
      curl -sS --fail-with-body --cacert /client/ca_cert.pem --cert /client/client_cert.pem \
        --key /client/client_key.pem -H 'Content-Type: application/json' "$@"
    }
    for h in ${HUBS:-}; do
      i=0
      while :; do
        spaces=$(api https://127.0.0.1:7890/v1/userspace/list)
        echo "$spaces" | jq -e --arg n "$h" '.data.userSpaces[] | select(.name == $n)' >/dev/null && break
        id=$(api https://127.0.0.1:7890/v1/system/hubs | jq --arg n "$h" '.data.hubs[] | select(.name == $n) | .hubID')
        if [ -n "$id" ]; then
          api -X POST https://127.0.0.1:7890/v1/userspace/create --data \
            "{\"name\": \"$h\", \"storage\": {\"type\": \"local\", \"hubID\": $id, \"root\": \"/data/space\"}}" >/dev/null
          echo "client: user space $h on hub $h (id $id)"
          break
        fi
        i=$((i + 1))
        [ $i -lt 120 ] || { echo "client: hub $h did not register in 120 s; its space is missing" >&2; break; }
        sleep 1
      done
    done
    touch /tmp/spaces-ready
    # A SIGTERM (docker stop) interrupts the first wait; the second lets jcs finish.
    set +e
    wait "$pid"
    rc=$?
    if kill -0 "$pid" 2>/dev/null; then wait "$pid"; rc=$?; fi
    exit $rc ;;
  *) exec "$@" ;;
esac
