#!/usr/bin/env bash
# `jcs init` as a user runs it: by flags (--yes), by a pipe answering the
# prompts, and refusing what it must refuse. Checks the files, their modes,
# the certificates (openssl verify), config.json's fields (jq) and that
# `jcs check` accepts what init wrote. Prints PASS/FAIL lines for tests/run.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BIN=${JCS_BIN:-$ROOT/build/bin}
JCS=$BIN/jcs
T=$(mktemp -d /tmp/jcs-init-test-XXXXXX)
trap '[ -n "${JCS_KEEP_TEST_DIRS:-}" ] || rm -rf "$T"' EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

# A sanitizer report or a crash fails the check whatever the exit code.
crashed() { # stderr-file exit-code
  [ "$2" -ge 128 ] || grep -q 'Sanitizer\|runtime error' "$1"
}

# The cluster's side: a CA and a client-role certificate (and a hub one to misuse).
C=$T/cluster
if ! "$JCS" cert ca --out "$C" >/dev/null ||
   ! "$JCS" cert issue --role client --name client --ca "$C" --out "$C" >/dev/null ||
   ! "$JCS" cert issue --role hub --name hub1 --ca "$C" --out "$C" >/dev/null; then
  fail cluster_certificates "jcs cert could not make the test certificates"
  exit 0
fi
RPC=(--rpc-ca "$C/ca_cert.pem" --rpc-cert "$C/client_cert.pem" --rpc-key "$C/client_key.pem")
FILES="config.json ca_cert.pem ca_key.pem server_cert.pem server_key.pem client_cert.pem client_key.pem"

# ---- --yes with flags
D=$T/a
"$JCS" init --yes --dir "$D" --coordinator 10.9.8.7:5009 "${RPC[@]}" --location loc1 \
  --db-password s3cret --db-name jcsdb --http-listen 127.0.0.2:7999 --cert-days 30 \
  >"$T/a.out" 2>"$T/a.err"
rc=$?
if [ $rc -ne 0 ] || crashed "$T/a.err" $rc; then
  fail init_yes_writes_every_file "exit $rc: $(head -c 600 "$T/a.err")"
else
  missing=""
  for f in $FILES; do [ -f "$D/$f" ] || missing="$missing $f"; done
  if [ -z "$missing" ] && [ -z "$(ls -A "$D" | grep -v -x -F -e config.json -e ca_cert.pem \
      -e ca_key.pem -e server_cert.pem -e server_key.pem -e client_cert.pem -e client_key.pem)" ]; then
    pass init_yes_writes_every_file
  else
    fail init_yes_writes_every_file "missing:$missing; present: $(ls -A "$D" | tr '\n' ' ')"
  fi
fi

# Where everything went and what to run next.
if grep -q "$D/" "$T/a.out" && grep -qF "jcs serve -c $D/config.json" "$T/a.out"; then
  pass init_prints_files_and_next_command
else
  fail init_prints_files_and_next_command "$(cat "$T/a.out")"
fi

modes=""
for f in ca_key.pem server_key.pem client_key.pem config.json; do
  m=$(stat -c %a "$D/$f" 2>/dev/null); [ "$m" = 600 ] || modes="$modes $f=$m"
done
for f in ca_cert.pem server_cert.pem client_cert.pem; do
  m=$(stat -c %a "$D/$f" 2>/dev/null); [ "$m" = 644 ] || modes="$modes $f=$m"
done
if [ -z "$modes" ]; then pass keys_and_config_are_0600; else fail keys_and_config_are_0600 "$modes"; fi

# The certificates verify against the new HTTP CA, for their purposes, and not against the cluster CA.
if openssl verify -CAfile "$D/ca_cert.pem" -purpose sslserver "$D/server_cert.pem" >/dev/null 2>&1 &&
   openssl verify -CAfile "$D/ca_cert.pem" -purpose sslclient "$D/client_cert.pem" >/dev/null 2>&1 &&
   ! openssl verify -CAfile "$C/ca_cert.pem" "$D/server_cert.pem" >/dev/null 2>&1; then
  pass certificates_verify_under_a_separate_http_ca
else
  fail certificates_verify_under_a_separate_http_ca "$(openssl verify -CAfile "$D/ca_cert.pem" "$D/server_cert.pem" "$D/client_cert.pem" 2>&1)"
fi
sans=$(openssl x509 -in "$D/server_cert.pem" -noout -ext subjectAltName 2>/dev/null | tail -n 1)
if [[ "$sans" == *"IP Address:127.0.0.2"* && "$sans" == *"IP Address:127.0.0.1"* && "$sans" == *"DNS:localhost"* ]]; then
  pass server_certificate_names_the_listen_host
else
  fail server_certificate_names_the_listen_host "SANs: $sans"
fi
if openssl x509 -in "$D/server_cert.pem" -noout -subject 2>/dev/null | grep -q 'OU = server' &&
   openssl x509 -in "$D/client_cert.pem" -noout -subject 2>/dev/null | grep -q 'OU = client' &&
   openssl pkey -in "$D/ca_key.pem" -noout 2>/dev/null &&
   [ "$(openssl x509 -in "$D/ca_cert.pem" -noout -pubkey | openssl sha256)" = \
     "$(openssl pkey -in "$D/ca_key.pem" -pubout | openssl sha256)" ]; then
  pass certificate_roles_and_ca_key_match
else
  fail certificate_roles_and_ca_key_match "$(openssl x509 -in "$D/server_cert.pem" -noout -subject 2>&1)"
fi

# config.json: the README's sections, in its order, the answers, absolute paths, defaults.
J=$D/config.json
keys=$(jq -r 'keys_unsorted | join(" ")' "$J" 2>/dev/null)
want_keys="hubRPC coordinatorRPC rpc location logger db connectivity downloader downloadStrategy tickTock http mount accessToken redundancy s3"
if [ "$keys" = "$want_keys" ]; then pass config_sections_in_readme_order; else fail config_sections_in_readme_order "got: $keys"; fi
# The S3 gateway's section: the default listen address and a generated key pair (README).
ak=$(jq -r '.s3.credentials[0].accessKey' "$J" 2>/dev/null)
sk=$(jq -r '.s3.credentials[0].secretKey' "$J" 2>/dev/null)
if [ "$(jq -r .s3.listen "$J")" = 127.0.0.1:7891 ] && [ "$(jq -r .s3.region "$J")" = us-east-1 ] &&
   [[ "$ak" =~ ^JCS[A-Z2-7]{17}$ ]] && [ ${#sk} -eq 40 ]; then
  pass s3_section_with_a_generated_key_pair
else
  fail s3_section_with_a_generated_key_pair "$(jq -c .s3 "$J")"
fi
check=$(jq -r --arg C "$C" --arg D "$D" '[
  .hubRPC.rootCA == ($C + "/ca_cert.pem"),
  .coordinatorRPC.rootCA == ($C + "/ca_cert.pem"),
  .coordinatorRPC.address == "10.9.8.7:5009",
  .rpc.cert == ($C + "/client_cert.pem"), .rpc.key == ($C + "/client_key.pem"),
  .location == "loc1",
  .db.password == "s3cret", .db.databaseName == "jcsdb", .db.account == "root",
  .db.address == "127.0.0.1:3306",
  .http.enabled == true, .http.listen == "127.0.0.2:7999",
  .http.rootCA == ($D + "/ca_cert.pem"), .http.serverCert == ($D + "/server_cert.pem"),
  .http.serverKey == ($D + "/server_key.pem"), .http.clientCerts == [],
  .http.maxBodySize == 5242880, .connectivity.testInterval == 300,
  .downloader.maxStripCacheCount == 100, .downloader.ecStripPrefetchCount == 1,
  .downloadStrategy.highLatencyHub == 35, .tickTock.ecFileSizeThreshold == 5242880,
  .tickTock.accessStatHistoryWeight == 0.8, .mount.enabled == false,
  .mount.attrTimeout == "10s", .mount.uploadPendingTime == "30s",
  .mount.scanDataDirInterval == "10m", .logger.output == "stdout", .logger.level == "debug",
  .redundancy.type == "none", .accessToken.account == ""
] | map(tostring) | join(",")' "$J" 2>&1)
if [ -n "$check" ] && [[ "$check" != *false* ]] && [[ "$check" == true* ]]; then
  pass config_fields_hold_the_answers_and_defaults
else
  fail config_fields_hold_the_answers_and_defaults "checks: $check"
fi
"$JCS" check -c "$J" >"$T/check.out" 2>"$T/check.err"
rc=$?
if [ $rc -eq 0 ] && grep -q ': OK$' "$T/check.out" && ! crashed "$T/check.err" $rc; then
  pass written_config_loads
else
  fail written_config_loads "exit $rc: $(cat "$T/check.err" "$T/check.out")"
fi
# Certificates valid for the days asked (30, not the default 3650).
end=$(openssl x509 -in "$D/server_cert.pem" -noout -enddate | cut -d= -f2)
if [ $(( $(date -d "$end" +%s) - $(date +%s) )) -le $(( 31 * 86400 )) ]; then
  pass cert_days_is_applied
else
  fail cert_days_is_applied "server certificate ends $end"
fi

# ---- refusing to overwrite, then --force
sum_before=$(cat "$D"/*.pem "$J" | sha256sum)
"$JCS" init --yes --dir "$D" "${RPC[@]}" >"$T/b.out" 2>"$T/b.err"
rc=$?
if [ $rc -eq 1 ] && grep -qF "$D/config.json" "$T/b.err" && grep -q -- '--force' "$T/b.err" &&
   [ "$(cat "$D"/*.pem "$J" | sha256sum)" = "$sum_before" ] && [ "$(grep -vc '^$' "$T/b.err")" -eq 1 ]; then
  pass refuses_to_overwrite_without_force
else
  fail refuses_to_overwrite_without_force "exit $rc: $(cat "$T/b.err")"
fi
# Any one existing file is enough to refuse, and it is the one named.
E=$T/e; mkdir -p "$E"; echo keep >"$E/client_key.pem"
"$JCS" init --yes --dir "$E" "${RPC[@]}" >/dev/null 2>"$T/e.err"
rc=$?
if [ $rc -eq 1 ] && grep -qF "$E/client_key.pem" "$T/e.err" && [ "$(cat "$E/client_key.pem")" = keep ] &&
   [ ! -e "$E/config.json" ]; then
  pass refusal_names_the_existing_file
else
  fail refusal_names_the_existing_file "exit $rc: $(cat "$T/e.err")"
fi
"$JCS" init --yes --force --dir "$D" "${RPC[@]}" --location loc2 >/dev/null 2>"$T/f.err"
rc=$?
if [ $rc -eq 0 ] && [ "$(jq -r .location "$J")" = loc2 ] &&
   [ "$(cat "$D"/*.pem "$J" | sha256sum)" != "$sum_before" ] &&
   openssl verify -CAfile "$D/ca_cert.pem" "$D/server_cert.pem" >/dev/null 2>&1 &&
   [ -z "$(ls -A "$D" | grep '^\.jcs-init')" ]; then
  pass force_overwrites_everything
else
  fail force_overwrites_everything "exit $rc: $(cat "$T/f.err")"
fi

# ---- prompts answered by a pipe: dir, coordinator, CA, cert, key, location, then defaults
P=$T/piped
printf '%s\n127.0.0.1:6001\n%s\n%s\n%s\nloc7\n\n\n\npipedb\n' "$P" "$C/ca_cert.pem" \
  "$C/client_cert.pem" "$C/client_key.pem" | "$JCS" init >"$T/p.out" 2>"$T/p.err"
rc=$?
if [ $rc -eq 0 ] && [ "$(jq -r '.coordinatorRPC.address + " " + .location + " " + .db.databaseName + " " + .db.account + " " + .http.listen' "$P/config.json" 2>/dev/null)" = \
     "127.0.0.1:6001 loc7 pipedb root 127.0.0.1:7890" ] && "$JCS" check -c "$P/config.json" >/dev/null 2>&1; then
  pass prompts_read_answers_from_a_pipe
else
  fail prompts_read_answers_from_a_pipe "exit $rc: $(cat "$T/p.err") / $(jq -c . "$P/config.json" 2>&1 | head -c 300)"
fi
# The prompts show their defaults in brackets.
if grep -qF 'Coordinator address (host:port) [127.0.0.1:5009]:' "$T/p.err" &&
   grep -qF 'MySQL database name [cloudream]:' "$T/p.err"; then
  pass prompts_show_defaults
else
  fail prompts_show_defaults "$(head -c 600 "$T/p.err")"
fi
# Flags and prompts mix: what a flag gave is not asked.
M=$T/mixed
printf '%s\n%s\n%s\n' "$C/ca_cert.pem" "$C/client_cert.pem" "$C/client_key.pem" |
  "$JCS" init --dir "$M" --coordinator 127.0.0.1:6002 --location l --db-address 127.0.0.1:3307 \
    --db-account a --db-password p --db-name n --http-listen 127.0.0.1:7000 --cert-days 5 \
    --s3-listen 127.0.0.1:7001 >/dev/null 2>"$T/m.err"
rc=$?
if [ $rc -eq 0 ] && [ "$(grep -c ': $' "$T/m.err")" -eq 3 ] &&
   [ "$(jq -r .coordinatorRPC.address "$M/config.json")" = 127.0.0.1:6002 ]; then
  pass flags_are_not_asked_again
else
  fail flags_are_not_asked_again "exit $rc: $(cat "$T/m.err")"
fi
# Input ending before a required answer: an error, nothing written.
N=$T/eof
printf '%s\n\n' "$N" | "$JCS" init >/dev/null 2>"$T/n.err"
rc=$?
if [ $rc -eq 1 ] && grep -q -- '--rpc-ca' "$T/n.err" && [ ! -e "$N/config.json" ]; then
  pass end_of_input_before_a_required_answer
else
  fail end_of_input_before_a_required_answer "exit $rc: $(cat "$T/n.err")"
fi
# A bad answer from a script stops init (later answers would be misaligned).
printf '%s\nnot-an-address\n' "$T/badans" | "$JCS" init >/dev/null 2>"$T/ba.err"
rc=$?
if [ $rc -eq 1 ] && grep -q -- '--coordinator' "$T/ba.err" && grep -q 'not-an-address' "$T/ba.err" &&
   [ ! -e "$T/badans/config.json" ]; then
  pass bad_piped_answer_is_an_error
else
  fail bad_piped_answer_is_an_error "exit $rc: $(cat "$T/ba.err")"
fi

# On a terminal (a pty from script(1)) a bad answer is asked again instead of failing.
Y=$T/tty
printf 'bad\n1.2.3.4:5\n%s\n%s\n%s\n\n\n\npw\n\n\n\n' "$C/ca_cert.pem" "$C/client_cert.pem" \
  "$C/client_key.pem" | script -qec "'$JCS' init --dir '$Y'" /dev/null >"$T/tty.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q 'try again' "$T/tty.out" &&
   [ "$(jq -r '.coordinatorRPC.address + " " + .db.password' "$Y/config.json" 2>/dev/null)" = "1.2.3.4:5 pw" ]; then
  pass terminal_asks_again_after_a_bad_answer
else
  fail terminal_asks_again_after_a_bad_answer "exit $rc: $(tr -d '\r' <"$T/tty.out" | head -c 800)"
fi

# ---- usage errors: exit 2 with the usage line
expect_usage() { # name pattern args...
  local name=$1 pat=$2; shift 2
  "$JCS" "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null
  local rc=$?
  if [ $rc -eq 2 ] && grep -Eq -- "$pat" "$T/$name.err" && grep -q 'usage: jcs' "$T/$name.err" &&
     ! crashed "$T/$name.err" $rc; then
    pass "$name"
  else
    fail "$name" "exit $rc: $(cat "$T/$name.err")"
  fi
}
expect_usage bad_flag_is_a_usage_error '"--bogus"' init --bogus --yes
expect_usage flag_without_value '--dir needs a value' init --yes --dir
expect_usage yes_without_rpc_ca '--rpc-ca is required' init --yes --dir "$T/x"
expect_usage bad_cert_days '--cert-days' init --yes "${RPC[@]}" --cert-days 0 --dir "$T/x"
expect_usage bad_coordinator_address '--coordinator' init --yes "${RPC[@]}" --coordinator nocolon --dir "$T/x"
expect_usage unknown_command '"frobnicate"' frobnicate
if [ ! -e "$T/x" ]; then pass usage_errors_write_nothing; else fail usage_errors_write_nothing "$(ls -A "$T/x")"; fi

# ---- certificates that do not fit are refused before anything is written
"$JCS" init --yes --dir "$T/hubcert" --rpc-ca "$C/ca_cert.pem" --rpc-cert "$C/hub1_cert.pem" \
  --rpc-key "$C/hub1_key.pem" >/dev/null 2>"$T/h.err"
rc=$?
if [ $rc -eq 1 ] && grep -q 'OU=client' "$T/h.err" && grep -qF "hub1_cert.pem" "$T/h.err" &&
   [ ! -e "$T/hubcert/config.json" ]; then
  pass hub_certificate_is_refused_as_client_certificate
else
  fail hub_certificate_is_refused_as_client_certificate "exit $rc: $(cat "$T/h.err")"
fi
"$JCS" init --yes --dir "$T/mism" --rpc-ca "$C/ca_cert.pem" --rpc-cert "$C/client_cert.pem" \
  --rpc-key "$C/hub1_key.pem" >/dev/null 2>"$T/mm.err"
rc=$?
if [ $rc -eq 1 ] && grep -qF "hub1_key.pem" "$T/mm.err" && [ ! -e "$T/mism/config.json" ]; then
  pass mismatched_key_is_refused
else
  fail mismatched_key_is_refused "exit $rc: $(cat "$T/mm.err")"
fi
"$JCS" init --yes --dir "$T/nofile" --rpc-ca "$T/nope.pem" --rpc-cert "$C/client_cert.pem" \
  --rpc-key "$C/client_key.pem" >/dev/null 2>"$T/nf.err"
rc=$?
if [ $rc -eq 2 ] && grep -qF "$T/nope.pem" "$T/nf.err"; then
  pass unreadable_rpc_ca_is_named
else
  fail unreadable_rpc_ca_is_named "exit $rc: $(cat "$T/nf.err")"
fi

# ---- the rest of the command line
out=$("$JCS" --help 2>&1); rc=$?
if [ $rc -eq 0 ] && [[ "$out" == *"examples:"* && "$out" == *"jcs init --yes"* && "$out" == *"jcs serve -c"* ]]; then
  pass help_has_examples
else
  fail help_has_examples "exit $rc"
fi
if "$JCS" --version | grep -Eq '^jcs [0-9]+\.[0-9]+\.[0-9]+$'; then pass version; else fail version "$("$JCS" --version 2>&1)"; fi
"$JCS" check -c "$T/missing.json" >/dev/null 2>"$T/cm.err"
rc=$?
if [ $rc -eq 1 ] && [ "$(grep -vc '^$' "$T/cm.err")" -eq 1 ] && grep -qF "$T/missing.json" "$T/cm.err"; then
  pass check_names_a_missing_config
else
  fail check_names_a_missing_config "exit $rc: $(cat "$T/cm.err")"
fi
jq '.tickTock.accessStatHistoryWeight = 2' "$J" >"$T/w.json"
"$JCS" serve -c "$T/w.json" >/dev/null 2>"$T/w.err" </dev/null
rc=$?
if [ $rc -eq 1 ] && [ "$(grep -vc '^$' "$T/w.err")" -eq 1 ] && grep -q 'tickTock.accessStatHistoryWeight' "$T/w.err"; then
  pass serve_names_a_bad_field_in_one_line
else
  fail serve_names_a_bad_field_in_one_line "exit $rc: $(cat "$T/w.err")"
fi
"$JCS" serve >/dev/null 2>"$T/s.err"
rc=$?
if [ $rc -eq 2 ] && grep -q -- '-c CONFIG.json' "$T/s.err"; then pass serve_needs_a_config; else fail serve_needs_a_config "exit $rc: $(cat "$T/s.err")"; fi
