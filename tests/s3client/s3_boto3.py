"""Every S3 operation of issue 13 through boto3, against the gateway of a
running cluster (the exported cluster.env variables), with the bytes checked
through jcsctl on the REST side.

    python3 s3_boto3.py TAG BUCKET_PREFIX TMPDIR

Runs with whichever boto3 the interpreter has (Debian's python3-boto3, or the
image's newer one, whose botocore sends CRC32 trailers in aws-chunked bodies
by default) and prints which one ran. Each case prints PASS/FAIL TAG/name.
"""
import contextlib
import datetime
import hashlib
import sys
import urllib.parse

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError

import s3lib
from s3lib import Fail, check, md5hex, rand

TAG, PFX, TMP = sys.argv[1], sys.argv[2], sys.argv[3]
MiB = 1 << 20
NEW_BOTOCORE = tuple(int(x) for x in botocore.__version__.split(".")[:2]) >= (1, 36)


def client(**kw):
    e = s3lib.env()
    cfg = Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1},
                 connect_timeout=30, read_timeout=300)
    return boto3.client("s3", endpoint_url=e["AWS_ENDPOINT_URL"], verify=e["AWS_CA_BUNDLE"] if e["https"] else None,
                        region_name=e["AWS_DEFAULT_REGION"],
                        aws_access_key_id=kw.get("key", e["AWS_ACCESS_KEY_ID"]),
                        aws_secret_access_key=kw.get("secret", e["AWS_SECRET_ACCESS_KEY"]),
                        config=cfg)


def expect_err(fn, code, status, what=""):
    """FN fails with S3 error CODE and HTTP STATUS, and the error carries a RequestId."""
    try:
        r = fn()
    except ClientError as ex:
        got = ex.response.get("Error", {}).get("Code")
        st = ex.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        rid = (ex.response.get("ResponseMetadata", {}).get("RequestId")
               or ex.response.get("Error", {}).get("RequestId"))
        check(got == code and st == status,
              "%s: got %s %s, want %s %s (%s)" % (what, st, got, status, code,
                                                   ex.response.get("Error")))
        check(rid, "%s: error %s has no RequestId" % (what, code))
        return ex
    raise Fail("%s: succeeded (%s), want %s %s" % (what, str(r)[:200], status, code))


@contextlib.contextmanager
def extra_headers(c, op, headers):
    """Adds HEADERS to every OP request of client C (signed with it): for
    headers this boto3 has no parameter for (PUT If-None-Match in old ones)."""
    def add(request, **_):
        for k, v in headers.items():
            # AWSRequest headers append on assignment: replace instead.
            if k in request.headers:
                del request.headers[k]
            request.headers[k] = v
    ev = "before-sign.s3.%s" % op
    c.meta.events.register(ev, add)
    try:
        yield
    finally:
        c.meta.events.unregister(ev, add)


def etag(d):
    return '"%s"' % md5hex(d)


def mp_etag(parts):
    return '"%s-%d"' % (hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest(),
                        len(parts))


def body(r):
    return r["Body"].read()


def same_via_jcsctl(bucket, key, data):
    got = s3lib.jcsctl_get(bucket, key)
    check(got == data, "%s/%s through jcsctl: %d bytes (sha %s), want %d (sha %s)" % (
        bucket, key, len(got), s3lib.sha(got)[:12], len(data), s3lib.sha(data)[:12]))


c = None
B = PFX + "-main"
B2 = PFX + "-other"
BL = PFX + "-list"


def t_setup():
    global c
    c = client()
    print("  %s: boto3 %s, botocore %s, python %s (%s)" % (
        TAG, boto3.__version__, botocore.__version__, sys.version.split()[0], sys.executable),
        flush=True)
    for b in (B, B2, BL):
        c.create_bucket(Bucket=b)


def t_buckets():
    names = [b["Name"] for b in c.list_buckets()["Buckets"]]
    check(B in names and B2 in names, "ListBuckets %s lacks %s" % (names, B))
    c.head_bucket(Bucket=B)
    loc = c.get_bucket_location(Bucket=B)
    check("LocationConstraint" in loc, "GetBucketLocation: %s" % loc)
    expect_err(lambda: c.create_bucket(Bucket=B), "BucketAlreadyOwnedByYou", 409, "CreateBucket twice")
    expect_err(lambda: c.head_bucket(Bucket=PFX + "-nosuch"), "404", 404, "HeadBucket missing")
    expect_err(lambda: c.list_objects_v2(Bucket=PFX + "-nosuch"), "NoSuchBucket", 404,
               "ListObjectsV2 missing bucket")
    expect_err(lambda: c.get_object(Bucket=PFX + "-nosuch", Key="p/a"), "NoSuchBucket", 404,
               "GetObject missing bucket")
    tmp = PFX + "-tmp"
    c.create_bucket(Bucket=tmp)
    # An empty bucket lists as empty, whatever is asked (rclone's first call).
    for kw in ({}, {"Prefix": "tree/", "Delimiter": "/"}, {"Delimiter": "/"}, {"Prefix": "x"}):
        for fn in (c.list_objects, c.list_objects_v2):
            r = fn(Bucket=tmp, **kw)
            check(not r.get("Contents") and not r.get("CommonPrefixes") and not r["IsTruncated"],
                  "%s %s of an empty bucket: %s" % (fn.__name__, kw, r))
    c.put_object(Bucket=tmp, Key="p/x", Body=b"x")
    expect_err(lambda: c.delete_bucket(Bucket=tmp), "BucketNotEmpty", 409, "DeleteBucket not empty")
    c.delete_object(Bucket=tmp, Key="p/x")
    c.delete_bucket(Bucket=tmp)
    expect_err(lambda: c.head_bucket(Bucket=tmp), "404", 404, "HeadBucket after delete")
    names = [b["Name"] for b in c.list_buckets()["Buckets"]]
    check(tmp not in names, "deleted bucket still listed")


def t_put_get_sizes():
    for n in (0, 1, 1000, 5 * MiB + 3):
        d = rand(n, "pg%d" % n)
        k = "pkg/sizes/f%d.bin" % n
        r = c.put_object(Bucket=B, Key=k, Body=d)
        check(r["ETag"] == etag(d), "PUT %d bytes: ETag %s, want %s" % (n, r["ETag"], etag(d)))
        g = c.get_object(Bucket=B, Key=k)
        got = body(g)
        check(got == d, "GET %d bytes: %d bytes back, differ" % (n, len(got)))
        check(g["ETag"] == etag(d) and g["ContentLength"] == n, "GET headers %s %s" % (
            g["ETag"], g["ContentLength"]))
        h = c.head_object(Bucket=B, Key=k)
        check(h["ContentLength"] == n and h["ETag"] == etag(d), "HEAD %s" % h)
        check(isinstance(h.get("LastModified"), datetime.datetime), "HEAD has no Last-Modified")
        same_via_jcsctl(B, k, d)


def t_overwrite():
    k = "pkg/over.txt"
    c.put_object(Bucket=B, Key=k, Body=b"first version")
    c.put_object(Bucket=B, Key=k, Body=b"second")
    check(body(c.get_object(Bucket=B, Key=k)) == b"second", "overwrite not seen")
    same_via_jcsctl(B, k, b"second")


def t_new_package_created():
    k = "freshpkg/dir/obj"
    c.put_object(Bucket=B, Key=k, Body=b"into a new package")
    p = s3lib.jcsctl("package", "ls", B).stdout.decode()
    check("freshpkg" in p, "jcsctl package ls %s does not show freshpkg: %s" % (B, p))
    same_via_jcsctl(B, k, b"into a new package")


def t_metadata_roundtrip():
    k = "pkg/meta.html"
    d = b"<p>hello</p>"
    c.put_object(Bucket=B, Key=k, Body=d, ContentType="text/html; charset=utf-8",
                 ContentEncoding="gzip", CacheControl="max-age=60",
                 ContentDisposition='attachment; filename="m.html"',
                 Metadata={"color": "blue", "multi-word": "a b c"})
    for name, r in (("HEAD", c.head_object(Bucket=B, Key=k)), ("GET", c.get_object(Bucket=B, Key=k))):
        check(r["ContentType"] == "text/html; charset=utf-8", "%s Content-Type %r" % (name, r.get("ContentType")))
        check(r.get("ContentEncoding") == "gzip", "%s Content-Encoding %r" % (name, r.get("ContentEncoding")))
        check(r.get("CacheControl") == "max-age=60", "%s Cache-Control %r" % (name, r.get("CacheControl")))
        check(r.get("ContentDisposition") == 'attachment; filename="m.html"',
              "%s Content-Disposition %r" % (name, r.get("ContentDisposition")))
        check(r.get("Metadata") == {"color": "blue", "multi-word": "a b c"},
              "%s x-amz-meta-* %r" % (name, r.get("Metadata")))


def t_range():
    k = "pkg/range.bin"
    d = rand(100000, "range")
    c.put_object(Bucket=B, Key=k, Body=d)
    for rng, want, cr in (("bytes=0-9", d[:10], "bytes 0-9/100000"),
                          ("bytes=99990-", d[99990:], "bytes 99990-99999/100000"),
                          ("bytes=-5", d[-5:], "bytes 99995-99999/100000"),
                          ("bytes=500-99999999", d[500:], "bytes 500-99999/100000")):
        r = c.get_object(Bucket=B, Key=k, Range=rng)
        got = body(r)
        check(r["ResponseMetadata"]["HTTPStatusCode"] == 206, "%s: status %d" % (
            rng, r["ResponseMetadata"]["HTTPStatusCode"]))
        check(got == want, "%s: %d bytes, want %d" % (rng, len(got), len(want)))
        check(r.get("ContentRange") == cr, "%s: Content-Range %r, want %r" % (rng, r.get("ContentRange"), cr))
    expect_err(lambda: c.get_object(Bucket=B, Key=k, Range="bytes=100000-"), "InvalidRange", 416,
               "Range past the end")


def t_delete_object():
    k = "pkg/del.txt"
    c.put_object(Bucket=B, Key=k, Body=b"bye")
    r = c.delete_object(Bucket=B, Key=k)
    check(r["ResponseMetadata"]["HTTPStatusCode"] == 204, "DeleteObject status %s" % r["ResponseMetadata"])
    expect_err(lambda: c.get_object(Bucket=B, Key=k), "NoSuchKey", 404, "GET deleted")
    expect_err(lambda: c.head_object(Bucket=B, Key=k), "404", 404, "HEAD deleted")
    check(not s3lib.jcsctl_exists(B, k), "jcsctl still lists the deleted object")
    r = c.delete_object(Bucket=B, Key="pkg/never-there")
    check(r["ResponseMetadata"]["HTTPStatusCode"] == 204, "DeleteObject of a missing key: %s" % r)


def t_delete_objects():
    keys = ["pkg/dm/%d" % i for i in range(5)]
    for k in keys:
        c.put_object(Bucket=B, Key=k, Body=k.encode())
    r = c.delete_objects(Bucket=B, Delete={"Objects": [{"Key": k} for k in keys[:3]] +
                                           [{"Key": "pkg/dm/missing"}]})
    got = sorted(d["Key"] for d in r.get("Deleted", []))
    check(got == sorted(keys[:3] + ["pkg/dm/missing"]), "Deleted %s" % got)
    check(not r.get("Errors"), "Errors %s" % r.get("Errors"))
    r = c.delete_objects(Bucket=B, Delete={"Objects": [{"Key": k} for k in keys[3:]], "Quiet": True})
    check(not r.get("Deleted") and not r.get("Errors"), "Quiet mode answered %s" % r)
    left = [o["Key"] for o in c.list_objects_v2(Bucket=B, Prefix="pkg/dm/").get("Contents", [])]
    check(left == [], "left after DeleteObjects: %s" % left)


def t_copy_object():
    src = "pkg/copy/src.txt"
    d = rand(300000, "copy")
    c.put_object(Bucket=B, Key=src, Body=d, ContentType="text/x-src", Metadata={"k": "v"})
    r = c.copy_object(Bucket=B, Key="pkg/copy/same.txt", CopySource={"Bucket": B, "Key": src})
    check(r["CopyObjectResult"]["ETag"] == etag(d), "copy ETag %s" % r["CopyObjectResult"])
    h = c.head_object(Bucket=B, Key="pkg/copy/same.txt")
    check(h["Metadata"] == {"k": "v"} and h["ContentType"] == "text/x-src",
          "COPY directive lost metadata: %s %s" % (h["Metadata"], h["ContentType"]))
    check(body(c.get_object(Bucket=B, Key="pkg/copy/same.txt")) == d, "copied bytes differ")
    c.copy_object(Bucket=B2, Key="otherpkg/x/cross.txt", CopySource={"Bucket": B, "Key": src})
    check(body(c.get_object(Bucket=B2, Key="otherpkg/x/cross.txt")) == d, "cross-bucket copy differs")
    same_via_jcsctl(B2, "otherpkg/x/cross.txt", d)
    c.copy_object(Bucket=B, Key="pkg/copy/repl.txt", CopySource={"Bucket": B, "Key": src},
                  MetadataDirective="REPLACE", ContentType="application/x-new", Metadata={"n": "2"})
    h = c.head_object(Bucket=B, Key="pkg/copy/repl.txt")
    check(h["Metadata"] == {"n": "2"} and h["ContentType"] == "application/x-new",
          "REPLACE directive: %s %s" % (h["Metadata"], h["ContentType"]))
    # Copying an object onto itself with REPLACE is how S3 users change metadata.
    c.copy_object(Bucket=B, Key=src, CopySource={"Bucket": B, "Key": src},
                  MetadataDirective="REPLACE", Metadata={"k": "changed"}, ContentType="text/x-src")
    h = c.head_object(Bucket=B, Key=src)
    check(h["Metadata"] == {"k": "changed"}, "self-copy REPLACE: %s" % h["Metadata"])
    check(body(c.get_object(Bucket=B, Key=src)) == d, "self-copy changed the bytes")
    expect_err(lambda: c.copy_object(Bucket=B, Key="pkg/copy/n", CopySource={"Bucket": B, "Key": "pkg/nosuch"}),
               "NoSuchKey", 404, "copy of a missing source")


def fill_list_bucket():
    keys = ["p/a", "p/B", "p/Z", "p/b/1", "p/b/2", "p/c/x/y", "p/d", "p/z", "p/\u00e9t\u00e9",
            "p/sp ace+plus", "p/pct%41", "q/one", "q/two/deep", "r/r",
            # Keys without '/' (the reserved root package), sorting among the packages:
            # "a-root" < "p/..." and "r/r" < "r0" ('/' is 0x2F, '0' 0x30).
            "a-root", "r0"]
    keys += ["s/d%d/f%d" % (i, j) for i in range(4) for j in range(3)]
    keys += ["s/f%d" % i for i in range(3)]
    for k in keys:
        c.put_object(Bucket=BL, Key=k, Body=k.encode())
    return sorted(keys, key=lambda k: k.encode())


LIST_KEYS = []


def t_list_setup():
    LIST_KEYS[:] = fill_list_bucket()


def t_list_v2_all():
    r = c.list_objects_v2(Bucket=BL)
    got = [o["Key"] for o in r.get("Contents", [])]
    check(got == LIST_KEYS, "ListObjectsV2 keys (byte order) %s, want %s" % (got, LIST_KEYS))
    check(r["KeyCount"] == len(LIST_KEYS) and not r["IsTruncated"], "KeyCount/IsTruncated %s %s" % (
        r["KeyCount"], r["IsTruncated"]))
    o = r["Contents"][0]
    check(o["ETag"] == etag(o["Key"].encode()) and o["Size"] == len(o["Key"].encode()),
          "listed ETag/Size %s" % o)
    check("Owner" not in o, "Owner listed without fetch-owner")
    r = c.list_objects_v2(Bucket=BL, FetchOwner=True, MaxKeys=1)
    check("Owner" in r["Contents"][0], "fetch-owner gave no Owner: %s" % r["Contents"][0])


def t_list_root_delimiter():
    for fn in (c.list_objects, c.list_objects_v2):
        r = fn(Bucket=BL, Delimiter="/")
        cps = [p["Prefix"] for p in r.get("CommonPrefixes", [])]
        keys = [o["Key"] for o in r.get("Contents", [])]
        check(cps == ["p/", "q/", "r/", "s/"] and keys == ["a-root", "r0"],
              "%s root with delimiter: prefixes %s keys %s, want p/ q/ r/ s/ and a-root r0" % (
                  fn.__name__, cps, keys))


def t_list_prefix_delimiter():
    r = c.list_objects_v2(Bucket=BL, Prefix="p/", Delimiter="/")
    keys = [o["Key"] for o in r.get("Contents", [])]
    cps = [p["Prefix"] for p in r.get("CommonPrefixes", [])]
    want = [k for k in LIST_KEYS if k.startswith("p/") and "/" not in k[2:]]
    check(keys == want, "prefix p/ keys %s, want %s" % (keys, want))
    check(cps == ["p/b/", "p/c/"], "prefix p/ common prefixes %s" % cps)
    r = c.list_objects_v2(Bucket=BL, Prefix="p/b")
    check([o["Key"] for o in r.get("Contents", [])] == ["p/b/1", "p/b/2"], "prefix p/b: %s" % r.get("Contents"))
    r = c.list_objects(Bucket=BL, Prefix="q/", Delimiter="/")
    check([o["Key"] for o in r.get("Contents", [])] == ["q/one"] and
          [p["Prefix"] for p in r.get("CommonPrefixes", [])] == ["q/two/"], "v1 prefix q/: %s" % r)


def t_root_package_keys():
    """Keys without '/' live in the reserved package (README: s3.rootPackage, '_')."""
    d = rand(1234, "rootkey")
    c.put_object(Bucket=B, Key="top-level.txt", Body=d)
    check(body(c.get_object(Bucket=B, Key="top-level.txt")) == d, "key without / differs")
    keys = [o["Key"] for o in c.list_objects_v2(Bucket=B, Delimiter="/").get("Contents", [])]
    check("top-level.txt" in keys and not any(k.startswith("_/") for k in keys),
          "root listing shows %s" % keys)
    same_via_jcsctl(B, "_/top-level.txt", d)
    expect_err(lambda: c.put_object(Bucket=B, Key="_/x", Body=b"x"), "InvalidArgument", 400,
               "a key in the reserved package's name")
    c.delete_object(Bucket=B, Key="top-level.txt")
    expect_err(lambda: c.head_object(Bucket=B, Key="top-level.txt"), "404", 404, "deleted root key")


def t_folder_marker_creates_package():
    c.put_object(Bucket=B, Key="markerpkg/", Body=b"")
    p = s3lib.jcsctl("package", "ls", B).stdout.decode()
    check("markerpkg" in p, "PUT markerpkg/ made no package: %s" % p)
    cps = [x["Prefix"] for x in c.list_objects_v2(Bucket=B, Delimiter="/").get("CommonPrefixes", [])]
    check("markerpkg/" in cps, "markerpkg/ not a common prefix at the root: %s" % cps)
    expect_err(lambda: c.put_object(Bucket=B, Key="markerpkg/dir/", Body=b""), "InvalidArgument", 400,
               "a folder marker below a package")


def t_list_max_keys_zero():
    for fn in (c.list_objects, c.list_objects_v2):
        r = fn(Bucket=BL, MaxKeys=0)
        check(r["ResponseMetadata"]["HTTPStatusCode"] == 200 and not r.get("Contents")
              and not r.get("CommonPrefixes"), "%s max-keys 0: %s" % (fn.__name__, r))


def page_v2(prefix, delim, n, start_after=None):
    seen, token, pages = [], None, 0
    while True:
        kw = {"Bucket": BL, "Prefix": prefix, "MaxKeys": n}
        if delim:
            kw["Delimiter"] = delim
        if token:
            kw["ContinuationToken"] = token
        elif start_after:
            kw["StartAfter"] = start_after
        r = c.list_objects_v2(**kw)
        items = [o["Key"] for o in r.get("Contents", [])] + [p["Prefix"] for p in r.get("CommonPrefixes", [])]
        check(len(items) <= n, "page of %d items with max-keys %d" % (len(items), n))
        check(r["KeyCount"] == len(items), "KeyCount %d for %d items" % (r["KeyCount"], len(items)))
        seen += items
        pages += 1
        check(pages < 100, "more than 100 pages")
        if not r["IsTruncated"]:
            break
        token = r["NextContinuationToken"]
        check(token, "truncated page without NextContinuationToken")
    return seen


def page_v1(prefix, delim, n):
    seen, marker = [], None
    for _ in range(100):
        kw = {"Bucket": BL, "Prefix": prefix, "MaxKeys": n}
        if delim:
            kw["Delimiter"] = delim
        if marker:
            kw["Marker"] = marker
        r = c.list_objects(**kw)
        keys = [o["Key"] for o in r.get("Contents", [])]
        cps = [p["Prefix"] for p in r.get("CommonPrefixes", [])]
        check(len(keys) + len(cps) <= n, "v1 page over max-keys")
        seen += keys + cps
        if not r["IsTruncated"]:
            return seen
        marker = r.get("NextMarker") or (keys[-1] if keys else None)
        check(marker, "truncated v1 page without NextMarker: %s" % r)
    raise Fail("v1 paging did not end")


def t_list_paging():
    for prefix, delim in (("", ""), ("", "/"), ("s/", "/"), ("p/", "/")):
        full = page_v2(prefix, delim, 1000)
        for n in (1, 2, 3):
            got = page_v2(prefix, delim, n)
            check(len(got) == len(set(got)), "v2 prefix %r delim %r max-keys %d repeats: %s" % (
                prefix, delim, n, got))
            check(sorted(got) == sorted(full), "v2 prefix %r delim %r max-keys %d: %s, want %s" % (
                prefix, delim, n, got, full))
            got = page_v1(prefix, delim, n)
            check(len(got) == len(set(got)) and sorted(got) == sorted(full),
                  "v1 prefix %r delim %r max-keys %d: %s, want %s" % (prefix, delim, n, got, full))


def t_list_start_after():
    got = page_v2("", "", 1000, start_after="p/z")
    want = [k for k in LIST_KEYS if k.encode() > b"p/z"]
    check(got == want, "start-after p/z: %s, want %s" % (got, want))
    r = c.list_objects(Bucket=BL, Marker="q/one")
    got = [o["Key"] for o in r.get("Contents", [])]
    check(got == [k for k in LIST_KEYS if k.encode() > b"q/one"], "v1 marker q/one: %s" % got)


def t_list_encoding_url():
    # boto3 adds encoding-type=url itself and decodes what comes back: the
    # keys must read as written.
    keys = [o["Key"] for o in c.list_objects_v2(Bucket=BL, Prefix="p/").get("Contents", [])]
    for k in ("p/sp ace+plus", "p/\u00e9t\u00e9", "p/pct%41"):
        check(k in keys, "%r missing from %s" % (k, keys))
    # Asked for explicitly, botocore leaves the keys as sent: URL-encoded.
    got = [o["Key"] for o in c.list_objects_v2(Bucket=BL, Prefix="p/", EncodingType="url").get("Contents", [])]
    check(sorted(urllib.parse.unquote_plus(k) for k in got) == sorted(keys),
          "explicit encoding-type=url: %s decode to other keys than %s" % (got, keys))
    check(not any(" " in k or "\u00e9" in k for k in got), "explicit encoding-type=url left keys raw: %s" % got)


def t_multipart():
    k = "pkg/mp/big.bin"
    parts = [rand(5 * MiB, "mp1"), rand(5 * MiB, "mp2"), rand(123457, "mp3")]
    u = c.create_multipart_upload(Bucket=B, Key=k, ContentType="application/x-mp",
                                  Metadata={"m": "1"})["UploadId"]
    ets = []
    # Parts out of order, as parallel clients send them.
    for i in (2, 0, 1):
        r = c.upload_part(Bucket=B, Key=k, UploadId=u, PartNumber=i + 1, Body=parts[i])
        check(r["ETag"] == etag(parts[i]), "UploadPart %d ETag %s" % (i + 1, r["ETag"]))
    ets = [etag(p) for p in parts]
    ups = [x for x in c.list_multipart_uploads(Bucket=B).get("Uploads", []) if x["UploadId"] == u]
    check(len(ups) == 1 and ups[0]["Key"] == k, "ListMultipartUploads: %s" % ups)
    lp = c.list_parts(Bucket=B, Key=k, UploadId=u)["Parts"]
    check([(p["PartNumber"], p["ETag"], p["Size"]) for p in lp] ==
          [(i + 1, ets[i], len(parts[i])) for i in range(3)], "ListParts %s" % lp)
    lp = c.list_parts(Bucket=B, Key=k, UploadId=u, MaxParts=1)
    check(len(lp["Parts"]) == 1 and lp["IsTruncated"], "ListParts max-parts 1: %s" % lp)
    lp2 = c.list_parts(Bucket=B, Key=k, UploadId=u, PartNumberMarker=lp["NextPartNumberMarker"])
    check([p["PartNumber"] for p in lp2["Parts"]] == [2, 3], "ListParts after marker: %s" % lp2["Parts"])
    mk = lambda order, tags=ets: {"Parts": [{"PartNumber": i + 1, "ETag": tags[i]} for i in order]}
    expect_err(lambda: c.complete_multipart_upload(Bucket=B, Key=k, UploadId=u,
                                                   MultipartUpload=mk([0, 1, 2], [ets[0], etag(b"x"), ets[2]])),
               "InvalidPart", 400, "Complete with a wrong ETag")
    expect_err(lambda: c.complete_multipart_upload(Bucket=B, Key=k, UploadId=u, MultipartUpload=mk([1, 0, 2])),
               "InvalidPartOrder", 400, "Complete with parts out of order")
    expect_err(lambda: c.get_object(Bucket=B, Key=k), "NoSuchKey", 404, "object visible before Complete")
    r = c.complete_multipart_upload(Bucket=B, Key=k, UploadId=u, MultipartUpload=mk([0, 1, 2]))
    check(r["ETag"] == mp_etag(parts), "Complete ETag %s, want %s" % (r["ETag"], mp_etag(parts)))
    d = b"".join(parts)
    g = c.get_object(Bucket=B, Key=k)
    check(body(g) == d and g["ETag"] == mp_etag(parts), "multipart object differs (ETag %s)" % g["ETag"])
    check(g["ContentType"] == "application/x-mp" and g["Metadata"] == {"m": "1"},
          "multipart metadata %s %s" % (g["ContentType"], g["Metadata"]))
    same_via_jcsctl(B, k, d)
    for n in (1, 2, 3):
        g = c.get_object(Bucket=B, Key=k, PartNumber=n)
        check(body(g) == parts[n - 1], "partNumber=%d bytes differ" % n)
        check(g.get("PartsCount") == 3, "partNumber=%d: x-amz-mp-parts-count %r" % (n, g.get("PartsCount")))
        check(g["ResponseMetadata"]["HTTPStatusCode"] == 206, "partNumber status %s" % g["ResponseMetadata"]["HTTPStatusCode"])
    h = c.head_object(Bucket=B, Key=k, PartNumber=2)
    check(h["ContentLength"] == 5 * MiB, "HEAD partNumber=2 length %s" % h["ContentLength"])
    ups = [x for x in c.list_multipart_uploads(Bucket=B).get("Uploads", []) if x["UploadId"] == u]
    check(not ups, "completed upload still listed")
    expect_err(lambda: c.get_object(Bucket=B, Key=k, PartNumber=4), "InvalidPartNumber", 416,
               "partNumber past the parts")


def t_multipart_small_part():
    k = "pkg/mp/small.bin"
    u = c.create_multipart_upload(Bucket=B, Key=k)["UploadId"]
    a, b = rand(1024, "s1"), rand(1024, "s2")
    e1 = c.upload_part(Bucket=B, Key=k, UploadId=u, PartNumber=1, Body=a)["ETag"]
    e2 = c.upload_part(Bucket=B, Key=k, UploadId=u, PartNumber=2, Body=b)["ETag"]
    expect_err(lambda: c.complete_multipart_upload(
        Bucket=B, Key=k, UploadId=u,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]}),
        "EntityTooSmall", 400, "Complete with a 1 KiB first part")
    # One small part alone is a valid (last) part.
    c.complete_multipart_upload(Bucket=B, Key=k, UploadId=u,
                                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}]})
    check(body(c.get_object(Bucket=B, Key=k)) == a, "single small part object differs")


def t_multipart_abort():
    k = "pkg/mp/aborted.bin"
    u = c.create_multipart_upload(Bucket=B, Key=k)["UploadId"]
    c.upload_part(Bucket=B, Key=k, UploadId=u, PartNumber=1, Body=rand(MiB, "ab"))
    r = c.abort_multipart_upload(Bucket=B, Key=k, UploadId=u)
    check(r["ResponseMetadata"]["HTTPStatusCode"] == 204, "Abort status %s" % r["ResponseMetadata"])
    ups = [x for x in c.list_multipart_uploads(Bucket=B).get("Uploads", []) if x["UploadId"] == u]
    check(not ups, "aborted upload still listed")
    expect_err(lambda: c.list_parts(Bucket=B, Key=k, UploadId=u), "NoSuchUpload", 404, "ListParts after Abort")
    expect_err(lambda: c.upload_part(Bucket=B, Key=k, UploadId=u, PartNumber=2, Body=b"x"),
               "NoSuchUpload", 404, "UploadPart after Abort")
    expect_err(lambda: c.head_object(Bucket=B, Key=k), "404", 404, "aborted upload visible")
    check(not s3lib.jcsctl_exists(B, k), "jcsctl lists the aborted upload's object")


def t_upload_part_copy():
    src = "pkg/upc/src.bin"
    d = rand(6 * MiB + 100, "upc")
    c.put_object(Bucket=B, Key=src, Body=d)
    k = "pkg/upc/dst.bin"
    u = c.create_multipart_upload(Bucket=B2, Key="otherpkg/" + k)["UploadId"]
    r1 = c.upload_part_copy(Bucket=B2, Key="otherpkg/" + k, UploadId=u, PartNumber=1,
                            CopySource={"Bucket": B, "Key": src}, CopySourceRange="bytes=0-5242879")
    check(r1["CopyPartResult"]["ETag"] == etag(d[:5 * MiB]), "UploadPartCopy ETag %s" % r1["CopyPartResult"])
    tail = rand(5 * MiB, "upc-mid")
    e2 = c.upload_part(Bucket=B2, Key="otherpkg/" + k, UploadId=u, PartNumber=2, Body=tail)["ETag"]
    r3 = c.upload_part_copy(Bucket=B2, Key="otherpkg/" + k, UploadId=u, PartNumber=3,
                            CopySource={"Bucket": B, "Key": src})
    c.complete_multipart_upload(Bucket=B2, Key="otherpkg/" + k, UploadId=u, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": r1["CopyPartResult"]["ETag"]}, {"PartNumber": 2, "ETag": e2},
        {"PartNumber": 3, "ETag": r3["CopyPartResult"]["ETag"]}]})
    want = d[:5 * MiB] + tail + d
    check(body(c.get_object(Bucket=B2, Key="otherpkg/" + k)) == want, "UploadPartCopy result differs")
    same_via_jcsctl(B2, "otherpkg/" + k, want)


def t_conditional_get_head():
    k = "pkg/cond.txt"
    d = b"conditional"
    et = c.put_object(Bucket=B, Key=k, Body=d)["ETag"]
    # Dates as clients send them: the Last-Modified they saw, or one before it.
    lm = c.head_object(Bucket=B, Key=k)["LastModified"]
    past = datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc)
    for name, fn in (("GET", c.get_object), ("HEAD", c.head_object)):
        code412 = "PreconditionFailed" if name == "GET" else "412"
        fn(Bucket=B, Key=k, IfMatch=et)
        expect_err(lambda: fn(Bucket=B, Key=k, IfMatch='"0123456789abcdef0123456789abcdef"'),
                   code412, 412, name + " If-Match other")
        expect_err(lambda: fn(Bucket=B, Key=k, IfNoneMatch=et), "304", 304, name + " If-None-Match same")
        fn(Bucket=B, Key=k, IfNoneMatch='"0123456789abcdef0123456789abcdef"')
        expect_err(lambda: fn(Bucket=B, Key=k, IfModifiedSince=lm), "304", 304,
                   name + " If-Modified-Since its Last-Modified")
        fn(Bucket=B, Key=k, IfModifiedSince=past)
        expect_err(lambda: fn(Bucket=B, Key=k, IfUnmodifiedSince=past), code412, 412,
                   name + " If-Unmodified-Since before it")
        fn(Bucket=B, Key=k, IfUnmodifiedSince=lm)


def t_conditional_put():
    k = "pkg/cond-put.txt"
    with extra_headers(c, "PutObject", {"If-None-Match": "*"}):
        c.put_object(Bucket=B, Key=k, Body=b"one")
        expect_err(lambda: c.put_object(Bucket=B, Key=k, Body=b"two"), "PreconditionFailed", 412,
                   "PUT If-None-Match * over an object")
    check(body(c.get_object(Bucket=B, Key=k)) == b"one", "refused PUT changed the object")
    with extra_headers(c, "PutObject", {"If-Match": '"0123456789abcdef0123456789abcdef"'}):
        expect_err(lambda: c.put_object(Bucket=B, Key=k, Body=b"three"), "PreconditionFailed", 412,
                   "PUT If-Match other ETag")
    with extra_headers(c, "PutObject", {"If-Match": etag(b"one")}):
        c.put_object(Bucket=B, Key=k, Body=b"four")
    check(body(c.get_object(Bucket=B, Key=k)) == b"four", "PUT If-Match same did not replace")


def t_conditional_copy():
    src = "pkg/cond-src.txt"
    et = c.put_object(Bucket=B, Key=src, Body=b"copy-cond")["ETag"]
    lm = c.head_object(Bucket=B, Key=src)["LastModified"]
    cs = {"Bucket": B, "Key": src}
    past = datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc)
    c.copy_object(Bucket=B, Key="pkg/cc1", CopySource=cs, CopySourceIfMatch=et)
    c.copy_object(Bucket=B, Key="pkg/cc1", CopySource=cs, CopySourceIfModifiedSince=past)
    c.copy_object(Bucket=B, Key="pkg/cc1", CopySource=cs, CopySourceIfUnmodifiedSince=lm)
    for what, kw in (("If-Match other", {"CopySourceIfMatch": '"0123456789abcdef0123456789abcdef"'}),
                     ("If-None-Match same", {"CopySourceIfNoneMatch": et}),
                     ("If-Modified-Since its Last-Modified", {"CopySourceIfModifiedSince": lm}),
                     ("If-Unmodified-Since before it", {"CopySourceIfUnmodifiedSince": past})):
        expect_err(lambda: c.copy_object(Bucket=B, Key="pkg/cc2", CopySource=cs, **kw),
                   "PreconditionFailed", 412, "copy " + what)
    expect_err(lambda: c.head_object(Bucket=B, Key="pkg/cc2"), "404", 404, "refused copy left an object")


def t_errors_misc():
    expect_err(lambda: c.get_object(Bucket=B, Key="pkg/no/such/key"), "NoSuchKey", 404, "GET missing key")
    bad = client(secret="not-the-secret-key-at-all-0000000000000")
    expect_err(lambda: bad.list_objects_v2(Bucket=B), "SignatureDoesNotMatch", 403, "wrong secret")
    unk = client(key="AKIANOSUCHKEY0000000")
    expect_err(lambda: unk.list_objects_v2(Bucket=B), "InvalidAccessKeyId", 403, "unknown key")
    expect_err(lambda: c.get_object(Bucket=B, Key="pkg/cond.txt", PartNumber=0), "InvalidArgument", 400,
               "partNumber=0")
    with extra_headers(c, "PutObject", {"Content-MD5": "AAAAAAAAAAAAAAAAAAAAAA=="}):
        expect_err(lambda: c.put_object(Bucket=B, Key="pkg/badmd5", Body=b"data"), "BadDigest", 400,
                   "PUT with a wrong Content-MD5")
    expect_err(lambda: c.head_object(Bucket=B, Key="pkg/badmd5"), "404", 404, "refused PUT left an object")


def t_not_implemented():
    expect_err(lambda: c.put_bucket_versioning(Bucket=B, VersioningConfiguration={"Status": "Enabled"}),
               "NotImplemented", 501, "PutBucketVersioning")
    expect_err(lambda: c.put_bucket_policy(Bucket=B, Policy='{"Version":"2012-10-17","Statement":[]}'),
               "NotImplemented", 501, "PutBucketPolicy")
    # And the gateway still serves.
    c.head_bucket(Bucket=B)


def t_checksums():
    """Checksums the SDK computes itself: a newer botocore sends a CRC32 trailer
    by default; both ask for SHA-256 and CRC32 when told to."""
    for algo in ("CRC32", "SHA256"):
        d = rand(200000, "ck" + algo)
        k = "pkg/ck/%s" % algo
        r = c.put_object(Bucket=B, Key=k, Body=d, ChecksumAlgorithm=algo)
        want = s3lib.checksum_b64(algo.lower(), d)
        check(r.get("Checksum" + algo) == want, "PUT %s: x-amz-checksum returned %r, want %r" % (
            algo, r.get("Checksum" + algo), want))
        same_via_jcsctl(B, k, d)
    if NEW_BOTOCORE:
        d = rand(300000, "default-trailer")
        r = c.put_object(Bucket=B, Key="pkg/ck/default", Body=d)
        check(r.get("ChecksumCRC32") == s3lib.checksum_b64("crc32", d),
              "default CRC32 trailer: returned %r" % r.get("ChecksumCRC32"))
        same_via_jcsctl(B, "pkg/ck/default", d)


def t_from_jcsctl():
    d = rand(2 * MiB + 11, "fromctl")
    s3lib.jcsctl_put(B, "pkg/fromctl/x.bin", d, TMP)
    check(body(c.get_object(Bucket=B, Key="pkg/fromctl/x.bin")) == d, "object put by jcsctl differs through S3")
    h = c.head_object(Bucket=B, Key="pkg/fromctl/x.bin")
    check(h["ContentLength"] == len(d), "HEAD of a jcsctl object: %s" % h["ContentLength"])
    # A REST upload over 1 MiB records no MD5 (README, ETag): the SHA-256 form, marked by -1.
    want = '"%s-1"' % hashlib.sha256(d).hexdigest()[:32]
    check(h["ETag"] == want, "ETag of a 2 MiB jcsctl object %s, want %s (README)" % (h["ETag"], want))
    small = rand(4096 + 7, "fromctl-small")
    s3lib.jcsctl_put(B, "pkg/fromctl/small.bin", small, TMP)
    h = c.head_object(Bucket=B, Key="pkg/fromctl/small.bin")
    check(h["ETag"] == etag(small),
          "ETag of a small jcsctl object %s, want its MD5 %s (README)" % (h["ETag"], etag(small)))
    keys = [o["Key"] for o in c.list_objects_v2(Bucket=B, Prefix="pkg/fromctl/").get("Contents", [])]
    check(keys == ["pkg/fromctl/small.bin", "pkg/fromctl/x.bin"], "listing of a jcsctl object: %s" % keys)


s = s3lib.Suite(TAG)
s.run("setup", t_setup)
if c is None:
    sys.exit(1)
for name, fn in list(globals().items()):
    if name.startswith("t_") and name != "t_setup":
        s.run(name[2:], fn)
print("  %s: %d passed, %d failed" % (TAG, s.passed, s.failed), flush=True)
sys.exit(1 if s.failed else 0)
