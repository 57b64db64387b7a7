"""TVM's ways of writing an operation other than an index expression, refused at the call with
what to write instead: ``te.extern`` (a body of packed calls or IR-builder statements),
``te.hybrid.script`` (a Python function parsed into loops) and ``te.decl_tensor_intrin`` (a
compute replaced by a hand-written call, for ``s[T].tensorize``)."""

from __future__ import annotations

from .errors import DefinitionError


def extern(shape, inputs, fcompute, name: str = "extern", dtype=None, **kwargs):
    """TVM's external operation: refused; write it as a ``compute`` (see the module doc)."""
    shown = [getattr(t, "name", t) for t in inputs] if isinstance(inputs, (list, tuple)) else inputs
    raise DefinitionError(
        f"extern({name!r}, inputs={shown}): external operations (a body of packed function calls or "
        "ir_builder statements) are not supported, since Nestor derives loops, bounds and gradients from "
        "index expressions; write the operation with ns.compute (and ns.sum/ns.max/ns.comm_reducer for "
        "reductions), or call the external code on the numpy arrays between two kernels")


def decl_tensor_intrin(op, fcompute, name: str = "tensor_intrin", binds=None, scalar_params=None,
                       default_buffer_params=None):
    """TVM's tensor intrinsic declaration: refused; keep the compute and mark its loops instead."""
    shown = getattr(op, "name", op)
    raise DefinitionError(
        f"decl_tensor_intrin({shown}, ...): tensor intrinsics (a compute replaced by a hand-written call "
        "that tensorize puts in the loop nest) are not supported; keep the compute as the kernel's body "
        "and let the backend generate the inner loops: split them to the intrinsic's size and mark them "
        "with s[T].vectorize(loop) or s[T].unroll(loop)")


class _Hybrid:
    """``te.hybrid``: its ``script`` decorator is refused (see the module doc)."""

    def script(self, func=None, **kwargs):
        name = getattr(func, "__name__", "the function")
        raise DefinitionError(
            f"hybrid.script({name}): hybrid scripts (Python loops parsed into an operation) are not "
            "supported; write each output element as an index expression with ns.compute, a recurrence "
            "with ns.scan, and a data-dependent choice with ns.if_then_else")

    def __getattr__(self, name: str):
        raise DefinitionError(f"hybrid.{name}: hybrid scripts are not supported; write the operation with "
                              "ns.compute (or ns.scan for a recurrence)")


hybrid = _Hybrid()

__all__ = ["decl_tensor_intrin", "extern", "hybrid"]
