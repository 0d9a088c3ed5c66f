#!/usr/bin/env python3
"""The network-fault campaign: a hub's packets dropped, rejected or stalled under load.

A --netns cluster (4 hubs, each in its own namespace and location, the client in
loc1; rpc.idleTimeoutSeconds IDLE, coordinator hubUnavailableSeconds UNAVAIL)
holds an ec(2,3) package with one large and several small objects. Each phase
picks a hub that holds a block of the large object and, while these run at
once, breaks it:
  reject    nftables answers every packet with a TCP reset or an ICMP error;
  stop      SIGSTOP of the hub process (its kernel still ACKs TCP);
  dropmid   nftables silently drops every packet in and out of its namespace,
            starting while the large transfers are under way;
  link      only the link between two hubs drops (a plan coded on hubs);
  idlecut   a hub's packets are rejected while nothing but one upload goes to
            it, and the moment it is back online uploads that need every hub
            run (a package with a replica on each).
Operations: a large EC upload, a large EC download, a small (plan-free) PUT
and GETs, a ranged read and a background job (CheckShardStore).

What a user would notice is asserted:
  - every request ends within BOUND s (a few idle deadlines: a stalled step
    fails after IDLE, the read then stats the blocks and retries around it);
  - a read of an object with one block on the broken hub returns the right
    bytes (ec(2,3) has one block to spare); a write either succeeds or fails
    with an error naming the hub, and a failed write leaves nothing visible;
  - the coordinator marks the broken hub offline within UNAVAIL s (plus its
    sweep), and uploads made then place no block on it;
  - once the fault is lifted the hub is online again and every acknowledged
    object reads back identical;
  - a hub back online serves the next requests at once: the request that met
    the cut left the client's connection to it with unacknowledged data in
    TCP retransmission backoff, and such a connection must not carry them
    (before the fix they failed "Connection timed out" ~10 s after the cut);
  - at the end no process died, and the healthy hubs' thread counts are back
    at their baseline (no plan thread left waiting for ever).
PASS/FAIL lines for tests/run; JCS_BIN, JCS_NETFAULT_SEED.
"""
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faultlib import Api, Report, upload_form  # noqa: E402  (what every campaign shares)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.chdir(ROOT)
SEED = int(os.environ.get("JCS_NETFAULT_SEED", str(int(time.time()))))
rng = random.Random(SEED)
NHUBS = 4
IDLE = 3        # rpc.idleTimeoutSeconds of every process
UNAVAIL = 4     # the coordinator's hubUnavailableSeconds (heartbeats every second)
# A request may lose one idle deadline on the broken hub's stream, one on each
# follow-up call to it (the StatShard that finds the block unreachable) and then
# needs the retried transfer itself: 5 idle deadlines and a margin for ASan.
BOUND = 5 * IDLE + 6
BIG = 16 << 20
SMALL = 4096

report = Report()
PASS, FAIL, check = report.PASS, report.FAIL, report.check


T = tempfile.mkdtemp(prefix=os.environ.get("JCS_ITEST_PREFIX", "/tmp/jcs-itest") + "-netfaults-")


def cluster(*args):
    r = subprocess.run(["deploy/local/cluster"] + list(args) + ["--dir", T],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("cluster %s: %s" % (" ".join(args), r.stderr[-1500:]))
    return r.stdout


def read_env(path):
    env = {}
    for line in open(path):
        line = line.strip()
        if "=" in line and not line.startswith("#") and not line.startswith("export"):
            k, v = line.split("=", 1)
            env[k] = v.strip('"')
    return env


def sha(b):
    return hashlib.sha256(b).hexdigest()


class Cluster:
    def __init__(self):
        self.env = read_env(os.path.join(T, "cluster.env"))
        self.api = Api(self.env)
        self.prefix = self.env["NETNS_PREFIX"]
        hubs = self.api.call("GET", "/v1/system/hubs")["hubs"]
        spaces = self.api.call("GET", "/v1/userspace/list")["userSpaces"]
        self.hubs = {}
        for h in hubs:
            n = h["name"]
            i = int(n[3:])
            self.hubs[n] = {
                "name": n, "id": h["hubID"], "addr": self.env["HUB%d_ADDR" % i],
                "pid": int(self.env["HUB%d_PID" % i]),
                "space": [s["userSpaceID"] for s in spaces if s["name"] == n][0]}
        self.space_hub = {v["space"]: k for k, v in self.hubs.items()}

    def ip(self, hub):
        return self.hubs[hub]["addr"].rsplit(":", 1)[0]

    def nft(self, hub, ruleset):
        r = subprocess.run(["ip", "netns", "exec", "%s-%s" % (self.prefix, hub), "nft", "-f", "-"],
                           input=ruleset, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("nft in %s: %s" % (hub, r.stderr))

    def fault(self, kind, hub, peer=None):
        """Starts fault kind on hub (peer: the other end of a link fault)."""
        if kind == "stop":
            os.kill(self.hubs[hub]["pid"], signal.SIGSTOP)
            return
        if kind == "link":
            ip = self.ip(peer)
            rin, rout = "ip saddr %s drop;" % ip, "ip daddr %s drop;" % ip
        elif kind == "reject":
            rin = ('iifname "eth0" meta l4proto tcp reject with tcp reset; '
                   'iifname "eth0" reject with icmpx type admin-prohibited;')
            rout = ('oifname "eth0" meta l4proto tcp reject with tcp reset; '
                    'oifname "eth0" reject with icmpx type admin-prohibited;')
        else:  # drop, dropmid
            rin, rout = 'iifname "eth0" drop;', 'oifname "eth0" drop;'
        self.nft(hub, "table inet jcsfault {\n"
                 " chain in { type filter hook input priority -10; policy accept; %s }\n"
                 " chain out { type filter hook output priority -10; policy accept; %s }\n}\n"
                 % (rin, rout))

    def lift(self, kind, hub):
        if kind == "stop":
            os.kill(self.hubs[hub]["pid"], signal.SIGCONT)
        else:
            self.nft(hub, "delete table inet jcsfault\n")

    def state(self, hub):
        try:
            for h in self.api.call("GET", "/v1/system/hubs", timeout=10)["hubs"]:
                if h["name"] == hub:
                    return h["state"]
        except RuntimeError:
            return None
        return None

    def threads(self, hub):
        """The hub's threads by name (gRPC names its own; ours carry the program's name)."""
        pid = self.hubs[hub]["pid"]
        names = {}
        try:
            for t in os.listdir("/proc/%d/task" % pid):
                try:
                    n = open("/proc/%d/task/%s/comm" % (pid, t)).read().strip()
                except OSError:
                    continue
                names[n] = names.get(n, 0) + 1
        except OSError:
            return None
        return names

    def names(self, msg, hub):
        """Whether an error message names hub (its name, address or id)."""
        h = self.hubs[hub]
        return (h["name"] in msg or self.ip(hub) in msg or
                ("hub %d" % h["id"]) in msg)


class Op(threading.Thread):
    """One user request, timed; result (status, body, error) when done."""

    def __init__(self, name, fn):
        super().__init__(daemon=True)
        self.name_, self.fn = name, fn
        self.res, self.secs = None, None

    def run(self):
        t0 = time.time()
        try:
            self.res = self.fn()
        except Exception as e:  # noqa: BLE001 (a failed request is an outcome, not a crash)
            self.res = (-1, b"", "%s: %s" % (type(e).__name__, e))
        self.secs = time.time() - t0


def message(res):
    st, body, err = res
    try:
        return json.loads(body).get("message", "") + (err or "")
    except (ValueError, AttributeError):
        return (body[:300].decode(errors="replace") if body else "") + (err or "")


def main():
    print("netfaults: seed %d, dir %s, idle %d s, hub unavailable %d s, bound %d s" %
          (SEED, T, IDLE, UNAVAIL, BOUND), flush=True)
    t_start = time.time()
    cluster("up", "--netns", "--wan-rate", "100mbit", "--hubs", str(NHUBS),
            "--hub-unavailable", str(UNAVAIL), "--test-interval", "1", "--rpc-idle", str(IDLE))
    c = Cluster()
    api = c.api
    print("cluster up in %.1f s" % (time.time() - t_start), flush=True)
    b = api.call("POST", "/v1/bucket/create", {"name": "net"})["bucket"]["bucketID"]
    pkg = api.call("POST", "/v1/package/create", {
        "bucketID": b, "name": "ec", "redundancy": {"type": "ec", "k": 2, "n": 3,
                                                   "chunkSize": 1 << 20}})["package"]["packageID"]
    acked = {}    # path -> sha of its acknowledged content
    failed = set()  # paths whose only upload failed: must not be visible

    def put(path, data, package=None):
        body, hdr = upload_form(package or pkg, path, data)
        st, out, err = api.request("POST", "/v1/object/upload", body, hdr, timeout=120)
        return st, out, err

    def get(path, rng_=None, package=None):
        hdr = {"Range": "bytes=%d-%d" % (rng_[0], rng_[0] + rng_[1] - 1)} if rng_ else {}
        return api.request("GET", "/v1/object/downloadByPath?packageID=%d&path=%s" %
                           (package or pkg, urllib.parse.quote(path)), None, hdr, timeout=120)

    def blocks_of(path):
        d = api.call("GET", "/v1/object/listByPath?packageID=%d&path=%s&isPrefix=false&"
                     "noRecursive=false" % (pkg, urllib.parse.quote(path)))
        oid = d["objects"][0]["objectID"]
        det = api.call("GET", "/v1/object/detail?objectID=%d" % oid)
        return [c.space_hub.get(x["userSpaceID"]) for x in det["blocks"]]

    def visible(path):
        d = api.call("GET", "/v1/object/listByPath?packageID=%d&path=%s&isPrefix=false&"
                     "noRecursive=false" % (pkg, urllib.parse.quote(path)))
        return bool(d["objects"])

    data = {}
    big = rng.randbytes(BIG)
    data["big"] = big
    st, out, err = put("big", big)
    check(st == 200, "setup_upload_big", "HTTP %s %s" % (st, message((st, out, err))))
    acked["big"] = sha(big)
    smalls = []
    for i in range(8):
        p = "small%d" % i
        data[p] = rng.randbytes(SMALL)
        st, out, err = put(p, data[p])
        if check(st == 200, "setup_upload_" + p, message((st, out, err))):
            acked[p] = sha(data[p])
            smalls.append(p)
    big_hubs = blocks_of("big")
    small_hubs = {p: blocks_of(p) for p in smalls}
    print("blocks: big on %s; smalls on %s" % (big_hubs, small_hubs), flush=True)
    base_threads = {h: c.threads(h) for h in c.hubs}
    print("baseline threads: %s" % base_threads, flush=True)

    def phase(kind, hub, peer=None):
        tag = "%s_%s" % (kind, hub)
        print("---- phase %s: %s %s%s" % (tag, kind, hub, " <-> " + peer if peer else ""),
              flush=True)
        t0 = time.time()
        upath = "up-%s/big" % kind
        spath = "up-%s/small" % kind
        data[upath] = rng.randbytes(BIG)
        data[spath] = rng.randbytes(SMALL)
        reads = [p for p in smalls if hub in small_hubs[p]][:3] or smalls[:1]
        off = rng.randrange(BIG // 2)
        ops = [Op("large_upload", lambda: put(upath, data[upath])),
               Op("large_download", lambda: get("big")),
               Op("ranged_read", lambda: get("big", (off, 3 << 20))),
               Op("small_put", lambda: put(spath, data[spath]))]
        ops += [Op("small_get_" + p, lambda p=p: get(p)) for p in reads]
        ops.append(Op("job_check", lambda: api.request(
            "POST", "/v1/system/tickTock/run", json.dumps({"job": "CheckShardStore"}).encode(),
            {"Content-Type": "application/json"}, timeout=120)))
        if kind == "dropmid":
            for o in ops[:2]:
                o.start()
            time.sleep(0.8)  # the large transfers are moving
            t_fault = time.time()
            c.fault(kind, hub, peer)
            for o in ops[2:]:
                o.start()
        else:
            t_fault = time.time()
            c.fault(kind, hub, peer)
            for o in ops:
                o.start()
        # When the coordinator declares the hub offline, watched from the fault on.
        seen = {}
        stop_watch = threading.Event()

        def watch():
            while not stop_watch.is_set() and time.time() - t_fault < UNAVAIL + 10:
                if c.state(hub) == "offline":
                    seen["offline"] = time.time() - t_fault
                    return
                time.sleep(0.2)
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        deadline = time.time() + BOUND + 10
        for o in ops:
            o.join(max(0.1, deadline - time.time()))
        hung = [o.name_ for o in ops if o.is_alive()]
        check(not hung, tag + "_nothing_hangs", "still running after %d s: %s" %
              (BOUND + 10, hung))
        slow = ["%s %.1fs" % (o.name_, o.secs) for o in ops if o.secs is not None and
                o.secs > BOUND]
        check(not slow, tag + "_requests_end_within_bound", "over %d s: %s" % (BOUND, slow))
        print("%s: %s" % (tag, ", ".join("%s %s %.1fs" % (o.name_, o.res[0] if o.res else "-",
                                                           o.secs or -1) for o in ops)),
              flush=True)
        # Reads: the right bytes, read around the broken hub (one block of ec(2,3) to spare).
        for o in ops:
            if not o.res:
                continue
            st, body, err = o.res
            if o.name_ == "large_download" or o.name_.startswith("small_get_"):
                p = "big" if o.name_ == "large_download" else o.name_[len("small_get_"):]
                check(st == 200 and err is None and sha(body) == acked[p],
                      "%s_%s_reads_around" % (tag, o.name_),
                      "HTTP %s, %d bytes: %s" % (st, len(body), message(o.res)[:400]))
            elif o.name_ == "ranged_read":
                want = big[off:off + (3 << 20)]
                check(st == 206 and err is None and body == want, "%s_ranged_read_reads_around" %
                      tag, "HTTP %s, %d bytes: %s" % (st, len(body), message(o.res)[:400]))
            elif o.name_ in ("large_upload", "small_put"):
                p = upath if o.name_ == "large_upload" else spath
                if st == 200:
                    acked[p] = sha(data[p])
                    PASS("%s_%s_acknowledged" % (tag, o.name_))
                else:
                    failed.add(p)
                    m = message(o.res)
                    names = c.names(m, hub) or (peer and c.names(m, peer))
                    check(names, "%s_%s_error_names_the_hub" % (tag, o.name_),
                          "HTTP %s: %s" % (st, m[:400]))
            elif o.name_ == "job_check":
                check(st == 200 or c.names(message(o.res), hub), tag + "_job_ends_or_names_hub",
                      "HTTP %s: %s" % (st, message(o.res)[:400]))
        # No half-written object: a failed upload is not visible.
        for p in (upath, spath):
            if p in failed:
                check(not visible(p), "%s_failed_upload_invisible_%s" % (tag, p.split("/")[1]),
                      "%s is listed after its upload failed" % p)
        if kind != "link":
            watcher.join(max(0.1, t_fault + UNAVAIL + 10 - time.time()))
            stop_watch.set()
            offline_at = seen.get("offline")
            check(offline_at is not None and offline_at <= UNAVAIL + 3,
                  tag + "_marked_offline_within_heartbeat_timeout",
                  "offline after %s s (hubUnavailableSeconds %d)" % (
                      "%.1f" % offline_at if offline_at else "never", UNAVAIL))
            # The client's topology refreshes every second: new uploads avoid the hub (a
            # plan-free one in every phase, a plan's too when the hub is stopped).
            time.sleep(1.2)
            news = [("new-%s/small" % kind, SMALL)]
            if kind == "stop":
                news.append(("new-%s/big" % kind, BIG // 4))
            for p, n in news:
                data[p] = rng.randbytes(n)
                t1 = time.time()
                r = put(p, data[p])
                if check(r[0] == 200, "%s_upload_after_offline_%s" % (tag, p.split("/")[1]),
                         "HTTP %s %.1fs: %s" % (r[0], time.time() - t1, message(r)[:400])):
                    acked[p] = sha(data[p])
                    where = blocks_of(p)
                    check(hub not in where, "%s_new_upload_avoids_the_hub_%s" %
                          (tag, p.split("/")[1]), "blocks on %s" % where)
        c.lift(kind, hub)
        t_lift = time.time()
        back = False
        while time.time() - t_lift < 20:
            if c.state(hub) == "online":
                back = True
                break
            time.sleep(0.2)
        check(back, tag + "_hub_back_online", "still %s 20 s after the fault was lifted" %
              c.state(hub))
        print("%s: back online %.1f s after the lift; phase %.1f s" %
              (tag, time.time() - t_lift, time.time() - t0), flush=True)

    def verify_all(tag):
        bad = []
        for p, h in sorted(acked.items()):
            st, body, err = get(p)
            if st != 200 or err or sha(body) != h:
                bad.append("%s: HTTP %s %s" % (p, st, message((st, body, err))[:200]))
        for p in failed:
            if p not in acked and visible(p):
                bad.append("%s visible after a failed upload" % p)
        check(not bad, tag + "_everything_served", "; ".join(bad[:5]))

    holders = [h for h in big_hubs if h]
    # A silent drop is the "dropmid" phase: it starts under the large transfers, and the
    # small requests start after it.
    order = ["reject", "stop", "dropmid"]
    for i, kind in enumerate(order):
        phase(kind, holders[i % len(holders)])
    # A link between two hubs only: hub-coded plans (redundancy change) must end too.
    a, bh = holders[0], holders[1]
    c.fault("link", a, bh)
    t1 = time.time()
    r = api.request("POST", "/v1/object/changeRedundancy", json.dumps({
        "objectIDs": [api.call("GET", "/v1/object/listByPath?packageID=%d&path=big&isPrefix=false"
                               "&noRecursive=false" % pkg)["objects"][0]["objectID"]],
        "redundancy": {"type": "rep", "repCount": 2}}).encode(),
        {"Content-Type": "application/json"}, timeout=120)
    secs = time.time() - t1
    c.lift("link", a)
    print("link %s<->%s: changeRedundancy HTTP %s in %.1f s: %s" %
          (a, bh, r[0], secs, message(r)[:300]), flush=True)
    check(secs <= BOUND, "link_change_redundancy_ends_within_bound", "%.1f s" % secs)
    check(r[0] == 200 or c.names(message(r), a) or c.names(message(r), bh),
          "link_change_redundancy_succeeds_or_names_a_hub", "HTTP %s: %s" % (r[0], message(r)))
    # The idle cut: one request meets it, then nothing goes to the hub until it is back.
    pkg_all = api.call("POST", "/v1/package/create", {
        "bucketID": b, "name": "all", "redundancy": {"type": "rep", "repCount": NHUBS}}
    )["package"]["packageID"]
    cut = holders[0]
    tag = "idlecut_%s" % cut
    print("---- phase %s" % tag, flush=True)
    c.fault("reject", cut)
    t_fault = time.time()
    # An upload that needs the hub, sent before anyone knows it is cut off.
    data["cut/first"] = rng.randbytes(SMALL)
    r = put("cut/first", data["cut/first"], pkg_all)
    check(r[0] == 200 or c.names(message(r), cut), tag + "_first_upload_ends_or_names_hub",
          "HTTP %s: %s" % (r[0], message(r)[:400]))
    while time.time() - t_fault < UNAVAIL + 10 and c.state(cut) != "offline":
        time.sleep(0.2)
    # Lifted after the retransmission due ~6.2 s into the cut and before TCP's user
    # timeout (10 s) would close the connection: the window where it looks alive.
    time.sleep(max(0.0, t_fault + 7.0 - time.time()))
    c.lift("reject", cut)
    t_lift = time.time()
    while time.time() - t_lift < 20 and c.state(cut) != "online":
        time.sleep(0.1)
    print("%s: online %.1f s after the lift, %.1f s after the cut" %
          (tag, time.time() - t_lift, time.time() - t_fault), flush=True)
    for p, n in (("cut/small", SMALL), ("cut/big", BIG // 4)):
        data[p] = rng.randbytes(n)
        t1 = time.time()
        r = put(p, data[p], pkg_all)
        print("%s: upload %s HTTP %s in %.1f s %s" % (tag, p, r[0], time.time() - t1,
                                                    message(r)[:300]), flush=True)
        if check(r[0] == 200, "%s_upload_%s_right_after_the_hub_is_back" % (tag, p.split("/")[1]),
                 "HTTP %s: %s" % (r[0], message(r)[:400])):
            st, body, err = get(p, package=pkg_all)
            check(st == 200 and err is None and sha(body) == sha(data[p]),
                  "%s_%s_reads_back" % (tag, p.split("/")[1]), "HTTP %s, %d bytes: %s" %
                  (st, len(body), message((st, body, err))[:300]))
    verify_all("final")
    # No plan thread left behind: pool threads idle 10 s before they exit.
    extra = {}
    for _ in range(60):
        extra = {}
        for h in c.hubs:
            now = c.threads(h) or {}
            more = {n: (base_threads[h].get(n, 0), k) for n, k in now.items()
                    if k > base_threads[h].get(n, 0)}
            if sum(k - b for b, k in more.values()) > 2:
                extra[h] = more
        if not extra:
            break
        time.sleep(0.5)
    check(not extra, "hub_threads_back_to_baseline", "hub: {name: (baseline, now)} %s" % extra)
    if extra and os.environ.get("JCS_NETFAULTS_PAUSE"):
        # Keeps the cluster up to look at the stuck threads (gdb -p PID).
        print("paused: cluster in %s (touch %s/resume)" % (T, T), flush=True)
        while not os.path.exists(os.path.join(T, "resume")):
            time.sleep(1)
    dead = [n for n in ["hub%d" % i for i in range(1, NHUBS + 1)]
            if c.threads(n) is None] + [n for n, k in (("client", "JCS_PID"),
                                                    ("coordinator", "COORDINATOR_PID"))
                                    if not os.path.exists("/proc/%s" % c.env[k])]
    check(not dead, "no_process_died", "gone: %s" % dead)
    print("netfaults: %.1f s" % (time.time() - t_start), flush=True)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 (a broken step is a failure with its reason)
        import traceback
        traceback.print_exc()
        FAIL("campaign", "%s: %s" % (type(e).__name__, e))
    finally:
        # Never leave a hub stopped: cluster down would wait for it.
        try:
            env = read_env(os.path.join(T, "cluster.env"))
            for i in range(1, NHUBS + 1):
                pid = env.get("HUB%d_PID" % i)
                if pid:
                    try:
                        os.kill(int(pid), signal.SIGCONT)
                    except (ProcessLookupError, ValueError):
                        pass
        except OSError:
            pass
        subprocess.run(["deploy/local/cluster", "down", "--dir", T], capture_output=True)
        if not os.environ.get("JCS_KEEP_TEST_DIRS"):
            shutil.rmtree(T, ignore_errors=True)
    sys.exit(1 if report.failures else 0)
