#!/usr/bin/env python3
"""Model test of `jcs mount`: a seeded random sequence of file-system operations
(create, write at offsets, append, truncate, rename of files and directories,
unlink, mkdir, rmdir, read) applied to a directory in the mount and to a plain
local directory. After every step the operation's outcome (errno) must be the
same on both, and the paths the step touched (contents, sizes, the listings of
their directories) must be identical; the whole trees are compared every 50
steps and at the end.

  model.py run MOUNT_DIR LOCAL_DIR --seed S --ops N
  model.py compare MOUNT_DIR LOCAL_DIR      (e.g. after an unmount and remount)

Prints "PASS name" or "FAIL name: why" lines (tests/run counts them); on a
failure the last operations are printed so the seed reproduces it.
"""
import argparse
import errno
import os
import random
import sys

NAMES = ["a", "b", "c", "d", "e", "f", "g.txt", "h.bin"]
DIRS = ["x", "y", "z", "w"]


def tree(root):
    """{relative path: bytes or None for a directory}."""
    out = {}
    for dp, dns, fns in os.walk(root):
        rel = os.path.relpath(dp, root)
        for d in dns:
            out[os.path.normpath(os.path.join(rel, d))] = None
        for f in fns:
            p = os.path.join(dp, f)
            with open(p, "rb") as fh:
                out[os.path.normpath(os.path.join(rel, f))] = fh.read()
    return out


def describe_diff(a, b):
    for k in sorted(set(a) | set(b)):
        if k not in a:
            return "%s only in the local directory" % k
        if k not in b:
            return "%s only in the mount" % k
        if a[k] != b[k]:
            if a[k] is None or b[k] is None:
                return "%s: a directory on one side, a file on the other" % k
            n = next((i for i in range(min(len(a[k]), len(b[k]))) if a[k][i] != b[k][i]), None)
            return "%s differs: mount %d bytes, local %d bytes, first difference at %s" % (
                k, len(a[k]), len(b[k]), n)
    return None


class Model:
    def __init__(self, mnt, loc, seed):
        self.m, self.l = mnt, loc
        self.r = random.Random(seed)
        self.log = []

    def both(self, fn):
        """Runs fn(root) on both roots; returns (result or errno) of each."""
        res = []
        for root in (self.m, self.l):
            try:
                res.append(("ok", fn(root)))
            except OSError as e:
                res.append(("err", errno.errorcode.get(e.errno, e.errno)))
        return res

    def dirs(self):
        out = [""]
        for dp, dns, _ in os.walk(self.l):
            for d in dns:
                out.append(os.path.relpath(os.path.join(dp, d), self.l))
        return out

    def files(self):
        out = []
        for dp, _, fns in os.walk(self.l):
            for f in fns:
                out.append(os.path.relpath(os.path.join(dp, f), self.l))
        return out

    def any_path(self):
        d = self.r.choice(self.dirs())
        return os.path.join(d, self.r.choice(NAMES + DIRS))

    def data(self, n):
        return bytes(self.r.getrandbits(8) for _ in range(n)) if n < 4096 else \
            self.r.randbytes(n)

    def step(self):
        r = self.r
        files = self.files()
        op = r.choices(["create", "write", "append", "truncate", "rename", "renamedir",
                        "unlink", "mkdir", "rmdir", "read", "stat", "overwrite"],
                       [10, 12, 6, 6, 6, 3, 5, 5, 4, 10, 5, 4])[0]
        if op in ("write", "append", "truncate", "read", "unlink", "overwrite") and files and \
                r.random() < 0.85:
            p = r.choice(files)
        else:
            p = self.any_path()
        touched = [p]
        if op == "create":
            data = self.data(r.choice([0, 1, 100, 4096, 5000, 70000]))
            def f(root, p=p, data=data):
                with open(os.path.join(root, p), "xb") as fh:
                    fh.write(data)
            desc = "create %s (%d bytes)" % (p, len(data))
        elif op == "overwrite":
            data = self.data(r.choice([0, 10, 3000, 40000]))
            def f(root, p=p, data=data):
                with open(os.path.join(root, p), "wb") as fh:
                    fh.write(data)
            desc = "overwrite %s (%d bytes)" % (p, len(data))
        elif op == "write":
            off = r.choice([0, r.randrange(0, 80000), r.randrange(0, 2000)])
            data = self.data(r.choice([1, 7, 512, 4096, 9000]))
            def f(root, p=p, off=off, data=data):
                fd = os.open(os.path.join(root, p), os.O_WRONLY)
                try:
                    os.pwrite(fd, data, off)
                finally:
                    os.close(fd)
            desc = "write %s at %d (%d bytes)" % (p, off, len(data))
        elif op == "append":
            data = self.data(r.choice([1, 100, 5000]))
            def f(root, p=p, data=data):
                with open(os.path.join(root, p), "ab") as fh:
                    fh.write(data)
            desc = "append %s (%d bytes)" % (p, len(data))
        elif op == "truncate":
            size = r.choice([0, r.randrange(0, 100), r.randrange(0, 90000)])
            def f(root, p=p, size=size):
                os.truncate(os.path.join(root, p), size)
            desc = "truncate %s to %d" % (p, size)
        elif op == "read":
            off, n = r.randrange(0, 80000), r.choice([1, 100, 4096, 100000])
            def f(root, p=p, off=off, n=n):
                fd = os.open(os.path.join(root, p), os.O_RDONLY)
                try:
                    return os.pread(fd, n, off)
                finally:
                    os.close(fd)
            desc = "read %s at %d (%d bytes)" % (p, off, n)
        elif op == "stat":
            def f(root, p=p):
                st = os.stat(os.path.join(root, p))
                isdir = os.path.isdir(os.path.join(root, p))
                return (0 if isdir else st.st_size, isdir)
            desc = "stat %s" % p
        elif op == "rename":
            src = r.choice(files) if files and r.random() < 0.9 else self.any_path()
            dst = self.any_path()
            touched = [src, dst]
            def f(root, src=src, dst=dst):
                os.rename(os.path.join(root, src), os.path.join(root, dst))
            desc = "rename %s -> %s" % (src, dst)
        elif op == "renamedir":
            ds = [d for d in self.dirs() if d]
            src = r.choice(ds) if ds else self.any_path()
            dst = os.path.join(r.choice(self.dirs()), r.choice(DIRS))
            touched = [src, dst]
            def f(root, src=src, dst=dst):
                os.rename(os.path.join(root, src), os.path.join(root, dst))
            desc = "rename dir %s -> %s" % (src, dst)
        elif op == "unlink":
            def f(root, p=p):
                os.unlink(os.path.join(root, p))
            desc = "unlink %s" % p
        elif op == "mkdir":
            p = os.path.join(r.choice(self.dirs()), r.choice(DIRS))
            touched = [p]
            def f(root, p=p):
                os.mkdir(os.path.join(root, p))
            desc = "mkdir %s" % p
        else:
            ds = [d for d in self.dirs() if d]
            p = r.choice(ds) if ds and r.random() < 0.8 else self.any_path()
            touched = [p]
            def f(root, p=p):
                os.rmdir(os.path.join(root, p))
            desc = "rmdir %s" % p
        self.log.append(desc)
        got = self.both(f)
        if got[0] != got[1]:
            def short(x):
                s = repr(x)
                return s if len(s) < 120 else s[:120] + "..."
            return "%s: mount gave %s, local gave %s" % (desc, short(got[0]), short(got[1]))
        return self.check_paths(touched, desc)

    def check_paths(self, paths, desc):
        for p in paths:
            for q in (p, os.path.dirname(p)):
                a = self.both(lambda root, q=q: self.state(os.path.join(root, q)))
                if a[0] != a[1]:
                    return "after %s: %s is %s in the mount, %s locally" % (
                        desc, q or ".", str(a[0])[:200], str(a[1])[:200])
        return None

    @staticmethod
    def state(path):
        if os.path.isdir(path):
            return ("dir", sorted(os.listdir(path)))
        with open(path, "rb") as fh:
            data = fh.read()
        return ("file", os.stat(path).st_size, data)

    def compare(self):
        return describe_diff(tree(self.m), tree(self.l))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["run", "compare"])
    ap.add_argument("mnt")
    ap.add_argument("loc")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--ops", type=int, default=2000)
    ap.add_argument("--name", default="mount_model")
    a = ap.parse_args()
    m = Model(a.mnt, a.loc, a.seed)
    if a.cmd == "compare":
        d = m.compare()
        print("FAIL %s: %s" % (a.name, d) if d else "PASS %s" % a.name)
        return 1 if d else 0
    os.makedirs(a.mnt, exist_ok=True)
    os.makedirs(a.loc, exist_ok=True)
    for i in range(a.ops):
        err = m.step()
        if not err and (i % 50 == 49 or i == a.ops - 1):
            d = m.compare()
            if d:
                err = "after step %d (%s): %s" % (i + 1, m.log[-1], d)
        if err:
            print("FAIL %s: seed %d, step %d: %s" % (a.name, a.seed, i + 1, err))
            print("last operations:\n  " + "\n  ".join(m.log[-15:]))
            return 1
    print("PASS %s (seed %d, %d operations, %d files and directories at the end)" % (
        a.name, a.seed, a.ops, len(tree(a.loc))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
