"""Requests no SDK sends on purpose, signed by hand (s3lib.Raw): signed and
unsigned aws-chunked bodies, trailers and their edge cases, bad and expired
signatures, skewed clocks, checksums, DeleteObjects with and without
Content-MD5, a client that drops the connection mid-PUT. What each request
stores is read back through jcsctl (the REST side), so chunk framing or a
trailer inside an object shows.

    python3 s3_raw.py TAG BUCKET TMPDIR
"""
import base64
import datetime
import hashlib
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET

import s3lib
from s3lib import Fail, check, expect_xml_error, rand

TAG, B, TMP = sys.argv[1], sys.argv[2], sys.argv[3]
MiB = 1 << 20
r = None


def p(key):
    return "/%s/%s" % (B, key)


def stored(key, data, what):
    got = s3lib.jcsctl_get(B, key)
    check(got == data, "%s: jcsctl reads %d bytes (sha %s), want %d (sha %s)%s" % (
        what, len(got), s3lib.sha(got)[:12], len(data), s3lib.sha(data)[:12],
        " - it holds chunk framing" if b";chunk-signature=" in got or b"x-amz-checksum" in got else ""))


def absent(key, what):
    x = r.req("HEAD", p(key))
    check(x.status == 404, "%s: HEAD answers %d, want 404 (something was stored)" % (what, x.status))
    check(not s3lib.jcsctl_exists(B, key), "%s: jcsctl lists %s" % (what, key))


def ok(x, what, status=200):
    check(x.status == status, "%s: %r" % (what, x))


def t_setup():
    global r
    r = s3lib.Raw(s3lib.env())
    x = r.req("PUT", "/" + B)
    ok(x, "CreateBucket %s" % B)


def t_signed_payload():
    d = rand(100000, "signed")
    ok(r.req("PUT", p("raw/signed.bin"), body=d), "PUT with a signed payload hash")
    stored("raw/signed.bin", d, "signed payload")
    x = r.req("GET", p("raw/signed.bin"))
    check(x.status == 200 and x.body == d, "GET back: %r" % x)
    check(x.headers.get("etag") == '"%s"' % s3lib.md5hex(d), "ETag %r" % x.headers.get("etag"))
    x = r.req("PUT", p("raw/hash-mismatch"), body=d, payload_hash=hashlib.sha256(b"other").hexdigest())
    check(400 <= x.status < 500 and x.code() in ("XAmzContentSHA256Mismatch", "BadDigest"),
          "body not matching x-amz-content-sha256: %r" % x)
    absent("raw/hash-mismatch", "payload hash mismatch")


def t_unsigned_payload():
    d = rand(70000, "unsigned")
    ok(r.req("PUT", p("raw/unsigned.bin"), body=d, payload_hash="UNSIGNED-PAYLOAD"), "UNSIGNED-PAYLOAD PUT")
    stored("raw/unsigned.bin", d, "UNSIGNED-PAYLOAD")


def t_signed_chunks():
    d = rand(200000, "chunks")
    ok(r.put_signed_chunks(p("raw/chunked.bin"), d, chunk=65536), "STREAMING-AWS4-HMAC-SHA256-PAYLOAD PUT")
    stored("raw/chunked.bin", d, "signed chunks")
    x = r.req("HEAD", p("raw/chunked.bin"))
    check(x.headers.get("content-length") == str(len(d)), "HEAD Content-Length %r" % x.headers.get("content-length"))
    # One chunk only (the data chunk and the final empty one).
    ok(r.put_signed_chunks(p("raw/chunked-small.bin"), b"tiny", chunk=65536), "one-chunk signed PUT")
    stored("raw/chunked-small.bin", b"tiny", "one signed chunk")


def t_signed_chunks_bad_signature():
    d = rand(200000, "badchunk")
    x = r.put_signed_chunks(p("raw/badchunk.bin"), d, chunk=65536, corrupt_chunk=1)
    expect_xml_error(x, 403, "SignatureDoesNotMatch", "second chunk with a wrong signature")
    absent("raw/badchunk.bin", "bad chunk signature")
    # Over an existing object: the old bytes stay.
    x = r.put_signed_chunks(p("raw/chunked.bin"), rand(200000, "other"), chunk=65536, corrupt_chunk=3)
    expect_xml_error(x, 403, "SignatureDoesNotMatch", "final chunk with a wrong signature")
    stored("raw/chunked.bin", rand(200000, "chunks"), "object after a refused overwrite")


def t_signed_chunks_trailer():
    d = rand(150000, "signed-trailer")
    x = r.put_signed_chunks_trailer(p("raw/signed-trailer.bin"), d, algo="crc32c")
    ok(x, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER with crc32c")
    check(x.headers.get("x-amz-checksum-crc32c") == s3lib.checksum_b64("crc32c", d),
          "signed trailer: x-amz-checksum-crc32c returned %r" % x.headers.get("x-amz-checksum-crc32c"))
    stored("raw/signed-trailer.bin", d, "signed chunks with a trailer")
    x = r.put_signed_chunks_trailer(p("raw/signed-trailer-bad.bin"), d, algo="crc32", bad_trailer_sig=True)
    expect_xml_error(x, 403, "SignatureDoesNotMatch", "a wrong x-amz-trailer-signature")
    absent("raw/signed-trailer-bad.bin", "bad trailer signature")


def t_trailer_checksums():
    for algo in ("crc32", "crc32c", "sha256"):
        d = rand(150000, "trailer-" + algo)
        k = "raw/trailer-%s.bin" % algo
        x = r.put_trailer(p(k), d, algo=algo)
        ok(x, "STREAMING-UNSIGNED-PAYLOAD-TRAILER with %s" % algo)
        want = s3lib.checksum_b64(algo, d)
        check(x.headers.get("x-amz-checksum-" + algo) == want,
              "%s trailer: response x-amz-checksum-%s %r, want %r" % (algo, algo, x.headers.get("x-amz-checksum-" + algo), want))
        stored(k, d, "%s trailer" % algo)


def t_trailer_wrong_checksum():
    d = rand(100000, "trailer-bad")
    x = r.put_trailer(p("raw/trailer-bad.bin"), d, algo="crc32", trailer_value=s3lib.checksum_b64("crc32", b"other"))
    expect_xml_error(x, 400, "BadDigest", "wrong CRC32 in the trailer")
    absent("raw/trailer-bad.bin", "wrong trailer checksum")


def t_trailer_missing():
    d = rand(100000, "trailer-missing")
    x = r.put_trailer(p("raw/trailer-missing.bin"), d, algo="crc32", omit_trailer=True)
    check(x.status == 400 and x.code() and x.request_id(),
          "x-amz-trailer announced but no trailer sent: %r" % x)
    absent("raw/trailer-missing.bin", "missing trailer")


def t_trailer_short_body():
    d = rand(100000, "trailer-short")
    x = r.put_trailer(p("raw/trailer-short.bin"), d, algo="crc32", declared_len=len(d) + 1000)
    expect_xml_error(x, 400, "IncompleteBody", "decoded body shorter than x-amz-decoded-content-length")
    absent("raw/trailer-short.bin", "short body")


def t_checksum_headers():
    for algo in ("crc32", "crc32c", "sha256"):
        d = rand(50000, "hdr-" + algo)
        k = "raw/hdr-%s.bin" % algo
        h = {"x-amz-checksum-" + algo: s3lib.checksum_b64(algo, d)}
        x = r.req("PUT", p(k), headers=h, body=d)
        ok(x, "PUT with x-amz-checksum-%s" % algo)
        check(x.headers.get("x-amz-checksum-" + algo) == h["x-amz-checksum-" + algo],
              "x-amz-checksum-%s not returned: %s" % (algo, x.headers))
        stored(k, d, "x-amz-checksum-%s" % algo)
        kb = "raw/hdr-bad-%s.bin" % algo
        x = r.req("PUT", p(kb), headers={"x-amz-checksum-" + algo: s3lib.checksum_b64(algo, b"nope")},
                  body=d)
        expect_xml_error(x, 400, "BadDigest", "wrong x-amz-checksum-%s" % algo)
        absent(kb, "wrong x-amz-checksum-%s" % algo)


def t_content_md5():
    d = b"content md5 checked"
    good = base64.b64encode(hashlib.md5(d).digest()).decode()
    ok(r.req("PUT", p("raw/md5.txt"), headers={"content-md5": good}, body=d), "PUT with Content-MD5")
    x = r.req("PUT", p("raw/md5-bad.txt"), headers={"content-md5": base64.b64encode(b"x" * 16).decode()}, body=d)
    expect_xml_error(x, 400, "BadDigest", "wrong Content-MD5")
    absent("raw/md5-bad.txt", "wrong Content-MD5")


def t_bad_signature():
    h, sig = r.sign("GET", "/" + B, [("list-type", "2")], {})
    h["authorization"] = h["authorization"].replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])
    x = r.send("GET", "/%s?list-type=2" % B, h)
    expect_xml_error(x, 403, "SignatureDoesNotMatch", "a flipped signature")
    # A signed header changed after signing.
    d = b"payload"
    h, _ = r.sign("PUT", p("raw/tamper"), (), {"x-amz-meta-a": "1"}, body=d)
    h["x-amz-meta-a"] = "2"
    expect_xml_error(r.send("PUT", p("raw/tamper"), h, d), 403, "SignatureDoesNotMatch", "a tampered signed header")
    absent("raw/tamper", "tampered header")
    x = r.req("GET", "/" + B, secret="wrong-secret-wrong-secret-wrong-secret")
    expect_xml_error(x, 403, "SignatureDoesNotMatch", "a wrong secret")
    x = r.send("GET", "/" + B, {"host": r.hostport})
    expect_xml_error(x, 403, "AccessDenied", "no signature at all")


def t_unknown_key():
    x = r.req("GET", "/" + B, key="AKIAUNKNOWNKEY000000")
    expect_xml_error(x, 403, "InvalidAccessKeyId", "an unknown access key")


def t_clock_skew():
    now = datetime.datetime.now(datetime.timezone.utc)
    for mins in (20, -20):
        x = r.req("GET", "/" + B, when=now - datetime.timedelta(minutes=mins))
        expect_xml_error(x, 403, "RequestTimeTooSkewed", "a clock %d min off" % mins)
    x = r.req("GET", "/" + B, when=now - datetime.timedelta(minutes=5))
    ok(x, "a clock 5 min behind (within 15 min)")


def t_presigned():
    d = rand(5000, "presigned")
    ok(r.req("PUT", p("raw/pre.bin"), body=d), "PUT for presigning")
    x = r.send("GET", r.presign("GET", p("raw/pre.bin"), 300), {"host": r.hostport})
    check(x.status == 200 and x.body == d, "presigned GET: %r" % x)
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=120)
    x = r.send("GET", r.presign("GET", p("raw/pre.bin"), 60, when=old), {"host": r.hostport})
    expect_xml_error(x, 403, "AccessDenied", "presigned URL expired 60 s ago")
    u = r.presign("GET", p("raw/pre.bin"), 300)
    u = u.replace("X-Amz-Signature=", "X-Amz-Signature=0") [:-1]
    expect_xml_error(r.send("GET", u, {"host": r.hostport}), 403, "SignatureDoesNotMatch", "tampered presigned URL")
    d2 = rand(4000, "presigned-put")
    x = r.send("PUT", r.presign("PUT", p("raw/pre-put.bin"), 300), {"host": r.hostport}, d2)
    ok(x, "presigned PUT")
    stored("raw/pre-put.bin", d2, "presigned PUT")


def delete_body(keys, quiet=False):
    return ("<Delete>%s%s</Delete>" % ("<Quiet>true</Quiet>" if quiet else "", "".join(
        "<Object><Key>%s</Key></Object>" % k for k in keys))).encode()


def t_delete_objects_md5():
    keys = ["raw/dm/%d" % i for i in range(4)]
    for k in keys:
        ok(r.req("PUT", p(k), body=k.encode()), "PUT " + k)
    b1 = delete_body(keys[:2])
    x = r.req("POST", "/" + B, [("delete", "")], {"content-md5": base64.b64encode(hashlib.md5(b1).digest()).decode()}, b1)
    ok(x, "DeleteObjects with Content-MD5")
    deleted = [e.text for e in ET.fromstring(x.body).iter() if e.tag.endswith("Key")]
    check(sorted(deleted) == keys[:2], "Deleted %s" % deleted)
    b2 = delete_body(keys[2:3])
    ok(r.req("POST", "/" + B, [("delete", "")], {}, b2), "DeleteObjects without Content-MD5")
    b3 = delete_body(keys[3:])
    x = r.req("POST", "/" + B, [("delete", "")], {"content-md5": base64.b64encode(b"y" * 16).decode()}, b3)
    expect_xml_error(x, 400, "BadDigest", "DeleteObjects with a wrong Content-MD5")
    for k in keys[:3]:
        absent(k, "after DeleteObjects")
    stored(keys[3], keys[3].encode(), "object of a refused DeleteObjects")
    x = r.req("POST", "/" + B, [("delete", "")], {}, b"<Delete><Object><Key>unclosed")
    expect_xml_error(x, 400, "MalformedXML", "DeleteObjects with broken XML")


def t_list_encoding_raw():
    k = "raw/enc/sp ace+\u00e9"
    ok(r.req("PUT", p(k), body=b"enc"), "PUT a key with space, plus, e-acute")
    x = r.req("GET", "/" + B, [("list-type", "2"), ("prefix", "raw/enc/"), ("encoding-type", "url")])
    ok(x, "ListObjectsV2 encoding-type=url")
    keys = [e.text for e in ET.fromstring(x.body).iter() if e.tag.endswith("}Key") or e.tag == "Key"]
    check(len(keys) == 1, "keys %s" % keys)
    check(" " not in keys[0] and "\u00e9" not in keys[0] and "+" not in keys[0].replace("%2B", ""),
          "key not URL-encoded: %r" % keys[0])
    # AWS encodes a space as "+"; "%20" decodes the same. A literal '+' must be %2B.
    check(urllib.parse.unquote_plus(keys[0]) == k, "key %r decodes to %r, want %r" % (
        keys[0], urllib.parse.unquote_plus(keys[0]), k))
    x = r.req("GET", "/" + B, [("list-type", "2"), ("prefix", "raw/enc/")])
    keys = [e.text for e in ET.fromstring(x.body).iter() if e.tag.endswith("}Key") or e.tag == "Key"]
    check(keys == [k], "without encoding-type keys %s, want [%r]" % (keys, k))


def t_invalid_keys():
    # Sent as is (no client-side dot-segment normalisation): README says
    # keys must be JCS paths, others get InvalidArgument naming the key.
    for k in ("raw/a//b", "raw/./x", "raw/../x", "raw/back\\slash", "raw/" + "k" * 1100):
        x = r.req("PUT", p(k), body=b"bad key")
        expect_xml_error(x, 400, "InvalidArgument", "PUT key %r" % k[:40])
    x = r.req("GET", "/" + B, [("list-type", "2"), ("prefix", "raw/")])
    for bad in (b"raw/a//b", b"raw/./x", b"raw/../x", b"raw/back", b"kkkkkkkkkk"):
        check(bad not in x.body, "a refused key is listed: %r" % bad)


def t_complete_malformed_xml():
    k = "raw/mp-bad-xml"
    x = r.req("POST", p(k), [("uploads", "")])
    ok(x, "CreateMultipartUpload")
    uid = [e.text for e in ET.fromstring(x.body).iter() if e.tag.endswith("UploadId")][0]
    x = r.req("PUT", p(k), [("partNumber", "1"), ("uploadId", uid)], body=b"part one")
    ok(x, "UploadPart")
    x = r.req("POST", p(k), [("uploadId", uid)], {}, b"<CompleteMultipartUpload><Part><PartNumber>1")
    expect_xml_error(x, 400, "MalformedXML", "CompleteMultipartUpload with broken XML")
    x = r.req("POST", p(k), [("uploadId", uid)], {}, b"<CompleteMultipartUpload></CompleteMultipartUpload>")
    check(x.status == 400 and x.code() in ("MalformedXML", "InvalidRequest", "InvalidPart"),
          "CompleteMultipartUpload with no parts: %r" % x)
    absent(k, "refused Complete")
    ok(r.req("DELETE", p(k), [("uploadId", uid)]), "AbortMultipartUpload", 204)


def t_virtual_host():
    dom = __import__("os").environ.get("S3TEST_VHOST_DOMAIN")
    check(dom, "the test script set no S3TEST_VHOST_DOMAIN (s3.domain)")
    v = s3lib.Raw(s3lib.env(), host="%s.%s:%d" % (B, dom, r.e["port"]))
    d = rand(3000, "vhost")
    ok(v.req("PUT", "/raw/vhost.bin", body=d), "virtual-host-style PUT")
    stored("raw/vhost.bin", d, "virtual-host-style PUT")
    x = v.req("GET", "/raw/vhost.bin")
    check(x.status == 200 and x.body == d, "virtual-host-style GET: %r" % x)
    x = v.req("GET", "/", [("list-type", "2"), ("prefix", "raw/vhost")])
    check(x.status == 200 and b"<Key>raw/vhost.bin</Key>" in x.body, "virtual-host-style list: %r" % x)


def t_not_implemented_raw():
    for q in ("versioning", "lifecycle", "tagging", "website"):
        x = r.req("PUT", "/" + B, [(q, "")], {}, b"<X/>")
        expect_xml_error(x, 501, "NotImplemented", "PUT ?%s" % q)
    x = r.req("POST", p("raw/signed.bin"), [("select", ""), ("select-type", "2")], {}, b"<X/>")
    expect_xml_error(x, 501, "NotImplemented", "SelectObjectContent")
    ok(r.req("HEAD", "/" + B), "the gateway still serves")


def t_upload_slots():
    # test_s3_api.sh runs this gateway with s3.maxTransfers 2: a third PUT
    # waits, its body unread (no 100 Continue), until one of the two ends.
    d = [rand(300000, "slot%d" % i) for i in range(3)]
    a = r.put_expect(p("raw/slot0.bin"), d[0])
    check(a.continued(20), "the first PUT got no 100 Continue")
    b = r.put_expect(p("raw/slot1.bin"), d[1])
    check(b.continued(20), "the second PUT got no 100 Continue")
    c = r.put_expect(p("raw/slot2.bin"), d[2])
    check(not c.continued(2), "a third PUT was let in while s3.maxTransfers 2 were streaming")
    check(a.finish() == 200, "the first PUT failed")
    check(c.continued(20), "the third PUT still waits after the first one ended")
    check(b.finish() == 200 and c.finish() == 200, "the second or third PUT failed")
    for i in range(3):
        stored("raw/slot%d.bin" % i, d[i], "PUT %d of three through two upload slots" % i)


def t_put_attributes_atomic():
    # A PUT commits the object and its S3 row (ETag, headers) together:
    # HEADs racing with overwrites see each version whole, never the new
    # content with the old or no ETag and Content-Type.
    key, versions, seen, bad = "raw/atomic.bin", {}, [0], []
    done = threading.Event()

    def reader():
        rr = s3lib.Raw(s3lib.env())
        while not done.is_set():
            x = rr.req("HEAD", p(key))
            if x.status != 200:
                continue
            seen[0] += 1
            et, ct = x.headers.get("etag", "").strip('"'), x.headers.get("content-type")
            if versions.get(et) != ct:
                bad.append("ETag %s with Content-Type %r (ETags written: %d)" % (et, ct, len(versions)))

    for i in range(80):
        d = b"v%03d-" % i + rand(2000, "atomic%d" % i)
        versions[s3lib.md5hex(d)] = "text/x-v%03d" % i
        ok(r.req("PUT", p(key), headers={"content-type": "text/x-v%03d" % i}, body=d), "PUT v%d" % i)
        if i == 0:
            ths = [threading.Thread(target=reader) for _ in range(3)]
            for t in ths:
                t.start()
    done.set()
    for t in ths:
        t.join()
    check(not bad, "%d of %d HEADs saw an object without its own S3 attributes, first: %s"
          % (len(bad), seen[0], bad[0] if bad else ""))


def t_get_slots():
    # Streamed GETs hold a transfer slot too (s3.maxTransfers 2 here): two
    # readers that do not read hold both; a third GET waits for its status
    # line until one of them hangs up.
    d = rand(24 * MiB, "getslot")
    ok(r.req("PUT", p("raw/getslot.bin"), body=d, payload_hash="UNSIGNED-PAYLOAD"), "PUT 24 MiB")
    a = r.get_start(p("raw/getslot.bin"))
    check(a.continued(20), "the first GET got no answer")
    b = r.get_start(p("raw/getslot.bin"))
    check(b.continued(20), "the second GET got no answer")
    c = r.get_start(p("raw/getslot.bin"))
    check(not c.continued(2), "a third streamed GET was let in while s3.maxTransfers 2 were streaming")
    a.close()
    check(c.continued(20), "the third GET still waits after the first reader hung up")
    b.close()
    c.close()
    x = r.req("GET", p("raw/getslot.bin"))
    check(x.status == 200 and x.body == d, "GET after the slots came back: %r" % x)


def t_disconnect_mid_put():
    total, sent = 16 * MiB, 3 * MiB
    r.put_then_disconnect(p("raw/dropped.bin"), total, sent)
    d = rand(10000, "kept")
    ok(r.req("PUT", p("raw/kept.bin"), body=d), "PUT of the object to overwrite")
    r.put_then_disconnect(p("raw/kept.bin"), total, sent)
    time.sleep(2)
    absent("raw/dropped.bin", "PUT dropped mid-body")
    stored("raw/kept.bin", d, "object whose overwrite was dropped mid-body")
    x = r.req("GET", "/" + B, [("list-type", "2"), ("prefix", "raw/dropped")])
    check(b"dropped.bin" not in x.body, "listing shows the dropped PUT: %r" % x)
    # The server is fine afterwards.
    ok(r.req("HEAD", "/" + B), "the gateway still serves")


s = s3lib.Suite(TAG)
s.run("setup", t_setup)
if r is None:
    sys.exit(1)
for name, fn in list(globals().items()):
    if name.startswith("t_") and name != "t_setup":
        s.run(name[2:], fn)
print("  %s: %d passed, %d failed" % (TAG, s.passed, s.failed), flush=True)
sys.exit(1 if s.failed else 0)
