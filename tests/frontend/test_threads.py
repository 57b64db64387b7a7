"""The frontend under Python threads: several threads training their own models, reading one
pending graph, filling the kernel cache and assigning storage give the values of a single-threaded
run (numpy or the same program run alone), and every kernel is compiled once.

The interpreter is made to switch threads as often as it can (``sys.setswitchinterval``), so the
interleavings that lost recorded tensors or compiled a kernel twice come up within a few hundred
iterations; nothing here measures time.
"""

from __future__ import annotations

import queue
import sys
import threading

import numpy as np
import pytest

import frontend as nf
from frontend import dispatch, nn, optim


@pytest.fixture(autouse=True)
def _switch_often():
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def _in_threads(work, count: int) -> list:
    """``work(k)`` for k in range(count), each in its own thread; the results in order (an
    exception in a thread is raised here)."""
    results: list = [None] * count
    errors: list = []

    def run(k: int) -> None:
        try:
            results[k] = work(k)
        except BaseException as error:  # noqa: BLE001 - handed to the test's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def _train(seed: int, steps: int = 4, hidden: int = 24) -> tuple[list[float], list[np.ndarray]]:
    """A small MLP trained with SGD from ``seed``: the losses and the final parameters."""
    rng = np.random.default_rng(seed)
    model = nn.Sequential(nn.Linear(12, hidden, rng=rng), nn.ReLU(), nn.Linear(hidden, 4, rng=rng))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = nf.Tensor(rng.standard_normal((16, 12)).astype(np.float32), requires_grad=False)
    y = nf.Tensor(rng.integers(0, 4, 16), requires_grad=False)
    losses = []
    for _ in range(steps):
        opt.reset_grad()
        loss = nn.SoftmaxLoss()(model(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.numpy()))
    return losses, [p.numpy() for p in model.parameters()]


@pytest.mark.parametrize("first", ["threads", "alone"])
def test_threads_training_their_own_models_match_a_single_threaded_run(first):
    """``threads`` first: the threads compile the step's kernels (a hidden size no other test
    uses), then the single-threaded run reuses them; ``alone`` first: the threads only read."""
    hidden = 23 if first == "threads" else 24
    together = _in_threads(lambda seed: _train(seed, hidden=hidden), 3) if first == "threads" else None
    alone = [_train(seed, hidden=hidden) for seed in range(3)]
    together = together or _in_threads(lambda seed: _train(seed, hidden=hidden), 3)
    for (losses, params), (want_losses, want_params) in zip(together, alone):
        np.testing.assert_array_equal(losses, want_losses)
        for got, want in zip(params, want_params):
            np.testing.assert_array_equal(got, want)


def test_threads_evaluating_one_shared_model_on_their_own_inputs_match_a_single_threaded_run():
    """Graphs that share leaves (the parameters) but nothing pending: inference from several threads."""
    rng = np.random.default_rng(5)
    model = nn.Sequential(nn.Linear(10, 16, rng=rng), nn.Tanh(), nn.Linear(16, 3, rng=rng))
    inputs = [rng.standard_normal((7, 10)).astype(np.float32) for _ in range(4)]

    def evaluate(k: int) -> np.ndarray:
        with nf.no_grad():
            out = model(nf.Tensor(inputs[k], requires_grad=False))
            return ((out * 2.0).exp() / (out * 2.0).exp().sum(1, keepdims=True)).numpy()

    alone = [evaluate(k) for k in range(4)]
    for _ in range(5):
        for got, want in zip(_in_threads(evaluate, 4), alone):
            np.testing.assert_array_equal(got, want)


def test_threads_reading_one_pending_graph_compute_it_once_and_agree():
    rng = np.random.default_rng(1)
    a_values, b_values = rng.standard_normal((2, 33, 17))
    expected = np.exp(np.tanh(a_values * b_values + a_values) - b_values) * 2.0 + 1.0
    for _ in range(20):
        a, b = nf.Tensor(a_values), nf.Tensor(b_values)
        middle = (a * b + a).tanh()
        out = (middle - b).exp() * 2.0 + 1.0
        total = out.sum()
        assert out._lazy is not None and total._lazy is not None
        tensors = (out, total, middle)
        results = _in_threads(lambda k, tensors=tensors: [t.numpy() for t in tensors], 4)
        for got_out, got_total, got_middle in results:
            np.testing.assert_allclose(got_out, expected, rtol=1e-12)
            np.testing.assert_allclose(got_total, expected.sum(), rtol=1e-12)
            np.testing.assert_allclose(got_middle, np.tanh(a_values * b_values + a_values), rtol=1e-12)


def test_assigning_storage_in_one_thread_never_loses_another_threads_pending_ops():
    """``x.data = new`` realizes the pending readers of ``x`` first; another thread recording
    and pruning the recorded list at the same time used to drop them (a wrong value, silently)."""

    def work(k: int) -> int:
        rng = np.random.default_rng(k)
        wrong = 0
        for _ in range(300):
            values = rng.standard_normal(8)
            x = nf.Tensor(values)
            y = x * 2.0 + 1.0
            x.data = np.zeros(8)
            wrong += not np.allclose(y.numpy(), values * 2.0 + 1.0, rtol=1e-12)
        return wrong

    assert _in_threads(work, 4) == [0, 0, 0, 0]


def test_a_request_missed_by_several_threads_at_once_is_compiled_once():
    # a shape no other test uses: every thread misses the cache
    values = np.arange(3 * 37 * 29, dtype=np.float64).reshape(3, 37, 29)
    before = dispatch.stats.compiled
    barrier = threading.Barrier(4)

    def work(k: int) -> np.ndarray:
        x = nf.Tensor(values, requires_grad=False)
        barrier.wait()
        return (x.transpose((0, 2, 1)) @ x).numpy()

    results = _in_threads(work, 4)
    assert dispatch.stats.compiled - before == 1
    for result in results:
        np.testing.assert_allclose(result, values.transpose(0, 2, 1) @ values, rtol=1e-12)


def test_a_loader_thread_realizing_batches_while_the_main_thread_trains():
    rng = np.random.default_rng(2)
    batches = [rng.standard_normal((8, 12)) for _ in range(12)]
    mean, scale = batches[0].mean(0), batches[0].std(0) + 1.0
    ready: queue.Queue = queue.Queue()

    def loader() -> None:
        for batch in batches:
            x = (nf.Tensor(batch, requires_grad=False) - nf.Tensor(mean)) / nf.Tensor(scale)
            x.numpy()  # realized in this thread
            ready.put(x)
        ready.put(None)

    thread = threading.Thread(target=loader)
    thread.start()
    weight = nf.Tensor(np.linspace(-1.0, 1.0, 12 * 3).reshape(12, 3))
    outputs = []
    while (x := ready.get()) is not None:
        outputs.append(((x @ weight).relu() * 0.5).sum(1).numpy())
    thread.join()
    w = np.linspace(-1.0, 1.0, 12 * 3).reshape(12, 3)
    for got, batch in zip(outputs, batches):
        want = (np.maximum(((batch - mean) / scale) @ w, 0.0) * 0.5).sum(1)
        np.testing.assert_allclose(got, want, rtol=1e-12)
    assert len(outputs) == len(batches)
