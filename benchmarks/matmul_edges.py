"""The CPU matmul template at odd sizes against its even neighbour, and its transposed-A form
against a transposed copy plus the plain product, all on one thread in CPU seconds (so a shared
machine's other jobs do not count).

    OMP_NUM_THREADS=1 python benchmarks/matmul_edges.py [--json] [--repeat 7]
        [--bases 784x256x128,256x256x256,512x512x512] [--tiles plain,64x128] [--no-transposed-a]

Each base ``MxNxK`` (``C[M, N] = A[M, K] @ B[K, N]``) is timed interleaved with each of its
variants: one size at a time changed to ``size - 1``, ``size + 1``, the prime below
``size - 2`` and ``size + 5``. A row's ``ratio`` is the variant's GFLOP/s over the base's (1.0:
no fall-off; the register tile's own padding bounds it: 257 columns in 32-wide register tiles
compute 288, 0.89). ``--tiles``: ``plain`` is the template called without knobs (it picks the
register tile that pads least); ``BxC`` gives explicit ``B x C`` cache tiles over 8 x 32 register
tiles and 64-long reduction chunks, the knobs a tuned config or the frontend passes.

The transposed-A row times ``matmul_cpu(..., transpose_a=True)`` on ``A`` stored ``K x M`` (the
weight gradient ``X^T @ dZ``) against numpy's copy of ``A.T`` followed by the plain product, in
the frontend's whole-reduction form (``b3=None``, B read as stored).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from benchmarks.harness import Report, parser, rounds_all_cpu  # noqa: E402

BASES = "784x256x128,256x256x256,512x512x512"
#: the frontend's knobs for a whole-reduction product (frontend/ops/matmul.py default_config)
WHOLE_K = dict(v1=8, v2=32, v3=4, b1=64, b2=128, b3=None, pack_b=False)


def variants(size: int) -> dict[str, int]:
    """The odd sizes a base size is compared with, by name."""
    prime = size - 3
    while prime > 2 and any(prime % d == 0 for d in range(2, int(prime ** 0.5) + 1)):
        prime -= 1
    return {"-1": size - 1, "+1": size + 1, "prime": prime, "+5": size + 5}


def knobs(tiles: str) -> dict:
    """The template's keyword arguments for a ``--tiles`` entry."""
    if tiles == "plain":
        return {}
    rows, columns = (int(x) for x in tiles.split("x"))
    return dict(v1=8, v2=32, v3=4, b1=rows, b2=columns, b3=64)


def _product(m: int, n: int, k: int, config: dict, transpose_a: bool = False):
    """The template's product built for one thread, its arrays, and its checked result."""
    import nestor as ns
    from schedules.templates import matmul_cpu

    s, tensors = matmul_cpu(m, n, k, transpose_b=False, transpose_a=transpose_a, parallel=False, **config)
    module = ns.build(s, tensors, target="llvm", name="matmul")
    rng = np.random.default_rng(0)
    a = rng.integers(-4, 5, (m, k)).astype(np.float32)
    b = rng.integers(-4, 5, (k, n)).astype(np.float32)
    stored = np.ascontiguousarray(a.T) if transpose_a else a
    c = np.full((m, n), np.nan, np.float32)
    module(stored, b, c)
    if not np.array_equal(c, a @ b):  # small integers: exact in any order
        raise SystemExit(f"matmul {m}x{n}x{k} {config}: wrong result")
    return (lambda: module(stored, b, c)), 2.0 * m * n * k


def sweep(report: Report, base: tuple[int, int, int], tiles: str, repeat: int, min_round: float = 0.05) -> None:
    """One row per odd variant of ``base``: its GFLOP/s over the base's, timed in the same rounds
    (each at least ``min_round`` seconds)."""
    config = knobs(tiles)
    base_call, base_flops = _product(*base, config)
    for axis, name in enumerate("MNK"):
        for tag, size in variants(base[axis]).items():
            shape = list(base)
            shape[axis] = size
            call, flops = _product(*shape, config)
            rounds = rounds_all_cpu(call, {"even": base_call}, repeat, min_round=min_round)
            ours, theirs = rounds.median(), rounds.median("even")
            label = "x".join(str(x) for x in base)
            report.add(f"{label} {tiles} {name}{tag}={size}", ours, f"even {label}", theirs,
                       gflops=flops / ours / 1e9, even_gflops=base_flops / theirs / 1e9,
                       gflops_ratio=(flops / ours) / (base_flops / theirs), spread=rounds.spread(),
                       even_spread=rounds.spread("even"))


def transposed_a(report: Report, m: int, n: int, k: int, repeat: int, min_round: float = 0.05) -> None:
    """``A.T @ B`` read from A's transposed storage, against a copy of ``A.T`` and the plain product."""
    read, _ = _product(m, n, k, WHOLE_K, transpose_a=True)
    plain, _ = _product(m, n, k, WHOLE_K)
    stored = np.ones((k, m), np.float32)
    copy = np.empty((m, k), np.float32)

    def copied():
        np.copyto(copy, stored.T)
        plain()

    rounds = rounds_all_cpu(read, {"copy + plain": copied, "plain alone": plain}, repeat,
                            min_round=min_round)
    report.add(f"{m}x{n}x{k} transposed A", rounds.median(), "copy + plain", rounds.median("copy + plain"),
               plain_alone_s=rounds.median("plain alone"), spread=rounds.spread(),
               peer_spread=rounds.spread("copy + plain"))


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--bases", default=BASES, help="MxNxK base products, comma-separated")
    p.add_argument("--tiles", default="plain,64x128", help="'plain' and/or BxC cache tiles, comma-separated")
    p.add_argument("--no-transposed-a", action="store_true", help="skip the transposed-A row")
    args = p.parse_args()
    report = Report("matmul_edges", args.json)
    bases = [tuple(int(x) for x in base.split("x")) for base in args.bases.split(",") if base]
    for base in bases:
        for tiles in (t for t in args.tiles.split(",") if t):
            sweep(report, base, tiles, args.repeat)
    if not args.no_transposed_a:
        transposed_a(report, 784, 256, 128, args.repeat)


if __name__ == "__main__":
    main()
