"""Replayed forwards (frontend.replay): a signature seen before runs its kernel directly, and a
change of shape, dtype, strides, contiguity, requires_grad or mode between calls never reuses a
stale kernel; values are checked against numpy on every call."""

from __future__ import annotations

import numpy as np
import pytest

import frontend as nf
from frontend import dispatch, replay
from frontend.lazy_graph import lazy
from frontend.ops.elementwise import Add, Multiply
from frontend.ops.matmul import MatMul
from frontend.ops.reduce import Sum
from tensorir.errors import DefinitionError


def _entry(op, *arrays):
    return dispatch.cache.replays.get(replay.signature(op, list(arrays), "cpu"))


@pytest.mark.parametrize("mode", [False, True])
def test_a_second_call_replays_the_one_kernel_of_the_first(rng, mode):
    a, b = rng.standard_normal((5, 7)).astype(np.float32), rng.standard_normal((7, 20)).astype(np.float32)
    x, w = nf.Tensor(a, requires_grad=False), nf.Tensor(b, requires_grad=False)
    with lazy(mode):
        for _ in range(3):
            np.testing.assert_allclose((x @ w).numpy(), a @ b, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose((x + x).numpy(), a + a, rtol=1e-6)
            np.testing.assert_allclose(x.sum(axis=1).numpy(), a.sum(axis=1), rtol=1e-5)
    learnt = _entry(MatMul(), a, b)
    assert isinstance(learnt, replay.Replay) and learnt.inputs == (0, 1)
    assert learnt.outs[0] == ((5, 20), np.dtype(np.float32), 5 * 20 * 4)
    assert _entry(Sum((1,), False), a).outs[0][0] == (5,)  # the result's shape, not the kernel's canonical one
    calls = dispatch.stats.calls
    (x @ w).numpy()
    assert dispatch.stats.calls == calls + 1  # still counted as a kernel call


def test_every_change_of_signature_between_calls_gets_its_own_kernel(rng):
    """Shapes, dtypes, strides, contiguity, requires_grad and eager/lazy alternate; every result
    is compared with numpy's."""
    base = rng.standard_normal((6, 8))
    variants = [
        base.astype(np.float32),
        base.astype(np.float64),
        base[:, :7].astype(np.float32),                       # another shape
        np.asfortranarray(base.astype(np.float32)),           # another layout, same shape
        base.astype(np.float32)[::2],                          # strided rows
        base.astype(np.float32).T,                             # transposed
        base.astype(np.int32),
        base.astype(np.float32)[:1],                           # one row
    ]
    weights = {np.dtype(np.float32): rng.standard_normal((8, 24)).astype(np.float32)}
    weights[np.dtype(np.float64)] = weights[np.dtype(np.float32)].astype(np.float64)
    for round_ in range(2):
        for position, array in enumerate(variants):
            for mode in (False, True):
                with lazy(mode):
                    x = nf.Tensor.wrap(array, requires_grad=bool((position + round_) % 2))
                    y = nf.Tensor(array.copy(), requires_grad=bool(position % 2))
                    np.testing.assert_allclose((x + y).numpy(), array + array, rtol=1e-6)
                    np.testing.assert_allclose(nf.relu(y).numpy(), np.maximum(array, 0), rtol=1e-6)
                    np.testing.assert_allclose(y.sum(axis=0).numpy(), array.sum(axis=0), rtol=1e-5, atol=1e-6)
                    w = weights.get(array.dtype)
                    if w is not None and array.shape[1] == 8:
                        np.testing.assert_allclose((y @ nf.Tensor(w)).numpy(), array @ w, rtol=1e-4, atol=1e-5)


def test_the_gradient_through_replayed_forwards_matches_numpy(rng):
    a, b = rng.standard_normal((4, 6)), rng.standard_normal((6, 18))
    for _ in range(3):
        x, w = nf.Tensor(a), nf.Tensor(b)
        loss = nf.relu(x @ w).sum()
        loss.backward()
        mask = (a @ b > 0).astype(np.float64)
        np.testing.assert_allclose(x.grad.numpy(), mask @ b.T, rtol=1e-10)
        np.testing.assert_allclose(w.grad.numpy(), a.T @ mask, rtol=1e-10)


@pytest.mark.parametrize("mode", [False, True])
def test_an_operand_passed_twice_teaches_nothing_about_two_operands(rng, mode):
    """``x * x`` first: a replay that read input 0 twice would compute ``x * x`` for ``x * y``."""
    a, b = rng.standard_normal((6, 8)), rng.standard_normal((6, 8))
    x, y = nf.Tensor(a), nf.Tensor(b)
    with lazy(mode):
        for _ in range(2):
            np.testing.assert_allclose((x * x).numpy(), a * a)
            np.testing.assert_allclose((x * y).numpy(), a * b)
            np.testing.assert_allclose((y * x[:]).numpy(), b * a)  # a view of x's memory
            np.testing.assert_allclose((x.reshape((8, 6)).reshape((6, 8)) - x).numpy(), 0 * a)
    assert _entry(Multiply(), a, b).inputs == (0, 1)


def test_bad_input_still_raises_the_same_error_after_replays(rng):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    x = nf.Tensor(a)
    for _ in range(3):
        x @ nf.Tensor(rng.standard_normal((4, 5)).astype(np.float32))
        x + x
    with pytest.raises(DefinitionError, match=r"matmul: shapes \(3, 4\) and \(3, 5\) do not align: 4 != 3"):
        x @ nf.Tensor(rng.standard_normal((3, 5)).astype(np.float32))
    with pytest.raises(DefinitionError, match=r"add: shapes .* do not broadcast|cannot broadcast"):
        x + nf.Tensor(rng.standard_normal((2, 4)).astype(np.float32))


def test_a_compacting_forward_is_remembered_as_not_replayable(rng):
    a, b = (rng.standard_normal((6, 10)).astype(np.float32) for _ in range(2))
    for _ in range(2):
        out = Add()(nf.Tensor.wrap(a[:, ::2]), nf.Tensor.wrap(b[:, 1::2]))
        np.testing.assert_allclose(out.numpy(), a[:, ::2] + b[:, 1::2], rtol=1e-6)
    assert _entry(Add(), a[:, ::2], b[:, 1::2]) is False  # three kernels (two compactions, the sum)


def test_a_product_over_a_kept_packed_weight_looks_it_up_on_every_call(rng):
    """Replayed, ``x @ W`` still reads W's kept copy only while W is unchanged: written through
    the frontend, or handed out and written by the user, W is read afresh."""
    a = rng.standard_normal((2, 300)).astype(np.float32)
    b = rng.standard_normal((300, 300)).astype(np.float32)  # 360 KB, packed columns: a copy kept
    x, w = nf.Tensor(a, requires_grad=False), nf.Tensor(b, requires_grad=False)
    stats = nf.packed_weights.cache.stats
    with lazy(False):
        for _ in range(4):
            np.testing.assert_allclose((x @ w).numpy(), a @ b, rtol=1e-4, atol=1e-4)
        learnt = _entry(MatMul(), a, w._storage())
        assert isinstance(learnt, replay.PackedReplay) and learnt.plain and learnt.packed
        hits = stats.hits
        np.testing.assert_allclose((x @ w).numpy(), a @ b, rtol=1e-4, atol=1e-4)
        assert stats.hits == hits + 1
        w[0:1] = np.zeros((1, 300), np.float32)  # written through the frontend: the copy is dropped
        b[0] = 0
        for _ in range(3):
            np.testing.assert_allclose((x @ w).numpy(), a @ b, rtol=1e-4, atol=1e-4)
        held = np.asarray(w.data)  # handed out: never kept again
        held[1] = 1.0
        b[1] = 1.0
        for _ in range(3):
            np.testing.assert_allclose((x @ w).numpy(), a @ b, rtol=1e-4, atol=1e-4)
            held[2] += 1.0
            b[2] += 1.0


def test_a_product_replayed_without_kept_copies_reads_the_operand(rng, monkeypatch):
    a = rng.standard_normal((3, 300)).astype(np.float32)
    b = rng.standard_normal((300, 300)).astype(np.float32)
    x, w = nf.Tensor(a, requires_grad=False), nf.Tensor(b, requires_grad=False)
    for budget in ("0", "256", "0"):
        monkeypatch.setenv("NESTOR_PACKED_WEIGHTS_MB", budget)
        for _ in range(3):
            np.testing.assert_allclose((x @ w).numpy(), a @ b, rtol=1e-4, atol=1e-4)


def test_clearing_the_kernel_cache_forgets_the_replays(rng):
    a = rng.standard_normal((3, 3)).astype(np.float32)
    x = nf.Tensor(a)
    with lazy(False):
        nf.exp(x), nf.exp(x)
    assert dispatch.cache.replays
    dispatch.clear()
    assert not dispatch.cache.replays
    np.testing.assert_allclose(nf.exp(x).numpy(), np.exp(a), rtol=1e-6)


def test_learn_refuses_what_it_cannot_replay(rng):
    a = rng.standard_normal((4, 4)).astype(np.float32)
    other = a.copy()
    kernel = dispatch.Kernel(None, [], "k", dispatch.stats)
    kernel._call = print  # raw: never called here
    assert replay.learn([a], other, [(kernel, [a], [other])]) is not None
    assert replay.learn([a], other, []) is None                                   # no kernel ran
    assert replay.learn([a], other, [(kernel, [a], [other])] * 2) is None          # two kernels
    assert replay.learn([a], other, [(kernel, [a.copy()], [other])]) is None       # an array of its own
    assert replay.learn([a], other.T, [(kernel, [a], [other])]) is None            # a transposed result
    assert replay.learn([a], other[:2], [(kernel, [a], [other])]) is None          # part of the output
    assert replay.learn([a], other, [(kernel, [a.reshape(16)], [other])]).inputs == (0,)
    assert replay.learn([a], other, [(dispatch.Kernel(None, [], "k", dispatch.stats), [a], [other])]) is None


def test_only_cpu_forwards_are_replayed(rng):
    """A CUDA kernel checks its arrays' shapes, which a replay's unseen reshapes would fail: the
    forward runs every time, and nothing is learnt for the device."""
    ran = []

    class Probe(Add):
        def forward(self, *arrays, device="cpu"):
            ran.append(device)
            return arrays[0]

    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    for _ in range(3):
        assert replay.forward(Probe(), [a, b], "cuda") is a
    assert ran == ["cuda"] * 3
    assert not [key for key in dispatch.cache.replays if key[2] == "cuda"]


def test_a_numpy_scalar_never_takes_the_replay_of_a_0d_array():
    """Both have shape () and strides (); a scalar has no data address to hand a kernel."""
    for _ in range(3):
        assert replay.forward(Add(), [np.array(1.5), np.array(2.0)], "cpu") == 3.5
    for _ in range(3):
        assert replay.forward(Add(), [np.float64(1.5), np.float64(4.0)], "cpu") == 5.5
        assert replay.forward(Add(), [np.array(1.5), np.float64(4.0)], "cpu") == 5.5
    x = nf.Tensor._wrap(np.float64(3.0))
    for _ in range(3):
        np.testing.assert_allclose((x + x).numpy(), 6.0)
        np.testing.assert_allclose((x * nf.Tensor(np.array(2.0))).numpy(), 6.0)
