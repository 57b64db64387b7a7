"""Splits by a symbolic factor or number of parts (TVM's ``s[C].split(x, factor=n)`` with ``n`` a
``te.var``): the amount is an integer expression of size variables, bound when the kernel is
called.

The inner loop (``factor=f``) or the outer one (``nparts=p``) then runs ``f`` (``p``) times and the
other ``ceil(extent / f)``; the tail guard ``x.outer * f + x.inner < extent`` is kept, exact for
every value. A non-positive amount would make the loops run no iteration (or divide by zero),
so the lowered function carries the requirement ``f > 0`` and refuses a call that breaks it
before any loop runs. In a trace the amount is recorded by its variable's name, which replay
finds among the size variables of the schedule's tensors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tensorir.dtypes import DType
from tensorir.expr import BinaryOp, Expr, IterVar, Var, binary
from tensorir.symbolic import ShapeVar, ceil_div, shape_vars
from tensorir.visitor import walk

if TYPE_CHECKING:
    from .relations import Split
    from .schedule import Schedule

#: the key under which a trace records a symbolic amount: {"size_var": name}
TRACE_KEY = "size_var"


def symbolic_amount(value: object) -> Expr | None:
    """``value`` when it is an integer expression of size variables only (``n``, ``n // 2``),
    else None (a Python int, or anything the caller refuses with its own message)."""
    if isinstance(value, IterVar) or not isinstance(value, Expr):
        return None
    if not value.dtype.is_int or value.dtype is DType.BOOL:
        return None
    loose = [n for n in walk(value) if isinstance(n, Var) and not isinstance(n, ShapeVar)]
    return None if loose or not shape_vars([value]) else value


def is_symbolic(split: Split) -> bool:
    """Whether ``split`` is by a symbolic factor or number of parts."""
    return isinstance(split.factor, Expr) or isinstance(split.nparts, Expr)


def symbolic_extents(split: Split, parent) -> tuple:
    """``(outer, inner)`` extents of a symbolic split of a loop of extent ``parent``."""
    if split.nparts is not None:
        return split.nparts, ceil_div(parent, split.nparts)
    return ceil_div(parent, split.factor), split.factor


def requirements(schedule: Schedule, scalars) -> tuple[tuple[Expr, str], ...]:
    """``(amount > 0, the split)`` for every symbolic split of the schedule whose variables the
    function binds (``scalars``): what a call must satisfy before the loops run."""
    bound = set(scalars)
    found: list[tuple[Expr, str]] = []
    for stage in schedule.stages:
        for rel in stage.relations:
            if type(rel).__name__ != "Split" or not is_symbolic(rel):
                continue
            label, amount = ("factor", rel.factor) if rel.factor is not None else ("nparts", rel.nparts)
            if all(v in bound for v in shape_vars([amount])):
                origin = f"s[{stage.name}].split({rel.parent.name}, {label}={amount})"
                found.append((binary(BinaryOp.GT, amount, 0), origin))
    return tuple(found)


def trace_value(amount: object) -> object:
    """A JSON value for a split amount: the int, or ``{"size_var": name}`` for a size variable."""
    if isinstance(amount, ShapeVar):
        return {TRACE_KEY: amount.name}
    if isinstance(amount, Expr):
        return {TRACE_KEY: str(amount)}
    return amount


def replayed_amount(schedule: Schedule, value: object) -> object:
    """The amount a trace recorded: the size variable of that name among the tensors' shapes."""
    if not (isinstance(value, dict) and set(value) == {TRACE_KEY}):
        return value
    name = value[TRACE_KEY]
    for stage in schedule.stages:
        for v in shape_vars([getattr(stage.op, "shape", ())]):
            if v.name == name:
                return v
    from tensorir.errors import ScheduleError

    raise ScheduleError(
        f"Schedule.from_trace: a split by the size variable {name!r}, which is no dimension of "
        f"the schedule's tensors; replay it by calling split(..., factor={name}) with the variable")
