"""Tensors and the operations that define them: placeholders and compute definitions."""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from .dtypes import INDEX, DType, as_dtype
from .errors import DefinitionError
from .expr import Expr, IterKind, IterVar, Reduce, TensorLoad, Var, as_expr
from .intmath import as_int
from .intrinsics import as_index
from .isl_bridge import check_definition_bounds
from .op_body import register as register_body
from .shapes import _check_shape, as_dims
from .symbolic import ShapeVar
from .tags import labelled, labels
from .visitor import _children, walk
from .zero_divisors import check_zero_divisors

_counter = itertools.count()


class Operation:
    """What produces a tensor: a placeholder (an input) or a compute definition."""

    name: str
    shape: tuple[int, ...]
    dtype: DType
    #: how many tensors the operation produces (several for a compute returning a tuple)
    num_outputs: int = 1

    @property
    def output(self) -> Tensor:
        return self._output  # type: ignore[attr-defined]

    @property
    def outputs(self) -> tuple[Tensor, ...]:
        """Every tensor the operation produces, in order (``value_index`` 0, 1, ...)."""
        return getattr(self, "_outputs", None) or (self.output,)

    def output_dtype(self, value_index: int) -> DType:
        return self.dtype

    def output_shape(self, value_index: int) -> tuple[int, ...]:
        """The shape of output ``value_index`` (an extern's outputs may differ)."""
        return self.shape

    @property
    def inputs(self) -> tuple[Tensor, ...]:
        return ()

    @property
    def input_tensors(self) -> list[Tensor]:
        """The tensors this operation reads (TVM's ``op.input_tensors``)."""
        return list(self.inputs)

    #: TVM's ``compute(..., tag=, attrs=)``: a label and attributes for whoever schedules the
    #: operation (templates match on the tag); they do not change what is computed
    tag: str = ""
    attrs: Mapping[str, object] = MappingProxyType({})


class PlaceholderOp(Operation):
    def __init__(self, name: str, shape: tuple[int, ...], dtype: DType):
        self.name, self.shape, self.dtype = name, shape, dtype
        self._output = Tensor(self)

    def __repr__(self) -> str:
        return f"placeholder({self.name}, {list(self.shape)}, {self.dtype})"


class ComputeOp(Operation):
    """``name[axis...] = body``; ``body`` is a Reduce over ``reduce_axis`` for reductions.

    A compute with several outputs (a lambda returning a tuple) has one body per output in
    ``bodies`` (``body`` is the first) and one tensor per body in ``outputs``; they share one
    stage and one loop nest (see :mod:`tensorir.outputs`).
    """

    def __init__(self, name: str, axis: tuple[IterVar, ...], body: Expr | tuple[Expr, ...]):
        self.name = name
        self.axis = axis
        self.bodies: tuple[Expr, ...] = tuple(body) if isinstance(body, (tuple, list)) else (body,)
        self.body = self.bodies[0]
        self.reduce_axis = self.body.axes if isinstance(self.body, Reduce) else ()
        self.shape = tuple(iv.extent for iv in axis)
        self.dtype = self.body.dtype
        self.num_outputs = len(self.bodies)
        self._inputs = _collect_inputs(self.bodies)
        self._outputs = tuple(Tensor(self, n) for n in range(self.num_outputs))
        self._output = self._outputs[0]
        register_body(self)  # TVM's op.body[0]

    def output_dtype(self, value_index: int) -> DType:
        return self.bodies[value_index].dtype

    @property
    def inputs(self) -> tuple[Tensor, ...]:
        return self._inputs

    def __repr__(self) -> str:
        return f"compute({self.name}, {list(self.shape)}, {self.dtype})"


def _collect_inputs(bodies: Expr | tuple[Expr, ...]) -> tuple[Tensor, ...]:
    seen: dict[Tensor, None] = {}
    for body in bodies if isinstance(bodies, tuple) else (bodies,):
        for node in walk(body):
            if isinstance(node, TensorLoad):
                seen.setdefault(node.tensor, None)
    return tuple(seen)


@dataclass(frozen=True, eq=False, repr=False)
class Tensor:
    """The output of an operation; index it (``A[i, j]``) to use its elements in an expression."""

    op: Operation
    #: which output of ``op`` this is (0 unless the compute has several outputs)
    value_index: int = 0

    @property
    def name(self) -> str:
        if self.op.num_outputs == 1:
            return self.op.name
        return f"{self.op.name}.v{self.value_index}"

    @property
    def shape(self) -> tuple[int, ...]:
        """The dimensions; a constant one is an int with TVM's ``.value`` (:class:`~tensorir.shapes.IntDim`)."""
        return as_dims(self.op.output_shape(self.value_index))

    @property
    def dtype(self) -> DType:
        return self.op.output_dtype(self.value_index)

    @property
    def ndim(self) -> int:
        return len(self.op.shape)

    def at(self, *indices, mode: str = "check") -> TensorLoad:
        """The element at ``indices``, each index fitted to its dimension as ``mode`` says.

        ``"check"`` is ``A[...]`` (a subscript no proof bounds is checked when the kernel runs),
        ``"clip"`` clamps each index into ``0..extent-1``, ``"wrap"`` takes it modulo the extent
        (floor modulo: ``-1`` is the last element), and ``"assume"`` promises it is inside
        (:func:`~tensorir.access_guards.assume_in_bounds`).
        """
        from .access_guards import index_in_mode

        who = f"access {self.name}.at(...)"
        load = self[indices]
        fitted = tuple(index_in_mode(index, extent, mode, who)
                       for index, extent in zip(load.indices, self.shape))
        return TensorLoad(self, fitted, self.dtype)

    def __call__(self, *args):
        """TVM's two calls on a tensor: ``T(i, j)`` is ``T[i, j]`` inside a definition (a rank-0
        tensor is read as ``T()``), and ``op.output(n)`` (``op.output`` being output 0) is the
        ``n``-th output of the operation."""
        from .outputs import call_tensor

        return call_tensor(self, args)

    def __getitem__(self, indices) -> TensorLoad | TensorSlice:
        if not isinstance(indices, tuple):
            indices = (indices,)
        if 0 < len(indices) < self.ndim and not any(isinstance(i, slice) for i in indices):
            return TensorSlice(self, indices)  # TVM's A[i][j]
        if len(indices) != self.ndim:
            raise self.rank_error(indices)
        exprs = []
        for position, index in enumerate(indices):
            if isinstance(index, slice):
                raise DefinitionError(
                    f"access {self.name}[...]: index {position} is a slice; index every dimension "
                    "with an expression of the loop variables")
            expr = as_expr(index, INDEX)
            if expr.dtype.is_float or expr.dtype.name == "BOOL":
                raise DefinitionError(
                    f"access {self.name}[...]: index {position} is {expr} of type {expr.dtype}; "
                    "indices must be integer expressions (use .astype('int32'))")
            exprs.append(as_index(expr))
        return TensorLoad(self, tuple(exprs), self.dtype)

    def rank_error(self, indices: tuple) -> DefinitionError:
        """The error for an access with the wrong number of ``indices``."""
        shown = ", ".join(i.name if isinstance(i, IterVar) else str(i) for i in indices)
        return DefinitionError(
            f"access {self.name}[{shown}]: {self.name} has rank "
            f"{self.ndim} (shape {list(self.shape)}) but {len(indices)} indices were given; "
            + (f"a rank-0 tensor takes no index: read it as {self.name}() (or {self.name}[] in "
               "the string form)" if self.ndim == 0 else "give one index per dimension"))

    def __iter__(self):
        # Without this, iteration would fall back to __getitem__(0), (1), ... and never stop.
        raise DefinitionError(
            f"tensor {self.name} cannot be iterated over; index it with expressions of the loop "
            f"variables (e.g. {self.name}[i]), and pass tensors to functions in a list")

    def __repr__(self) -> str:
        return f"Tensor({self.name}, shape={list(self.shape)}, dtype={self.dtype})"

    # TVM's tensor arithmetic (tensorir/overload.py): elementwise with a scalar, broadcast with a tensor
    def __add__(self, other): return _overload("ADD", self, other)
    def __radd__(self, other): return _overload("ADD", other, self)
    def __sub__(self, other): return _overload("SUB", self, other)
    def __rsub__(self, other): return _overload("SUB", other, self)
    def __mul__(self, other): return _overload("MUL", self, other)
    def __rmul__(self, other): return _overload("MUL", other, self)
    def __truediv__(self, other): return _overload("DIV", self, other)
    def __rtruediv__(self, other): return _overload("DIV", other, self)
    def __floordiv__(self, other): return _overload("FLOORDIV", self, other)
    def __rfloordiv__(self, other): return _overload("FLOORDIV", other, self)
    def __mod__(self, other): return _overload("FLOORMOD", self, other)
    def __rmod__(self, other): return _overload("FLOORMOD", other, self)
    def __pow__(self, other): return _overload("POW", self, other)
    def __rpow__(self, other): return _overload("POW", other, self)
    def __lt__(self, other): return _overload("LT", self, other)
    def __le__(self, other): return _overload("LE", self, other)
    def __gt__(self, other): return _overload("GT", self, other)
    def __ge__(self, other): return _overload("GE", self, other)
    def __neg__(self): return _overload("SUB", 0, self)


def _overload(op: str, lhs: object, rhs: object) -> Tensor:
    from .expr import BinaryOp
    from .overload import tensor_binary

    return tensor_binary(BinaryOp[op], lhs, rhs)


@dataclass(frozen=True, eq=False)
class TensorSlice:
    """TVM's ``A[i]`` of a tensor of higher rank, to be indexed further: ``A[i][j]`` is
    ``A[i, j]``. Used in an expression before every dimension has an index, it raises the
    access's rank error."""

    tensor: Tensor
    indices: tuple

    def __getitem__(self, more) -> TensorLoad | TensorSlice:
        return self.tensor[(*self.indices, *(more if isinstance(more, tuple) else (more,)))]

    def error(self) -> DefinitionError:
        return self.tensor.rank_error(self.indices)

    def _refuse(self, *_):
        raise self.error()

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _refuse
    __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = __neg__ = __pow__ = __bool__ = _refuse
    __lt__ = __le__ = __gt__ = __ge__ = _refuse

    def astype(self, *_):
        raise self.error()


def placeholder(shape, dtype="float32", name: str | None = None) -> Tensor:
    """An input tensor of static ``shape`` and ``dtype``."""
    name = name or f"placeholder{next(_counter)}"
    shape = _check_shape(shape, f"placeholder {name}")
    return PlaceholderOp(name, shape, as_dtype(dtype, f"placeholder {name}: dtype")).output


def reduce_axis(dom, name: str | None = None) -> IterVar:
    """A reduction axis over ``0..extent`` or ``lo..hi`` (``hi`` excluded).

    Parameters
    ----------
    dom
        An extent, or a ``(lo, hi)`` pair. Bounds are ints, expressions of size variables, or,
        for an axis created inside a compute's lambda, affine expressions of that compute's
        indices (TVM's triangular ranges: ``lambda i: ns.sum(A[k], axis=k)`` with
        ``k = ns.reduce_axis((0, i + 1))``; see :mod:`tensorir.dependent`).
    name
        The axis's name (a fresh ``k<n>`` by default).

    Returns
    -------
    IterVar
        The axis, to pass to a reducer's ``axis=`` and use in its expression.
    """
    name = name or f"k{next(_counter)}"
    if isinstance(dom, (tuple, list)) and len(dom) == 2:
        lo, hi = (as_int(bound) for bound in dom)
    else:
        lo, hi = 0, as_int(dom)
    if isinstance(lo, (Expr, IterVar)) or isinstance(hi, (Expr, IterVar)):
        from .dependent import dependent_reduce_axis, loose_vars
        from .symbolic import symbolic_reduce_axis

        if loose_vars(lo) or loose_vars(hi):
            return dependent_reduce_axis(name, lo, hi)

        return symbolic_reduce_axis(name, lo, hi)
    for bound in (lo, hi):
        if isinstance(bound, bool) or not isinstance(bound, int):
            raise DefinitionError(
                f"reduce_axis {name}: range {dom!r} must be an int extent or a (lo, hi) pair of ints")
    if hi <= lo:
        raise DefinitionError(f"reduce_axis {name}: range {lo}..{hi} is empty; it needs hi > lo")
    return IterVar(Var(name, INDEX), lo, hi - lo, IterKind.REDUCE)


def _index_names(fcompute: Callable, ndim: int, name: str) -> list[str]:
    try:
        params = list(inspect.signature(fcompute).parameters.values())
    except (TypeError, ValueError):
        return [f"i{d}" for d in range(ndim)]
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return [f"i{d}" for d in range(ndim)]
    if len(params) != ndim:
        raise DefinitionError(
            f"compute {name}: fcompute takes {len(params)} index variables but the shape has "
            f"{ndim} dimensions; give one index variable per output dimension")
    return [p.name for p in params]


def compute(shape, fcompute=None, name: str | None = None, tag: str = "", attrs=None, **kwargs) -> Tensor:
    """A tensor whose element at each index is ``fcompute(*index)``.

    Also accepts the string form: ``compute("C[i,j] = sum(A[i,k] * B[j,k])", A=A, B=B)``.
    ``tag`` and ``attrs`` (a dict with string keys) are kept on the operation, as in TVM
    (``C.op.tag``, ``C.op.attrs``); they do not change what is computed.
    """
    if not isinstance(shape, str):
        return labelled(_compute(shape, fcompute, name, **kwargs), labels(tag, attrs, name))
    from .parse import compute_from_string

    # the string form's tensors go by name, and may be named tag or attrs
    kwargs |= {key: value for key, value in (("tag", tag), ("attrs", attrs)) if isinstance(value, Tensor)}
    given = labels("" if isinstance(tag, Tensor) else tag, None if isinstance(attrs, Tensor) else attrs, name)
    return labelled(compute_from_string(shape, name=name, **kwargs), given)


def _compute(shape, fcompute, name: str | None, **kwargs) -> Tensor:
    if kwargs:
        raise DefinitionError(
            f"compute: unexpected keyword arguments {sorted(kwargs)}; tensors are passed by name "
            "only with the string form")
    name = name or f"compute{next(_counter)}"
    shape = _check_shape(shape, f"compute {name}", integral_floats=True)
    if not callable(fcompute):
        raise DefinitionError(f"compute {name}: fcompute must be a function of the index variables")
    names = _index_names(fcompute, len(shape), name)
    axis = tuple(IterVar(Var(n, INDEX), 0, extent, IterKind.DATA_PAR) for n, extent in zip(names, shape))
    from .dependent import defining

    with defining(axis):
        value = fcompute(*axis)
    if isinstance(value, (tuple, list)):
        from .outputs import bodies_of

        bodies = bodies_of(name, value)
        return make_compute(name, axis, bodies if len(bodies) > 1 else bodies[0])
    try:
        body = as_expr(value)
    except DefinitionError as err:
        raise DefinitionError(
            f"compute {name}: fcompute must return an expression of its index variables; {err}") from None
    return make_compute(name, axis, body)


#: the deepest expression a compute body may be: every pass, printer and backend walks
#: expressions recursively, and Python's parser refuses more than 200 nested parentheses
MAX_DEPTH = 128


def _check_depth(name: str, body: Expr) -> None:
    """Refuse a body deeper than MAX_DEPTH, without recursing and visiting each node once (a body
    that reuses a subexpression is a graph: walking it as a tree could take exponential time)."""
    depth: dict[int, int] = {}
    stack: list[tuple[Expr, bool]] = [(body, False)]
    while stack:
        node, expanded = stack.pop()
        if id(node) in depth:
            continue
        children = list(_children(node))
        if not expanded:
            stack.append((node, True))
            stack += [(child, False) for child in children if id(child) not in depth]
            continue
        depth[id(node)] = 1 + max((depth[id(child)] for child in children), default=0)
        if depth[id(node)] > MAX_DEPTH:
            raise DefinitionError(
                f"compute {name}: the body is more than {MAX_DEPTH} operations deep; split it into several "
                f"computes, or sum many terms with a reduce axis (ns.sum) or as a balanced tree")


def make_compute(name: str, axis: Sequence[IterVar], body: Expr | tuple[Expr, ...]):
    """Check a compute body (its depth, where reductions sit, which axes it uses) and build the
    tensor; given a tuple of bodies, check them as one group and build the list of tensors of
    a compute with several outputs."""
    from .access_guards import guard_accesses
    from .outputs import check_output_group

    bodies = body if isinstance(body, tuple) else (body,)
    check_output_group(name, bodies)
    from .scan import record_state_reads, state_reads

    reads = []
    for one in bodies:
        _check_depth(name, one)
        _check_reductions(name, one, tuple(axis))
        _check_axis_names(name, tuple(axis), one)
        check_zero_divisors(name, one)
        written: dict = {}
        checked, one_reads = state_reads(axis, one, written)  # a scan's update reads its state at earlier steps
        reads += one_reads
        check_definition_bounds(name, tuple(axis), checked, written)
    guarded = tuple(guard_accesses(name, tuple(axis), one) for one in bodies)
    op = ComputeOp(name, tuple(axis), guarded if len(guarded) > 1 else guarded[0])
    record_state_reads(op, reads)
    return list(op.outputs) if len(guarded) > 1 else op.output


def _check_axis_names(name: str, axis: tuple[IterVar, ...], body: Expr) -> None:
    """Loops are named after their axes (schedules and traces refer to them by name)."""
    reduce_axes = body.axes if isinstance(body, Reduce) else ()
    seen: dict[str, str] = {}
    for iv in axis + tuple(reduce_axes):
        kind = "reduce axis" if iv in reduce_axes else "output axis"
        if iv.name in seen:
            which = (f"two {kind.replace('axis', 'axes')}" if seen[iv.name] == kind
                     else f"the {seen[iv.name]} and the {kind}")
            raise DefinitionError(
                f"compute {name}: {which} are both named {iv.name!r}; "
                f"give them different names, e.g. reduce_axis(..., name='{iv.name}2')")
        seen[iv.name] = kind


def _reducer_name(node: Reduce) -> str:
    return node.combiner.name if node.combiner is not None else node.op.value


def _check_reductions(name: str, body: Expr, axis: tuple[IterVar, ...]) -> None:
    reductions = [n for n in walk(body) if isinstance(n, Reduce)]
    if reductions and not isinstance(body, Reduce):
        raise DefinitionError(
            f"compute {name}: a reducer ({_reducer_name(reductions[0])}) must be the whole body, not part "
            f"of {body}; compute the reduction as its own tensor, then use it in a second compute")
    if len(reductions) > 1:
        raise DefinitionError(
            f"compute {name}: reducers are nested in {body}; compute the inner reduction as its "
            "own tensor first")
    reduce_vars = {iv.var: iv for iv in body.axes} if isinstance(body, Reduce) else {}
    axis_vars = {iv.var for iv in axis}
    outside = body.source if isinstance(body, Reduce) else body
    for node in walk(outside if not reduce_vars else body):
        if isinstance(node, Var) and node not in axis_vars and node not in reduce_vars \
                and not isinstance(node, ShapeVar):
            own = ", ".join(iv.name for iv in axis)
            raise DefinitionError(
                f"compute {name}: `{node.name}` is used outside a reducer over it and is not an "
                f"index of this compute ({own}); if it is a reduce axis, wrap the expression in "
                f"ns.sum/ns.max/ns.min(..., axis={node.name}), else use this compute's own indices")
