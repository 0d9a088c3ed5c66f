"""4 KiB objects PUT and GET per second over 16 keep-alive HTTPS connections,
through the S3 gateway (SigV4-signed by hand, UNSIGNED-PAYLOAD as the SDKs
send over HTTPS) and, beside it, through the REST API (mTLS, multipart form
upload, downloadByPath). Every GET's bytes are compared with what was PUT;
a mismatch or an error status fails the run.

    python3 bench_s3_small.py BUCKET S3PACKAGE RESTPACKAGE_ID RESTPACKAGE [SECONDS]

Reads the exported cluster.env variables (AWS_*, JCS_*). Prints one line per
figure.
"""
import http.client
import os
import ssl
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "s3client"))
import s3lib  # noqa: E402

NCONN = 16
SIZE = 4096
BUCKET, S3PKG, REST_PKG_ID, REST_PKG = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
SECS = float(sys.argv[5]) if len(sys.argv) > 5 else 4.0


def payload(t, n):
    head = b"%d-%d-" % (t, n)
    return head + b"x" * (SIZE - len(head))


class Phase:
    def __init__(self):
        self.ops = 0
        self.errors = []
        self.lock = threading.Lock()


def run_phase(name, worker, counts=None):
    ph = Phase()
    stop = time.time() + SECS
    ths = [threading.Thread(target=worker, args=(t, stop, ph, counts)) for t in range(NCONN)]
    t0 = time.time()
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    dt = time.time() - t0
    if ph.errors:
        print("  %s: FAILED: %d errors, first: %s" % (name, len(ph.errors), ph.errors[0]), flush=True)
        raise SystemExit(1)
    rate = ph.ops / dt
    print("  %-34s %8.0f ops/s  (%d ops, %d connections, %.1f s)" % (name, rate, ph.ops, NCONN, dt),
          flush=True)
    return rate


# ---- S3 -------------------------------------------------------------------
e = s3lib.env()
raw = s3lib.Raw(e)


def s3_conn():
    return http.client.HTTPSConnection(e["host"], e["port"], context=raw.ctx, timeout=60)


def s3_put(t, stop, ph, counts):
    c = s3_conn()
    n = 0
    while time.time() < stop:
        d = payload(t, n)
        path = "/%s/%s/small/t%d/%d" % (BUCKET, S3PKG, t, n)
        h, _ = raw.sign("PUT", path, (), {"content-length": str(len(d))}, payload_hash="UNSIGNED-PAYLOAD")
        try:
            c.request("PUT", s3lib.uri_encode(path, True), body=d, headers=h)
            r = c.getresponse()
            r.read()
            if r.status != 200:
                raise RuntimeError("PUT %s: HTTP %d" % (path, r.status))
        except Exception as ex:
            with ph.lock:
                ph.errors.append(str(ex))
            return
        n += 1
    counts[t] = n
    with ph.lock:
        ph.ops += n


def s3_get(t, stop, ph, counts):
    c = s3_conn()
    n, i = 0, 0
    while time.time() < stop:
        k = i % counts[t]
        path = "/%s/%s/small/t%d/%d" % (BUCKET, S3PKG, t, k)
        h, _ = raw.sign("GET", path, (), {}, payload_hash="UNSIGNED-PAYLOAD")
        try:
            c.request("GET", s3lib.uri_encode(path, True), headers=h)
            r = c.getresponse()
            b = r.read()
            if r.status != 200 or b != payload(t, k):
                raise RuntimeError("GET %s: HTTP %d, %d bytes, %s" % (
                    path, r.status, len(b), "same" if b == payload(t, k) else "DIFFERENT bytes"))
        except Exception as ex:
            with ph.lock:
                ph.errors.append(str(ex))
            return
        n += 1
        i += 1
    with ph.lock:
        ph.ops += n


# ---- REST (beside) ----------------------------------------------------------
ru = urllib.parse.urlsplit(os.environ["JCS_ENDPOINT"])
rctx = ssl.create_default_context(cafile=os.environ["JCS_CA"])
rctx.load_cert_chain(os.environ["JCS_CERT"], os.environ["JCS_KEY"])


def rest_conn():
    return http.client.HTTPSConnection(ru.hostname, ru.port, context=rctx, timeout=60)


def rest_put(t, stop, ph, counts):
    c = rest_conn()
    n = 0
    bnd = "----bench%d" % t
    while time.time() < stop:
        d = payload(t, n)
        path = "small/t%d/%d" % (t, n)
        body = ("--%s\r\nContent-Disposition: form-data; name=\"info\"\r\nContent-Type: application/json\r\n\r\n"
                "{\"packageID\":%s}\r\n--%s\r\nContent-Disposition: form-data; name=\"files\"; filename=\"%s\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n" % (bnd, REST_PKG_ID, bnd,
                                                                     urllib.parse.quote(path, safe=""))).encode()
        body += d + ("\r\n--%s--\r\n" % bnd).encode()
        try:
            c.request("POST", "/v1/object/upload", body=body,
                      headers={"Content-Type": "multipart/form-data; boundary=" + bnd})
            r = c.getresponse()
            b = r.read()
            if r.status != 200:
                raise RuntimeError("upload %s: HTTP %d %s" % (path, r.status, b[:200]))
        except Exception as ex:
            with ph.lock:
                ph.errors.append(str(ex))
            return
        n += 1
    counts[t] = n
    with ph.lock:
        ph.ops += n


def rest_get(t, stop, ph, counts):
    c = rest_conn()
    n, i = 0, 0
    while time.time() < stop:
        k = i % counts[t]
        q = urllib.parse.urlencode({"packageID": REST_PKG_ID, "path": "small/t%d/%d" % (t, k)})
        try:
            c.request("GET", "/v1/object/downloadByPath?" + q)
            r = c.getresponse()
            b = r.read()
            if r.status != 200 or b != payload(t, k):
                raise RuntimeError("download %s: HTTP %d, %d bytes" % (q, r.status, len(b)))
        except Exception as ex:
            with ph.lock:
                ph.errors.append(str(ex))
            return
        n += 1
        i += 1
    with ph.lock:
        ph.ops += n


counts = [0] * NCONN
s3p = run_phase("S3 4 KiB PUT (gateway)", s3_put, counts)
s3g = run_phase("S3 4 KiB GET (gateway, checked)", s3_get, counts)
counts = [0] * NCONN
rp = run_phase("REST 4 KiB PUT (upload, mTLS)", rest_put, counts)
rg = run_phase("REST 4 KiB GET (download, checked)", rest_get, counts)
print("  S3/REST: PUT %.0f %%, GET %.0f %%" % (100 * s3p / rp, 100 * s3g / rg), flush=True)
