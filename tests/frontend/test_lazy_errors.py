"""Errors raised while realizing a pending group name the op and the user's line that recorded
it; an exception or an interrupt during a realize leaves every tensor pending or realized, and
reading again computes the right values."""

from __future__ import annotations

import re

import numpy as np
import pytest

import frontend as nf
from frontend import lazy_kernel, lazy_reduce
from frontend.lazy_errors import call_site, describe_site
from frontend.ops.elementwise import Elementwise
from tensorir.errors import CodegenError

X = np.linspace(-1.0, 1.0, 12).reshape(3, 4)
HERE = re.escape(__file__)


def _failing(error):
    def launch(*args, **kwargs):
        raise error

    return launch


def test_a_fused_group_error_names_the_op_its_line_and_the_group(monkeypatch):
    x = nf.Tensor(X)
    y = (x * 2.0 + 1.0).tanh(); line = call_site(1)  # noqa: E702 - the site of the line above
    monkeypatch.setattr(lazy_kernel, "launch", _failing(CodegenError("llvm: no target")))
    with pytest.raises(CodegenError) as caught:
        y.numpy()
    assert str(caught.value) == (f"realizing the pending 'tanh' recorded at {describe_site(line)} (fused with 2 more "
                                 "pending ops: add_scalar, mul_scalar): llvm: no target")
    assert re.search(rf"{HERE}:\d+ \(in test_a_fused_group_error_names_the_op_its_line_and_the_group\)",
                     str(caught.value))
    assert caught.value.__cause__ is None  # the message says it all


def test_a_single_op_error_names_the_op(monkeypatch):
    x = nf.Tensor(X)
    y = x.exp()
    monkeypatch.setattr(type(y._lazy.op), "forward", _failing(MemoryError("cannot allocate 96 bytes")))
    expected = rf"^realizing the pending 'exp' recorded at {HERE}:\d+ \(in test_a_single_op_error_names_the_op\): "
    with pytest.raises(MemoryError, match=expected + "cannot allocate 96 bytes$") as caught:
        y.numpy()
    assert isinstance(caught.value.__cause__, MemoryError)  # not ours: the original is chained


def test_a_gradient_op_names_the_backward_call(monkeypatch):
    x = nf.Tensor(X, requires_grad=True)
    loss = (x * x).sum()
    loss.backward(); line = call_site(1)  # noqa: E702 - the site of the backward call
    monkeypatch.setattr(lazy_kernel, "launch", _failing(CodegenError("boom")))
    monkeypatch.setattr(Elementwise, "forward", _failing(CodegenError("boom")))
    with pytest.raises(CodegenError, match=f"recorded at {re.escape(describe_site(line))}"):
        x.grad.numpy()


def test_a_reduction_error_names_the_reduction(monkeypatch):
    x = nf.Tensor(X)
    total = ((x - 1.0) ** 2).mean()
    monkeypatch.setattr(lazy_reduce, "launch", _failing(CodegenError("no vector width")))
    with pytest.raises(CodegenError, match=r"^realizing the pending 'mean' recorded at .*\(fused with 2 more pending "
                                           r"ops: pow_scalar, sub_scalar\): no vector width$"):
        total.numpy()


def test_an_error_from_an_inner_realize_is_named_once(monkeypatch):
    x = nf.Tensor(X)
    y = x * 2.0 + 1.0
    z = y.sum(1) + 1.0  # the sum is realized first, as a leaf of z's group
    monkeypatch.setattr(lazy_reduce, "launch", _failing(CodegenError("inner")))
    with pytest.raises(CodegenError) as caught:
        z.numpy()
    assert str(caught.value).count("realizing") == 1 and "'sum'" in str(caught.value)


@pytest.mark.parametrize("error", [KeyboardInterrupt(), CodegenError("boom")], ids=["interrupt", "error"])
def test_a_failed_realize_leaves_the_group_pending_and_a_second_read_works(monkeypatch, error):
    x = nf.Tensor(X, requires_grad=True)
    h = (x * 2.0).tanh()
    z = (h * x + 1.0).exp()
    with monkeypatch.context() as patch:
        patch.setattr(lazy_kernel, "launch", _failing(error))
        with pytest.raises(type(error)):
            z.numpy()
    for tensor in (h, z):
        assert tensor._lazy is not None and tensor._data is None
    expected_h = np.tanh(X * 2.0)
    np.testing.assert_allclose(z.numpy(), np.exp(expected_h * X + 1.0), rtol=1e-12)
    np.testing.assert_allclose(h.numpy(), expected_h, rtol=1e-12)
    z.sum().backward()
    dz = np.exp(expected_h * X + 1.0)
    np.testing.assert_allclose(x.grad.numpy(), dz * (expected_h + X * 2.0 * (1.0 - expected_h ** 2)), rtol=1e-10)


def test_an_interrupted_write_leaves_pending_readers_their_values(monkeypatch):
    x = nf.Tensor(X)
    y = (x * 3.0).exp()
    with monkeypatch.context() as patch:
        patch.setattr(Elementwise, "forward", _failing(KeyboardInterrupt()))
        patch.setattr(lazy_kernel, "launch", _failing(KeyboardInterrupt()))
        with pytest.raises(KeyboardInterrupt):
            x.data[:] = 0.0  # the handout realizes y first: interrupted, nothing written
    assert y._lazy is not None
    np.testing.assert_array_equal(x.numpy(), X)
    np.testing.assert_allclose(y.numpy(), np.exp(X * 3.0), rtol=1e-12)
