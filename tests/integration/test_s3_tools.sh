#!/usr/bin/env bash
# The S3 gateway of `jcs serve` (issue 13) driven by the command-line tools
# people already have, unchanged, against one local cluster of 3 hubs:
# awscli (Debian's, and the machine image's newer one when present):
# s3 cp/sync/ls/rm, s3api calls, ETags, a 100 MiB multipart upload and a
# server-side multipart copy; s3cmd: put/get/ls/del/sync with its MD5 checks;
# rclone: copy, sync, check, lsjson, multipart. Every tool's objects are read
# back byte for byte through jcsctl (REST, mTLS), and objects put by jcsctl
# through every tool. A tool deploy/deps.sh installs that is missing is a
# FAIL. Prints PASS/FAIL lines for tests/run.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
export JCS_BIN=${JCS_BIN:-$ROOT/build/bin}
CTL=$JCS_BIN/jcsctl
T=$(mktemp -d "${JCS_ITEST_PREFIX:-/tmp/jcs-itest}-s3tools-XXXXXX")
CL=$T/cluster
trap 'deploy/local/cluster down --dir "$CL" >/dev/null 2>&1; [ -n "${JCS_KEEP_TEST_DIRS:-}" ] || rm -rf "$T"' EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

# run NAME CMD...: CMD's stdout in $T/NAME.out, stderr in $T/NAME.err; RC set.
run() {
  local name=$1
  shift
  local t0=$SECONDS
  timeout 300 "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null
  RC=$?
  TOOK=$((SECONDS - t0))
}
# ok NAME CMD...: PASS when CMD exits 0, else FAIL with its stderr. Returns CMD's status.
ok() {
  local name=$1
  run "$@"
  if [ $RC -ne 0 ]; then
    fail "$name" "exit $RC: $(tail -c 700 "$T/$name.err" | tr '\n' ' ')"
    return 1
  fi
  pass "$name (${TOOK}s)"
}
# same NAME FILE1 FILE2: PASS when the files are identical.
same() {
  if cmp -s "$2" "$3"; then pass "$1"; else fail "$1" "$2 ($(stat -c %s "$2" 2>/dev/null) bytes) differs from $3 ($(stat -c %s "$3" 2>/dev/null) bytes)"; fi
}
# expect NAME CONDITION-COMMAND...: PASS when it succeeds.
expect() {
  local name=$1
  shift
  if "$@" >/dev/null 2>&1; then pass "$name"; else fail "$name" "not true: $*"; fi
}
md5() { md5sum "$1" | cut -d' ' -f1; }
# mp_etag FILE PARTSIZE: the S3 ETag of FILE uploaded in PARTSIZE parts.
mp_etag() {
  python3 -c '
import hashlib, sys
size = int(sys.argv[2]); ms = []
with open(sys.argv[1], "rb") as f:
    while True:
        b = f.read(size)
        if not b: break
        ms.append(hashlib.md5(b).digest())
print("%s-%d" % (hashlib.md5(b"".join(ms)).hexdigest(), len(ms)))' "$1" "$2"
}
# via_jcsctl NAME BUCKET/KEY FILE: the object read through REST equals FILE.
via_jcsctl() {
  if "$CTL" -q get "$2" - >"$T/ctl.out" 2>"$T/ctl.err" && cmp -s "$T/ctl.out" "$3"; then
    pass "$1"
  else
    fail "$1" "jcsctl get $2: $(head -c 300 "$T/ctl.err") ($(stat -c %s "$T/ctl.out") bytes, want $(stat -c %s "$3"))"
  fi
}

if ! deploy/local/cluster up --dir "$CL" --hubs 3 >"$T/up.log" 2>&1; then
  fail cluster_up "$(tail -n 5 "$T/up.log")"
  exit 1
fi
set -a
. "$CL/cluster.env"
set +a
missing=
for v in AWS_ENDPOINT_URL S3_ENDPOINT AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_DEFAULT_REGION AWS_CA_BUNDLE S3_PORT; do
  [ -n "${!v:-}" ] || missing="$missing $v"
done
if [ -n "$missing" ]; then
  fail s3_cluster_env "cluster.env does not export$missing (the S3 listener is not started)"
  exit 1
fi
pass s3_cluster_env

# ---- test data: a tree of awkward sizes and names, and one 100 MiB file
SRC=$T/src
mkdir -p "$SRC/sub/deeper" "$SRC/empty-dir-sibling"
: >"$SRC/zero.bin"
printf x >"$SRC/one.bin"
head -c 1048579 /dev/urandom >"$SRC/sub/onemeg.bin"
head -c 77777 /dev/urandom >"$SRC/sub/deeper/with space.dat"
head -c 4096 /dev/urandom >"$SRC/empty-dir-sibling/plus+sign.txt"
printf 'hello S3\n' >"$SRC/hello.txt"
head -c $((100 * 1024 * 1024)) /dev/urandom >"$T/big.bin"
head -c $((21 * 1024 * 1024 + 5)) /dev/urandom >"$T/mid.bin"
NFILES=$(find "$SRC" -type f | wc -l)
# An object put through REST, for every tool to read.
"$CTL" -q bucket create fromctl >/dev/null
"$CTL" -q package create fromctl/pkg >/dev/null
head -c 3333333 /dev/urandom >"$T/ctl.bin"
if "$CTL" -q put "$T/ctl.bin" fromctl/pkg/dir/ctl.bin >"$T/ctlput.out" 2>&1; then
  pass jcsctl_put_for_tools
else
  fail jcsctl_put_for_tools "$(cat "$T/ctlput.out")"
fi

# ---- awscli -------------------------------------------------------------
# aws_suite TAG AWS BIGFILE [ENDPOINT-ARGS...]: the awscli cases with the aws
# command AWS; with FULL=0 only the transfers (cp, sync, multipart, rm), as
# each awscli start costs seconds and the s3api calls are the same requests.
aws_suite() {
  local tag=$1 aws=$2 big=$3
  shift 3
  local B=$tag
  local A=("$aws" "$@")
  export AWS_CONFIG_FILE=$T/$tag.config
  # Small multipart threshold and part size, so the 100 MiB copy is 13 parts.
  cat >"$AWS_CONFIG_FILE" <<EOF
[default]
region = $AWS_DEFAULT_REGION
s3 =
  multipart_threshold = 8MB
  multipart_chunksize = 8MB
  addressing_style = path
EOF
  echo "  $tag: $("$aws" --version 2>&1)"
  ok "$tag/mb" "${A[@]}" s3 mb "s3://$B" || return
  [ "$FULL" = 1 ] && ok "$tag/ls_buckets" "${A[@]}" s3 ls &&
    expect "$tag/ls_buckets_lists_it" grep -q " $B\$" "$T/$tag/ls_buckets.out"
  ok "$tag/cp_up" "${A[@]}" s3 cp "$SRC/sub/onemeg.bin" "s3://$B/pkg/dir/onemeg.bin"
  ok "$tag/cp_down" "${A[@]}" s3 cp "s3://$B/pkg/dir/onemeg.bin" "$T/$tag.onemeg" &&
    same "$tag/cp_round_trip" "$SRC/sub/onemeg.bin" "$T/$tag.onemeg"
  via_jcsctl "$tag/cp_via_jcsctl" "$B/pkg/dir/onemeg.bin" "$SRC/sub/onemeg.bin"
  ok "$tag/head_object" "${A[@]}" s3api head-object --bucket "$B" --key pkg/dir/onemeg.bin &&
    expect "$tag/etag_is_md5" test "$(jq -r .ETag "$T/$tag/head_object.out")" = "\"$(md5 "$SRC/sub/onemeg.bin")\""
  ok "$tag/sync_up" "${A[@]}" s3 sync "$SRC" "s3://$B/tree/sync"
  ok "$tag/ls_recursive" "${A[@]}" s3 ls --recursive "s3://$B/tree/" &&
    expect "$tag/ls_recursive_counts" test "$(wc -l <"$T/$tag/ls_recursive.out")" -eq "$NFILES"
  [ "$FULL" = 1 ] && ok "$tag/sync_again" "${A[@]}" s3 sync "$SRC" "s3://$B/tree/sync" &&
    expect "$tag/sync_again_uploads_nothing" bash -c "! grep -q upload: \"$T/$tag/sync_again.out\""
  mkdir -p "$T/$tag.down"
  ok "$tag/sync_down" "${A[@]}" s3 sync "s3://$B/tree/sync" "$T/$tag.down" &&
    expect "$tag/sync_round_trip" diff -r "$SRC" "$T/$tag.down"
  via_jcsctl "$tag/sync_via_jcsctl" "$B/tree/sync/sub/deeper/with space.dat" "$SRC/sub/deeper/with space.dat"
  via_jcsctl "$tag/sync_empty_via_jcsctl" "$B/tree/sync/zero.bin" "$SRC/zero.bin"
  if [ "$FULL" = 1 ]; then
    # s3api: metadata and listing
    ok "$tag/s3api_put_object" "${A[@]}" s3api put-object --bucket "$B" --key pkg/api/hello.txt \
      --body "$SRC/hello.txt" --content-type text/plain --metadata origin=awscli &&
      expect "$tag/s3api_put_etag" test "$(jq -r .ETag "$T/$tag/s3api_put_object.out")" = "\"$(md5 "$SRC/hello.txt")\""
    ok "$tag/s3api_get_object" "${A[@]}" s3api get-object --bucket "$B" --key pkg/api/hello.txt "$T/$tag.hello" &&
      same "$tag/s3api_get_bytes" "$SRC/hello.txt" "$T/$tag.hello" &&
      expect "$tag/s3api_get_metadata" jq -e '.Metadata.origin == "awscli" and .ContentType == "text/plain"' "$T/$tag/s3api_get_object.out"
    ok "$tag/s3api_list_v2" "${A[@]}" s3api list-objects-v2 --bucket "$B" --prefix tree/sync/sub/ --delimiter / &&
      expect "$tag/s3api_list_v2_result" jq -e '[.Contents[].Key] == ["tree/sync/sub/onemeg.bin"] and [.CommonPrefixes[].Prefix] == ["tree/sync/sub/deeper/"]' "$T/$tag/s3api_list_v2.out"
    ok "$tag/s3api_copy_object" "${A[@]}" s3api copy-object --bucket "$B" --key pkg/api/copy.txt \
      --copy-source "$B/pkg/api/hello.txt" &&
      via_jcsctl "$tag/s3api_copy_via_jcsctl" "$B/pkg/api/copy.txt" "$SRC/hello.txt"
    ok "$tag/s3api_delete_object" "${A[@]}" s3api delete-object --bucket "$B" --key pkg/api/copy.txt
    run "$tag/s3api_head_deleted" "${A[@]}" s3api head-object --bucket "$B" --key pkg/api/copy.txt
    expect "$tag/s3api_head_deleted_404" grep -q '404' "$T/$tag/s3api_head_deleted.err"
    run "$tag/s3api_no_such_bucket" "${A[@]}" s3api list-objects-v2 --bucket "$B-nosuch"
    expect "$tag/s3api_no_such_bucket_error" grep -q 'NoSuchBucket' "$T/$tag/s3api_no_such_bucket.err"
  fi
  # multipart: a file over the threshold goes up in 8 MiB parts
  ok "$tag/multipart_cp_up" "${A[@]}" s3 cp "$big" "s3://$B/pkg/big/$(basename "$big")" &&
    ok "$tag/multipart_head" "${A[@]}" s3api head-object --bucket "$B" --key "pkg/big/$(basename "$big")" &&
    expect "$tag/multipart_etag" test "$(jq -r .ETag "$T/$tag/multipart_head.out")" = "\"$(mp_etag "$big" $((8 * 1024 * 1024)))\""
  ok "$tag/multipart_cp_down" "${A[@]}" s3 cp "s3://$B/pkg/big/$(basename "$big")" "$T/$tag.big" &&
    same "$tag/multipart_round_trip" "$big" "$T/$tag.big"
  rm -f "$T/$tag.big"
  via_jcsctl "$tag/multipart_via_jcsctl" "$B/pkg/big/$(basename "$big")" "$big"
  if [ "$FULL" = 1 ]; then
    # s3 -> s3 of an object over the threshold: UploadPartCopy. The bytes
    # around a part boundary are compared (the boto3 tests check whole
    # UploadPartCopy results; a second full read of the file would only add time).
    if ok "$tag/multipart_server_copy" "${A[@]}" s3 cp "s3://$B/pkg/big/$(basename "$big")" "s3://$B/pkg2/copied.bin"; then
      local off=$((8 * 1024 * 1024 - 4096))
      "$CTL" -q get --range "$off-$((off + 1048575))" "$B/pkg2/copied.bin" - >"$T/$tag.copyslice" 2>"$T/ctl.err"
      tail -c +$((off + 1)) "$big" | head -c 1048576 >"$T/$tag.srcslice"
      same "$tag/multipart_server_copy_bytes" "$T/$tag.srcslice" "$T/$tag.copyslice"
      ok "$tag/multipart_server_copy_head" "${A[@]}" s3api head-object --bucket "$B" --key pkg2/copied.bin &&
        expect "$tag/multipart_server_copy_size" test "$(jq -r .ContentLength "$T/$tag/multipart_server_copy_head.out")" = "$(stat -c %s "$big")"
    fi
  fi
  # the object jcsctl put
  ok "$tag/reads_jcsctl_object" "${A[@]}" s3 cp s3://fromctl/pkg/dir/ctl.bin "$T/$tag.ctl" &&
    same "$tag/reads_jcsctl_object_bytes" "$T/ctl.bin" "$T/$tag.ctl"
  # rm
  ok "$tag/rm_recursive" "${A[@]}" s3 rm --recursive "s3://$B/tree/"
  if [ "$FULL" = 1 ]; then
    ok "$tag/rm" "${A[@]}" s3 rm "s3://$B/pkg/dir/onemeg.bin"
    ok "$tag/ls_after_rm" "${A[@]}" s3 ls --recursive "s3://$B/" &&
      expect "$tag/ls_after_rm_gone" test "$(grep -c -e 'tree/' -e 'onemeg' "$T/$tag/ls_after_rm.out")" -eq 0
    run "$tag/rb_not_empty" "${A[@]}" s3 rb "s3://$B"
    expect "$tag/rb_not_empty_refused" grep -q 'BucketNotEmpty' "$T/$tag/rb_not_empty.err"
  fi
  ok "$tag/rb_force" "${A[@]}" s3 rb --force "s3://$B"
  unset AWS_CONFIG_FILE
}

mkdir -p "$T/aws-debian" "$T/aws-image" "$T/s3cmd" "$T/rclone"
if [ -x /usr/bin/aws ]; then
  # Debian's awscli (2.9) predates AWS_ENDPOINT_URL: like its users, pass the endpoint.
  FULL=1 aws_suite aws-debian /usr/bin/aws "$T/big.bin" --endpoint-url "$AWS_ENDPOINT_URL"
else
  fail aws-debian "/usr/bin/aws is missing: run make deps (awscli)"
fi
IMG_AWS=
for a in /root/.pyenv/shims/aws /root/.pyenv/versions/*/bin/aws; do
  [ -x "$a" ] && "$a" --version >/dev/null 2>&1 && { IMG_AWS=$a; break; }
done
if [ -n "$IMG_AWS" ]; then
  # The newer awscli reads AWS_ENDPOINT_URL from cluster.env: no flag. It
  # uploads a 21 MiB file (3 parts) to keep the run short.
  FULL=0 aws_suite aws-image "$IMG_AWS" "$T/mid.bin"
else
  echo "  no newer awscli in this machine image: only Debian's ran"
fi

# ---- s3cmd ----------------------------------------------------------------
S3CMD=/usr/bin/s3cmd
if [ -x "$S3CMD" ]; then
  echo "  s3cmd: $("$S3CMD" --version 2>&1)"
  HP=${AWS_ENDPOINT_URL#https://}
  cat >"$T/s3cmd.cfg" <<EOF2
[default]
access_key = $AWS_ACCESS_KEY_ID
secret_key = $AWS_SECRET_ACCESS_KEY
host_base = $HP
host_bucket = $HP
bucket_location = $AWS_DEFAULT_REGION
use_https = True
ca_certs_file = $AWS_CA_BUNDLE
check_ssl_certificate = True
check_ssl_hostname = True
signature_v2 = False
multipart_chunk_size_mb = 5
EOF2
  S=("$S3CMD" -c "$T/s3cmd.cfg")
  B=s3cmd
  # md5_clean NAME: s3cmd warns (and goes on) when an MD5 or ETag check fails.
  md5_clean() {
    if grep -Eiq 'warning.*(md5|etag)|(md5|etag).*(not match|mismatch|differ)' "$T/$1.err"; then
      fail "$1_md5" "$(grep -Ei 'md5|etag' "$T/$1.err" | head -3 | tr '\n' ' ')"
    else
      pass "$1_md5"
    fi
  }
  if ok s3cmd/mb "${S[@]}" mb "s3://$B"; then
    ok s3cmd/put "${S[@]}" put "$SRC/sub/onemeg.bin" "s3://$B/pkg/dir/onemeg.bin" && md5_clean s3cmd/put
    via_jcsctl s3cmd/put_via_jcsctl "$B/pkg/dir/onemeg.bin" "$SRC/sub/onemeg.bin"
    ok s3cmd/get "${S[@]}" get --force "s3://$B/pkg/dir/onemeg.bin" "$T/s3cmd.onemeg" && md5_clean s3cmd/get &&
      same s3cmd/get_round_trip "$SRC/sub/onemeg.bin" "$T/s3cmd.onemeg"
    # 21 MiB in 5 MiB parts: a multipart upload.
    ok s3cmd/put_multipart "${S[@]}" put "$T/mid.bin" "s3://$B/pkg/mid.bin" && md5_clean s3cmd/put_multipart
    ok s3cmd/get_multipart "${S[@]}" get --force "s3://$B/pkg/mid.bin" "$T/s3cmd.mid" &&
      same s3cmd/multipart_round_trip "$T/mid.bin" "$T/s3cmd.mid"
    rm -f "$T/s3cmd.mid"
    via_jcsctl s3cmd/multipart_via_jcsctl "$B/pkg/mid.bin" "$T/mid.bin"
    ok s3cmd/ls "${S[@]}" ls "s3://$B/pkg/" &&
      expect s3cmd/ls_lists grep -q "s3://$B/pkg/mid.bin" "$T/s3cmd/ls.out" &&
      expect s3cmd/ls_shows_dir grep -q "DIR *s3://$B/pkg/dir/" "$T/s3cmd/ls.out"
    ok s3cmd/ls_buckets "${S[@]}" ls && expect s3cmd/ls_buckets_lists grep -q "s3://$B\$" "$T/s3cmd/ls_buckets.out"
    ok s3cmd/sync_up "${S[@]}" sync "$SRC/" "s3://$B/tree/" && md5_clean s3cmd/sync_up
    ok s3cmd/sync_again "${S[@]}" sync "$SRC/" "s3://$B/tree/" &&
      expect s3cmd/sync_again_uploads_nothing bash -c "! grep -q 'upload:' '$T/s3cmd/sync_again.out'"
    mkdir -p "$T/s3cmd.down"
    ok s3cmd/sync_down "${S[@]}" sync "s3://$B/tree/" "$T/s3cmd.down/" && md5_clean s3cmd/sync_down &&
      expect s3cmd/sync_round_trip diff -r "$SRC" "$T/s3cmd.down"
    via_jcsctl s3cmd/sync_via_jcsctl "$B/tree/empty-dir-sibling/plus+sign.txt" "$SRC/empty-dir-sibling/plus+sign.txt"
    # sync --delete-removed after a local change: the remote follows.
    cp -r "$SRC" "$T/s3cmd.src2"
    rm "$T/s3cmd.src2/one.bin"
    head -c 5000 /dev/urandom >"$T/s3cmd.src2/hello.txt"
    ok s3cmd/sync_delete "${S[@]}" sync --delete-removed "$T/s3cmd.src2/" "s3://$B/tree/"
    ok s3cmd/ls_after_sync_delete "${S[@]}" ls -r "s3://$B/tree/" &&
      expect s3cmd/sync_delete_removed bash -c "! grep -q 'tree/one.bin' '$T/s3cmd/ls_after_sync_delete.out'"
    via_jcsctl s3cmd/sync_changed_via_jcsctl "$B/tree/hello.txt" "$T/s3cmd.src2/hello.txt"
    ok s3cmd/get_jcsctl_object "${S[@]}" get --force s3://fromctl/pkg/dir/ctl.bin "$T/s3cmd.ctl" &&
      same s3cmd/reads_jcsctl_object "$T/ctl.bin" "$T/s3cmd.ctl"
    ok s3cmd/del "${S[@]}" del "s3://$B/pkg/dir/onemeg.bin"
    run s3cmd/get_deleted "${S[@]}" get --force "s3://$B/pkg/dir/onemeg.bin" "$T/s3cmd.gone"
    expect s3cmd/get_deleted_refused grep -Eq '404|does not exist' "$T/s3cmd/get_deleted.err"
    ok s3cmd/del_recursive "${S[@]}" del --recursive --force "s3://$B/"
    ok s3cmd/rb "${S[@]}" rb "s3://$B"
  fi
else
  fail s3cmd "/usr/bin/s3cmd is missing: run make deps (s3cmd)"
fi

# ---- rclone ---------------------------------------------------------------
RCLONE=/usr/bin/rclone
if [ -x "$RCLONE" ]; then
  echo "  rclone: $("$RCLONE" version 2>&1 | head -1)"
  cat >"$T/rclone.conf" <<EOF2
[jcs]
type = s3
provider = Other
access_key_id = $AWS_ACCESS_KEY_ID
secret_access_key = $AWS_SECRET_ACCESS_KEY
endpoint = $AWS_ENDPOINT_URL
region = $AWS_DEFAULT_REGION
force_path_style = true
EOF2
  # rclone 1.60's AWS SDK cannot load a CA from AWS_CA_BUNDLE (it fails
  # every command with LoadCustomCABundleError: unsupported transport), so
  # that variable of cluster.env is dropped for it and --ca-cert given.
  R=(env -u AWS_CA_BUNDLE "$RCLONE" --config "$T/rclone.conf" --ca-cert "$AWS_CA_BUNDLE" --retries 1 --low-level-retries 1
    --s3-upload-cutoff 5M --s3-chunk-size 5M)
  B=rclone
  if ok rclone/mkdir "${R[@]}" mkdir "jcs:$B"; then
    ok rclone/copy "${R[@]}" copy "$SRC" "jcs:$B/tree"
    ok rclone/check "${R[@]}" check "$SRC" "jcs:$B/tree" &&
      expect rclone/check_compared_hashes bash -c "! grep -qi 'no hashes in common' '$T/rclone/check.err'"
    ok rclone/lsjson "${R[@]}" lsjson -R --hash --files-only "jcs:$B/tree" &&
      expect rclone/lsjson_count jq -e "length == $NFILES" "$T/rclone/lsjson.out" &&
      expect rclone/lsjson_md5 test "$(jq -r '.[] | select(.Path == "sub/onemeg.bin") | .Hashes.md5' "$T/rclone/lsjson.out")" = "$(md5 "$SRC/sub/onemeg.bin")"
    via_jcsctl rclone/copy_via_jcsctl "$B/tree/sub/deeper/with space.dat" "$SRC/sub/deeper/with space.dat"
    mkdir -p "$T/rclone.down"
    ok rclone/copy_down "${R[@]}" copy "jcs:$B/tree" "$T/rclone.down" &&
      expect rclone/copy_round_trip diff -r "$SRC" "$T/rclone.down"
    # sync with a removed and a changed file
    cp -r "$SRC" "$T/rclone.src2"
    rm "$T/rclone.src2/one.bin"
    head -c 6000 /dev/urandom >"$T/rclone.src2/hello.txt"
    ok rclone/sync "${R[@]}" sync "$T/rclone.src2" "jcs:$B/tree"
    ok rclone/check_after_sync "${R[@]}" check --download "$T/rclone.src2" "jcs:$B/tree"
    via_jcsctl rclone/sync_changed_via_jcsctl "$B/tree/hello.txt" "$T/rclone.src2/hello.txt"
    # multipart (21 MiB in 5 MiB chunks)
    ok rclone/copy_multipart "${R[@]}" copyto "$T/mid.bin" "jcs:$B/pkg/mid.bin"
    ok rclone/check_multipart "${R[@]}" check --download --include /mid.bin "$T" "jcs:$B/pkg"
    via_jcsctl rclone/multipart_via_jcsctl "$B/pkg/mid.bin" "$T/mid.bin"
    ok rclone/cat_jcsctl_object "${R[@]}" cat jcs:fromctl/pkg/dir/ctl.bin &&
      same rclone/reads_jcsctl_object "$T/ctl.bin" "$T/rclone/cat_jcsctl_object.out"
    ok rclone/deletefile "${R[@]}" deletefile "jcs:$B/pkg/mid.bin"
    ok rclone/lsjson_after_delete "${R[@]}" lsjson -R "jcs:$B/pkg" &&
      expect rclone/deleted_gone jq -e 'map(select(.Path == "mid.bin")) | length == 0' "$T/rclone/lsjson_after_delete.out"
    ok rclone/purge "${R[@]}" purge "jcs:$B"
  fi
else
  fail rclone "/usr/bin/rclone is missing: run make deps (rclone)"
fi

# Nothing the gateway served may have killed it.
if kill -0 "$JCS_PID" 2>/dev/null; then
  pass s3_jcs_alive
else
  fail s3_jcs_alive "jcs serve (pid $JCS_PID) is gone; last lines: $(tail -n 5 "$CL/client/client.log")"
fi
