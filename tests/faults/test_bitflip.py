#!/usr/bin/env python3
"""The bit-flip campaign: random damage to stored shards, read back as a user would.

A local cluster (6 hubs, a local user space each, plus an S3 user space on
s3rver) holds none, rep(2) and ec(4,6) objects, some of them with a block in
the S3 space. Each round damages shard files directly on disk (local spaces:
<root>/blocks/XY/<hash>; S3: s3rver's <dir>/<bucket>/blocks/XY/<hash>._S3rver_object):
a flipped bit, an overwritten range, a truncation, a deletion, or damage to
the shard's checksums (a flipped bit or a truncation) where they are: the
extended attribute user.jcs.crc of a local shard file (one file per shard), or
the sidecar <hash>.crc (S3, and local shards of the sidecar layout). At most as
many blocks per object as its redundancy tolerates (one for none/rep(2), up
to two for ec(4,6)). Then, over mutual TLS:

  - whole and ranged GETs of every object: every 200/206 body must equal the
    uploaded bytes (a none object whose only copy is damaged must fail, never
    serve wrong bytes; rep and ec objects must serve correct bytes);
  - a deep CheckShardStore must name every damaged shard (corrupt, missing,
    or sidecar rewritten), unless a read already queued it for healing;
  - RedundancyRecover must rebuild every damaged rep/ec block (an ec block
    back onto its own space), after which every object reads back identical
    and a second deep check finds nothing. Damaged none objects are reported
    lost by RedundancyRecover and uploaded again for the next round.

Closes with "flips N, detected N, wrong bytes served 0, healed N".
Environment: JCS_BIN (binaries), JCS_BITFLIP_ROUNDS (default 12),
JCS_BITFLIP_SEED (default: time). Prints PASS/FAIL lines for tests/run.
"""
import http.client
import json
import os
import random
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faultlib import Api, Report  # noqa: E402  (what every campaign shares)

XATTR = "user.jcs.crc"  # where a local shard keeps its checksums (DESIGN §13)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.chdir(ROOT)
BIN = os.environ.get("JCS_BIN", os.path.join(ROOT, "build/bin"))
ROUNDS = int(os.environ.get("JCS_BITFLIP_ROUNDS", "12"))
SEED = int(os.environ.get("JCS_BITFLIP_SEED", str(int(time.time()))))
rng = random.Random(SEED)

report = Report()
PASS, FAIL, check = report.PASS, report.FAIL, report.check


T = tempfile.mkdtemp(prefix=os.environ.get("JCS_ITEST_PREFIX", "/tmp/jcs-itest") + "-bitflip-")
S3_PID = None


def cleanup():
    if S3_PID:
        try:
            os.kill(S3_PID, 15)
        except OSError:
            pass
    subprocess.run(["deploy/local/cluster", "down", "--dir", T], capture_output=True)
    if not os.environ.get("JCS_KEEP_TEST_DIRS"):
        shutil.rmtree(T, ignore_errors=True)


def read_env(path):
    env = {}
    for line in open(path):
        line = line.strip()
        if "=" in line and not line.startswith("#") and not line.startswith("export"):
            k, v = line.split("=", 1)
            env[k] = v
    return env


def main():
    global S3_PID
    print("bitflip: seed %d, %d rounds, dir %s" % (SEED, ROUNDS, T), flush=True)
    up = subprocess.run(["deploy/local/cluster", "up", "--dir", T, "--hubs", "6"],
                        capture_output=True, text=True)
    if up.returncode != 0:
        FAIL("cluster_up", up.stderr[-2000:])
        return
    env = read_env(os.path.join(T, "cluster.env"))
    api = Api(env)
    # The case first, while the object's 6 spaces are all there is: a shard deleted
    # from a healthy space of an ec(4,6) object is rebuilt onto that same space.
    spaces0 = api.call("GET", "/v1/userspace/list")["userSpaces"]
    roots0 = {sp["userSpaceID"]: sp["storage"]["root"] for sp in spaces0}
    b0 = api.call("POST", "/v1/bucket/create", {"name": "own"})["bucket"]["bucketID"]
    p0 = api.call("POST", "/v1/package/create", {"bucketID": b0, "name": "ec", "redundancy": {
        "type": "ec", "k": 4, "n": 6, "chunkSize": 65536}})["package"]["packageID"]
    data0 = rng.randbytes(1000000)
    oid0 = api.upload(p0, "own.bin", data0)
    blk = rng.choice(api.call("GET", "/v1/object/detail?objectID=%d" % oid0)["blocks"])
    os.unlink(os.path.join(roots0[blk["userSpaceID"]], "blocks", blk["fileHash"][4:6],
                           blk["fileHash"]))
    rec = api.call("POST", "/v1/system/tickTock/run", {"job": "RedundancyRecover"})["report"]
    after = api.call("GET", "/v1/object/detail?objectID=%d" % oid0)["blocks"]
    back = [b for b in after if b["index"] == blk["index"]]
    st, body, err = api.get(oid0)
    check(rec["blocksRebuilt"] == 1 and len(back) == 1 and
          back[0]["userSpaceID"] == blk["userSpaceID"] and
          os.path.exists(os.path.join(roots0[blk["userSpaceID"]], "blocks",
                                      blk["fileHash"][4:6], blk["fileHash"])) and
          st == 200 and body == data0, "ec_rebuilt_onto_own_space",
          "recover report %s; blocks after %s; GET %s %s" % (json.dumps(rec)[:800], after, st,
                                                            err))
    api.call("POST", "/v1/bucket/delete", {"bucketID": b0})

    s3 = subprocess.run(["tests/s3/start", os.path.join(T, "s3"), "jcsbkt",
                         os.path.join(T, "s3.env")], capture_output=True, text=True)
    if s3.returncode != 0:
        FAIL("s3_start", s3.stderr[-2000:])
        return
    s3env = read_env(os.path.join(T, "s3.env"))
    S3_PID = int(s3env["S3_PID"])
    s3_data = os.path.join(T, "s3", "data", "jcsbkt")

    hubs = api.call("GET", "/v1/system/hubs")["hubs"]
    s3space = api.call("POST", "/v1/userspace/create", {
        "name": "s3space", "storage": {"type": "s3", "endpoint": s3env["S3_ENDPOINT"],
                                       "bucket": "jcsbkt", "pathStyle": True,
                                       "accessKey": "S3RVER", "secretKey": "S3RVER",
                                       "hubID": hubs[0]["hubID"]}})["userSpace"]["userSpaceID"]
    spaces = api.call("GET", "/v1/userspace/list")["userSpaces"]
    local_root = {}
    for sp in spaces:
        if sp["storage"]["type"] == "local":
            local_root[sp["userSpaceID"]] = sp["storage"]["root"]
    locals_ = sorted(local_root)
    check(len(locals_) == 6, "six_local_spaces", "spaces: %s" % spaces)

    bucket = api.call("POST", "/v1/bucket/create", {"name": "bitflip"})["bucket"]["bucketID"]
    reds = {
        "none": {"type": "none"},
        "rep": {"type": "rep", "repCount": 2},
        "ec": {"type": "ec", "k": 4, "n": 6, "chunkSize": 262144},
    }
    pkgs = {}
    for name, red in reds.items():
        pkgs[name] = api.call("POST", "/v1/package/create",
                              {"bucketID": bucket, "name": name,
                               "redundancy": red})["package"]["packageID"]

    # Objects: for each redundancy one on local spaces only and one with a block on S3.
    objs = []  # dicts: oid, red, data, path

    def place_on(o, space_ids):
        api.call("POST", "/v1/object/changeRedundancy",
                 {"objectIDs": [o["oid"]], "redundancy": reds[o["red"]],
                  "userSpaceIDs": space_ids})

    def put(o):
        o["data"] = rng.randbytes(o["size"])
        o["oid"] = api.upload(pkgs[o["red"]], o["path"], o["data"])
        if o["s3"]:
            width = {"none": 1, "rep": 2, "ec": 6}[o["red"]]
            place_on(o, [s3space] + rng.sample(locals_, width - 1))

    sizes = {"none": 700001, "rep": 1300000, "ec": 2500000}
    for red in ("none", "rep", "ec"):
        for on_s3 in (False, True):
            o = {"red": red, "size": sizes[red] + rng.randrange(1000), "s3": on_s3,
                 "path": "%s/%s.bin" % (red, "s3" if on_s3 else "local")}
            put(o)
            objs.append(o)
    PASS("objects_stored")

    def detail(o):
        return api.call("GET", "/v1/object/detail?objectID=%d" % o["oid"])

    def shard_file(space, h):
        if space == s3space:
            return os.path.join(s3_data, "blocks", h[4:6], h + "._S3rver_object")
        return os.path.join(local_root[space], "blocks", h[4:6], h)

    def sidecar_file(space, h):
        if space == s3space:
            return os.path.join(s3_data, "blocks", h[4:6], h + ".crc._S3rver_object")
        return os.path.join(local_root[space], "blocks", h[4:6], h + ".crc")

    def damage_attr(path, kind):
        """Damages the checksums kept in the shard file's extended attribute."""
        v = bytearray(os.getxattr(path, XATTR))
        if kind == "sidecar_flip":
            at = rng.randrange(len(v))
            v[at] ^= 1 << rng.randrange(8)
        else:
            v = v[:rng.randrange(len(v))] or bytearray(b"\0")
        os.setxattr(path, XATTR, bytes(v))

    def has_attr(path):
        try:
            return len(os.getxattr(path, XATTR)) > 0
        except OSError:
            return False

    def damage(path, kind):
        size = os.path.getsize(path)
        with open(path, "r+b") as f:
            if kind in ("flip", "sidecar_flip"):
                at = rng.randrange(size)
                f.seek(at)
                b = f.read(1)[0]
                f.seek(at)
                f.write(bytes([b ^ (1 << rng.randrange(8))]))
            elif kind == "overwrite":
                at = rng.randrange(size)
                n = min(size - at, rng.randrange(1, 4097))
                f.seek(at)
                old = f.read(n)
                new = bytes((x + 1 + rng.randrange(255)) % 256 for x in old)
                f.seek(at)
                f.write(new)
            elif kind in ("truncate", "sidecar_truncate"):
                f.truncate(rng.randrange(size))
        if kind == "delete":
            os.unlink(path)
            if path.endswith("._S3rver_object"):
                for ext in ("._S3rver_metadata.json", "._S3rver_object.md5"):
                    p = path[: -len("._S3rver_object")] + ext
                    if os.path.exists(p):
                        os.unlink(p)

    # A redundancy change of an object whose only copy is corrupt fails and changes nothing.
    o = next(o for o in objs if o["red"] == "none" and not o["s3"])
    b = detail(o)["blocks"][0]
    damage(shard_file(b["userSpaceID"], b["fileHash"]), "flip")
    st, out, err = api.request("POST", "/v1/object/changeRedundancy", json.dumps(
        {"objectIDs": [o["oid"]], "redundancy": reds["rep"]}).encode(),
        {"Content-Type": "application/json"})
    blocks_after = detail(o)["blocks"]
    check(st != 200 and b"corrupt" in out and blocks_after == [b], "change_of_corrupt_only_copy",
          "HTTP %s %s; blocks %s" % (st, out[:400], blocks_after))
    api.call("POST", "/v1/object/delete", {"objectIDs": [o["oid"]]})
    put(o)

    kinds = ["flip", "flip", "overwrite", "truncate", "delete", "sidecar_flip", "sidecar_truncate"]
    totals = {"flips": 0, "detected": 0, "wrong": 0, "healed": 0, "reads": 0, "reads_ok": 0,
              "reads_refused": 0, "by_read": 0, "unhealable": 0, "kinds": {}}

    def read_all(o, tag, must_serve):
        """Whole and ranged reads; wrong bytes are counted, refusals allowed unless must_serve."""
        ranges = [None]
        for _ in range(3):
            a = rng.randrange(o["size"])
            ranges.append((a, rng.randrange(1, min(o["size"] - a, 300000) + 1)))
        ranges.append((rng.randrange(o["size"] - 10), 10))
        for r in ranges:
            st, body, err = api.get(o["oid"], r)
            want = o["data"] if r is None else o["data"][r[0]:r[0] + r[1]]
            totals["reads"] += 1
            if st in (200, 206) and err is None and body == want:
                totals["reads_ok"] += 1
                continue
            if st in (200, 206) and (err is None or body != want[:len(body)]):
                totals["wrong"] += 1
                FAIL("%s_wrong_bytes" % tag, "object %d range %s: HTTP %d, %d bytes differ from "
                     "what was uploaded (%s)" % (o["oid"], r, st, len(body), err))
                continue
            totals["reads_refused"] += 1
            if must_serve:
                FAIL("%s_served" % tag, "object %d (%s) range %s: HTTP %d %s %s" %
                     (o["oid"], o["red"], r, st, body[:300], err or ""))

    for rnd in range(1, ROUNDS + 1):
        t0 = time.time()
        faults = []  # (object, space, hash, kind)
        for o in objs:
            blocks = detail(o)["blocks"]
            nmax = 2 if o["red"] == "ec" else 1
            # Shards shared by two blocks (rep copies share a hash) are damaged per space.
            victims = rng.sample(blocks, rng.randint(1, nmax))
            for b in victims:
                kind = rng.choice(kinds)
                sp, h = b["userSpaceID"], b["fileHash"]
                path = sidecar_file(sp, h) if kind.startswith("sidecar") else shard_file(sp, h)
                if kind.startswith("sidecar") and sp != s3space and has_attr(shard_file(sp, h)):
                    # One file per shard: its checksums are its attribute, and no sidecar
                    # must be beside it.
                    if os.path.exists(path):
                        FAIL("round%d_one_file" % rnd, "%s beside a shard with %s" % (path, XATTR))
                    damage_attr(shard_file(sp, h), kind)
                    faults.append((o, sp, h, kind, b["index"]))
                    totals["kinds"][kind + "_attr"] = totals["kinds"].get(kind + "_attr", 0) + 1
                    continue
                if not os.path.exists(path):
                    FAIL("round%d_shard_file" % rnd, "no file %s for block %s" % (path, b))
                    continue
                damage(path, kind)
                faults.append((o, sp, h, kind, b["index"]))
                totals["kinds"][kind] = totals["kinds"].get(kind, 0) + 1
        totals["flips"] += len(faults)
        damaged_data = {(id(f[0])) for f in faults if not f[3].startswith("sidecar")}
        damaged_any = {id(f[0]) for f in faults}

        # Reads: correct bytes wherever redundancy allows; never wrong bytes.
        t_dmg = time.time()
        before = api.call("GET", "/v1/system/status")["integrity"]
        for o in objs:
            read_all(o, "round%d_read" % rnd, must_serve=o["red"] != "none" or
                     id(o) not in damaged_any)
        after = api.call("GET", "/v1/system/status")["integrity"]
        totals["by_read"] += after["corruptReads"] - before["corruptReads"]

        t_read = time.time()
        # Deep scrub: every damaged shard named.
        rep = api.call("POST", "/v1/system/tickTock/run",
                       {"job": "CheckShardStore", "deep": True}, timeout=600)["report"]
        found = set()
        for sp in rep.get("spaces", []):
            for key in ("corruptHashes", "missingHashes", "sidecarsRewrittenHashes"):
                for h in sp.get(key, []):
                    found.add((sp["userSpaceID"], h))
        for (o, sp, h, kind, idx) in faults:
            if (sp, h) in found:
                totals["detected"] += 1
            else:
                FAIL("round%d_detected" % rnd, "%s of block %d (space %d, %s) of object %d (%s) "
                     "not found by the deep check: %s" % (kind, idx, sp, h, o["oid"], o["red"],
                                                          json.dumps(rep)[:1500]))

        t_scrub = time.time()
        # Heal, then everything reads back and a second deep check finds nothing.
        rec = api.call("POST", "/v1/system/tickTock/run", {"job": "RedundancyRecover"},
                       timeout=600)["report"]
        lost_expected = sum(1 for o in objs if o["red"] == "none" and id(o) in damaged_data)
        check(rec["objectsLost"] == lost_expected, "round%d_recover_lost" % rnd,
              "objectsLost %d, want %d (damaged none objects): %s" %
              (rec["objectsLost"], lost_expected, json.dumps(rec)[:1500]))
        for o in objs:
            if o["red"] == "none" and id(o) in damaged_data:
                st, body, err = api.get(o["oid"])
                if st in (200, 206) and body != o["data"]:
                    totals["wrong"] += 1
                    FAIL("round%d_none_lost" % rnd, "object %d served wrong bytes" % o["oid"])
                continue
            read_all(o, "round%d_healed_read" % rnd, must_serve=True)
        for (o, sp, h, kind, idx) in faults:
            if o["red"] == "none" and not kind.startswith("sidecar"):
                totals["unhealable"] += 1
                continue
            blocks = detail(o)["blocks"]
            same = [b for b in blocks if b["index"] == idx and b["userSpaceID"] == sp]
            if o["red"] == "ec" and not same:
                FAIL("round%d_rebuilt_in_place" % rnd, "block %d of object %d left space %d: %s"
                     % (idx, o["oid"], sp, blocks))
            totals["healed"] += 1
        t_rec = time.time()
        # Damaged none objects are gone for good: upload them again (their old shards are GC's).
        for o in objs:
            if o["red"] == "none" and id(o) in damaged_data:
                api.call("POST", "/v1/object/delete", {"objectIDs": [o["oid"]]})
                put(o)
        rep2 = api.call("POST", "/v1/system/tickTock/run",
                        {"job": "CheckShardStore", "deep": True}, timeout=600)["report"]
        clean = rep2["corrupt"] == 0 and rep2["missing"] == 0 and rep2["sidecarsRewritten"] == 0
        check(clean and rep2["errors"] == 0, "round%d_all_verified" % rnd,
              "second deep check: %s" % json.dumps(rep2)[:1500])
        print("round %d: %d faults (%s), %.1f s (damage %.1f, reads %.1f, deep check %.1f, "
              "recover + reads %.1f, re-upload + deep check %.1f)" %
              (rnd, len(faults), ", ".join(sorted({f[3] for f in faults})), time.time() - t0,
               t_dmg - t0, t_read - t_dmg, t_scrub - t_read, t_rec - t_scrub,
               time.time() - t_rec), flush=True)

    # Entries of the none objects uploaded again name blocks no object has any more: the next
    # RedundancyRecover drops them.
    api.call("POST", "/v1/system/tickTock/run", {"job": "RedundancyRecover"}, timeout=600)
    st = api.call("GET", "/v1/system/status")["integrity"]
    check(st["healQueueLength"] == 0, "heal_queue_empty", "status: %s" % st)
    check(totals["wrong"] == 0, "no_wrong_bytes", "%d reads served wrong bytes" % totals["wrong"])
    check(totals["detected"] == totals["flips"], "all_detected",
          "%d of %d faults detected" % (totals["detected"], totals["flips"]))
    print("bitflip: faults by kind %s; reads %d (%d correct, %d refused, all refusals on none "
          "objects with a damaged copy); corrupt reads seen by the client %d; unhealable (none) "
          "%d; integrity counters %s" % (totals["kinds"], totals["reads"], totals["reads_ok"],
                                         totals["reads_refused"], totals["by_read"],
                                         totals["unhealable"], st), flush=True)
    print("flips %d, detected %d, wrong bytes served %d, healed %d (and %d on none objects, "
          "whose only copy was damaged: refused on read, reported lost, never served)" %
          (totals["flips"], totals["detected"], totals["wrong"], totals["healed"],
           totals["unhealable"]), flush=True)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a broken step is a failure with its reason, never a crash
        FAIL("campaign", "%s: %s" % (type(e).__name__, e))
    finally:
        cleanup()
    sys.exit(1 if report.failures else 0)
