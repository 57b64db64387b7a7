"""Kernel outputs are 64-byte aligned and, when large, placed at a page offset chosen against their
inputs (frontend/aligned.py), with the same values as before."""

import numpy as np
import pytest

import frontend as nf
from frontend import aligned, dispatch, nn, optim, symbatch


def _bounds(array: np.ndarray) -> tuple[int, int]:
    return array.ctypes.data, array.ctypes.data + array.nbytes


@pytest.mark.parametrize("shape", [(1,), (3,), (15,), (16,), (17, 3), (1023,), (1024,), (1025,), (128, 784), (7, 0)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int8, np.bool_])
def test_empty_is_aligned_contiguous_and_inside_its_buffer(shape, dtype):
    inputs = [np.empty(5000, np.float32)[3:], np.empty(300, np.float64)]
    array = aligned.empty(shape, dtype, inputs)
    assert array.shape == shape and array.dtype == np.dtype(dtype)
    assert array.flags.c_contiguous and array.flags.writeable
    if array.nbytes:
        assert array.ctypes.data % aligned.ALIGN == 0
        low, high = _bounds(array)
        base = array.base
        while isinstance(base, np.ndarray) and base.base is not None:
            base = base.base
        assert base.ctypes.data <= low and high <= base.ctypes.data + base.nbytes
        array[...] = 1
        assert (array == 1).all()


def test_large_outputs_take_the_chosen_page_offset():
    first = np.empty(20000, np.float32)
    second = np.empty(9000, np.float32)[5:]
    tiny = np.empty(3, np.float32)  # too small to count
    for _ in range(5):
        out = aligned.empty((128, 256), np.float32, [first, tiny, second])
        want = aligned.page_offset([first.ctypes.data % 4096, second.ctypes.data % 4096])
        assert out.ctypes.data % aligned.PAGE == want


@pytest.mark.parametrize("seed", range(40))
def test_page_offset_keeps_every_input_out_of_the_window_behind_the_output(seed):
    rng = np.random.default_rng(seed)
    inputs = [int(v) for v in rng.integers(0, 4096, rng.integers(0, 9)) // 16 * 16]
    offset = aligned.page_offset(inputs)
    assert 0 <= offset < aligned.PAGE and offset % aligned.ALIGN == 0
    for i in inputs:
        assert not 0 < (offset - i) % aligned.PAGE <= aligned.AHEAD, (offset, i)
    assert aligned.page_offset(inputs) == offset  # the same layout of inputs, the same choice


def test_page_offset_starts_behind_the_first_input():
    assert aligned.page_offset([]) == 0
    assert aligned.page_offset([2048]) == 2048 - aligned.BEHIND
    assert aligned.page_offset([0]) == aligned.PAGE - aligned.BEHIND
    # the first candidate (1024) would sit 64 bytes ahead of the second input: one step back is at
    # its offset, which nothing follows closely
    assert aligned.page_offset([2048, 960]) == 960


def test_page_offset_with_no_free_offset_falls_back_to_its_start():
    crowded = list(range(0, aligned.PAGE, aligned.AHEAD))  # every offset has an input just behind it
    assert aligned.page_offset(crowded) == (0 - aligned.BEHIND) % aligned.PAGE


def _watch_outputs(monkeypatch) -> list[np.ndarray]:
    seen = []
    for cls in (dispatch.Kernel, symbatch.BatchKernel):
        call = cls.__call__

        def watched(self, arrays, outs=None, _call=call):
            result = _call(self, arrays, outs)
            if outs is None:
                seen.extend(result)
            return result

        monkeypatch.setattr(cls, "__call__", watched)
    return seen


def test_kernel_outputs_of_a_training_step_are_aligned_and_exact(monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.random((64, 300), dtype=np.float32)
    y = rng.integers(0, 10, 64).astype(np.int32)
    model = nn.Sequential(nn.Linear(300, 128, rng=np.random.default_rng(1)), nn.ReLU(),
                          nn.Linear(128, 10, rng=np.random.default_rng(2)))
    before = [p.numpy().copy() for p in model.parameters()]
    seen = _watch_outputs(monkeypatch)
    optimizer = optim.SGD(model.parameters(), lr=0.5)
    loss = nn.SoftmaxLoss()(model(nf.Tensor(x)), nf.Tensor(y))
    optimizer.zero_grad()
    loss.backward()
    grads = [p.grad.numpy().copy() for p in model.parameters()]
    optimizer.step()
    loss.item()
    assert seen and all(a.ctypes.data % aligned.ALIGN == 0 for a in seen if a.nbytes)
    for p, old, g in zip(model.parameters(), before, grads):
        np.testing.assert_allclose(p.numpy(), old - np.float32(0.5) * g, rtol=1e-6, atol=1e-7)


def test_elementwise_values_are_exact_at_every_offset():
    rng = np.random.default_rng(3)
    for shift in (0, 1, 3, 16, 17):
        a = np.empty(4096 + 32, np.float32)[shift:shift + 4096].reshape(64, 64)
        b = np.empty(4096 + 32, np.float32)[shift:shift + 4096].reshape(64, 64)
        a[...], b[...] = rng.random((64, 64)), rng.random((64, 64))
        out = (nf.Tensor(a) + nf.Tensor(b)) * nf.Tensor(b)
        np.testing.assert_array_equal(out.numpy(), (a + b) * b)
