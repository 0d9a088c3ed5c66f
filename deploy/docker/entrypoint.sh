#!/bin/sh
# Runs one JCS-C program. ROLE=coordinator|hub|client selects it; the config
# of the coordinator and the hubs is /etc/jcs/<name>.json; the client writes
# its own with `jcs init` into /client on first start and creates one local
# user space per hub (/data/space on each hub's volume). The "certs" role creates the cluster CA and one
# certificate per service into /certs once (a shared volume), then exits.
set -eu
case "${ROLE:-}" in
  certs)
    [ -f /certs/ca_cert.pem ] || coordinator cert ca --out /certs
    [ -f /certs/coordinator_cert.pem ] ||
      coordinator cert issue --role coordinator --name coordinator --ca /certs --out /certs \
        --san coordinator --san 127.0.0.1
    [ -f /certs/client_cert.pem ] ||
      coordinator cert issue --role client --name client --ca /certs --out /certs
    for h in ${HUBS:-hub1 hub2 hub3}; do
      [ -f "/certs/${h}_cert.pem" ] ||
        coordinator cert issue --role hub --name "$h" --ca /certs --out /certs --san "$h" --san 127.0.0.1
    done ;;
  coordinator) exec coordinator serve -c "/etc/jcs/${NAME:-coordinator}.json" ;;
  hub) exec hub serve -c "/etc/jcs/${NAME}.json" ;;
  client)
    if [ ! -f /client/config.json ]; then
      jcs init --yes --dir /client --coordinator coordinator:5009 --rpc-ca /certs/ca_cert.pem \
        --rpc-cert /certs/client_cert.pem --rpc-key /certs/client_key.pem \
        --location "${LOCATION:-}" --db-address "${DB_ADDRESS:-mariadb:3306}" \
        --db-account client --db-password "${DB_PASSWORD:?}" --db-name jcs_client \
        --http-listen 0.0.0.0:7890 --s3-listen 0.0.0.0:7891
    fi
    jcs serve -c /client/config.json --ready-file /tmp/ready &
    pid=$!
    while [ ! -s /tmp/ready ]; do kill -0 "$pid" || exit 1; sleep 0.5; done
    api() {
      curl -sS --fail-with-body --cacert /client/ca_cert.pem --cert /client/client_cert.pem \
        --key /client/client_key.pem -H 'Content-Type: application/json' "$@"
    }
    hubs=$(api https://127.0.0.1:7890/v1/system/hubs)
    spaces=$(api https://127.0.0.1:7890/v1/userspace/list)
    for h in ${HUBS:-}; do
      echo "$spaces" | jq -e --arg n "$h" '.data.userSpaces[] | select(.name == $n)' >/dev/null &&
        continue
      id=$(echo "$hubs" | jq --arg n "$h" '.data.hubs[] | select(.name == $n) | .hubID')
      [ -n "$id" ] || { echo "client: hub $h is not registered yet; add its space later" >&2; continue; }
      api -X POST https://127.0.0.1:7890/v1/userspace/create --data \
        "{\"name\": \"$h\", \"storage\": {\"type\": \"local\", \"hubID\": $id, \"root\": \"/data/space\"}}" >/dev/null
    done
    wait "$pid" ;;
  *) exec "$@" ;;
esac
