"""``nestor demo``: a worked example — define a matmul, print its loop nest, run it, check it."""

from __future__ import annotations

import argparse
import time

import numpy as np

from .arguments import integer

#: the largest size of a demo matmul (it runs in the reference interpreter)
MAX_SIZE = 4096


def demo(args: argparse.Namespace) -> int:
    import nestor as ns

    m, n, k = args.m, args.n, args.k
    print("# 1. Define C = A @ B.T as an index expression")
    A = ns.placeholder((m, k), name="A")
    B = ns.placeholder((n, k), name="B")
    C = ns.compute("C[i,j] = sum(A[i,k] * B[j,k])", A=A, B=B)
    print('C = ns.compute("C[i,j] = sum(A[i,k] * B[j,k])", A=A, B=B)')
    print(f"  -> {C}, output axes {C.op.axis}, reduce axes {C.op.reduce_axis}\n")

    print("# 2. Lower the default schedule to a loop nest")
    s = ns.create_schedule(C)
    func = ns.lower(s, [A, B, C], name="matmul")
    print(func, "\n")

    print("# 3. Run it with the reference interpreter and check it against numpy")
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((n, k)).astype(np.float32)
    c = np.zeros((m, n), dtype=np.float32)
    module = ns.build(func, target="interp")
    start = time.perf_counter()
    module(a, b, c)
    elapsed = time.perf_counter() - start
    expected = a @ b.T
    error = float(np.max(np.abs(c - expected)))
    ok = np.allclose(c, expected, rtol=1e-4, atol=1e-4)
    print(f"ran in {elapsed * 1e3:.1f} ms; max |C - A @ B.T| = {error:.2e} -> {'OK' if ok else 'MISMATCH'}")
    return 0 if ok else 1


def register(subparsers) -> None:
    p_demo = subparsers.add_parser("demo", help="define a matmul, print its loop nest, run it, check it (default)")
    for dim, default in (("m", 64), ("n", 48), ("k", 32)):
        p_demo.add_argument(f"--{dim}", type=integer(1, MAX_SIZE), default=default,
                            help=f"matmul size {dim} (default {default})")
    p_demo.set_defaults(func=demo)
