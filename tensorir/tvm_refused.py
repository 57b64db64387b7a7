"""TVM's hybrid scripts (``te.hybrid.script``: a Python function parsed into loops), refused at
the call with what to write instead; ``te.extern`` is :mod:`tensorir.extern_op`."""

from __future__ import annotations

from .errors import DefinitionError


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

__all__ = ["hybrid"]
