"""Shared pieces of the S3 gateway's test programs (standard library only).

- Suite: runs named cases and prints the "PASS name" / "FAIL name: why" lines
  tests/run counts. A case is a function; any exception fails it.
- env(): the cluster's S3 endpoint, keys and CA from the exported cluster.env
  variables (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...). A missing variable
  raises, so a cluster without the gateway fails every case.
- jcsctl_get / jcsctl_put: the REST side (jcsctl over mTLS), to check that
  what one side writes the other reads back byte for byte.
- Raw: hand-built HTTPS requests signed with AWS Signature V4 (header,
  presigned query, signed chunks, unsigned chunks with trailers), for what
  the SDKs will not send on purpose (bad signatures, skewed clocks, broken
  framing).
"""
import base64
import datetime
import hashlib
import hmac
import http.client
import os
import socket
import ssl
import subprocess
import sys
import time
import traceback
import urllib.parse
import xml.etree.ElementTree as ET
import zlib


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


class Suite:
    def __init__(self, tag):
        self.tag = tag
        self.passed = 0
        self.failed = 0

    def run(self, name, fn, *args):
        t0 = time.time()
        try:
            fn(*args)
        except Fail as e:
            self.fail(name, str(e))
        except Exception as e:  # an SDK error, a refused connection, a bug here
            tb = traceback.extract_tb(e.__traceback__)
            where = "%s:%d" % (os.path.basename(tb[-1].filename), tb[-1].lineno) if tb else "?"
            self.fail(name, "%s: %s (at %s)" % (type(e).__name__, str(e)[:600], where))
        else:
            self.passed += 1
            print("PASS %s/%s (%.1fs)" % (self.tag, name, time.time() - t0), flush=True)

    def fail(self, name, why):
        self.failed += 1
        why = " ".join(why.split())
        print("FAIL %s/%s: %s" % (self.tag, name, why[:1500]), flush=True)


def env():
    """The S3 side of cluster.env; raises when the cluster exported no gateway."""
    need = ["AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
            "AWS_DEFAULT_REGION"]
    # Only a plain-HTTP endpoint (a developer pointing these programs at
    # another S3 server) goes without a CA; the gateway is HTTPS.
    if not os.environ.get("AWS_ENDPOINT_URL", "").startswith("http:"):
        need.append("AWS_CA_BUNDLE")
    missing = [n for n in need if not os.environ.get(n)]
    if missing:
        raise Fail("cluster.env exports no " + ", ".join(missing) + " (no S3 gateway?)")
    e = {n: os.environ[n] for n in need}
    e.setdefault("AWS_CA_BUNDLE", None)
    u = urllib.parse.urlsplit(e["AWS_ENDPOINT_URL"])
    e["https"] = u.scheme == "https"
    e["host"] = u.hostname
    e["port"] = u.port or 443
    return e


# ---- the REST side -------------------------------------------------------

def jcsctl(*args, input=None, check_rc=True):
    ctl = os.path.join(os.environ.get("JCS_BIN", "build/bin"), "jcsctl")
    p = subprocess.run([ctl, "-q", *args], input=input, capture_output=True, timeout=300)
    if check_rc and p.returncode != 0:
        raise Fail("jcsctl %s: exit %d: %s" % (" ".join(args), p.returncode,
                                               p.stderr.decode(errors="replace")[:400]))
    return p


def jcsctl_get(bucket, key):
    """The bytes of BUCKET/KEY read through the REST API (jcsctl get ... -)."""
    return jcsctl("get", "%s/%s" % (bucket, key), "-").stdout


def jcsctl_put(bucket, key, data, tmpdir):
    path = os.path.join(tmpdir, "jcsctl-put.bin")
    with open(path, "wb") as f:
        f.write(data)
    jcsctl("put", path, "%s/%s" % (bucket, key))


def jcsctl_exists(bucket, key):
    """True when jcsctl sees BUCKET/KEY (an ls of its directory lists it)."""
    pkg, _, path = key.partition("/")
    d, _, base = path.rpartition("/")
    p = jcsctl("--json", "ls", "-r", "%s/%s/%s" % (bucket, pkg, d) if d else "%s/%s" % (bucket, pkg),
               check_rc=False)
    if p.returncode != 0:
        return False
    return ('"%s"' % path) in p.stdout.decode(errors="replace")


def sha(b):
    return hashlib.sha256(b).hexdigest()


def md5hex(b):
    return hashlib.md5(b).hexdigest()


def rand(n, seed):
    """N reproducible pseudo-random bytes (fast: SHA-256 in counter mode)."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(b"%s-%d" % (seed.encode(), i)).digest() * 64
        i += 1
    return bytes(out[:n])


# ---- checksums the gateway must verify ------------------------------------

def _crc32c_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_CRC32C = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    t = _CRC32C
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def checksum_b64(algo, data):
    """The value of x-amz-checksum-ALGO for DATA (base64 of the big-endian digest)."""
    if algo == "crc32":
        d = (zlib.crc32(data) & 0xFFFFFFFF).to_bytes(4, "big")
    elif algo == "crc32c":
        d = crc32c(data).to_bytes(4, "big")
    elif algo == "sha256":
        d = hashlib.sha256(data).digest()
    else:
        raise ValueError(algo)
    return base64.b64encode(d).decode()


# ---- raw SigV4 requests ---------------------------------------------------

def uri_encode(s, keep_slash):
    return urllib.parse.quote(s, safe="/-_.~" if keep_slash else "-_.~")


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body

    def code(self):
        """The S3 error code of an XML error body ('' if none)."""
        try:
            r = ET.fromstring(self.body)
        except ET.ParseError:
            return ""
        c = r.find("Code")
        return c.text if c is not None else ""

    def request_id(self):
        try:
            r = ET.fromstring(self.body)
            c = r.find("RequestId")
            if c is not None and c.text:
                return c.text
        except ET.ParseError:
            pass
        return self.headers.get("x-amz-request-id", "")

    def __repr__(self):
        return "HTTP %d %s" % (self.status, self.body[:300].decode(errors="replace"))


class Raw:
    """Requests to the gateway signed by hand (path-style)."""

    def __init__(self, e, host=None):
        """HOST: the Host header to send and sign (default the endpoint's
        host:port), e.g. BUCKET.DOMAIN:PORT for virtual-host style."""
        self.e = e
        self.ctx = ssl.create_default_context(cafile=e["AWS_CA_BUNDLE"]) if e["https"] else None
        self.region = e["AWS_DEFAULT_REGION"]
        self.hostport = host or "%s:%d" % (e["host"], e["port"])

    def signing_key(self, secret, date):
        k = _hmac(("AWS4" + secret).encode(), date)
        k = _hmac(k, self.region)
        k = _hmac(k, "s3")
        return _hmac(k, "aws4_request")

    def canonical(self, method, path, query, headers, payload_hash):
        cq = "&".join("%s=%s" % (uri_encode(k, False), uri_encode(v, False))
                      for k, v in sorted(query))
        names = sorted(headers)
        ch = "".join("%s:%s\n" % (n, " ".join(str(headers[n]).split())) for n in names)
        sh = ";".join(names)
        return "\n".join([method, uri_encode(path, True), cq, ch, sh, payload_hash]), sh

    def sign(self, method, path, query=(), headers=None, payload_hash=None, body=b"",
             key=None, secret=None, when=None):
        """Headers (lower-case names) with x-amz-date, x-amz-content-sha256 and
        Authorization for the request; returns (headers, seed signature)."""
        key = key or self.e["AWS_ACCESS_KEY_ID"]
        secret = secret or self.e["AWS_SECRET_ACCESS_KEY"]
        when = when or datetime.datetime.now(datetime.timezone.utc)
        amzdate = when.strftime("%Y%m%dT%H%M%SZ")
        date = amzdate[:8]
        h = {k.lower(): v for k, v in (headers or {}).items()}
        h["host"] = self.hostport
        h["x-amz-date"] = amzdate
        if payload_hash is None:
            payload_hash = hashlib.sha256(body).hexdigest()
        h["x-amz-content-sha256"] = payload_hash
        creq, sh = self.canonical(method, path, list(query), h, payload_hash)
        scope = "%s/%s/s3/aws4_request" % (date, self.region)
        sts = "\n".join(["AWS4-HMAC-SHA256", amzdate, scope,
                         hashlib.sha256(creq.encode()).hexdigest()])
        sk = self.signing_key(secret, date)
        sig = hmac.new(sk, sts.encode(), hashlib.sha256).hexdigest()
        h["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
            key, scope, sh, sig)
        self._last = (sk, amzdate, scope)
        return h, sig

    def presign(self, method, path, expires, when=None, key=None, secret=None):
        """A presigned URL path+query (X-Amz-* parameters, UNSIGNED-PAYLOAD)."""
        key = key or self.e["AWS_ACCESS_KEY_ID"]
        secret = secret or self.e["AWS_SECRET_ACCESS_KEY"]
        when = when or datetime.datetime.now(datetime.timezone.utc)
        amzdate = when.strftime("%Y%m%dT%H%M%SZ")
        date = amzdate[:8]
        scope = "%s/%s/s3/aws4_request" % (date, self.region)
        q = [("X-Amz-Algorithm", "AWS4-HMAC-SHA256"), ("X-Amz-Credential", "%s/%s" % (key, scope)),
             ("X-Amz-Date", amzdate), ("X-Amz-Expires", str(expires)),
             ("X-Amz-SignedHeaders", "host")]
        creq, _ = self.canonical(method, path, q, {"host": self.hostport}, "UNSIGNED-PAYLOAD")
        sts = "\n".join(["AWS4-HMAC-SHA256", amzdate, scope,
                         hashlib.sha256(creq.encode()).hexdigest()])
        sig = hmac.new(self.signing_key(secret, date), sts.encode(), hashlib.sha256).hexdigest()
        q.append(("X-Amz-Signature", sig))
        return uri_encode(path, True) + "?" + "&".join(
            "%s=%s" % (uri_encode(k, False), uri_encode(v, False)) for k, v in q)

    def conn(self):
        if not self.e["https"]:
            return http.client.HTTPConnection(self.e["host"], self.e["port"], timeout=120)
        return http.client.HTTPSConnection(self.e["host"], self.e["port"], context=self.ctx,
                                           timeout=120)

    def send(self, method, target, headers, body=b""):
        """Sends exactly these headers and body; returns a Resp."""
        c = self.conn()
        try:
            c.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for k, v in headers.items():
                c.putheader(k, v)
            if "content-length" not in headers and method in ("PUT", "POST"):
                c.putheader("content-length", str(len(body)))
            c.endheaders()
            if body:
                c.send(body)
            r = c.getresponse()
            return Resp(r.status, r.getheaders(), r.read())
        finally:
            c.close()

    def req(self, method, path, query=(), headers=None, body=b"", **kw):
        """A request signed in the Authorization header (payload hashed unless
        payload_hash is given)."""
        h, _ = self.sign(method, path, query, headers, body=body, **kw)
        target = uri_encode(path, True)
        if query:
            target += "?" + "&".join("%s=%s" % (uri_encode(k, False), uri_encode(v, False))
                                     if v != "" else uri_encode(k, False) for k, v in query)
        return self.send(method, target, h, body)

    def chunk_sig(self, prev, data):
        sk, amzdate, scope = self._last
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amzdate, scope, prev,
                         hashlib.sha256(b"").hexdigest(), hashlib.sha256(data).hexdigest()])
        return hmac.new(sk, sts.encode(), hashlib.sha256).hexdigest()

    def put_signed_chunks(self, path, data, chunk=65536, corrupt_chunk=None, headers=None):
        """PUT with STREAMING-AWS4-HMAC-SHA256-PAYLOAD: every chunk signed,
        chained from the seed signature; CORRUPT_CHUNK (an index) gets a wrong
        signature."""
        pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)] + [b""]
        sizes = sum(len("%x;chunk-signature=%s\r\n" % (len(p), "0" * 64)) + len(p) + 2
                    for p in pieces)
        h = dict(headers or {})
        h.update({"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data)),
                  "content-length": str(sizes)})
        h, prev = self.sign("PUT", path, (), h, payload_hash="STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
        body = bytearray()
        for i, p in enumerate(pieces):
            s = self.chunk_sig(prev, p)
            prev = s
            if i == corrupt_chunk:
                s = ("0" if s[0] != "0" else "1") + s[1:]
            body += b"%x;chunk-signature=%s\r\n" % (len(p), s.encode()) + p + b"\r\n"
        return self.send("PUT", uri_encode(path, True), h, bytes(body))

    def put_signed_chunks_trailer(self, path, data, algo="crc32", chunk=65536, bad_trailer_sig=False):
        """PUT with STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: signed chunks,
        then the checksum trailer and its own signature (x-amz-trailer-signature)."""
        name = "x-amz-checksum-" + algo
        pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)] + [b""]
        trailer = "%s:%s" % (name, checksum_b64(algo, data))
        tsig_line = "x-amz-trailer-signature:%s\r\n" % ("0" * 64)
        size = sum(len("%x;chunk-signature=%s\r\n" % (len(p), "0" * 64)) + len(p) + 2
                   for p in pieces[:-1])
        size += len("0;chunk-signature=%s\r\n" % ("0" * 64)) + len(trailer) + 2 + len(tsig_line) + 2
        h = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data)),
             "x-amz-trailer": name, "content-length": str(size)}
        h, prev = self.sign("PUT", path, (), h, payload_hash="STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")
        body = bytearray()
        for p in pieces:
            prev = self.chunk_sig(prev, p)
            if p:
                body += b"%x;chunk-signature=%s\r\n" % (len(p), prev.encode()) + p + b"\r\n"
            else:
                body += b"0;chunk-signature=%s\r\n" % prev.encode()
        sk, amzdate, scope = self._last
        sts = "\n".join(["AWS4-HMAC-SHA256-TRAILER", amzdate, scope, prev,
                         hashlib.sha256((trailer + "\n").encode()).hexdigest()])
        tsig = hmac.new(sk, sts.encode(), hashlib.sha256).hexdigest()
        if bad_trailer_sig:
            tsig = ("0" if tsig[0] != "0" else "1") + tsig[1:]
        body += (trailer + "\r\n").encode() + ("x-amz-trailer-signature:%s\r\n" % tsig).encode() + b"\r\n"
        check(len(body) == size, "internal: body %d bytes, announced %d" % (len(body), size))
        return self.send("PUT", uri_encode(path, True), h, bytes(body))

    def put_trailer(self, path, data, algo="crc32", trailer_value=None, omit_trailer=False,
                    declared_len=None, chunk=65536, headers=None):
        """PUT with STREAMING-UNSIGNED-PAYLOAD-TRAILER: unsigned aws-chunked
        body ending with the x-amz-checksum-ALGO trailer."""
        name = "x-amz-checksum-" + algo
        val = trailer_value if trailer_value is not None else checksum_b64(algo, data)
        body = bytearray()
        for i in range(0, len(data), chunk):
            p = data[i:i + chunk]
            body += b"%x\r\n" % len(p) + p + b"\r\n"
        body += b"0\r\n"
        if not omit_trailer:
            body += ("%s:%s\r\n" % (name, val)).encode()
        body += b"\r\n"
        h = dict(headers or {})
        h.update({"content-encoding": "aws-chunked", "x-amz-trailer": name,
                  "x-amz-decoded-content-length": str(len(data) if declared_len is None
                                                      else declared_len),
                  "content-length": str(len(body))})
        h, _ = self.sign("PUT", path, (), h, payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
        return self.send("PUT", uri_encode(path, True), h, bytes(body))

    def put_expect(self, path, data):
        """Sends the headers of a PUT of DATA (UNSIGNED-PAYLOAD) with
        Expect: 100-continue and nothing of its body; returns an ExpectPut."""
        h, _ = self.sign("PUT", path, (), {"content-length": str(len(data)),
                                           "expect": "100-continue"},
                         payload_hash="UNSIGNED-PAYLOAD")
        raw = socket.create_connection((self.e["host"], self.e["port"]), timeout=60)
        s = self.ctx.wrap_socket(raw, server_hostname=self.e["host"]) if self.e["https"] else raw
        head = "PUT %s HTTP/1.1\r\n" % uri_encode(path, True)
        s.sendall((head + "".join("%s: %s\r\n" % kv for kv in h.items()) + "\r\n").encode())
        return ExpectPut(s, data)

    def get_start(self, path):
        """Sends a signed GET and reads nothing; returns an ExpectPut whose
        continued() tells whether the reply's status line arrived."""
        h, _ = self.sign("GET", path, (), {}, payload_hash="UNSIGNED-PAYLOAD")
        raw = socket.create_connection((self.e["host"], self.e["port"]), timeout=60)
        s = self.ctx.wrap_socket(raw, server_hostname=self.e["host"]) if self.e["https"] else raw
        head = "GET %s HTTP/1.1\r\n" % uri_encode(path, True)
        s.sendall((head + "".join("%s: %s\r\n" % kv for kv in h.items()) + "\r\n").encode())
        return ExpectPut(s, b"", want=b"HTTP/1.1 200")

    def put_then_disconnect(self, path, total, sent):
        """Starts a signed (UNSIGNED-PAYLOAD) PUT of TOTAL bytes, sends SENT of
        them and drops the connection."""
        h, _ = self.sign("PUT", path, (), {"content-length": str(total)},
                         payload_hash="UNSIGNED-PAYLOAD")
        raw = socket.create_connection((self.e["host"], self.e["port"]), timeout=60)
        s = self.ctx.wrap_socket(raw, server_hostname=self.e["host"]) if self.e["https"] else raw
        head = "PUT %s HTTP/1.1\r\n" % uri_encode(path, True)
        head += "".join("%s: %s\r\n" % kv for kv in h.items()) + "\r\n"
        s.sendall(head.encode())
        blk = rand(1 << 20, "disc")
        left = sent
        while left > 0:
            n = min(left, len(blk))
            s.sendall(blk[:n])
            left -= n
        # An abortive close (RST), as a killed client's kernel sends.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        raw.close()


class ExpectPut:
    """A PUT waiting for the server's 100 Continue before its body."""

    def __init__(self, s, data, want=b"HTTP/1.1 100"):
        self.s, self.data, self.buf, self.want = s, data, b"", want

    def continued(self, timeout):
        """Whether "HTTP/1.1 100 Continue" arrived within TIMEOUT seconds."""
        self.s.settimeout(timeout)
        try:
            while b"\r\n\r\n" not in self.buf:
                b = self.s.recv(4096)
                if not b:
                    break
                self.buf += b
        except (socket.timeout, ssl.SSLError, TimeoutError):
            return False
        check(self.buf.startswith(self.want), "the server answered %r, want %r"
              % (self.buf[:200], self.want))
        self.buf = self.buf.split(b"\r\n\r\n", 1)[1]
        return True

    def close(self):
        self.s.close()

    def finish(self):
        """Sends the body; returns the final status."""
        self.s.settimeout(60)
        self.s.sendall(self.data)
        while b"\r\n\r\n" not in self.buf:
            b = self.s.recv(4096)
            if not b:
                break
            self.buf += b
        self.close()
        return int(self.buf.split(b" ", 2)[1]) if self.buf.startswith(b"HTTP/1.1 ") else 0


def expect_xml_error(r, status, code, what):
    """R is an S3 error with STATUS and CODE, an XML body and a request id."""
    check(r.status == status and r.code() == code,
          "%s: got %r, want %d %s" % (what, r, status, code))
    check(r.request_id(), "%s: no RequestId in the error: %r" % (what, r))


def log(msg):
    print("  " + msg, flush=True)
    sys.stdout.flush()
