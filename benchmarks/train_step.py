"""Time per training step (forward, loss, backward, SGD update) of an MLP 784-256-10 (batch 128)
and a small CNN (two 3x3 convolutions on 28x28 inputs, batch 64): the frontend, every operation
a Nestor-compiled kernel, against PyTorch CPU in the same process. Each case also reports where
the frontend's time goes: inside kernels, and the rest (Python: graph, dispatch, allocation).

    python benchmarks/train_step.py [--json] [--repeat N] [--torch-threads N]

Nestor's kernels run on one thread unless a kernel is very large (see schedules/templates/generic_cpu.py,
NESTOR_PARALLEL_MIN); PyTorch uses its default thread count unless --torch-threads is given.

The kernels read the tuning database ($NESTOR_TUNING_DB, as `nestor train` does): after
`nestor tune model mlp --input-shape 1,28,28 --batch-size 128 --hidden 256` (or `cnn ...
--batch-size 64`) the tuned configs are measured; NESTOR_TUNED=0 measures the template defaults.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from benchmarks.harness import Report, compare, parser  # noqa: E402

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
            theirs.copy_(torch.from_numpy(value.T.copy() if value.ndim == 2 else value))
    return model


def _cases(rng):
    yield "mlp 784-256-10 b128", "mlp", _mlp, (128, 784)
    yield "cnn 2x conv3x3 28x28 b64", "cnn", _cnn, (64, 1, 28, 28)


def _step_fns(kind, build, shape, rng):
    import torch

    import frontend as nf
    from frontend import nn, optim

    x = rng.random(shape, dtype=np.float32)
    y = rng.integers(0, 10, shape[0]).astype(np.int32)
    model = build(nn, np.random.default_rng(0))
    peer = _torch_model(torch, kind, model)
    optimizer = optim.SGD(model.parameters(), lr=LR)
    loss_fn = nn.SoftmaxLoss()
    tx, ty = nf.Tensor(x), nf.Tensor(y)
    px, py = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    peer_optimizer = torch.optim.SGD(peer.parameters(), lr=LR)
    peer_loss = torch.nn.CrossEntropyLoss()

    def ours() -> float:
        loss = loss_fn(model(tx), ty)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    def theirs() -> float:
        peer_optimizer.zero_grad()
        loss = peer_loss(peer(px), py)
        loss.backward()
        peer_optimizer.step()
        return loss

    first_ours, first_theirs = ours().item(), theirs().item()
    if not np.isclose(first_ours, first_theirs, rtol=1e-4):
        raise SystemExit(f"{kind}: first losses differ: nestor {first_ours}, torch {first_theirs}")
    return ours, theirs


def _breakdown(step, steps: int = 20) -> dict:
    """Per step, over ``steps`` steps with every kernel call timed: seconds inside kernels, the
    rest (Python: graph, dispatch, allocation), the kernel count and the heaviest ops."""
    from frontend import dispatch

    dispatch.stats.reset()
    dispatch.stats.timing = True
    start = time.perf_counter()
    for _ in range(steps):
        step()
    total = (time.perf_counter() - start) / steps
    dispatch.stats.timing = False
    kernel = dispatch.stats.kernel_s / steps
    top = sorted(dispatch.stats.per_op.items(), key=lambda item: -item[1])[:4]
    return {"kernel_ms": kernel * 1e3, "python_ms": max(total - kernel, 0.0) * 1e3,
            "kernels_per_step": dispatch.stats.calls // steps, "timed_step_ms": total * 1e3,
            "top_ops": ", ".join(f"{name} {t / steps * 1e3:.2f}ms" for name, t in top)}


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--torch-threads", type=int, default=0, help="threads for PyTorch (default: its own choice)")
    args = p.parse_args()
    import torch

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)

    report = Report("train_step", args.json)
    rng = np.random.default_rng(0)
    for case, kind, build, shape in _cases(rng):
        ours, theirs = _step_fns(kind, build, shape, rng)
        nestor_s, peer_s, noise, peer_noise = compare(ours, theirs, args.repeat)
        extra = _breakdown(ours)
        report.add(case, nestor_s, f"torch {torch.__version__}", peer_s, noise=max(noise, peer_noise), **extra)


if __name__ == "__main__":
    main()
