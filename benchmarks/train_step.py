"""Time per training step (forward, loss, backward, SGD update) of an MLP 784-256-10 (batch 128),
a small CNN (two 3x3 convolutions on 28x28 inputs, batch 64) and an LSTM (sequence 32, input and
hidden 128, batch 32, loss the mean square of its outputs): the frontend, every operation a
Nestor-compiled kernel, against PyTorch CPU (torch.nn.LSTM for the LSTM) in the same process.

Each row reports the step time (ratio = PyTorch's / ours; ``x_torch`` = ours / PyTorch's), the
kernels per step (``kernels_per_step``, ``unfused_kernels``), the first step's compile time
(``first_step_compile_s``), PyTorch's thread count (``torch_threads``) and the size from which
Nestor's frontend kernels start threads (``nestor_parallel_min``). The LSTM runs as one autograd
op per layer (:mod:`frontend.recurrent_layer`) when fused.

Each case is stepped with fusion off (``unfused``: every op its own kernel) and on (``fused``:
:mod:`frontend.fusion`), interleaved with PyTorch round by round, and reports the medians, the
spread, the kernels per step of both, where the fused step's time goes (inside kernels, and the
rest: Python graph, dispatch, allocation), and the compile time of a first training step
(every kernel compiled in-process, the on-disk kernel cache off).

    python benchmarks/train_step.py [--json] [--repeat N] [--torch-threads N] [--only mlp|cnn|lstm] [--eager]
                                    [--processes N]

``--processes N`` runs the benchmark in N fresh processes, one after another, and reports per case
the median of the per-process medians (``nestor_s``, ``peer_s``, ``x_torch``), every process's
figures (``per_process_nestor_s``, ...) and their minimum and maximum (``nestor_s_min``, ...): one
process's figure says little about the next, which have landed at about 1.3 or 1.65 ms for the MLP
(:mod:`benchmarks.processes`).

``--eager`` runs the fused step without the lazy graph (:mod:`frontend.lazy_graph`): every
elementwise op at once, fused only at the layers' fixed points (the figures before the lazy graph).

Nestor's kernels run on one thread unless a kernel is very large (see schedules/templates/generic_cpu.py,
NESTOR_PARALLEL_MIN; products from 2^24 multiply-adds, frontend/ops/matmul.py), except the LSTM's
per-step products, whose rows split over the threads (frontend/recurrent_layer.py, STEP_THREADS);
PyTorch uses its default thread count unless --torch-threads is given. Both
share the process's one OpenMP runtime, so --torch-threads also caps the threads of Nestor's
parallel kernels (--torch-threads 1 compares one thread with one thread).

The kernels read the tuning database ($NESTOR_TUNING_DB, as `nestor train` does): after
`nestor tune model mlp --input-shape 1,28,28 --batch-size 128 --hidden 256` (or `cnn ...
--batch-size 64`) the tuned configs are measured; NESTOR_TUNED=0 measures the template defaults.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from benchmarks.harness import SETTLE, Report, _round, _spread, _wake, calls_per_round, parser  # noqa: E402
from tensorir import config as settings  # noqa: E402

LR = 0.01


def _mlp(nn, rng):
    return nn.Sequential(nn.Linear(784, 256, rng=rng), nn.ReLU(), nn.Linear(256, 10, rng=rng))


def _cnn(nn, rng):
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 10, rng=rng))


def _torch_model(torch, kind: str, ours):
    """The same architecture in PyTorch, with our initial weights (Linear weights transposed)."""
    tnn = torch.nn
    if kind == "mlp":
        model = tnn.Sequential(tnn.Linear(784, 256), tnn.ReLU(), tnn.Linear(256, 10))
    else:
        model = tnn.Sequential(tnn.Conv2d(1, 16, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
                               tnn.Conv2d(16, 32, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
                               tnn.Flatten(), tnn.Linear(32 * 7 * 7, 10))
    with torch.no_grad():
        for theirs, mine in zip(model.parameters(), ours.parameters()):
            value = mine.numpy()
            value = value.T if value.ndim == 2 and theirs.ndim == 2 else value  # a Linear bias is (1, out)
            theirs.copy_(torch.from_numpy(np.ascontiguousarray(value).reshape(tuple(theirs.shape))))
    return model


def _lstm_pair(torch, rng):
    """Our nn.LSTM and torch.nn.LSTM with the same weights (ours stored transposed, as needle's)."""
    from frontend import nn

    ours = nn.LSTM(LSTM_SIZE, LSTM_SIZE, rng=rng)
    theirs = torch.nn.LSTM(LSTM_SIZE, LSTM_SIZE)
    cell = ours.lstm_cells[0]
    with torch.no_grad():
        for name, mine in (("weight_ih_l0", cell.W_ih), ("weight_hh_l0", cell.W_hh), ("bias_ih_l0", cell.bias_ih),
                           ("bias_hh_l0", cell.bias_hh)):
            value = mine.numpy()
            getattr(theirs, name).copy_(torch.from_numpy(value.T.copy() if value.ndim == 2 else value))
    return ours, theirs


LSTM_SIZE, LSTM_SEQ, LSTM_BATCH = 128, 32, 32
CASES = {"mlp": ("mlp 784-256-10 b128", (128, 784)), "cnn": ("cnn 2x conv3x3 28x28 b64", (64, 1, 28, 28)),
         "lstm": ("lstm seq32 h128 b32", (LSTM_SEQ, LSTM_BATCH, LSTM_SIZE))}


def _step_fns(kind, shape, rng):
    """``(ours, theirs)``: one SGD training step each, on the same data and initial weights."""
    import torch

    import frontend as nf
    from frontend import nn, optim

    x = rng.random(shape, dtype=np.float32)
    y = rng.integers(0, 10, shape[0]).astype(np.int32)
    if kind == "lstm":
        model, peer = _lstm_pair(torch, np.random.default_rng(0))

        def loss_fn(out, _):
            return (out[0] * out[0]).mean()

        def peer_loss(out, _):
            return (out[0] * out[0]).mean()
    else:
        model = (_mlp if kind == "mlp" else _cnn)(nn, np.random.default_rng(0))
        peer = _torch_model(torch, kind, model)
        loss_fn, peer_loss = nn.SoftmaxLoss(), torch.nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=LR)
    tx, ty = nf.Tensor(x, requires_grad=False), nf.Tensor(y)  # data: no gradient (as torch's px)
    px, py = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    peer_optimizer = torch.optim.SGD(peer.parameters(), lr=LR)

    def ours():
        loss = loss_fn(model(tx), ty)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()  # read every step, as a training loop that logs it (the lazy graph would skip it)

    def theirs():
        peer_optimizer.zero_grad()
        loss = peer_loss(peer(px), py)
        loss.backward()
        peer_optimizer.step()
        return loss.item()

    first_ours, first_theirs = ours(), theirs()
    if not np.isclose(first_ours, first_theirs, rtol=1e-4):
        raise SystemExit(f"{kind}: first losses differ: nestor {first_ours}, torch {first_theirs}")
    return ours, theirs, _first_step(ours)


def _first_step(step) -> dict:
    """Wall seconds of a first step, unfused and fused, every kernel compiled in-process (the
    kernel caches in memory and on disk off for the step; LLVM compiles a kernel when first
    called, so the wall time, not the cache's compile counter, is the figure)."""
    from backends.llvm import module
    from frontend import dispatch, fusion

    compiled = dict(module._compiled)  # the in-process object-code cache, restored afterwards
    saved = os.environ.get("NESTOR_CACHE_DIR")
    os.environ["NESTOR_CACHE_DIR"] = "off"
    try:
        seconds = {}
        for on in (False, True):
            dispatch.clear()
            module._compiled.clear()
            dispatch.stats.reset()
            start = time.perf_counter()
            with fusion.fusion(on):
                step()
            seconds[on] = time.perf_counter() - start
    finally:
        module._compiled.update(compiled)
        if saved is None:
            os.environ.pop("NESTOR_CACHE_DIR")
        else:
            os.environ["NESTOR_CACHE_DIR"] = saved
    return {"compile_s": seconds[True], "compile_unfused_s": seconds[False]}


def _unfused(step):
    from frontend import fusion

    def run():
        with fusion.fusion(False):
            return step()

    return run


def _eager(step):
    from frontend import lazy

    def run():
        with lazy(False):
            return step()

    return run


def _interleaved(fns, repeat: int, min_round: float = 0.05) -> list[tuple[float, float]]:
    """``(median seconds per call, relative interquartile spread)`` of each of ``fns``, timed in
    rounds that take turns, each after a pause of SETTLE seconds and untimed calls that wake the
    side's threads (:func:`benchmarks.harness._wake`), sized from each side's steady call time
    (:func:`benchmarks.harness.calls_per_round`)."""
    number = calls_per_round(fns, min_round)
    samples = [[] for _ in fns]
    for _ in range(repeat):
        for fn, times in zip(fns, samples):
            time.sleep(SETTLE)
            _wake(fn, number)
            times.append(_round(fn, number))
    return [(statistics.median(times), _spread(times)) for times in samples]


def _kernels(step, steps: int = 3) -> int:
    from frontend import dispatch

    dispatch.stats.reset()
    for _ in range(steps):
        step()
    return dispatch.stats.calls // steps


def _breakdown(step, steps: int = 20) -> dict:
    """Per step, over ``steps`` steps with every kernel call timed: seconds inside kernels, the
    rest (Python: graph, dispatch, allocation), the kernel count, the heaviest ops and the main
    thread's CPU time (``main_cpu_ms``; well below ``timed_step_ms``: the step waited, for a
    core or for another thread, e.g. a parallel product's worker)."""
    from frontend import dispatch

    dispatch.stats.reset()
    dispatch.stats.timing = True
    start, cpu = time.perf_counter(), time.thread_time()
    for _ in range(steps):
        step()
    total, cpu = (time.perf_counter() - start) / steps, (time.thread_time() - cpu) / steps
    dispatch.stats.timing = False
    kernel = dispatch.stats.kernel_s / steps
    top = sorted(dispatch.stats.per_op.items(), key=lambda item: -item[1])[:4]
    return {"kernel_ms": kernel * 1e3, "python_ms": max(total - kernel, 0.0) * 1e3,
            "kernels_per_step": dispatch.stats.calls // steps, "timed_step_ms": total * 1e3,
            "main_cpu_ms": cpu * 1e3,
            "top_ops": ", ".join(f"{name} {t / steps * 1e3:.2f}ms" for name, t in top)}


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--torch-threads", type=int, default=0, help="threads for PyTorch (default: its own choice)")
    p.add_argument("--only", choices=sorted(CASES), action="append", help="run only these cases")
    p.add_argument("--eager", action="store_true", help="fused step without the lazy graph")
    p.add_argument("--processes", type=int, default=1,
                   help="run in N fresh processes and report the median and range across them")
    args = p.parse_args()
    if args.processes < 1:
        p.error(f"--processes {args.processes}: give at least 1 (the number of fresh processes to run)")
    if args.processes > 1:
        return _across_processes(args)
    import torch

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)

    report = Report("train_step", args.json)
    rng = np.random.default_rng(0)
    for kind, (case, shape) in CASES.items():
        if args.only and kind not in args.only:
            continue
        ours, theirs, compile_s = _step_fns(kind, shape, rng)
        if args.eager:
            ours = _eager(ours)
        unfused = _unfused(ours)
        (fused_s, noise), (unfused_s, unfused_noise), (peer_s, peer_noise) = _interleaved(
            [ours, unfused, theirs], args.repeat)
        extra = {"x_torch": fused_s / peer_s, "torch_threads": torch.get_num_threads(),
                 "nestor_parallel_min": settings.PARALLEL_MIN(),
                 "unfused_ms": unfused_s * 1e3, "unfused_ratio": peer_s / unfused_s,
                 "unfused_kernels": _kernels(unfused), **_breakdown(ours),
                 "first_step_compile_s": compile_s["compile_s"],
                 "unfused_first_step_compile_s": compile_s["compile_unfused_s"]}
        report.add(case, fused_s, f"torch {torch.__version__}", peer_s,
                   noise=max(noise, unfused_noise, peer_noise), **extra)


def _across_processes(args) -> None:
    """Each case's row from ``args.processes`` fresh processes of this benchmark."""
    from benchmarks import processes

    runs = processes.run_processes(processes.child_command(os.path.abspath(__file__), sys.argv[1:]), args.processes)
    report = Report("train_step", args.json)
    for case, rows in processes.by_case(runs).items():
        row = processes.combine(rows)
        extra = {k: v for k, v in row.items() if k not in ("bench", "case", "nestor_s", "peer", "peer_s", "ratio")}
        report.add(case, row["nestor_s"], row["peer"], row["peer_s"], **extra)


if __name__ == "__main__":
    main()
