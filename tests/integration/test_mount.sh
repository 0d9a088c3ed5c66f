#!/usr/bin/env bash
# `jcs mount` as a user uses it, against a local cluster of 3 hubs (as root,
# with /dev/fuse): the tree (buckets, packages, objects), errors as errno, a
# seeded random model test against a local directory, real tools (cp -a,
# rsync -a, tar, git, sqlite3) byte-identical also after unmount + remount,
# fsync and SIGTERM committing staged writes, a SIGKILL with staged writes
# recovered by the next mount, ENOSPC from a full cache, and reads that go on
# while a hub stops. Prints PASS/FAIL lines for tests/run.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BIN=${JCS_BIN:-$ROOT/build/bin}
export JCS_BIN=$BIN
T=$(mktemp -d /tmp/jcs-mount-test-XXXXXX)
C=$T/c
M=$C/mnt
CL=deploy/local/cluster
cleanup() {
  $CL down --dir "$C" >/dev/null 2>&1
  [ -n "${JCS_KEEP_TEST_DIRS:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

START=$(date +%s)
pass() { echo "PASS $1 ($(( $(date +%s) - START ))s)"; }
fail() { echo "FAIL $1: $2"; }
check() { # check NAME COMMAND...: PASS when the command succeeds
  local name=$1
  shift
  if "$@" >"$T/check.out" 2>&1; then pass "$name"; else fail "$name" "$* -> $(head -c 800 "$T/check.out")"; fi
}
# errno_of CMD: the errno name a Python one-liner gets (OK when none).
errno_of() {
  python3 -c "
import errno, os, sys
try:
    $1
    print('OK')
except OSError as e:
    print(errno.errorcode[e.errno])"
}
expect_errno() { # NAME WANT PYTHON-STATEMENT
  local got
  got=$(errno_of "$3")
  if [ "$got" = "$2" ]; then pass "$1"; else fail "$1" "want $2, got $got from: $3"; fi
}
cfg=$C/client/config.json
set_mount_cfg() { # jq assignments for .mount
  jq ".mount |= (. + $1)" "$cfg" >"$cfg.tmp" && mv "$cfg.tmp" "$cfg"
}
remount() {
  $CL unmount --dir "$C" >"$T/unmount.log" 2>&1 || { fail "$1" "unmount: $(tail -5 "$T/unmount.log")"; return 1; }
  $CL mount --dir "$C" >"$T/mount.log" 2>&1 || { fail "$1" "mount: $(tail -5 "$T/mount.log")"; return 1; }
}
api() { # METHOD PATH [JSON]: the envelope's data
  curl -sS --cacert "$C/client/ca_cert.pem" --cert "$C/client/client_cert.pem" \
    --key "$C/client/client_key.pem" -X "$1" -H 'Content-Type: application/json' \
    ${3:+--data "$3"} "$(. "$C/cluster.env" && echo "$JCS_ENDPOINT")$2" | jq -c .data
}

if [ "$(id -u)" != 0 ] || [ ! -e /dev/fuse ]; then
  fail mount_setup "this test mounts a file system: it needs root and /dev/fuse"
  exit 0
fi
if ! $CL up --dir "$C" --hubs 3 >"$T/up.log" 2>&1; then
  fail cluster_up "$(tail -n 20 "$T/up.log")"
  exit 0
fi
set_mount_cfg '{"uploadPendingTime": "1s", "attrTimeout": "2s", "maxCacheSize": 1073741824}'
if ! $CL mount --dir "$C" >"$T/mount.log" 2>&1; then
  fail mount_up "$(tail -n 20 "$T/mount.log") $(tail -n 20 "$C/mount/mount.log")"
  exit 0
fi
. "$C/cluster.env"
check cluster_env_exports_jcs_mount bash -c "[ \"\$JCS_MOUNT\" = '$M' ] && mountpoint -q '$M'"

# ---- the tree: buckets, packages, objects
check mkdir_bucket mkdir "$M/t"
check mkdir_package mkdir "$M/t/p"
check bucket_seen_by_rest bash -c "[ \"\$(api_out=\$(curl -sS --cacert $C/client/ca_cert.pem --cert $C/client/client_cert.pem --key $C/client/client_key.pem $JCS_ENDPOINT/v1/bucket/getByName?name=t) && jq -r .data.bucket.name <<<\"\$api_out\")\" = t ]"
check package_has_config_redundancy bash -c "curl -sS --cacert $C/client/ca_cert.pem --cert $C/client/client_cert.pem --key $C/client/client_key.pem '$JCS_ENDPOINT/v1/package/getByFullName?bucketName=t&packageName=p' | jq -e '.data.package.name == \"p\"'"
echo hello >"$M/t/p/hello.txt"
check read_back_staged grep -qx hello "$M/t/p/hello.txt"
check ls_root bash -c "ls '$M' | grep -qx t"
expect_errno file_in_root_refused EPERM "open('$M/f', 'w')"
expect_errno missing_is_enoent ENOENT "open('$M/t/p/nope')"
expect_errno missing_package_is_enoent ENOENT "os.listdir('$M/t/nope')"
expect_errno mkdir_existing_is_eexist EEXIST "os.mkdir('$M/t/p')"
check mkdir_nested mkdir -p "$M/t/p/d1/d2"
echo x >"$M/t/p/d1/d2/f"
expect_errno rmdir_nonempty_is_enotempty ENOTEMPTY "os.rmdir('$M/t/p/d1')"
expect_errno rmdir_bucket_nonempty_is_enotempty ENOTEMPTY "os.rmdir('$M/t')"
expect_errno unlink_dir_is_eisdir EISDIR "os.unlink('$M/t/p/d1')"
expect_errno marker_name_refused EINVAL "open('$M/t/p/.jcs-mount-dir', 'w')"
check chmod_accepted chmod 600 "$M/t/p/hello.txt"
check chown_accepted chown 0:0 "$M/t/p/hello.txt"
check mode_unchanged bash -c "[ \"\$(stat -c %a '$M/t/p/hello.txt')\" = 644 ]"
check touch_sets_mtime bash -c "touch -d '2020-01-02 03:04:05 UTC' '$M/t/p/hello.txt' && sleep 2.5 && [ \"\$(stat -c %Y '$M/t/p/hello.txt')\" = 1577934245 ]"
check statfs_works bash -c "df -B1 '$M' | tail -1 | grep -q jcs"
check rm_last_file_keeps_dir bash -c "rm '$M/t/p/d1/d2/f' && [ -d '$M/t/p/d1/d2' ] && rmdir '$M/t/p/d1/d2' '$M/t/p/d1' && [ ! -e '$M/t/p/d1' ]"

# ---- fsync commits now; SIGTERM commits what is staged
set_mount_cfg '{"uploadPendingTime": "1h"}'
remount fsync_setup
head -c 300000 /dev/urandom >"$T/fs.bin"
python3 -c "
import os, sys
fd = os.open('$M/t/p/fsynced.bin', os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
os.write(fd, open('$T/fs.bin', 'rb').read())
os.fsync(fd)
os.close(fd)"
check fsync_commits_before_pending_time bash -c "curl -sS --cacert $C/client/ca_cert.pem --cert $C/client/client_cert.pem --key $C/client/client_key.pem -o $T/fs.back \"$JCS_ENDPOINT/v1/object/downloadByPath?packageID=\$(curl -sS --cacert $C/client/ca_cert.pem --cert $C/client/client_cert.pem --key $C/client/client_key.pem '$JCS_ENDPOINT/v1/package/getByFullName?bucketName=t&packageName=p' | jq .data.package.packageID)&path=fsynced.bin\" && cmp $T/fs.bin $T/fs.back"
head -c 100000 /dev/urandom >"$T/term.bin"
cp "$T/term.bin" "$M/t/p/term.bin"
remount sigterm_setup
pid_of_mount() { cat "$C/mount/pid"; }
PKG=$(api GET '/v1/package/getByFullName?bucketName=t&packageName=p' | jq .package.packageID)
check sigterm_uploads_staged bash -c "curl -sS --cacert $C/client/ca_cert.pem --cert $C/client/client_cert.pem --key $C/client/client_key.pem -o $T/term.back '$JCS_ENDPOINT/v1/object/downloadByPath?packageID=$PKG&path=term.bin' && cmp $T/term.bin $T/term.back"

# ---- SIGKILL with staged writes: the next mount uploads them
mkdir -p "$T/crash"
for i in $(seq 1 20); do head -c $((i * 7919)) /dev/urandom >"$T/crash/f$i"; done
mkdir -p "$M/t/p/crash"
cp "$T/crash"/f* "$M/t/p/crash/"
sync
staged=$(ls "$C/client/mount/meta" | grep -c json)
check crash_files_staged_before_kill test "$staged" -ge 20
kill -KILL "$(pid_of_mount)"
sleep 0.5
fusermount3 -u -z "$M" 2>/dev/null || umount -l "$M" 2>/dev/null
rm -f "$C/mount/pid"
set_mount_cfg '{"uploadPendingTime": "1s"}'
$CL mount --dir "$C" >"$T/mount.log" 2>&1 || fail crash_remount "$(tail -5 "$T/mount.log")"
for _ in $(seq 1 300); do
  [ "$(ls "$C/client/mount/meta" | grep -c json)" = 0 ] && break
  sleep 0.2
done
check crash_staged_files_uploaded_after_remount bash -c "[ \$(ls '$C/client/mount/meta' | grep -c json) = 0 ]"
ok_all=1
for i in $(seq 1 20); do
  curl -sS --cacert "$C/client/ca_cert.pem" --cert "$C/client/client_cert.pem" --key "$C/client/client_key.pem" \
    -o "$T/crash.back" "$JCS_ENDPOINT/v1/object/downloadByPath?packageID=$PKG&path=crash/f$i" &&
    cmp -s "$T/crash/f$i" "$T/crash.back" || ok_all=0
done
[ $ok_all = 1 ] && pass crash_every_closed_file_committed_identical || fail crash_every_closed_file_committed_identical "a file differs from what was written before SIGKILL"
check crash_reads_back_through_mount diff -r "$T/crash" "$M/t/p/crash"

# ---- the model test: seeded random operations against a local directory
for seed in 11 12; do
  timeout 400 python3 tests/mount/model.py run "$M/t/p/model$seed" "$T/model$seed" --seed "$seed" \
    --ops "${MOUNT_MODEL_OPS:-1200}" --name "mount_model_seed$seed" 2>&1 | head -20
done

# ---- real tools
SRC=$T/src
mkdir -p "$SRC"
for d in $(seq 1 10); do
  mkdir -p "$SRC/dir$d/sub"
  for f in $(seq 1 25); do head -c $(( (d * 997 + f * 131) % 9000 )) /dev/urandom >"$SRC/dir$d/f$f.dat"; done
  echo "file $d" >"$SRC/dir$d/sub/readme.txt"
done
head -c $((200 << 20)) /dev/urandom >"$SRC/big.bin"
check cp_a cp -a "$SRC" "$M/t/p/cp"
check cp_a_identical diff -r "$SRC" "$M/t/p/cp"
check rsync_a rsync -a "$SRC/" "$M/t/p/rs/"
check rsync_a_identical diff -r "$SRC" "$M/t/p/rs"
check rsync_again_transfers_nothing bash -c "[ \"\$(rsync -a --itemize-changes '$SRC/' '$M/t/p/rs/' | grep -c '^>f')\" = 0 ]"
check tar_c bash -c "tar -C '$SRC' --exclude big.bin -cf '$M/t/p/src.tar' ."
check tar_x bash -c "mkdir '$M/t/p/tx' && tar -C '$M/t/p/tx' -xf '$M/t/p/src.tar'"
check tar_identical diff -r --exclude big.bin "$SRC" "$M/t/p/tx"
check git_init_commit bash -c "cd '$M/t/p' && mkdir repo && cd repo && git init -q && git config user.email t@t && git config user.name t && cp -r '$SRC/dir1' . && git add -A && git commit -qm first && echo more >> dir1/sub/readme.txt && git commit -qam second && [ \"\$(git log --oneline | wc -l)\" = 2 ] && git fsck --no-progress 2>&1"
check sqlite3_create_query bash -c "sqlite3 '$M/t/p/db.sqlite' 'create table t(a integer primary key, b text); with recursive c(x) as (select 1 union all select x+1 from c where x<5000) insert into t(b) select hex(randomblob(40)) from c; create index ib on t(b);' && [ \"\$(sqlite3 '$M/t/p/db.sqlite' 'select count(*) from t where length(b)=80')\" = 5000 ] && sqlite3 '$M/t/p/db.sqlite' 'pragma integrity_check' | grep -qx ok"
sqlite3 "$M/t/p/db.sqlite" 'select sum(a), group_concat(b) from t' | sha256sum >"$T/db.sum"
(cd "$M/t/p/repo" && git rev-parse HEAD) >"$T/git.head"
if remount tools_remount; then
  check after_remount_cp_identical diff -r "$SRC" "$M/t/p/cp"
  check after_remount_rsync_identical diff -r "$SRC" "$M/t/p/rs"
  check after_remount_tar_identical diff -r --exclude big.bin "$SRC" "$M/t/p/tx"
  check after_remount_git bash -c "cd '$M/t/p/repo' && [ \"\$(git rev-parse HEAD)\" = '$(cat "$T/git.head")' ] && git fsck --no-progress 2>&1 && git status --porcelain | wc -l | grep -qx 0"
  check after_remount_sqlite bash -c "sqlite3 '$M/t/p/db.sqlite' 'pragma integrity_check' | grep -qx ok && sqlite3 '$M/t/p/db.sqlite' 'select sum(a), group_concat(b) from t' | sha256sum | cmp - '$T/db.sum'"
  for seed in 11 12; do
    python3 tests/mount/model.py compare "$M/t/p/model$seed" "$T/model$seed" --name "after_remount_model_seed$seed"
  done
fi
check rename_dir_across_packages bash -c "mkdir '$M/t/q' && mv '$M/t/p/tx' '$M/t/q/tx' && diff -r --exclude big.bin '$SRC' '$M/t/q/tx' && [ ! -e '$M/t/p/tx' ]"
check rename_package bash -c "mv '$M/t/q' '$M/t/q2' && diff -r --exclude big.bin '$SRC' '$M/t/q2/tx' && [ ! -e '$M/t/q' ]"

# ---- a hub stops while a file is read: the read goes on from the other blocks
api POST /v1/package/create "{\"bucketID\": $(api GET '/v1/bucket/getByName?name=t' | jq .bucket.bucketID), \"name\": \"ec\", \"redundancy\": {\"type\": \"ec\", \"k\": 2, \"n\": 3}}" >/dev/null
sleep 2.5 # a package made through the API shows in the mount within attrTimeout
head -c $((48 << 20)) /dev/urandom >"$T/ec.bin"
python3 -c "
import os, shutil
with open('$M/t/ec/ec.bin', 'wb') as f:
    shutil.copyfileobj(open('$T/ec.bin', 'rb'), f)
    f.flush(); os.fsync(f.fileno())"
remount hub_stop_setup  # the staged copy is retired: reads come from the hubs
python3 - "$M/t/ec/ec.bin" "$T/ec.read" "$T/ec.half" <<'PY' &
import sys, time
src, dst, half = sys.argv[1:]
with open(src, 'rb') as f, open(dst, 'wb') as o:
    n = 0
    while True:
        b = f.read(1 << 20)
        if not b:
            break
        o.write(b)
        n += 1
        if n == 8:
            open(half, 'w').close()
        time.sleep(0.05)
PY
reader=$!
for _ in $(seq 1 200); do [ -e "$T/ec.half" ] && break; sleep 0.1; done
$CL stop-hub --dir "$C" 2 >/dev/null 2>&1
wait $reader
check hub_stopped_during_read_bytes_identical cmp "$T/ec.bin" "$T/ec.read"
$CL start-hub --dir "$C" 2 >/dev/null 2>&1

# ---- a cache that cannot make room: ENOSPC, and the mount stays healthy
set_mount_cfg '{"maxCacheSize": 4194304}'
remount enospc_setup
expect_errno full_cache_is_enospc ENOSPC "open('$M/t/p/toolarge.bin', 'wb').write(b'x' * (8 << 20))"
check mount_healthy_after_enospc bash -c "cmp '$T/fs.bin' '$M/t/p/fsynced.bin'"
check mount_log_names_object grep -q 'toolarge.bin' "$C/mount/mount.log"
# The cap holds in real time while more than it passes through: a sampler
# records the largest size of the cache directory (blocks and staged files)
# while 12 MiB are written in 1 MiB files (each fsynced, then retired), a
# 48 MiB object is read whole, and that object is opened for appending (its
# download would not fit: ENOSPC before a byte of it reaches the disk).
# The refused write above left toolarge.bin staged with what fitted (a short
# write, as on a full disk); it holds the cap until its upload retires it.
for _ in $(seq 1 300); do
  [ "$(ls "$C/client/mount/meta" | grep -c json)" = 0 ] && break
  sleep 0.2
done
cache_bytes() { find "$C/client/mount/data" -type f -printf '%s\n' 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'; }
: >"$T/cache.max"
( while [ ! -e "$T/cache.stop" ]; do cache_bytes >>"$T/cache.max"; sleep 0.02; done ) &
sampler=$!
ok_w=1
for i in $(seq 1 12); do
  python3 -c "
import os
fd = os.open('$M/t/p/cap$i.bin', os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
os.write(fd, os.urandom(1 << 20)); os.fsync(fd); os.close(fd)" || ok_w=0
done
[ $ok_w = 1 ] && pass cap_files_written_past_the_cap || fail cap_files_written_past_the_cap "a 1 MiB write under a 4 MiB cap failed"
check cap_read_bigger_than_cap_identical cmp "$T/ec.bin" "$M/t/ec/ec.bin"
expect_errno cap_append_download_too_big_is_enospc ENOSPC "open('$M/t/ec/ec.bin', 'ab', buffering=0).write(b'x')"
touch "$T/cache.stop"
wait $sampler
max=$(sort -n "$T/cache.max" | tail -1)
check cache_dir_never_over_max_cache_size test "${max:-0}" -le 4194304
check cache_sampler_saw_the_cache_in_use test "$(sort -n "$T/cache.max" | uniq | wc -l)" -gt 2
check append_refused_left_object_intact cmp "$T/ec.bin" "$M/t/ec/ec.bin"

$CL unmount --dir "$C" >/dev/null 2>&1
check unmount_leaves_no_mount bash -c "! mountpoint -q '$M'"
