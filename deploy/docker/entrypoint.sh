#!/bin/sh
# Runs one JCS-C program. ROLE=coordinator|hub selects it; the config is
# /etc/jcs/<name>.json. The "certs" role creates the cluster CA and one
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
  *) exec "$@" ;;
esac
