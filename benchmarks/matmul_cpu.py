"""Matmul float32 on the CPU: the tiled template (default parameters, or the tuning database's
best config) vs numpy (OpenBLAS) and PyTorch, all interleaved; ``peer`` is the faster of the two.
Square sizes, then non-square and odd shapes ``MxNxK`` (``C[M, N] = A[M, K] @ B[K, N]``), then
batched ``BxMxNxK`` products (the batched layout template). Each row gives the share of the
roofline bound (``benchmarks/roofline.py``) for Nestor and the peer.

    python benchmarks/matmul_cpu.py [--json] [--sizes 512,1024,2048] [--layout A@B|A@B.T]
        [--shapes 1000x1000x1000,...] [--batched 64x128x128x128] [--symbolic M,N,K,MNK] [--no-symbolic] [--cpu-time]
        [--serial]

Each product (square sizes and ``--shapes``) also builds the template once for each form of
``--symbolic`` (``M``: a symbolic row count, one kernel for every M, as the frontend's batch;
``N``, ``K``; ``MNK``: every size) and times it against the static build at the same sizes,
interleaved, with the round-by-round ratio's quartiles.

Each side's round starts after a pause (other libraries' spinning threads go quiet) and a
fifth of its calls untimed (the side's own thread team wakes there); calls under 20 ms get three times the
``--repeat`` rounds. Each row gives both sides' spreads (``nestor_spread``, ``peer_spread``) and
the quartiles of the round-by-round ratio (``ratio_q1``, ``ratio_q3``): a median ratio below 1.0
with ``ratio_q3`` above it is noise, one with ``ratio_q3`` below 1.0 a real loss.

``--cpu-time`` times the process's CPU seconds over the thread count instead of the wall clock
(waiting OpenMP threads asleep), and gives ``nestor_busy``: those CPU seconds over the wall
seconds of the same rounds, the share of the time Nestor's threads worked rather than waited
(for each other or for a core another process held): on a machine shared with other jobs the wall clock of a
two-thread kernel mostly measures whether both cores were free; CPU seconds measure each
side's work. On two threads it is a rough figure (OpenBLAS's threads busy-wait after a call and
that counts; the kernel's accounting of a thread still running lags); on one thread
(``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1``: torch and Nestor's templates follow
``OMP_NUM_THREADS``) it is exact, and the way to compare kernels on a busy machine.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from benchmarks import roofline  # noqa: E402
from benchmarks.harness import Report, parser, rounds_all, rounds_all_cpu  # noqa: E402

SHAPES = "1000x1000x1000,777x1025x513,4096x64x4096,65536x64x64"
BATCHED = "64x128x128x128"


def _peers(a, b, out) -> dict:
    peers = {"numpy (OpenBLAS)": lambda: np.matmul(a, b, out=out)}
    try:
        import torch
    except ImportError:
        return peers
    torch.set_num_threads(roofline.threads())
    ta, tb, to = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(out)
    peers[f"torch {torch.__version__}"] = lambda: torch.matmul(ta, tb, out=to)
    return peers


#: how the sides are timed: :func:`rounds_all` (wall clock), or CPU seconds with ``--cpu-time``
TIMERS = {False: rounds_all, True: lambda nestor, peers, repeat: rounds_all_cpu(nestor, peers, repeat,
                                                                                roofline.threads())}


def _measure(report: Report, case: str, module, a, b, c, b_for_peer, args, serial=None) -> None:
    """Check ``module(a, b, c)`` against numpy, then time it against the peers.

    Besides each side's median: ``nestor_spread`` and ``peer_spread``, each side's relative
    interquartile spread over the rounds, and ``ratio_q1``/``ratio_q3``, the quartiles of the
    ratio taken round by round (both sides measured within the same second): a ratio below 1.0
    whose quartiles straddle 1.0 is noise; one with ``ratio_q3 < 1`` is a real loss. With
    ``serial`` (the same product built for one thread, ``--serial``), ``serial_s`` and
    ``speedup``: what the second thread bought in the same rounds (near 2 where both cores were
    free; near 1 or below where another process held one)."""
    expected = a @ b_for_peer
    k = a.shape[-1]
    sides = {"": module} if serial is None else {"": module, SERIAL: serial}
    for name, kernel in sides.items():
        kernel(a, b, c)
        if not np.allclose(c, expected, rtol=1e-3, atol=1e-2 * np.sqrt(k)):
            raise SystemExit(f"matmul {case}{name and ' ' + name}: wrong result (max error "
                             f"{np.abs(c - expected).max()})")
    out = np.empty_like(c)
    peers = _peers(a, b_for_peer, out)
    if serial is not None:
        peers[SERIAL] = lambda: serial(a, b, c)
    rounds = TIMERS[args.cpu_time](lambda: module(a, b, c), peers, args.repeat)
    ours, spread, times = rounds.summary()
    best = min((name for name in times if name != SERIAL), key=lambda name: times[name][0])
    flops = 2.0 * c.size * k
    nbytes = 4.0 * (a.size + b.size + c.size)
    theirs = times[best][0]
    q1, _, q3 = rounds.ratio_quartiles(best)
    extra = {} if serial is None else {"serial_s": times[SERIAL][0], "speedup": times[SERIAL][0] / ours}
    if rounds.busy:
        extra.update(nestor_busy=rounds.busy_share(), peer_busy=rounds.busy_share(best))
    report.add(case, ours, best, theirs, nestor_gflops=flops / ours / 1e9, peer_gflops=flops / theirs / 1e9,
               **{f"{name.split()[0]}_s": seconds for name, (seconds, _) in times.items() if name != SERIAL},
               **roofline.fields(ours, theirs, flops, nbytes),
               noise=max(spread, *(s for name, (_, s) in times.items() if name != SERIAL)), nestor_spread=spread,
               peer_spread=times[best][1], ratio_q1=q1, ratio_q3=q3, rounds=len(rounds.samples[""]), **extra)


#: the name of the one-thread build among the timed sides (``--serial``)
SERIAL = "nestor 1 thread"


#: the sizes a symbolic build leaves to run time (``--symbolic``): rows, columns, reduction, all
SYMBOLIC = "M,N,K,MNK"


def symbolic_case(report, args, static, a, b, c, case: str, form: str, transpose_b: bool) -> None:
    """The template built once with the sizes ``form`` names (``"M"``, ``"MNK"``, ...) symbolic,
    run at the sizes of ``a @ b``, against the static build ``static`` of those sizes (the
    peer), interleaved; the ratio's quartiles as :func:`_measure`'s."""
    import nestor as ns
    from schedules.templates import matmul_cpu

    m, k = a.shape
    n = c.shape[1]
    sizes = [ns.size_var(name) if name in form else size for name, size in zip("MNK", (m, n, k))]
    s, tensors = matmul_cpu(*sizes, transpose_b=transpose_b)
    module = ns.build(s, tensors, target="llvm", name=f"matmul_{form.lower()}")
    out = np.empty_like(c)
    static(a, b, c)
    module(a, b, out)
    if not np.allclose(out, c, rtol=1e-4, atol=1e-3):
        raise SystemExit(f"symbolic matmul {case} ({form}): result differs from the static kernel")
    rounds = TIMERS[args.cpu_time](lambda: module(a, b, out), {"nestor static": lambda: static(a, b, c)},
                                   args.repeat)
    ours, spread, times = rounds.summary()
    theirs, peer_spread = times["nestor static"]
    q1, _, q3 = rounds.ratio_quartiles("nestor static")
    report.add(f"{case} symbolic {form}", ours, f"nestor static {form}", theirs,
               nestor_gflops=2.0 * m * n * k / ours / 1e9, noise=max(spread, peer_spread), nestor_spread=spread,
               peer_spread=peer_spread, ratio_q1=q1, ratio_q3=q3, rounds=len(rounds.samples[""]))


def _symbolic(report, args, static, a, b, c, case: str, transpose_b: bool) -> None:
    """The symbolic rows of one product: one per form of ``--symbolic``."""
    if args.no_symbolic:
        return
    for form in (x for x in args.symbolic.split(",") if x):
        symbolic_case(report, args, static, a, b, c, case, form, transpose_b)


def _serial(args, template):
    """With ``--serial``, the product ``template()`` schedules for one thread, built."""
    if not args.serial:
        return None
    import nestor as ns

    s, tensors = template()
    return ns.build(s, tensors, target="llvm", name="matmul_serial")


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--sizes", default="512,1024,2048")
    p.add_argument("--layout", choices=["A@B", "A@B.T"], default="A@B")
    p.add_argument("--no-symbolic", action="store_true", help="skip the symbolic cases")
    p.add_argument("--symbolic", default=SYMBOLIC,
                   help="the symbolic builds timed against each static one: sizes left to run time, e.g. M,NK")
    p.add_argument("--shapes", default=SHAPES, help="MxNxK products (A@B), comma-separated; '' for none")
    p.add_argument("--batched", default=BATCHED, help="BxMxNxK batched products; '' for none")
    p.add_argument("--cpu-time", action="store_true",
                   help="time the process's CPU seconds (OpenMP threads wait asleep) instead of the wall clock")
    p.add_argument("--serial", action="store_true",
                   help="also time each product built for one thread (serial_s, speedup)")
    args = p.parse_args()
    if args.cpu_time:
        os.environ["OMP_WAIT_POLICY"] = "passive"  # read when the OpenMP runtimes start, below
    import nestor as ns
    from schedules.templates import matmul_cpu, matmul_layout

    report = Report("matmul_cpu", args.json)
    rng = np.random.default_rng(0)
    transpose_b = args.layout == "A@B.T"
    for n in (int(x) for x in args.sizes.split(",") if x):
        s, tensors = matmul_cpu(n, n, n, transpose_b=transpose_b)
        a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
        module = ns.build(s, tensors, target="llvm", name=f"matmul{n}")
        serial = _serial(args, lambda: matmul_cpu(n, n, n, transpose_b=transpose_b, parallel=False))
        _measure(report, f"n={n} {args.layout}", module, a, b, np.empty((n, n), np.float32),
                 b.T if transpose_b else b, args, serial)
        _symbolic(report, args, module, a, b, np.empty((n, n), np.float32), f"n={n} {args.layout}", transpose_b)
    for shape in (x for x in args.shapes.split(",") if x):
        m, n, k = (int(x) for x in shape.split("x"))
        s, tensors = matmul_cpu(m, n, k, transpose_b=False)
        a, b = rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)
        module = ns.build(s, tensors, target="llvm", name="matmul")
        serial = _serial(args, lambda: matmul_cpu(m, n, k, transpose_b=False, parallel=False))
        _measure(report, f"{m}x{n}x{k} A@B", module, a, b, np.empty((m, n), np.float32), b, args, serial)
        _symbolic(report, args, module, a, b, np.empty((m, n), np.float32), f"{m}x{n}x{k} A@B", False)
    for shape in (x for x in args.batched.split(",") if x):
        batch, m, n, k = (int(x) for x in shape.split("x"))
        s, tensors = matmul_layout((batch, m, k), (batch, k, n), parallel=True)
        a = rng.standard_normal((batch, m, k), dtype=np.float32)
        b = rng.standard_normal((batch, k, n), dtype=np.float32)
        module = ns.build(s, tensors, target="llvm", name="bmm")
        serial = _serial(args, lambda: matmul_layout((batch, m, k), (batch, k, n), parallel=False))
        _measure(report, f"batched {shape}", module, a, b, np.empty((batch, m, n), np.float32), b, args, serial)


if __name__ == "__main__":
    main()
