#!/usr/bin/env python3
"""The kill-point campaign: SIGKILL any process at random instants under a mixed workload.

A local cluster (4 hubs, MariaDB, coordinator, the jcs client) runs a seeded
workload in a thread: single, batch and multipart uploads, overwrites, moves,
clones, deletes, redundancy changes and background jobs (tickTock/run). Meanwhile
a chaos loop picks, at a random instant, a hub, the client, the coordinator or
MariaDB, SIGKILLs it and starts it again: that is one kill point. Every request's
outcome is tracked per path as the set of contents it may now have: an
acknowledged (200) write sets it to exactly the new bytes; a failed or cut
request adds its bytes (or "absent") as possibilities, never half of them.

After each round (JCS_KILLPOINTS_PER_ROUND kill points), with everything up again:
  - every path reads back (sha256) as one of its allowed contents; a path with
    an acknowledged last write must hold exactly those bytes (else "lost" or
    "corrupt"), and no listed object may hold bytes nobody wrote;
  - RedundancyRecover converges (a second run rebuilds nothing, loses nothing,
    waits for nothing, fails nothing: every object at full redundancy);
  - ShardStoreGC (tickTock.gcGracePeriod 1s here) leaves no orphan shard and
    no missing one: a CheckShardStore afterwards counts 0 orphans, 0 missing.

Closes with "kill points N, acknowledged writes M, lost 0, corrupt 0".
Environment: JCS_BIN, JCS_KILLPOINTS (default 100), JCS_KILLPOINTS_PER_ROUND
(default 20), JCS_KILLPOINTS_SEED (default: time). PASS/FAIL lines for tests/run.
"""
import concurrent.futures
import hashlib
import http.client
import json
import os
import random
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faultlib import Api, Report  # noqa: E402  (what every campaign shares)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.chdir(ROOT)
BIN = os.environ.get("JCS_BIN", os.path.join(ROOT, "build/bin"))
KILLS = int(os.environ.get("JCS_KILLPOINTS", "100"))
PER_ROUND = int(os.environ.get("JCS_KILLPOINTS_PER_ROUND", "20"))
SEED = int(os.environ.get("JCS_KILLPOINTS_SEED", str(int(time.time()))))
rng = random.Random(SEED)
NHUBS = 4

report = Report()
PASS, FAIL, check = report.PASS, report.FAIL, report.check


T = tempfile.mkdtemp(prefix=os.environ.get("JCS_ITEST_PREFIX", "/tmp/jcs-itest") + "-killpoints-")


def cleanup():
    subprocess.run(["deploy/local/cluster", "down", "--dir", T], capture_output=True)
    if not os.environ.get("JCS_KEEP_TEST_DIRS"):
        shutil.rmtree(T, ignore_errors=True)


def cluster(*args):
    # The campaign reads the pid files itself: no cluster.env rewrite after each restart.
    r = subprocess.run(["deploy/local/cluster"] + list(args) + ["--dir", T],
                       capture_output=True, text=True,
                       env=dict(os.environ, CLUSTER_SKIP_ENV="1") if args[0] != "up" else None)
    if r.returncode != 0:
        raise RuntimeError("cluster %s: %s" % (" ".join(args), r.stderr[-1500:]))


def read_env(path):
    env = {}
    for line in open(path):
        line = line.strip()
        if "=" in line and not line.startswith("#") and not line.startswith("export"):
            k, v = line.split("=", 1)
            env[k] = v
    return env


def sha(b):
    return hashlib.sha256(b).hexdigest()


def upload_many(api, pkg, files):
    """One multipart/form-data request with several files: (status, response)."""
    b = "----jcskill%d" % random.randrange(1 << 30)
    info = json.dumps({"packageID": pkg}).encode()
    body = ("--%s\r\nContent-Disposition: form-data; name=\"info\"\r\n"
            "Content-Type: application/json\r\n\r\n" % b).encode() + info
    for path, data in files:
        body += (("\r\n--%s\r\nContent-Disposition: form-data; name=\"files\"; filename=\"%s\"\r\n"
                  "Content-Type: application/octet-stream\r\n\r\n" %
                  (b, urllib.parse.quote(path, safe=""))).encode() + data)
    body += ("\r\n--%s--\r\n" % b).encode()
    st, out, err = api.request("POST", "/v1/object/upload", body,
                               {"Content-Type": "multipart/form-data; boundary=" + b}, timeout=60)
    return st == 200 and ok(out)


def ok(out):
    try:
        return json.loads(out).get("code") == "OK"
    except (ValueError, AttributeError):
        return False


def try_call(api, method, path, obj=None, timeout=60):
    """A request whose failure is expected under chaos: the data, or None when not acknowledged."""
    body = json.dumps(obj).encode() if obj is not None else None
    st, out, err = api.request(method, path, body,
                               {"Content-Type": "application/json"} if body else {}, timeout)
    if st != 200:
        return None
    try:
        d = json.loads(out)
    except ValueError:
        return None
    return d.get("data", {}) if d.get("code") == "OK" else None


ABSENT = None
OPEN_MPU = "open multipart upload"


class Model:
    """Per (package, path): the set of sha256 it may hold (ABSENT: no object), and whether the
    last write to it was acknowledged (then the set has exactly one member)."""

    def __init__(self):
        self.may = {}
        self.acked = {}
        self.data = {}  # sha -> bytes, for the report
        self.lock = threading.Lock()

    def get(self, key):
        return self.may.get(key, {ABSENT})

    def acked_write(self, key, h):
        with self.lock:
            self.may[key] = {h}
            self.acked[key] = True

    def maybe_write(self, key, h):
        with self.lock:
            self.may[key] = self.get(key) | {h}
            self.acked[key] = False


def workload(api, pkgs, model, stop, stats):
    """Random operations until stop is set; each one's outcome goes into the model."""
    wr = random.Random(rng.randrange(1 << 62))
    n = 0
    acked0 = stats["acked"]
    while not stop.is_set():
        n += 1
        if n > 1 and stats["acked"] == acked0:
            time.sleep(0.05)  # the client is likely down: do not spin on refused connections
        acked0 = stats["acked"]
        pkg = wr.choice(pkgs)
        key_path = "d%d/f%d" % (wr.randrange(3), wr.randrange(12))
        key = (pkg, key_path)
        op = wr.choices(["upload", "batch", "multipart", "move", "clone", "delete", "redundancy",
                         "job"], [5, 2, 2, 2, 2, 1, 1, 1])[0]
        if op in ("upload", "batch"):
            files = [(key_path, wr.randbytes(wr.randrange(1, 200000)))]
            if op == "batch":
                for _ in range(wr.randint(1, 3)):
                    p = "d%d/f%d" % (wr.randrange(3), wr.randrange(12))
                    if p not in [f[0] for f in files]:
                        files.append((p, wr.randbytes(wr.randrange(0, 100000))))
            for p, d in files:
                model.data[sha(d)] = d
            # A batch is one transaction: all of its files, or (unacknowledged) maybe none.
            if upload_many(api, pkg, files):
                for p, d in files:
                    model.acked_write((pkg, p), sha(d))
                stats["acked"] += len(files)
            else:
                for p, d in files:
                    model.maybe_write((pkg, p), sha(d))
        elif op == "multipart":
            parts = [wr.randbytes(wr.randrange(1, 80000)) for _ in range(wr.randint(1, 3))]
            whole = b"".join(parts)
            model.data[sha(whole)] = whole
            model.maybe_write(key, sha(whole))
            # A multipart upload left open holds its path: reads get 409 until it completes.
            model.maybe_write(key, OPEN_MPU)
            d = try_call(api, "POST", "/v1/object/newMultipartUpload",
                         {"packageID": pkg, "path": key_path})
            if d is None:
                continue
            oid = d["object"]["objectID"]
            good = True
            for i in wr.sample(range(len(parts)), len(parts)):
                st, out, err = api.request("POST", "/v1/object/uploadPart?objectID=%d&index=%d" %
                                           (oid, i + 1), parts[i],
                                           {"Content-Type": "application/octet-stream"}, 60)
                if st != 200 or not ok(out):
                    good = False
                    break
            if good and try_call(api, "POST", "/v1/object/completeMultipartUpload",
                                 {"objectID": oid,
                                  "indexes": list(range(1, len(parts) + 1))}) is not None:
                model.acked_write(key, sha(whole))
                stats["acked"] += 1
        elif op in ("move", "clone", "delete", "redundancy"):
            d = try_call(api, "GET", "/v1/object/listByPath?packageID=%d&path=%s&isPrefix=false&"
                         "noRecursive=false" % (pkg, urllib.parse.quote(key_path)))
            if not d or not d.get("objects"):
                continue
            oid = d["objects"][0]["objectID"]
            src_may = model.get(key)
            if op == "delete":
                r = try_call(api, "POST", "/v1/object/delete", {"objectIDs": [oid]})
                if r is not None:
                    model.acked_write(key, ABSENT)
                    stats["acked"] += 1
                else:
                    model.maybe_write(key, ABSENT)
            elif op == "redundancy":
                red = wr.choice([{"type": "rep", "repCount": 2},
                                 {"type": "ec", "k": 2, "n": 3, "chunkSize": 65536},
                                 {"type": "rep", "repCount": 3}])
                try_call(api, "POST", "/v1/object/changeRedundancy",
                         {"objectIDs": [oid], "redundancy": red})
            else:
                dpkg = wr.choice(pkgs)
                dpath = "m%d/g%d" % (wr.randrange(2), wr.randrange(8))
                dkey = (dpkg, dpath)
                if dkey == key or len(src_may) != 1:
                    continue  # the source's content must be known to say what the copy holds
                (h,) = tuple(src_may)
                if h is ABSENT:
                    continue
                if op == "move":
                    r = try_call(api, "POST", "/v1/object/move", {"movings": [
                        {"objectID": oid, "packageID": dpkg, "path": dpath}]})
                    if r is not None and oid in r.get("successes", []):
                        model.acked_write(dkey, h)
                        model.acked_write(key, ABSENT)
                        stats["acked"] += 1
                    elif r is None:
                        model.maybe_write(dkey, h)
                        model.maybe_write(key, ABSENT)
                else:
                    r = try_call(api, "POST", "/v1/object/clone", {"clonings": [
                        {"objectID": oid, "newPackageID": dpkg, "newPath": dpath}]})
                    if r is not None and r.get("objects") and r["objects"][0]:
                        model.acked_write(dkey, h)
                        stats["acked"] += 1
                    elif r is None:
                        model.maybe_write(dkey, h)
        else:
            job = wr.choice(["ChangeRedundancy", "RedundancyShrink", "RedundancyRecover",
                             "CheckShardStore", "UpdateAccessStats"])
            try_call(api, "POST", "/v1/system/tickTock/run", {"job": job}, timeout=120)
    stats["ops"] += n


def pid_of(target):
    f = {"client": "client/pid", "coordinator": "coordinator/pid",
         "mariadb": "mariadb/mysqld.pid"}.get(target, "%s/pid" % target)
    try:
        return int(open(os.path.join(T, f)).read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def kill(target):
    pid = pid_of(target)
    if pid:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


restart_times = []  # (target, seconds until it served again, tries): where chaos time goes


def restart(target, errors):
    """Starts target again, retrying while what it needs (MariaDB, the coordinator) is down."""
    args = {"client": ["start-client"], "coordinator": ["start-coordinator"],
            "mariadb": ["start-mariadb"]}.get(target) or ["start-hub", target[3:]]
    t0 = time.time()
    tries = 0
    while True:
        tries += 1
        try:
            cluster(*args)
            restart_times.append((target, time.time() - t0, tries))
            return
        except RuntimeError as e:
            if time.time() - t0 > 90:
                errors.append("%s did not start again in 90 s: %s" % (target, e))
                return
            # A start that did not get ready (its database or coordinator was down) may have
            # left its process behind: end it before the next try.
            kill(target)
            time.sleep(0.5)


def wait_healthy(api, limit=60):
    t0 = time.time()
    while time.time() - t0 < limit:
        d = try_call(api, "GET", "/v1/system/status", timeout=10)
        h = try_call(api, "GET", "/v1/system/hubs", timeout=10)
        if d and h and all(x.get("state") == "online" for x in h["hubs"]) and \
                len(h["hubs"]) == NHUBS and d["database"].get("ok") and d["coordinator"].get("ok"):
            return True
        time.sleep(0.3)
    return False


def main():
    print("killpoints: seed %d, %d kill points (%d a round), dir %s" % (SEED, KILLS, PER_ROUND, T),
          flush=True)
    cluster("up", "--hubs", str(NHUBS), "--test-interval", "1")
    conf = os.path.join(T, "client", "config.json")
    c = json.load(open(conf))
    c.setdefault("tickTock", {})["gcGracePeriod"] = "1s"
    c["tickTock"]["recoverGracePeriod"] = "1h"
    # A client killed mid-job leaves its storage leases behind: the restarted client's next
    # run waits for them to expire (60 s by default), which was most of this campaign's time.
    c["tickTock"]["leaseTTL"] = "6s"
    json.dump(c, open(conf + ".tmp", "w"), indent=2)
    os.chmod(conf + ".tmp", 0o600)
    os.replace(conf + ".tmp", conf)
    cluster("stop-client")
    cluster("start-client")
    env = read_env(os.path.join(T, "cluster.env"))
    api = Api(env)
    check(wait_healthy(api), "cluster_healthy", "hubs never all online")
    b = api.call("POST", "/v1/bucket/create", {"name": "chaos"})["bucket"]["bucketID"]
    pkgs = [api.call("POST", "/v1/package/create", {"bucketID": b, "name": n, "redundancy": r})
            ["package"]["packageID"] for n, r in
            (("rep", {"type": "rep", "repCount": 2}),
             ("ec", {"type": "ec", "k": 2, "n": 3, "chunkSize": 65536}))]
    model = Model()
    stats = {"acked": 0, "ops": 0, "kills": 0, "lost": 0, "corrupt": 0, "by": {}}
    targets = ["hub%d" % i for i in range(1, NHUBS + 1)] + ["client", "coordinator", "mariadb"]
    rnd = 0
    t_start = time.time()
    while stats["kills"] < KILLS:
        rnd += 1
        t0 = time.time()
        stop = threading.Event()
        w = threading.Thread(target=workload, args=(api, pkgs, model, stop, stats))
        w.start()
        # Up to two processes are down (killed, restarting) at once: a kill point does not
        # wait for the previous one's restart.
        restarting = {}
        errors = []
        for _ in range(min(PER_ROUND, KILLS - stats["kills"])):
            time.sleep(rng.uniform(0.05, 0.5))
            while True:
                for k in [k for k, th in restarting.items() if not th.is_alive()]:
                    del restarting[k]
                if len(restarting) < 2:
                    break
                time.sleep(0.05)
            tgt = rng.choice([x for x in targets if x not in restarting])
            kill(tgt)
            th = threading.Thread(target=restart, args=(tgt, errors))
            th.start()
            restarting[tgt] = th
            stats["kills"] += 1
            stats["by"][tgt] = stats["by"].get(tgt, 0) + 1
        for th in restarting.values():
            th.join()
        stop.set()
        if not check(not errors, "round%d_restarts" % rnd, "; ".join(errors)):
            return
        w.join(300)
        if w.is_alive():
            FAIL("round%d_workload_hang" % rnd, "a request did not return in 300 s")
            return
        t_chaos = time.time()
        if not check(wait_healthy(api), "round%d_healthy" % rnd, "not healthy after restarts"):
            return
        t_h = time.time()
        verify(api, model, stats, rnd)
        t_v = time.time()
        converge(api, rnd)
        print("round %d: healthy after %.1f s, verify %.1f s, recover + gc %.1f s" %
              (rnd, t_h - t_chaos, t_v - t_h, time.time() - t_v), flush=True)
        by = {}
        for tgt, secs, tries in restart_times:
            k = "hub" if tgt.startswith("hub") else tgt
            n, tot, mx, tr = by.get(k, (0, 0.0, 0.0, 0))
            by[k] = (n + 1, tot + secs, max(mx, secs), tr + tries)
        print("round %d: restarts %s" % (rnd, ", ".join(
            "%s %d x %.1f s (max %.1f, %d tries)" % (k, n, tot / n, mx, tr)
            for k, (n, tot, mx, tr) in sorted(by.items()))), flush=True)
        del restart_times[:]
        # Verified contents become certain for the next round.
        print("round %d: %d kill points so far, %.1f s (chaos %.1f, checks %.1f)" %
              (rnd, stats["kills"], time.time() - t0, t_chaos - t0, time.time() - t_chaos),
              flush=True)
    check(stats["lost"] == 0 and stats["corrupt"] == 0, "no_lost_no_corrupt",
          "lost %d, corrupt %d" % (stats["lost"], stats["corrupt"]))
    check(stats["acked"] > 0, "writes_acknowledged", "no write was acknowledged")
    print("killpoints: %d operations, kills by target %s, %.1f s" %
          (stats["ops"], stats["by"], time.time() - t_start), flush=True)
    print("kill points %d, acknowledged writes %d, lost %d, corrupt %d" %
          (stats["kills"], stats["acked"], stats["lost"], stats["corrupt"]), flush=True)


def verify(api, model, stats, rnd):
    bad = 0
    seen = set()
    for pkg in set(k[0] for k in model.may) | set():
        d = api.call("GET", "/v1/object/listByPath?packageID=%d&path=&isPrefix=true&"
                     "noRecursive=false" % pkg)
        for o in d["objects"]:
            seen.add((pkg, o["path"]))
    keys = sorted(set(model.may) | seen)

    def read(key):
        return api.request("GET", "/v1/object/downloadByPath?packageID=%d&path=%s" %
                           (key[0], urllib.parse.quote(key[1])), timeout=60)
    # The reads go four at a time (the client serves them at once); the outcomes are then
    # judged in order, as before.
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(read, keys))
    for key, (st, body, err) in zip(keys, results):
        may = model.get(key)
        if st == 200 and err is None:
            h = sha(body)
        elif st == 404:
            h = ABSENT
        elif st == 409 and b"open multipart upload" in body:
            h = OPEN_MPU
        else:
            bad += 1
            stats["lost" if model.acked.get(key) else "corrupt"] += 1
            FAIL("round%d_read" % rnd, "%s: HTTP %s %s %s" % (key, st, body[:300], err or ""))
            continue
        if h in may:
            model.may[key] = {h}
            continue
        bad += 1
        if model.acked.get(key) and h is ABSENT:
            stats["lost"] += 1
            what = "lost (acknowledged, now absent)"
        else:
            stats["corrupt"] += 1
            what = "holds %s (%d bytes), allowed %s" % (h, len(body), sorted(
                x[:12] if x else "absent" for x in may))
        FAIL("round%d_contents" % rnd, "%s %s (acknowledged last write: %s)" %
             (key, what, model.acked.get(key)))
        model.may[key] = {h}
    if bad == 0:
        PASS("round%d_contents" % rnd)


def converge(api, rnd):
    rep = None
    for _ in range(5):
        rep = api.call("POST", "/v1/system/tickTock/run", {"job": "RedundancyRecover"}, timeout=600)[
            "report"]
        rep2 = api.call("POST", "/v1/system/tickTock/run", {"job": "RedundancyRecover"},
                        timeout=600)["report"]
        if rep2["blocksRebuilt"] == 0 and rep2["objectsLost"] == 0 and \
                rep2["objectsWaiting"] == 0 and rep2["errors"] == 0 and rep2["objectsSkipped"] == 0:
            break
        time.sleep(1)
    check(rep2["blocksRebuilt"] == 0 and rep2["objectsLost"] == 0 and rep2["objectsWaiting"] == 0
          and rep2["errors"] == 0, "round%d_recover_converged" % rnd,
          "first %s; last %s" % (json.dumps(rep)[:800], json.dumps(rep2)[:1200]))
    time.sleep(1.2)  # past tickTock.gcGracePeriod (1 s) for the shards of cut writes
    gc = api.call("POST", "/v1/system/tickTock/run", {"job": "ShardStoreGC"}, timeout=600)["report"]
    chk = api.call("POST", "/v1/system/tickTock/run", {"job": "CheckShardStore", "deep": False},
                   timeout=600)["report"]
    check(gc["errors"] == 0 and chk["orphans"] == 0 and chk["missing"] == 0 and
          chk["errors"] == 0, "round%d_gc_converged" % rnd,
          "gc %s; check %s" % (json.dumps(gc)[:800], json.dumps(chk)[:1200]))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a broken step is a failure with its reason, never a crash
        FAIL("campaign", "%s: %s" % (type(e).__name__, e))
    finally:
        cleanup()
    sys.exit(1 if report.failures else 0)
