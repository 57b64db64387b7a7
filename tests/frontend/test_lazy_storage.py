"""In-place writes to a tensor's storage never reach a pending op: each op keeps the values it
was applied to, as when run eagerly (numpy computes the expected values from copies taken at
the call); ``numpy()`` is a copy; the optimizers' updates keep the hot path's fusion."""

from __future__ import annotations

import numpy as np
import pytest

import frontend as nf
from frontend import dispatch, lazy, nn, optim
from frontend.lazy_storage import is_exposed
from tensorir.errors import DefinitionError


def _tensor(shape=(2, 3), start=0.0):
    return nf.Tensor(np.arange(start, start + np.prod(shape), dtype=np.float64).reshape(shape))


def _augmented(x):
    values = x.data  # needle's idiom: a Tensor over the storage, replaced by the difference
    values -= 1.0
    x.data = values


def _array_augmented(x):
    values = np.asarray(x.data)  # the stored array itself, written in place
    values -= 1.0


def _ufunc_out(x):
    values = np.asarray(x.data)
    np.multiply(values, 0.0, out=values)


#: ways to write new values into the storage of ``x`` in place
WRITES = {
    "slice_assign": lambda x: x.data.__setitem__(slice(None), 7.0),
    "copyto": lambda x: np.copyto(np.asarray(x.data), np.full(x.shape, 7.0)),
    "augmented": _augmented,
    "array_augmented": _array_augmented,
    "ufunc_out": _ufunc_out,
}
#: pending readers of ``x`` (directly, through a view, a detached alias, a reduction) and numpy's value
READERS = {
    "elementwise": (lambda x: (x * 2.0 + 1.0).tanh(), lambda a: np.tanh(a * 2.0 + 1.0)),
    "transposed_view": (lambda x: x.T * 3.0, lambda a: a.T * 3.0),
    "sliced_view": (lambda x: x[:, 1:] + 1.0, lambda a: a[:, 1:] + 1.0),
    "reduction": (lambda x: (x * x).sum(1), lambda a: (a * a).sum(1)),
    "detached": (lambda x: x.detach().exp(), lambda a: np.exp(a)),
}


@pytest.mark.parametrize("write", sorted(WRITES))
@pytest.mark.parametrize("reader", sorted(READERS))
def test_a_write_after_an_op_leaves_the_op_its_values(write, reader):
    ours, theirs = READERS[reader]
    x = _tensor()
    before = x.numpy()
    y = ours(x)
    assert y._lazy is not None  # still pending when the write comes
    WRITES[write](x)
    assert not np.array_equal(x.numpy(), before)
    np.testing.assert_allclose(y.numpy(), theirs(before), rtol=1e-12)


#: what the user may hold of ``x`` and write through later: needle's ``data`` (a Tensor over the
#: storage, written by item assignment) or the stored array itself
HOLDS = {"data": lambda x: x.data, "array": lambda x: np.asarray(x.data), "cached_data": lambda x: x.cached_data}


@pytest.mark.parametrize("hold", sorted(HOLDS))
@pytest.mark.parametrize("reader", sorted(READERS))
def test_a_write_through_an_array_held_earlier_leaves_later_ops_their_values(reader, hold):
    ours, theirs = READERS[reader]
    x = _tensor()
    held = HOLDS[hold](x)  # the user may write through it at any time
    before = x.numpy()
    y = ours(x)
    held[...] = -5.0
    np.testing.assert_array_equal(x.numpy(), np.full((2, 3), -5.0))
    np.testing.assert_allclose(y.numpy(), theirs(before), rtol=1e-12)


def test_ops_on_handed_out_storage_run_at_the_call_and_others_stay_fused():
    x, w = _tensor(), _tensor(start=1.0)
    x.data  # noqa: B018 - needle's data is a Tensor: nothing is handed out yet
    assert not is_exposed(x._data)
    np.asarray(x.data)  # the array itself: handed out
    assert is_exposed(x._data) and not is_exposed(w._data)
    dispatch.stats.reset()
    y = x * 2.0
    assert y._lazy is None and dispatch.stats.calls == 1
    z = (w * 2.0 + 1.0).exp()
    assert z._lazy is not None and dispatch.stats.calls == 1
    np.testing.assert_allclose(z.numpy(), np.exp(np.arange(1.0, 7.0).reshape(2, 3) * 2.0 + 1.0))
    assert dispatch.stats.calls == 2


def test_numpy_returns_a_copy():
    x = _tensor()
    y = x + 1.0
    values = x.numpy()
    values[:] = 100.0
    np.testing.assert_array_equal(x.numpy(), np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(y.numpy(), np.arange(1.0, 7.0).reshape(2, 3))
    assert not is_exposed(x._data)


def test_assigning_an_array_keeps_pending_values_and_exposes_the_array():
    x = _tensor()
    y = x * 2.0
    new = np.ones((2, 3))
    x.data = new
    np.testing.assert_array_equal(y.numpy(), np.arange(6.0).reshape(2, 3) * 2.0)
    z = x + 1.0  # reads the array the user still holds: runs at the call
    new[:] = 9.0
    np.testing.assert_array_equal(z.numpy(), np.full((2, 3), 2.0))
    np.testing.assert_array_equal(x.numpy(), np.full((2, 3), 9.0))


def test_assigning_a_tensor_shares_its_storage():
    x, source = _tensor(), _tensor(start=10.0)
    y = x + 0.5
    x.data = source
    np.testing.assert_array_equal(x.numpy(), source.numpy())
    np.testing.assert_array_equal(y.numpy(), np.arange(6.0).reshape(2, 3) + 0.5)
    z = x * 2.0
    source.data[:] = 0.0  # the shared memory, handed out through the other tensor
    np.testing.assert_array_equal(z.numpy(), np.arange(10.0, 16.0).reshape(2, 3) * 2.0)


def test_assigning_something_else_is_an_error_naming_the_fix():
    x = _tensor()
    with pytest.raises(DefinitionError, match=r"Tensor\.data: cannot assign a list; assign a Tensor or a numpy "
                                              r"array \(Tensor\(value\) or np\.asarray\(value\) makes one\)"):
        x.data = [1.0, 2.0]


def test_a_parameter_made_from_a_tensor_shares_its_memory_safely():
    source = _tensor()
    parameter = nn.Parameter.of(source)
    y = parameter * 3.0
    source.data[:] = 1.0
    np.testing.assert_array_equal(y.numpy(), np.arange(6.0).reshape(2, 3) * 3.0)
    np.testing.assert_array_equal(parameter.numpy(), np.ones((2, 3)))


@pytest.mark.parametrize("make", [lambda p: optim.SGD(p, lr=0.1), lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
                                  lambda p: optim.Adam(p, lr=0.1)], ids=["sgd", "momentum", "adam"])
def test_an_optimizer_step_leaves_pending_readers_the_old_weights_and_keeps_fusion(make):
    w = nn.Parameter(np.arange(6.0).reshape(2, 3))
    (w * w).sum().backward()
    optimizer = make([w])
    old = w.numpy()
    y = (w * 2.0).tanh()
    optimizer.step()
    np.testing.assert_allclose(y.numpy(), np.tanh(old * 2.0), rtol=1e-12)
    assert not np.array_equal(w.numpy(), old)
    assert not is_exposed(w._data)  # the update is the frontend's array: ops on it are recorded
    assert (w + 1.0)._lazy is not None


def test_loading_a_state_copies_the_arrays():
    layer = nn.Linear(3, 2)
    state = {name: np.ones(p.shape, dtype=np.float32) for name, p in layer.named_parameters()}
    layer.load_state_dict(state)
    for array in state.values():
        array[...] = 5.0
    for _, parameter in layer.named_parameters():
        np.testing.assert_array_equal(parameter.numpy(), np.ones(parameter.shape))
        assert not is_exposed(parameter._data)


def test_lazy_and_eager_agree_under_writes():
    results = []
    for on in (True, False):
        with lazy(on):
            x = _tensor()
            y = (x * x + 1.0).log()
            x.data[:] = 3.0
            z = x - 1.0
            x.data[0] = 0.0
            results.append((y.numpy(), z.numpy()))
    (y_lazy, z_lazy), (y_eager, z_eager) = results
    np.testing.assert_array_equal(y_lazy, y_eager)
    np.testing.assert_array_equal(z_lazy, z_eager)
    np.testing.assert_array_equal(z_lazy, np.full((2, 3), 2.0))


def test_writing_into_a_batch_norms_running_mean_leaves_pending_evaluation_its_values():
    layer = nn.BatchNorm1d(3, dtype="float64")
    layer.eval()
    x = nf.Tensor(np.arange(6.0).reshape(2, 3))
    y = layer(x)
    layer.running_mean.data[:] = 10.0  # needle's running statistics are Tensors over the buffers
    layer.running_var.data[:] = 4.0
    np.testing.assert_allclose(y.numpy(), np.arange(6.0).reshape(2, 3) / np.sqrt(1.0 + 1e-5), rtol=1e-12)
    z = layer(x)  # reads the written buffers
    np.testing.assert_allclose(z.numpy(), (np.arange(6.0).reshape(2, 3) - 10.0) / np.sqrt(4.0 + 1e-5), rtol=1e-12)


def test_loading_buffers_copies_them():
    layer = nn.BatchNorm1d(3, dtype="float64")
    state = layer.state_dict()
    layer.load_state_dict(state)
    state["running_mean"][:] = 7.0
    np.testing.assert_array_equal(layer.running_mean, np.zeros(3))
