#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_plan_fragment: ExecuteFragmentReq messages
(proto/hub.proto, proto/plan.proto) encoded by hand (no protoc here), one per
kind of fragment the planner emits, plus a few the hub must refuse.

    tests/fuzz/plan_seeds.py tests/fuzz/corpus/fuzz_plan_fragment
"""
import os
import sys


def varint(n):
    n &= (1 << 64) - 1
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def f_int(field, n):
    return varint(field << 3) + varint(n)


def f_bytes(field, b):
    if isinstance(b, str):
        b = b.encode()
    return varint(field << 3 | 2) + varint(len(b)) + b


def f_packed(field, ns):
    return f_bytes(field, b"".join(varint(n) for n in ns))


PLAN = "0123456789abcdef0123456789abcdef"
HASH = "Full" + "A" * 64


def worker(hub=2, addr="10.0.0.2:5010"):
    return f_int(1, hub) + f_bytes(2, addr)


def space(sid=3, root="/nonexistent/jcs-fuzz"):
    return f_int(1, sid) + f_bytes(2, "local") + f_bytes(3, root)


def op(kind, body):
    return f_bytes(kind, body)


def fragment(ops, results=(), plan=PLAN, hub=1):
    b = f_bytes(1, plan) + f_bytes(2, worker(hub, "10.0.0.1:5010"))
    for o in ops:
        b += f_bytes(3, o)
    if results:
        b += f_packed(4, results)
    return f_bytes(1, b)  # ExecuteFragmentReq.fragment


get_stream = lambda rv, out: op(10, f_bytes(1, worker()) + f_int(2, rv) + f_int(3, out))
send_stream = lambda inp, rv: op(9, f_int(1, inp) + f_bytes(2, worker()) + f_int(3, rv))
shard_read = lambda out, off=0, ln=100: op(1, f_bytes(1, space()) + f_bytes(2, HASH) +
                                           f_int(3, off) + f_int(4, ln) + f_int(5, out))
shard_write = lambda inp, res: op(2, f_bytes(1, space()) + f_int(2, inp) + f_int(3, res))
split = lambda inp, chunk, outs, pad=True: op(3, f_int(1, inp) + f_int(2, chunk) +
                                              f_packed(3, outs) + f_int(4, 1 if pad else 0))
ecm = lambda k, n, chunk, irows, ins, orows, outs: op(4, f_int(1, k) + f_int(2, n) +
                                                       f_int(3, chunk) + f_packed(4, irows) +
                                                       f_packed(5, ins) + f_packed(6, orows) +
                                                       f_packed(7, outs))
cjoin = lambda ins, chunk, out: op(5, f_packed(1, ins) + f_int(2, chunk) + f_int(3, out))
rng = lambda inp, off, ln, out: op(6, f_int(1, inp) + f_int(2, off) + f_int(3, ln) + f_int(4, out))
join = lambda ins, out: op(7, f_packed(1, ins) + f_int(2, out))
clone = lambda inp, outs: op(8, f_int(1, inp) + f_packed(2, outs))
send_var = lambda inp, rv: op(11, f_int(1, inp) + f_bytes(2, worker()) + f_int(3, rv))
get_var = lambda rv, out: op(12, f_bytes(1, worker()) + f_int(2, rv) + f_int(3, out))

SEEDS = {
    # An EC upload's hub side: the driver's stream split, encoded, one block written.
    "ec_upload": fragment([get_stream(1, 1), split(1, 4096, [2, 3]),
                           ecm(2, 3, 4096, [0, 1], [2, 3], [2], [4]), shard_write(4, 5)], [5]),
    # A copy write: the driver's stream straight to a shard.
    "rep_write": fragment([get_stream(1, 1), shard_write(1, 2)], [2]),
    # A ranged read sent back to the driver.
    "ranged_read": fragment([shard_read(1, 4096, 8192), rng(1, 10, 20, 2), send_stream(2, 7)]),
    # An EC decode: two blocks read, joined in strips.
    "ec_decode": fragment([shard_read(1), shard_read(2), ecm(2, 3, 4096, [0, 2], [1, 2], [1], [3]),
                           cjoin([1, 3], 4096, 4), send_stream(4, 9)]),
    # Fan-out and a plain join.
    "clone_join": fragment([get_stream(1, 1), clone(1, [2, 3]), send_stream(2, 4),
                            join([3], 5), shard_write(5, 6)], [6]),
    # Values between workers.
    "vars": fragment([get_var(3, 1), send_var(1, 4)]),
    "empty": fragment([]),
    # What the hub must refuse.
    "two_producers": fragment([get_stream(1, 1), get_stream(2, 1), shard_write(1, 2)], [2]),
    "negative_var": fragment([get_stream(1, -5), shard_write(-5, 2)], [2]),
    "k_over_n": fragment([get_stream(1, 1), ecm(7, 6, 4096, [0], [1], [2], [2])]),
    "result_is_stream": fragment([get_stream(1, 1)], [1]),
    "bad_plan_id": fragment([get_stream(1, 1), shard_write(1, 2)], [2], plan="xyz"),
    "huge_chunk": fragment([get_stream(1, 1), split(1, 1 << 40, [2, 3])]),
    # Two ops that wait on each other: only a cancel ends them.
    "cycle": fragment([rng(1, 0, 10, 2), rng(2, 0, 10, 1)]),
}

if __name__ == "__main__":
    d = sys.argv[1] if len(sys.argv) > 1 else "tests/fuzz/corpus/fuzz_plan_fragment"
    os.makedirs(d, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
