"""Helpers shared by the fault campaigns in tests/faults/."""

import http.client
import json
import random
import ssl
import urllib.parse

# Multipart boundaries only need to be unlikely in the data, not reproducible.
_boundary = random.Random()


class Report:
    """The PASS/FAIL lines tests/run counts, and the failures for the exit code."""

    def __init__(self):
        self.failures = 0

    def PASS(self, name):
        print("PASS " + name, flush=True)

    def FAIL(self, name, why):
        self.failures += 1
        print("FAIL %s: %s" % (name, why), flush=True)

    def check(self, cond, name, why):
        if cond:
            self.PASS(name)
        else:
            self.FAIL(name, why)
        return cond


def upload_form(pkg, path, data):
    """A multipart body of /v1/object/upload (one file) and its headers."""
    b = "----jcsfault%d" % _boundary.randrange(1 << 30)
    info = json.dumps({"packageID": pkg}).encode()
    body = (("--%s\r\nContent-Disposition: form-data; name=\"info\"\r\n"
             "Content-Type: application/json\r\n\r\n" % b).encode() + info +
            ("\r\n--%s\r\nContent-Disposition: form-data; name=\"files\"; filename=\"%s\"\r\n"
             "Content-Type: application/octet-stream\r\n\r\n" %
             (b, urllib.parse.quote(path, safe=""))).encode() + data +
            ("\r\n--%s--\r\n" % b).encode())
    return body, {"Content-Type": "multipart/form-data; boundary=" + b}


class Api:
    """The jcs REST API over mutual TLS (a new connection per request, as curl would)."""

    def __init__(self, env):
        u = urllib.parse.urlparse(env["JCS_ENDPOINT"])
        self.host, self.port = u.hostname, u.port
        self.ctx = ssl.create_default_context(cafile=env["JCS_CA"])
        self.ctx.load_cert_chain(env["JCS_CERT"], env["JCS_KEY"])
        self.ctx.check_hostname = False

    def request(self, method, path, body=None, headers=None, timeout=300):
        c = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            try:
                data = r.read()
                return r.status, data, None
            except http.client.IncompleteRead as e:
                return r.status, e.partial, "incomplete body (%d bytes)" % len(e.partial)
        except (OSError, http.client.HTTPException) as e:
            return -1, b"", str(e)
        finally:
            c.close()

    def call(self, method, path, obj=None, timeout=300):
        body = json.dumps(obj).encode() if obj is not None else None
        hdr = {"Content-Type": "application/json"} if body is not None else {}
        st, data, err = self.request(method, path, body, hdr, timeout)
        try:
            d = json.loads(data)
        except ValueError:
            d = None
        if st != 200 or not d or d.get("code") != "OK":
            raise RuntimeError("%s %s: HTTP %s %s %s" % (method, path, st, data[:300], err or ""))
        return d["data"]

    def upload(self, pkg, path, data):
        body, hdr = upload_form(pkg, path, data)
        st, out, err = self.request("POST", "/v1/object/upload", body, hdr)
        d = json.loads(out) if st == 200 else None
        if not d or d.get("code") != "OK":
            raise RuntimeError("upload %s: HTTP %s %s %s" % (path, st, out[:300], err or ""))
        return d["data"]["uploadeds"][0]["objectID"]

    def get(self, oid, rng_=None):
        hdr = {"Range": "bytes=%d-%d" % (rng_[0], rng_[0] + rng_[1] - 1)} if rng_ else {}
        return self.request("GET", "/v1/object/download?objectID=%d" % oid, None, hdr)
