"""The pass pipeline's verification: once after the last pass by default, after every pass
under NESTOR_VERIFY_EACH_PASS, and a failure always names the pass that broke the IR."""

from __future__ import annotations

import pytest

from tensorir.buffer import Buffer
from tensorir.dtypes import DType
from tensorir.errors import LoweringError
from tensorir.expr import BufferLoad, Var, const
from tensorir.passes import pipeline
from tensorir.stmt import For, ForKind, PrimFunc, Store

F32 = DType.FLOAT32


def _copy_func() -> PrimFunc:
    """``for i in 0..4: B[i] = A[i] * 2.0``."""
    A, B = Buffer("A", (4,), F32), Buffer("B", (4,), F32)
    i = Var("i")
    body = Store(B, (i,), BufferLoad(A, (i,), F32) * 2.0)
    return PrimFunc("copy", (A, B), For(i, const(0), const(4), ForKind.SERIAL, body))


def _store_int(func: PrimFunc) -> PrimFunc:
    """A broken pass: stores the loop variable (int32) into the float32 output."""
    loop = func.body
    return PrimFunc(func.name, func.params, For(loop.var, loop.min, loop.extent, loop.kind,
                                                Store(func.params[1], (loop.var,), loop.var)))


@pytest.fixture
def counted(monkeypatch):
    """The checks the pipeline makes, as the names of what they follow."""
    seen: list[str] = []
    real = pipeline.verify

    def verify(func, after="lowering"):
        seen.append(after)
        return real(func, after)

    monkeypatch.setattr(pipeline, "verify", verify)
    return seen


def test_by_default_the_ir_is_verified_once_after_the_last_pass(monkeypatch, counted):
    monkeypatch.delenv("NESTOR_VERIFY_EACH_PASS", raising=False)
    pipeline.run(_copy_func())
    assert counted == [pipeline.PASSES[-1][0]]


def test_verify_each_pass_checks_the_input_and_every_pass(monkeypatch, counted):
    monkeypatch.setenv("NESTOR_VERIFY_EACH_PASS", "1")
    pipeline.run(_copy_func())
    assert counted == ["schedule lowering", *(name for name, _ in pipeline.PASSES)]


@pytest.mark.parametrize("each", ["0", "1"])
def test_check_false_verifies_nothing(monkeypatch, counted, each):
    monkeypatch.setenv("NESTOR_VERIFY_EACH_PASS", each)
    pipeline.run(_copy_func(), check=False)
    assert counted == []


@pytest.mark.parametrize("each", ["0", "1"])
def test_a_pass_that_breaks_the_ir_is_named(monkeypatch, each):
    monkeypatch.setenv("NESTOR_VERIFY_EACH_PASS", each)
    monkeypatch.setattr(pipeline, "PASSES", [pipeline.PASSES[0], ("store_int", _store_int), *pipeline.PASSES[1:]])
    with pytest.raises(LoweringError, match=r"invalid IR for copy after store_int:\n  store of int32 value i"):
        pipeline.run(_copy_func())


def test_invalid_input_is_named_even_where_a_pass_raises_on_it(monkeypatch):
    monkeypatch.delenv("NESTOR_VERIFY_EACH_PASS", raising=False)

    def choke(func):
        raise KeyError("a pass that assumed valid input")

    monkeypatch.setattr(pipeline, "PASSES", [("choke", choke)])
    with pytest.raises(LoweringError, match="invalid IR for copy after schedule lowering"):
        pipeline.run(_store_int(_copy_func()))


def test_an_error_a_pass_raises_on_valid_input_is_its_own(monkeypatch):
    monkeypatch.delenv("NESTOR_VERIFY_EACH_PASS", raising=False)

    def refuse(func):
        raise LoweringError("refuse: this loop nest is not supported")

    monkeypatch.setattr(pipeline, "PASSES", [("refuse", refuse)])
    with pytest.raises(LoweringError, match="^refuse: this loop nest is not supported$"):
        pipeline.run(_copy_func())
