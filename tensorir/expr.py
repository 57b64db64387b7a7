"""Scalar expression nodes: small frozen dataclasses that Python operators build.

Every node carries its ``dtype``. Binary nodes always hold operands of one type (construction
inserts the casts of the promotion rule in :mod:`tensorir.dtypes`), so a backend never has to
promote. Nodes compare and hash by identity; ``==`` between expressions builds an ``EQ`` node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

from .dtypes import INDEX, DType, convert_value, literal_type, of_python_constant, promote
from .errors import DefinitionError
from .op_kinds import (  # noqa: F401 - the operation kinds, imported from here by the rest of the project
    BINARY_FUNCS,
    BITWISE,
    COMMUTATIVE,
    COMPARISONS,
    FLOAT_FUNCS,
    FUNCTION_STYLE,
    LIBM2_FUNCS,
    LIBM_FUNCS,
    LOGICAL,
    ROUNDING_FUNCS,
    SHIFTS,
    BinaryOp,
    Func,
    IterKind,
    ReduceOp,
    UnaryOp,
)

if TYPE_CHECKING:
    from .buffer import Buffer
    from .tensor import Tensor


def _reject_bool(self) -> bool:
    raise DefinitionError(
        f"cannot use the symbolic expression {self} as a Python bool (in `if`, `and`, `or` or "
        "`not`); use ns.if_then_else(cond, a, b) for a choice, `&`, `|`, `~` for logic")


class ExprOp:
    """Python operators that build expression nodes; shared by Expr and IterVar."""

    __slots__ = ()
    __hash__ = object.__hash__

    def __add__(self, other): return binary(BinaryOp.ADD, self, other)
    def __radd__(self, other): return binary(BinaryOp.ADD, other, self)
    def __sub__(self, other): return binary(BinaryOp.SUB, self, other)
    def __rsub__(self, other): return binary(BinaryOp.SUB, other, self)
    def __mul__(self, other): return binary(BinaryOp.MUL, self, other)
    def __rmul__(self, other): return binary(BinaryOp.MUL, other, self)
    def __truediv__(self, other): return binary(BinaryOp.DIV, self, other)
    def __rtruediv__(self, other): return binary(BinaryOp.DIV, other, self)
    def __floordiv__(self, other): return binary(BinaryOp.FLOORDIV, self, other)
    def __rfloordiv__(self, other): return binary(BinaryOp.FLOORDIV, other, self)
    def __mod__(self, other): return binary(BinaryOp.FLOORMOD, self, other)
    def __rmod__(self, other): return binary(BinaryOp.FLOORMOD, other, self)
    def __pow__(self, other): return binary(BinaryOp.POW, self, other)
    def __rpow__(self, other): return binary(BinaryOp.POW, other, self)
    def __lt__(self, other): return binary(BinaryOp.LT, self, other)
    def __le__(self, other): return binary(BinaryOp.LE, self, other)
    def __gt__(self, other): return binary(BinaryOp.GT, self, other)
    def __ge__(self, other): return binary(BinaryOp.GE, self, other)
    def __eq__(self, other): return binary(BinaryOp.EQ, self, other)  # type: ignore[override]
    def __ne__(self, other): return binary(BinaryOp.NE, self, other)  # type: ignore[override]
    def __and__(self, other): return _bitwise(BinaryOp.AND, self, other)
    def __rand__(self, other): return _bitwise(BinaryOp.AND, other, self)
    def __or__(self, other): return _bitwise(BinaryOp.OR, self, other)
    def __ror__(self, other): return _bitwise(BinaryOp.OR, other, self)
    def __xor__(self, other): return _bitwise(BinaryOp.XOR, self, other)
    def __rxor__(self, other): return _bitwise(BinaryOp.XOR, other, self)
    def __lshift__(self, other): return _bitwise(BinaryOp.SHL, self, other)
    def __rlshift__(self, other): return _bitwise(BinaryOp.SHL, other, self)
    def __rshift__(self, other): return _bitwise(BinaryOp.SHR, self, other)
    def __rrshift__(self, other): return _bitwise(BinaryOp.SHR, other, self)
    def __neg__(self): return unary(UnaryOp.NEG, self)
    def __invert__(self): return _invert(self)
    def __pos__(self): return as_expr(self)
    __bool__ = _reject_bool

    def astype(self, dtype) -> Expr:
        """This expression converted to ``dtype`` (float to int truncates toward zero)."""
        from .dtypes import as_dtype

        return cast(as_expr(self), as_dtype(dtype, f"astype of {as_expr(self)}: dtype"))


class Expr(ExprOp):
    """Base of scalar expression nodes (frozen dataclasses, identity equality)."""

    __slots__ = ()
    dtype: DType

    def __str__(self) -> str:
        from .printer import expr_str

        return expr_str(self)

    __repr__ = __str__

    def __getitem__(self, n):
        """TVM's ``op.body[n]`` on a compute's body (see :mod:`tensorir.op_body`); any other
        expression is not subscriptable."""
        from .op_body import body_item

        return body_item(self, n)

    #: not iterable, despite ``__getitem__`` (which only a compute's body answers)
    __iter__ = None


def _node(cls):
    return dataclass(frozen=True, eq=False, repr=False)(cls)


@_node
class Var(Expr):
    name: str
    dtype: DType = INDEX


@_node
class Const(Expr):
    value: Union[int, float, bool]
    dtype: DType


@_node
class Binary(Expr):
    op: BinaryOp
    a: Expr
    b: Expr
    dtype: DType

    def __bool__(self) -> bool:
        # Lets `x in list` and `list.index` work on expressions: structural `==` is identity.
        if self.op is BinaryOp.EQ:
            return self.a is self.b
        if self.op is BinaryOp.NE:
            return self.a is not self.b
        return _reject_bool(self)


@_node
class Unary(Expr):
    op: UnaryOp
    a: Expr
    dtype: DType


@_node
class Call(Expr):
    func: Func
    args: tuple[Expr, ...]
    dtype: DType


@_node
class Cast(Expr):
    value: Expr
    dtype: DType


@_node
class Select(Expr):
    """``true_value if cond else false_value``; only the chosen branch is evaluated."""

    cond: Expr
    true_value: Expr
    false_value: Expr
    dtype: DType


@_node
class TensorLoad(Expr):
    """An element of a tensor in a compute definition."""

    tensor: Tensor
    indices: tuple[Expr, ...]
    dtype: DType


@_node
class BufferLoad(Expr):
    """An element of a buffer in lowered IR.

    Before :func:`~tensorir.passes.flatten_buffers.flatten_buffers`, ``indices`` holds one index
    per dimension; after it, the one flat element offset that backends read, and ``logical``
    the per-dimension indices it came from (what the printer shows and the interpreter checks).
    """

    buffer: Buffer
    indices: tuple[Expr, ...]
    dtype: DType
    logical: tuple[Expr, ...] | None = None


@_node
class CheckedIndex(Expr):
    """A subscript that no proof bounds (it reads a tensor, or has no affine form): ``value``,
    checked when it runs to lie in ``0..extent``. ``site`` names the access and dimension for
    the error (see :mod:`tensorir.access_guards`); a failing check never touches memory."""

    value: Expr
    extent: int
    site: str
    dtype: DType


@dataclass(frozen=True, eq=False, repr=False)
class IterVar(ExprOp):
    """A named index with a constant range: an output axis or a reduction axis."""

    var: Var
    min: int
    extent: int
    kind: IterKind

    @property
    def name(self) -> str:
        return self.var.name

    @property
    def dom(self) -> Range:
        """TVM's ``iv.dom``: the range ``min .. min + extent`` of the index (a constant bound
        has TVM's ``.value``)."""
        from .shapes import as_dims

        return Range(*as_dims((self.min, self.extent)))

    @property
    def iter_type(self) -> int:
        """TVM's ``IterVar.iter_type`` number: 0 a data-parallel axis, 2 a reduction axis."""
        return 2 if self.kind is IterKind.REDUCE else 0

    @property
    def thread_tag(self) -> str:
        """TVM's ``IterVar.thread_tag``: empty for an axis (``thread_axis`` handles carry theirs)."""
        return ""

    def __repr__(self) -> str:
        kind = "reduce_axis" if self.kind is IterKind.REDUCE else "axis"
        return f"{kind}({self.name}, {self.min}..{self.min + self.extent})"


@dataclass(frozen=True)
class Range:
    """The range ``min .. min + extent`` of an index (TVM's ``Range``, as ``IterVar.dom``)."""

    min: int | Expr
    extent: int | Expr


@dataclass(frozen=True, eq=False, repr=False)
class Combiner:
    """A user-defined commutative reducer (``ns.comm_reducer``) applied to values of fixed types.

    ``results[n]`` is the ``n``-th combined value of the accumulators ``lhs`` and the new
    values ``rhs`` (one variable per element of a tuple reducer); ``identities[n]`` is where
    the ``n``-th accumulator starts.
    """

    name: str
    lhs: tuple[Var, ...]
    rhs: tuple[Var, ...]
    results: tuple[Expr, ...]
    identities: tuple[Expr, ...]

    def __repr__(self) -> str:
        return f"comm_reducer({self.name}, {len(self.results)} values)"


@_node
class Reduce(Expr):
    """``sum``/``max``/``min`` of ``source`` over the reduction axes ``axes``.

    The fields after ``dtype`` are those of general reductions (TVM's ``Reduce``): only the
    points where ``condition`` holds are combined (``where=``); the accumulator starts from
    ``init`` instead of the reducer's identity; a user-defined reducer has ``op`` CUSTOM and its
    ``combiner``, and a tuple reducer lists every element's value in ``sources``, this node
    being element ``value_index`` (``source`` is ``sources[value_index]``).
    """

    op: ReduceOp
    source: Expr
    axes: tuple[IterVar, ...]
    dtype: DType
    condition: Expr | None = None
    init: Expr | None = None
    combiner: Combiner | None = None
    sources: tuple[Expr, ...] = ()
    value_index: int = 0

    @property
    def all_sources(self) -> tuple[Expr, ...]:
        """The value of every element the reducer combines (one for sum/max/min)."""
        return self.sources or (self.source,)

    @property
    def axis(self) -> tuple[IterVar, ...]:
        """TVM's name for the reduction axes (``C.op.body[0].axis``)."""
        return self.axes


ExprLike = Union[Expr, IterVar, int, float, bool]


def const(value: int | float | bool, dtype: DType | None = None) -> Const:
    """A constant of ``dtype``: the value converted as ``astype`` would (integers wrap,
    float16 rounds; see :func:`tensorir.dtypes.convert_value`)."""
    if dtype is None:
        dtype = of_python_constant(value, None)
    return Const(convert_value(value, dtype), dtype)


def as_expr(value: object, like: DType | None = None) -> Expr:
    """An expression for ``value``: an Expr, an IterVar's variable or a Python number."""
    if isinstance(value, Expr):
        return value
    if isinstance(value, IterVar):
        return value.var
    if isinstance(value, (bool, int, float)):
        return const(value, of_python_constant(value, like))
    if isinstance(getattr(value, "thread_tag", None), str) and isinstance(getattr(value, "var", None), Var):
        return value.var  # a GPU index (te.thread_axis) in an IR-builder body, as TVM's IterVar is
    try:
        import numpy as np

        if isinstance(value, np.generic) and value.shape == ():
            return as_expr(value.item(), like)
    except ImportError:  # pragma: no cover
        pass
    hint = ""
    if type(value).__name__ == "TensorSlice":  # A[i] of a tensor of rank 2 or more
        raise value.error()  # type: ignore[attr-defined]
    if type(value).__name__ == "Tensor":
        hint = f"; index the tensor, e.g. {value.name}[i, j]"  # type: ignore[attr-defined]
    raise DefinitionError(f"cannot use {value!r} of type {type(value).__name__} in an expression{hint}")


def _literal(value: object, other: Expr, weak: bool) -> Expr:
    """``value`` beside ``other``: a Python number typed as TVM types it (or, ``weak``, with
    ``other``'s type as numpy's NEP 50 does); anything else as :func:`as_expr` makes it."""
    if weak or isinstance(value, (Expr, IterVar)):
        return as_expr(value, other.dtype)
    try:
        import numpy as np

        if isinstance(value, np.generic) and value.shape == ():
            value = value.item()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, (bool, int, float)):
        return const(value, literal_type(value, other.dtype))
    return as_expr(value, other.dtype)


def _operands(a: object, b: object, weak: bool = False) -> tuple[Expr, Expr]:
    a_is = isinstance(a, (Expr, IterVar))
    b_is = isinstance(b, (Expr, IterVar))
    if a_is and not b_is:
        ea = as_expr(a)
        return ea, _literal(b, ea, weak)
    if b_is and not a_is:
        eb = as_expr(b)
        return _literal(a, eb, weak), eb
    return as_expr(a), as_expr(b)


def promote_pair(a: object, b: object, weak: bool = False) -> tuple[Expr, Expr]:
    """``a`` and ``b`` as expressions cast to their promoted type; a Python number beside an
    expression is typed as TVM types it, or with ``weak`` takes the expression's type (what
    TVM's bit operators do)."""
    ea, eb = _operands(a, b, weak)
    dtype = promote(ea.dtype, eb.dtype)
    return cast(ea, dtype), cast(eb, dtype)


def cast(value: Expr, dtype: DType) -> Expr:
    if value.dtype is dtype:
        return value
    if isinstance(value, Const):
        return const(value.value, dtype)
    return Cast(value, dtype)


def binary(op: BinaryOp, a: object, b: object) -> Expr:
    """``a op b`` with both operands cast to their promoted type."""
    if type(a).__name__ == "Tensor" or type(b).__name__ == "Tensor":
        from .overload import is_tensor, tensor_binary

        if is_tensor(a) or is_tensor(b):  # an element with a whole tensor (TVM's ``B[0, 0] + A``)
            return tensor_binary(op, a, b)
    ea, eb = _operands(a, b)
    if op in LOGICAL:
        return Binary(op, _as_bool(ea, op), _as_bool(eb, op), DType.BOOL)
    dtype = promote(ea.dtype, eb.dtype)
    if op is BinaryOp.DIV and not dtype.is_float:
        from .dtypes import DEFAULT_FLOAT

        dtype = DEFAULT_FLOAT
    elif dtype is DType.BOOL and op not in COMPARISONS:
        dtype = DType.INT32
    ea, eb = cast(ea, dtype), cast(eb, dtype)
    return Binary(op, ea, eb, DType.BOOL if op in COMPARISONS else dtype)


def _as_bool(e: Expr, op: BinaryOp | UnaryOp) -> Expr:
    if e.dtype is not DType.BOOL:
        raise DefinitionError(
            f"logical `{op.value}` needs bool operands, got {e} of type {e.dtype}; "
            "compare first, e.g. (x > 0)")
    return e


def unary(op: UnaryOp, a: object) -> Expr:
    ea = as_expr(a)
    if op is UnaryOp.NOT:
        return Unary(op, _as_bool(ea, op), DType.BOOL)
    if ea.dtype is DType.BOOL:
        ea = cast(ea, DType.INT32)
    return Unary(op, ea, ea.dtype)


def _bitwise(op: BinaryOp, a: object, b: object) -> Expr:
    from .intrinsics import bitwise

    return bitwise(op, a, b)


def _invert(a: object) -> Expr:
    from .intrinsics import invert

    return invert(a)
