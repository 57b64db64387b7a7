"""GPU index handles (TVM's ``te.thread_axis``) and store predicates over them.

``tx = thread_axis("threadIdx.x")`` names a GPU index; ``s[B].bind(loop, tx)`` is
``s[B].bind(loop, "threadIdx.x")``, and ``tx.var`` stands, in a predicate, for the loop of the
stage bound to that index: ``s[B].set_store_predicate(tx.var.equal(0))`` makes only the threads
with ``threadIdx.x == 0`` store B's values (TVM's meaning). A predicate is kept in the trace as a
small tree of its operators, thread indices and constants.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tensorir.dtypes import INDEX, as_dtype
from tensorir.errors import LoweringError, ScheduleError
from tensorir.expr import Binary, BinaryOp, Const, Expr, Unary, UnaryOp, Var, as_expr, binary, const, unary
from tensorir.intmath import as_int
from tensorir.visitor import substitute, walk

from .vthread import VTHREAD_TAGS, is_vthread

if TYPE_CHECKING:
    from .stage import StageState

THREAD_TAGS = ("blockIdx.x", "blockIdx.y", "blockIdx.z", "threadIdx.x", "threadIdx.y", "threadIdx.z")


@dataclass(frozen=True, eq=False, repr=False)
class ThreadVar(Var):
    """The variable of a GPU index in a predicate; ``.equal(v)`` builds ``== v`` as in TVM."""

    def equal(self, other) -> Expr:
        return binary(BinaryOp.EQ, self, other)


class _IndexArithmetic:
    """Arithmetic and comparisons of a GPU index stand for its variable's (TVM's IterVar in an
    IR-builder body: ``bx * 64 + tx``); equality stays identity, as handles are compared."""

    def _v(self):
        return self.var  # type: ignore[attr-defined]

    def __add__(self, o): return self._v() + o
    def __radd__(self, o): return o + self._v()
    def __sub__(self, o): return self._v() - o
    def __rsub__(self, o): return o - self._v()
    def __mul__(self, o): return self._v() * o
    def __rmul__(self, o): return o * self._v()
    def __floordiv__(self, o): return self._v() // o
    def __rfloordiv__(self, o): return o // self._v()
    def __mod__(self, o): return self._v() % o
    def __rmod__(self, o): return o % self._v()
    def __lt__(self, o): return self._v() < o
    def __le__(self, o): return self._v() <= o
    def __gt__(self, o): return self._v() > o
    def __ge__(self, o): return self._v() >= o
    def __neg__(self): return -self._v()


@dataclass(frozen=True, eq=False)
class ThreadAxis(_IndexArithmetic):
    """A GPU index to bind loops to, with its variable for predicates."""

    thread_tag: str
    var: ThreadVar
    #: the index's range ``0..extent`` where ``thread_axis`` was given one
    extent: int | None = None

    @property
    def name(self) -> str:
        return self.thread_tag

    #: TVM's ``IterVar.iter_type`` of a thread axis (``IterVar.ThreadIndex``)
    iter_type = 1

    @property
    def dom(self):
        """TVM's ``dom`` of the index: ``0..extent`` where one was given, else None."""
        from tensorir.expr import Range

        return None if self.extent is None else Range(0, self.extent)


def thread_axis(dom=None, tag: str = "", name: str | None = None) -> ThreadAxis:
    """The GPU index ``tag`` (``blockIdx.x|y|z``, ``threadIdx.x|y|z``, or a virtual thread
    ``vthread``) as a handle for ``bind``.

    TVM's forms: ``thread_axis("threadIdx.x")``, ``thread_axis((0, 32), "threadIdx.x")``,
    ``thread_axis(tag="threadIdx.x")``, ``thread_axis((0, 2), "vthread", name="vx")``. A loop
    bound to a ``vthread`` runs serially inside each real thread (see :mod:`schedules.vthread`).

    Parameters
    ----------
    dom
        The tag, or the range ``(0, extent)`` (or an extent) of the index: a loop bound to it may
        not be longer (a shorter one leaves the surplus threads idle).
    tag
        The index, when ``dom`` is a range.
    name
        Ignored beyond the check that it is a string (TVM names the variable with it).

    Returns
    -------
    ThreadAxis
        Pass it to ``Stage.bind``; use ``.var`` in ``Stage.set_store_predicate``.
    """
    if isinstance(dom, str):
        dom, tag = None, dom if not tag else tag
    if tag not in THREAD_TAGS and not is_vthread(tag):
        raise ScheduleError(f"thread_axis({tag!r}): unknown thread tag; use one of "
                            f"{', '.join(THREAD_TAGS + VTHREAD_TAGS)}")
    if name is not None and not isinstance(name, str):
        raise ScheduleError(f"thread_axis({tag!r}, name={name!r}): the name must be a string")
    return ThreadAxis(tag, ThreadVar(tag, INDEX), _thread_extent(dom, tag))


def _thread_extent(dom, tag: str) -> int | None:
    """The extent of ``dom``: None, an extent, or a range ``(0, extent)`` of constant ints."""
    if dom is None:
        return None
    lo, hi = (as_int(d) for d in dom) if isinstance(dom, (tuple, list)) and len(dom) == 2 else (0, as_int(dom))
    if not all(isinstance(d, int) and not isinstance(d, bool) for d in (lo, hi)) or lo != 0 or hi < 1:
        raise ScheduleError(f"thread_axis({dom!r}, {tag!r}): the range must be (0, extent) with a constant "
                            "positive extent, or leave it out: the bound loop gives the extent")
    return hi


# -- predicates -------------------------------------------------------------------------------
_BINARY = {op.name: op for op in BinaryOp}


def encode(pred: Expr, call: str) -> list:
    """``pred`` as JSON-ready nested lists (for the trace)."""
    match pred:
        case ThreadVar(name=tag):
            return ["thread", tag]
        case Const(value=value, dtype=dtype):
            return ["const", value, dtype.value]
        case Binary(op=op, a=a, b=b):
            return ["binary", op.name, encode(a, call), encode(b, call)]
        case Unary(op=op, a=a):
            return ["unary", op.name, encode(a, call)]
    raise ScheduleError(f"{call}: the predicate may use thread_axis(...).var, constants, arithmetic, "
                        f"comparisons and &, |, ~ only; {pred} is not one of them")


def decode(tree) -> Expr:
    """The predicate that :func:`encode` wrote."""
    try:
        match tree:
            case ["thread", str() as tag] if tag in THREAD_TAGS:
                return ThreadVar(tag, INDEX)
            case ["const", value, str() as dtype]:
                return const(value, as_dtype(dtype, "predicate"))
            case ["binary", str() as op, a, b]:
                return binary(_BINARY[op], decode(a), decode(b))
            case ["unary", str() as op, a]:
                return unary(UnaryOp[op], decode(a))
    except (KeyError, TypeError, ValueError):
        pass
    raise ScheduleError(f"Schedule.from_trace: malformed store predicate {tree!r}; replay traces that "
                        "s.trace.to_json() wrote")


def check_predicate(pred: object, call: str) -> Expr:
    """``pred`` as a bool expression over thread indices and constants."""
    try:
        expr = as_expr(pred)
    except Exception as error:  # noqa: BLE001 - any non-expression is the user's mistake
        raise ScheduleError(f"{call}: the predicate must be an expression, got {pred!r} ({error})") from None
    if expr.dtype.name != "BOOL":
        raise ScheduleError(f"{call}: the predicate {expr} has type {expr.dtype}; give a condition, "
                            "e.g. tx.var.equal(0)")
    encode(expr, call)
    return expr


def add_predicate_guard(stage: StageState, geo) -> None:
    """Guard every store of ``stage`` (initialisation, update, write) with its store predicate."""
    guard = predicate_guard(stage)
    if guard is not None:
        geo.guards.append((guard, frozenset()))


def predicate_guard(stage: StageState) -> Expr | None:
    """The stage's store predicate with each thread index replaced by the loop bound to it."""
    pred = getattr(stage, "store_predicate", None)
    if pred is None:
        return None
    bound = {note.thread_tag: leaf.var for leaf, note in stage.annotations.items()
             if note.thread_tag and leaf in stage.leaves}
    mapping = {}
    for node in walk(pred):
        if isinstance(node, ThreadVar):
            if node.name not in bound:
                raise LoweringError(
                    f"lower: the store predicate {pred} of {stage.name} uses {node.name}, but no loop "
                    f"of {stage.name} is bound to it; bind one, or drop it from the predicate")
            mapping[node] = bound[node.name]
    return substitute(pred, mapping)
