"""TVM's ways of writing an operation other than an index expression, refused at the call with
what to write instead: ``te.extern`` (a body of packed calls or IR-builder statements) and
``te.hybrid.script`` (a Python function parsed into loops)."""

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

__all__ = ["extern", "hybrid"]
