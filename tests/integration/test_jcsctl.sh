#!/usr/bin/env bash
# jcsctl as a person or a script uses it, against a local cluster of 3 hubs:
# every command's success path, its common failures (exit code and a message
# naming the problem), a directory tree round-trip (put -r, get -r, diff -r),
# export/import round-trips (directory and tar, checked with tar itself),
# --json output parsed with jq. Prints PASS/FAIL lines for tests/run.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BIN=${JCS_BIN:-$ROOT/build/bin}
CTL=$BIN/jcsctl
T=$(mktemp -d /tmp/jcs-ctl-test-XXXXXX)
trap 'deploy/local/cluster down --dir "$T/c" >/dev/null 2>&1; [ -n "${JCS_KEEP_TEST_DIRS:-}" ] || rm -rf "$T"' EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

# run NAME CMD...: runs CMD with stdout in $T/NAME.out, stderr in $T/NAME.err,
# sets RC; a sanitizer report or a crash is a FAIL of its own.
run() {
  local name=$1
  shift
  timeout 120 "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null
  RC=$?
  if [ $RC -ge 124 ] || grep -q 'Sanitizer\|runtime error' "$T/$name.err"; then
    fail "$name" "crashed or hung (exit $RC): $(head -c 600 "$T/$name.err")"
    RC=99
  fi
}

# ok NAME CMD...: CMD exits 0. Returns non-zero (after a FAIL) otherwise.
ok() {
  local name=$1
  run "$@"
  [ $RC -eq 99 ] && return 1
  if [ $RC -ne 0 ]; then
    fail "$name" "exit $RC: $(head -c 600 "$T/$name.err")"
    return 1
  fi
  return 0
}

# refused NAME CODE PATTERN CMD...: CMD exits CODE with one stderr line matching PATTERN.
refused() {
  local name=$1 code=$2 pat=$3
  shift 3
  run "$name" "$@"
  [ $RC -eq 99 ] && return
  if [ $RC -ne "$code" ]; then
    fail "$name" "exit $RC, want $code: $(head -c 600 "$T/$name.err")"
  elif [ "$(grep -vc '^$' "$T/$name.err")" -ne 1 ]; then
    fail "$name" "want one line on stderr: $(head -c 600 "$T/$name.err")"
  elif ! grep -Eq -- "$pat" "$T/$name.err"; then
    fail "$name" "stderr does not match /$pat/: $(cat "$T/$name.err")"
  else
    pass "$name"
  fi
}

# check NAME CONDITION-COMMAND...: PASS when the command succeeds.
check() {
  local name=$1
  shift
  if "$@" >/dev/null 2>&1; then pass "$name"; else fail "$name" "check failed: $*"; fi
}

if ! deploy/local/cluster up --dir "$T/c" --hubs 3 >"$T/up.log" 2>&1; then
  fail cluster_up "$(tail -n 20 "$T/up.log")"
  exit 0
fi
# cluster.env exports the JCS_* variables jcsctl reads.
# shellcheck disable=SC1091
. "$T/c/cluster.env"
if [ "$(bash -c 'echo "$JCS_ENDPOINT"')" = "$JCS_ENDPOINT" ] && [ -n "$JCS_ENDPOINT" ]; then
  pass cluster_env_exports_jcs_variables
else
  fail cluster_env_exports_jcs_variables "JCS_ENDPOINT is not exported by cluster.env"
fi

# ---- help and usage
ok help "$CTL" --help && grep -q 'package export' "$T/help.out" && pass help_lists_commands
missing=""
for cmd in "bucket ls" "bucket create" "bucket rm" "package ls" "package create" "package rm" \
  "package clone" "package info" "package export" "package import" ls put get rm mv cp info \
  "redundancy set" "space ls" "space add local" "space add s3" "space test" "space rm" \
  "hub ls" "job run" status; do
  # shellcheck disable=SC2086
  if ! "$CTL" $cmd --help >"$T/h.out" 2>&1 || ! grep -q 'Example' "$T/h.out" ||
    ! grep -q "usage: jcsctl $cmd" "$T/h.out"; then
    missing="$missing [$cmd]"
  fi
done
if [ -z "$missing" ]; then pass help_on_every_command_with_example; else fail help_on_every_command_with_example "$missing"; fi
refused usage_unknown_command 2 'unknown command "frobnicate"' "$CTL" frobnicate
refused usage_missing_argument 2 'usage: jcsctl put' "$CTL" put only-one
refused usage_unknown_option 2 'unknown option "--frob"' "$CTL" bucket ls --frob
refused usage_bad_redundancy 2 'redundancy "ec\(2\)"' "$CTL" package create -R 'ec(2)' b/p
refused usage_group_needs_subcommand 2 '"bucket" needs a subcommand' "$CTL" bucket
# Issue 10 #12: group help shows examples too; the redundancy syntax says the chunk is optional.
for g in "space add" package space bucket; do
  # shellcheck disable=SC2086
  if "$CTL" $g --help >"$T/g.out" 2>&1 && grep -q '^Examples:' "$T/g.out" &&
    grep -q "^  jcsctl $g [a-z]" "$T/g.out"; then
    pass "group_help_has_examples_${g// /_}"
  else
    fail "group_help_has_examples_${g// /_}" "$(cat "$T/g.out")"
  fi
done
if "$CTL" put --help | grep -q 'ec(K,N\[,CHUNK\])' && ! "$CTL" put --help | grep -q 'ec(K,N,CHUNK)'; then
  pass help_says_chunk_is_optional
else
  fail help_says_chunk_is_optional "$("$CTL" put --help | grep -i 'ec(')"
fi
refused missing_ca_anywhere 3 'no CA certificate' env -u JCS_CA "$CTL" bucket ls

# ---- system
ok status "$CTL" status && grep -q 'hubs online  3 of 3' "$T/status.out" && pass status_shows_hubs
ok hub_ls_json "$CTL" --json hub ls &&
  check hub_ls_json_three_online jq -e '[.hubs[] | select(.state == "online")] | length == 3' "$T/hub_ls_json.out"
ok hub_ls "$CTL" hub ls && check hub_ls_table grep -Eq '^ *3 +hub3 +loc3 +online' "$T/hub_ls.out"
ok space_ls_json "$CTL" space ls --json &&
  check space_ls_json_three_spaces jq -e '[.userSpaces[].name] == ["hub1","hub2","hub3"]' "$T/space_ls_json.out"

# ---- buckets and packages
ok bucket_create "$CTL" bucket create b1 && check bucket_create_says grep -q 'created bucket b1' "$T/bucket_create.out"
refused bucket_create_twice 1 'bucket "b1" already exists' "$CTL" bucket create b1
ok bucket_ls_json "$CTL" bucket ls --json && check bucket_ls_json_has_b1 jq -e '.buckets | map(.name) | index("b1") != null' "$T/bucket_ls_json.out"
ok package_create "$CTL" package create -R 'ec(2,3)' b1/p1
ok package_ls_json "$CTL" --json package ls b1 &&
  check package_ls_redundancy jq -e '.packages[0] | .name == "p1" and .redundancy.type == "ec" and .redundancy.k == 2 and .redundancy.n == 3' "$T/package_ls_json.out"
refused unknown_bucket 1 'bucket "nosuch" does not exist' "$CTL" ls nosuch/p1
refused unknown_package 1 'package "nosuch" does not exist in bucket "b1"' "$CTL" put /etc/hostname b1/nosuch/x

# ---- one file: put, ls, get (file, directory, stdout, range), info
head -c 3000000 /dev/urandom >"$T/f.bin"
ok put_file "$CTL" put "$T/f.bin" b1/p1/dir/f.bin &&
  check put_file_says grep -q 'uploaded .*f.bin to b1/p1/dir/f.bin' "$T/put_file.out"
ok ls_level "$CTL" ls b1/p1 && check ls_shows_dir grep -Eq 'DIR +dir/' "$T/ls_level.out"
ok ls_recursive_json "$CTL" --json ls -r b1/p1 &&
  check ls_recursive_json_size jq -e '.objects[0].path == "dir/f.bin" and .objects[0].size == "3000000"' "$T/ls_recursive_json.out"
ok get_file "$CTL" get b1/p1/dir/f.bin "$T/f.out" && check get_file_same cmp "$T/f.bin" "$T/f.out"
mkdir -p "$T/getdir"
ok get_into_dir "$CTL" get b1/p1/dir/f.bin "$T/getdir" && check get_into_dir_same cmp "$T/f.bin" "$T/getdir/f.bin"
ok get_stdout "$CTL" get b1/p1/dir/f.bin - && check get_stdout_same cmp "$T/f.bin" "$T/get_stdout.out"
ok get_range "$CTL" get --range 1000-1999 b1/p1/dir/f.bin - &&
  check get_range_bytes cmp <(tail -c +1001 "$T/f.bin" | head -c 1000) "$T/get_range.out"
ok get_offset "$CTL" get --offset 2999000 b1/p1/dir/f.bin - &&
  check get_offset_to_end cmp <(tail -c 1000 "$T/f.bin") "$T/get_offset.out"
ok put_multipart "$CTL" --json put --part-size 1MiB "$T/f.bin" b1/p1/mp/f.bin &&
  check put_multipart_json jq -e '.uploadeds[0].path == "mp/f.bin" and .uploadeds[0].size == "3000000"' "$T/put_multipart.out" &&
  ok get_multipart "$CTL" get b1/p1/mp/f.bin - && check put_multipart_round_trip cmp "$T/f.bin" "$T/get_multipart.out"
refused get_missing_object 1 'object "dir/nope" does not exist in b1/p1' "$CTL" get b1/p1/dir/nope "$T/x"
refused get_a_directory 1 'b1/p1/dir is a directory.*-r' "$CTL" get b1/p1/dir "$T/x"
refused put_missing_file 2 "local file $T/no-such-file: No such file" "$CTL" put "$T/no-such-file" b1/p1/x
check failed_get_leaves_no_file test ! -e "$T/x"
ok info_json "$CTL" --json info b1/p1/dir/f.bin &&
  check info_ec_blocks_on_three_hubs jq -e '(.blocks | length) == 3 and ([.blocks[].hub] | unique | length) == 3 and ([.blocks[].location] | all(startswith("loc")))' "$T/info_json.out"
ok info "$CTL" info b1/p1/dir/f.bin &&
  check info_table grep -Eq 'redundancy +ec\(2,3\)' "$T/info.out" &&
  check info_names_hubs grep -Eq 'hub[123] \(online\) +loc[123]' "$T/info.out"

# ---- a directory tree: put -r, get -r, diff -r
S=$T/tree
mkdir -p "$S/a/b/c" "$S/empty-dir" "$S/sp ace"
echo one >"$S/one.txt"
: >"$S/a/zero-bytes"
head -c 1500000 /dev/urandom >"$S/a/b/c/mid.bin"
echo "ünïcødé" >"$S/sp ace/ünï.txt"
for i in $(seq 1 70); do echo "$i" >"$S/a/b/n$i.txt"; done # more than one upload batch
ok put_tree "$CTL" put -r "$S" b1/p1/tree && check put_tree_count grep -q 'uploaded 74 files' "$T/put_tree.out" &&
  check put_tree_names_destination grep -q 'uploaded 74 files .* to b1/p1/tree$' "$T/put_tree.out"
ok get_tree "$CTL" get -r b1/p1/tree "$T/tree-back"
rmdir "$S/empty-dir" # objects have no empty directories
check tree_round_trip diff -r "$S" "$T/tree-back"
refused put_dir_without_r 2 'is a directory; put -r' "$CTL" put "$S" b1/p1/x

# ---- mv, cp, rm
ok put_for_mv "$CTL" put "$S/one.txt" b1/p1/m/one.txt
ok mv "$CTL" mv b1/p1/m/one.txt b1/p1/moved/ && ok mv_get "$CTL" get b1/p1/moved/one.txt - &&
  check mv_moved cmp "$S/one.txt" "$T/mv_get.out"
refused mv_source_gone 1 'object "m/one.txt" does not exist' "$CTL" get b1/p1/m/one.txt -
ok cp_r "$CTL" cp -r b1/p1/tree/a b1/p1/copy && ok cp_get "$CTL" get -r b1/p1/copy "$T/copy-back" &&
  check cp_r_copied diff -r "$S/a" "$T/copy-back"
ok rm_one "$CTL" rm b1/p1/moved/one.txt && check rm_says grep -q 'deleted 1 object' "$T/rm_one.out"
refused rm_missing 1 'object "moved/one.txt" does not exist' "$CTL" rm b1/p1/moved/one.txt
ok rm_r "$CTL" --json rm -r b1/p1/copy && check rm_r_json jq -e '.deleted == 72' "$T/rm_r.out"
ok ls_after_rm "$CTL" --json ls -r b1/p1/copy && check rm_r_gone jq -e '.objects == []' "$T/ls_after_rm.out"
# A recursive command on a prefix holding nothing names it (it was a double free in jcsctl).
refused rm_r_empty_prefix 1 'no objects under b1/p1/copy/' "$CTL" rm -r b1/p1/copy
refused cp_r_empty_prefix 1 'no objects under b1/p1/nothing/' "$CTL" cp -r b1/p1/nothing b1/p1/elsewhere

# ---- redundancy set
ok red_set "$CTL" --json redundancy set b1/p1/tree/a/b/c/mid.bin rep:2 &&
  check red_set_json jq -e '.objects[0].redundancy.type == "rep"' "$T/red_set.out" &&
  ok red_info "$CTL" --json info b1/p1/tree/a/b/c/mid.bin &&
  check red_set_two_copies jq -e '(.blocks | length) == 2' "$T/red_info.out" &&
  ok red_get "$CTL" get b1/p1/tree/a/b/c/mid.bin - && check red_set_same_bytes cmp "$S/a/b/c/mid.bin" "$T/red_get.out"

# ---- export and import
LONG=$(printf 'long-directory-name-%.0s' 1 2 3 4 5 6)/$(printf 'file-%.0s' $(seq 1 20)).txt # > 100 bytes
echo "a long name" >"$T/long.txt"
ok put_long "$CTL" put "$T/long.txt" "b1/p1/tree/$LONG"
mkdir -p "$S/$(dirname "$LONG")" && cp "$T/long.txt" "$S/$LONG"
ok export_dir "$CTL" package export b1/p1/tree "$T/exp-dir" && check export_dir_round_trip diff -r "$S" "$T/exp-dir"
ok export_tar "$CTL" package export b1/p1/tree "$T/exp.tar"
check export_tar_lists_long_name grep -qxF "$LONG" <(tar -tf "$T/exp.tar")
check export_tar_lists_everything test "$(tar -tf "$T/exp.tar" | wc -l)" -eq 75
mkdir -p "$T/exp-x" && tar -xf "$T/exp.tar" -C "$T/exp-x" && check export_tar_extracts_same diff -r "$S" "$T/exp-x"
ok export_stdout "$CTL" package export b1/p1/tree - && check export_stdout_is_tar cmp "$T/exp.tar" "$T/export_stdout.out"
ok import_tar "$CTL" package import "$T/exp.tar" b1/fromtar &&
  check import_tar_creates_package grep -q 'new package b1/fromtar' "$T/import_tar.out" &&
  check import_says_redundancy grep -Eq "created package b1/fromtar (with redundancy|without a redundancy of its own)" "$T/import_tar.out" &&
  ok import_tar_back "$CTL" package export b1/fromtar "$T/imp-tar" && check import_tar_round_trip diff -r "$S" "$T/imp-tar"
ok import_dir "$CTL" --json package import "$S" b1/fromdir/sub &&
  check import_dir_json jq -e '(.uploadeds | length) == 75 and .createdPackage' "$T/import_dir.out" &&
  ok import_dir_back "$CTL" get -r b1/fromdir/sub "$T/imp-dir" && check import_dir_round_trip diff -r "$S" "$T/imp-dir"
(cd "$S" && tar --format=gnu -cf "$T/gnu.tar" .) && ok import_gnu "$CTL" package import "$T/gnu.tar" b1/gnu &&
  ok import_gnu_back "$CTL" package export b1/gnu "$T/imp-gnu" && check import_gnu_tar_round_trip diff -r "$S" "$T/imp-gnu"
echo "not a tar" >"$T/bad.tar"
refused import_not_tar 2 'neither a directory nor a tar' "$CTL" package import "$T/bad.tar" b1/bad

# ---- packages: info, clone, rm
ok package_info_json "$CTL" --json package info b1/p1 &&
  check package_info_json_spaces jq -e '.package.name == "p1" and (.stgInfos | length) >= 2' "$T/package_info_json.out"
ok package_clone "$CTL" package clone b1/p1 b1/p1clone && ok clone_get "$CTL" get b1/p1clone/dir/f.bin - &&
  check package_clone_shares_objects cmp "$T/f.bin" "$T/clone_get.out"
refused package_rm_not_empty 1 'holds objects.*package rm -r' "$CTL" package rm b1/p1clone
ok package_rm_r "$CTL" package rm -r b1/p1clone
refused package_rm_gone 1 'package "p1clone" does not exist' "$CTL" package info b1/p1clone

# ---- user spaces
# A local space's root must be inside its hub's storage root.
ok space_add "$CTL" space add local extra --hub hub2 --root "$HUB2_ROOT/extra" && check space_add_says grep -q 'added user space extra' "$T/space_add.out"
ok space_test "$CTL" space test extra && check space_test_works grep -q 'works' "$T/space_test.out"
refused space_add_unknown_hub 1 'hub "hub9" does not exist' "$CTL" space add local x --hub hub9 --root /tmp
ok space_rm "$CTL" space rm extra
refused space_rm_gone 1 'user space "extra" does not exist' "$CTL" space test extra
# Issue 10 #4: a root outside the hub's storage root is refused at once (400),
# naming both; and a hub's permission refusal is never reported as a refused
# client certificate. A space made while its hub was down cannot be checked
# at create time; an upload placed there fails naming the hub and the roots.
refused space_add_outside_root 1 "/tmp/jcsctl-outside.* is outside this hub's storage root $HUB2_ROOT.*BadArgument" \
  "$CTL" space add local outside --hub hub2 --root /tmp/jcsctl-outside
deploy/local/cluster stop-hub --dir "$T/c" 3 >/dev/null 2>&1
ok space_add_hub_down "$CTL" space add local outside3 --hub hub3 --root /tmp/jcsctl-outside3
deploy/local/cluster start-hub --dir "$T/c" 3 >/dev/null 2>&1
# The client's channel to the restarted hub may still be in its reconnect back-off: wait
# until an upload reaches the hub at all.
for ((i = 0; i < 60; i++)); do
  "$CTL" put --affinity outside3 -R none /etc/hostname b1/p1/outside.txt >/dev/null 2>"$T/probe.err"
  grep -q 'unreachable' "$T/probe.err" || break
  sleep 1
done
refused hub_refusal_is_not_a_certificate_error 1 "hub .*outside this hub's storage root $HUB3_ROOT" \
  "$CTL" put --affinity outside3 -R none /etc/hostname b1/p1/outside.txt
if grep -q 'client certificate' "$T/hub_refusal_is_not_a_certificate_error.err"; then
  fail hub_refusal_not_about_certificate "$(cat "$T/hub_refusal_is_not_a_certificate_error.err")"
else
  pass hub_refusal_not_about_certificate
fi
"$CTL" space rm outside3 >/dev/null 2>&1

# ---- jobs: the server's answer, whatever it is, is reported
run job_run "$CTL" job run changeredundancy
if [ $RC -eq 0 ] && grep -q 'job ChangeRedundancy finished' "$T/job_run.out"; then
  pass job_run_reports
elif [ $RC -eq 1 ] && grep -q 'job ChangeRedundancy: .' "$T/job_run.err"; then
  pass job_run_reports
elif [ $RC -ne 99 ]; then
  fail job_run_reports "exit $RC: $(cat "$T/job_run.out" "$T/job_run.err")"
fi
refused job_run_unknown 2 'unknown job "Nap"' "$CTL" job run Nap

# ---- connection and certificates
E=$T/evil
"$BIN/jcs" cert ca --out "$E" >/dev/null && "$BIN/jcs" cert issue --role client --name client --ca "$E" --out "$E" >/dev/null
refused wrong_client_cert 1 'refused the client certificate .*evil/client_cert.pem \(from --cert\)' \
  "$CTL" --cert "$E/client_cert.pem" --key "$E/client_key.pem" bucket ls
refused wrong_ca 3 'not trusted by the CA certificate .*evil/ca_cert.pem \(from JCS_CA\)' \
  env JCS_CA="$E/ca_cert.pem" "$CTL" bucket ls
refused cert_key_mismatch 3 'client certificate .* cannot be used' \
  "$CTL" --key "$E/client_key.pem" bucket ls
refused missing_cert_file 3 'client certificate /nonexistent.pem \(from --cert\) cannot be read' \
  "$CTL" --cert /nonexistent.pem bucket ls
refused no_server 3 'cannot connect to https://127.0.0.1:1 \(from --endpoint\)' "$CTL" --endpoint 127.0.0.1:1 bucket ls
refused no_certificate_anywhere 3 'no client certificate' env -u JCS_CERT "$CTL" bucket ls
# Flags win over the environment.
ok flag_over_env env JCS_ENDPOINT=https://127.0.0.1:1 "$CTL" --endpoint "$JCS_ENDPOINT" bucket ls &&
  check flag_over_env_works grep -q b1 "$T/flag_over_env.out"
# Without flags or environment: the files beside the executable (the JCS README's rule).
mkdir -p "$T/bin" && cp "$CTL" "$T/bin/" && cp "$JCS_CA" "$JCS_CERT" "$JCS_KEY" "$T/bin/"
ok exe_dir_certs env -u JCS_CA -u JCS_CERT -u JCS_KEY "$T/bin/jcsctl" --endpoint "$JCS_ENDPOINT" --json bucket ls &&
  check exe_dir_certs_work jq -e '.buckets | length >= 1' "$T/exe_dir_certs.out"

# ---- a hub stops: an ec(2,3) object still comes back
deploy/local/cluster stop-hub --dir "$T/c" 3 >/dev/null 2>&1
# Once the client sees the hub offline (hub ls says so), reads avoid it.
for _ in $(seq 1 60); do
  "$CTL" --json hub ls 2>/dev/null | jq -e '.hubs[] | select(.name == "hub3") | .state == "offline"' >/dev/null && break
  sleep 0.5
done
ok hub_ls_offline "$CTL" hub ls && check hub_ls_shows_offline grep -Eq 'hub3 +loc3 +offline' "$T/hub_ls_offline.out"
ok get_with_hub_down "$CTL" get b1/p1/dir/f.bin - && check get_with_hub_down_same cmp "$T/f.bin" "$T/get_with_hub_down.out"
deploy/local/cluster start-hub --dir "$T/c" 3 >/dev/null 2>&1

# ---- buckets: rm refuses a non-empty one without -r
refused bucket_rm_not_empty 1 'bucket "b1" holds .* bucket rm -r b1' "$CTL" bucket rm b1
ok bucket_rm_r "$CTL" bucket rm -r b1 && ok bucket_ls_after "$CTL" --json bucket ls &&
  check bucket_rm_r_gone jq -e '.buckets == []' "$T/bucket_ls_after.out"

if grep -q 'Sanitizer\|runtime error' "$T"/c/*/*.log 2>/dev/null; then
  fail no_sanitizer_reports_in_cluster_logs "$(grep -l 'Sanitizer\|runtime error' "$T"/c/*/*.log)"
else
  pass no_sanitizer_reports_in_cluster_logs
fi
