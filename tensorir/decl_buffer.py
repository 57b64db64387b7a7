"""TVM's ``tir.decl_buffer``: a declared view of a tensor's memory (shape, type, strides, element
offset) that an extern operation's body reads and writes (:mod:`tensorir.extern_op`).

A :class:`DeclBuffer` owns a one-dimensional placeholder :class:`~tensorir.buffer.Buffer` over
the elements it may reach: its body's loads and stores are flat element offsets into it, as
TVM's loads through ``buf.data`` are. Lowering (:mod:`schedules.extern_stage`) replaces the
placeholder with the buffer of the tensor the declaration is bound to. ``buf[i, j]``,
``vload`` and ``vstore`` use the declared strides and element offset; a pointer from
``ir_builder.buffer_ptr`` indexes the elements row-major over the shape, as TVM's does.
"""

from __future__ import annotations

from collections.abc import Sequence

from .buffer import Buffer, Scope, row_major_strides
from .dtypes import INDEX, DType, as_dtype
from .errors import DefinitionError
from .expr import BinaryOp, BufferLoad, Const, Expr, Var, as_expr, binary, cast
from .names import identifier
from .stmt import Store

#: TVM's storage scope names and Nestor's scopes ("" is global, as TVM's default)
SCOPES = {"": Scope.GLOBAL, "global": Scope.GLOBAL, "shared": Scope.SHARED, "local": Scope.LOCAL}


def scope_of(scope: str, who: str) -> Scope:
    """Nestor's scope for TVM's scope name ``scope``."""
    if scope not in SCOPES:
        raise DefinitionError(f"{who}: scope={scope!r} is not a storage scope Nestor has; use one of "
                              f"{sorted(s for s in SCOPES if s)} (or '' for global)")
    return SCOPES[scope]


def as_shape(shape, who: str) -> tuple:
    """``shape`` (an extent or a sequence of them) as a tuple of ints and integer expressions."""
    if not isinstance(shape, (list, tuple)):
        shape = (shape,)
    dims = []
    for extent in shape:
        if isinstance(extent, bool) or not isinstance(extent, (int, Expr)) and not hasattr(extent, "value"):
            raise DefinitionError(f"{who}: shape {list(shape)} holds {extent!r}; each extent is an int or an "
                                  "integer expression (ns.var)")
        extent = int(extent) if isinstance(extent, int) else extent if isinstance(extent, Expr) else extent.value
        if isinstance(extent, int) and extent < 0:
            raise DefinitionError(f"{who}: shape {list(shape)} has a negative extent; use sizes >= 0")
        if isinstance(extent, Expr) and not extent.dtype.is_int:
            raise DefinitionError(f"{who}: extent {extent} has type {extent.dtype}; extents are integers")
        dims.append(extent)
    return tuple(dims)


class DeclBuffer:
    """A buffer declaration (TVM's ``tir.Buffer``); make one with :func:`decl_buffer`."""

    def __init__(self, shape: tuple, dtype: DType, name: str, strides: tuple, elem_offset, scope: Scope):
        self.shape, self.dtype, self.name, self.scope = shape, dtype, name, scope
        self.strides = strides
        self.elem_offset = elem_offset
        #: the flat elements the body accesses (see the module doc); bound to a tensor's buffer
        self.placeholder = Buffer(name, (_span(shape, strides, elem_offset),), dtype, scope)

    @property
    def data(self) -> DeclBuffer:
        """TVM's data pointer: ``ib.buffer_ptr`` takes it (or the buffer itself)."""
        return self

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def offset_of(self, indices: Sequence) -> Expr:
        """The flat element offset of ``indices`` (one per dimension) from strides and offset."""
        indices = _index_tuple(indices)
        if len(indices) != len(self.shape):
            raise DefinitionError(f"buffer {self.name}: {len(indices)} indices {list(map(str, indices))} for a "
                                  f"buffer of rank {len(self.shape)}; give one index per dimension")
        strides = self.strides or row_major_strides(self.shape)
        terms = [] if self.elem_offset is None or isinstance(self.elem_offset, int) and not self.elem_offset \
            else [as_expr(self.elem_offset, INDEX)]
        terms += [scaled(index, stride) for index, stride in zip(indices, strides) if not _is_const(index, 0)]
        return sum_of(terms)

    def vload(self, begin, dtype=None) -> Expr:
        """The element at ``begin`` (one index per dimension); ``dtype`` must be the buffer's."""
        if dtype is not None and as_dtype(dtype) is not self.dtype:
            raise DefinitionError(f"buffer {self.name}.vload(dtype={dtype!r}): vector loads are not supported; "
                                  f"load {self.dtype} elements one at a time")
        return BufferLoad(self.placeholder, (self.offset_of(begin),), self.dtype)

    def vstore(self, begin, value) -> Store:
        """The statement storing ``value`` at ``begin`` (emit it with ``ib.emit``)."""
        return Store(self.placeholder, (self.offset_of(begin),), stored_value(value, self.dtype, self.name))

    def __getitem__(self, indices) -> Expr:
        return self.vload(indices)

    def access_ptr(self, access_mask, ptr_type: str = "handle", content_lanes: int = 1, offset=0, extent=None):
        """TVM's ``access_ptr``: the memory from the element offset (plus ``offset``), for
        ``ib.buffer_ptr(ptr)[k]`` (see :mod:`tensorir.tile_pointer`)."""
        from .tile_pointer import access_ptr

        return access_ptr(self, access_mask, ptr_type, content_lanes, offset, extent)

    def __repr__(self) -> str:
        return f"decl_buffer({self.name}: {self.dtype}{list(self.shape)})"


def _is_const(value, number: int) -> bool:
    return isinstance(value, int) and value == number or isinstance(value, Const) and value.value == number


def scaled(index: Expr, stride) -> Expr:
    """``index * stride``, written as the one where the other is 1."""
    if _is_const(stride, 1):
        return index
    if _is_const(index, 1):
        return as_expr(stride, INDEX)
    return binary(BinaryOp.MUL, index, stride)


def sum_of(terms: list[Expr]) -> Expr:
    """The sum of ``terms`` left to right (0 for none)."""
    if not terms:
        return as_expr(0, INDEX)
    total = terms[0]
    for term in terms[1:]:
        total = binary(BinaryOp.ADD, total, term)
    return total


def _index_tuple(indices) -> tuple[Expr, ...]:
    if not isinstance(indices, (list, tuple)):
        indices = (indices,)
    out = []
    for index in indices:
        expr = as_expr(index, INDEX)
        if not expr.dtype.is_int:
            raise DefinitionError(f"buffer index {expr} has type {expr.dtype}; indices are integers "
                                  "(use .astype('int32'))")
        out.append(expr)
    return tuple(out)


def stored_value(value, dtype: DType, name: str) -> Expr:
    """``value`` as an element of a ``dtype`` buffer: a Python number takes the type; an
    expression must have it already (TVM's rule), or the store is refused with the fix."""
    if isinstance(value, (bool, int, float)):
        return cast(as_expr(value), dtype)
    expr = as_expr(value, dtype)
    if expr.dtype is not dtype:
        raise DefinitionError(f"store into {name}: the value {expr} has type {expr.dtype}, the buffer holds "
                              f"{dtype}; convert it with .astype('{dtype}')")
    return expr


def _span(shape: tuple, strides: tuple, elem_offset) -> int | Expr:
    """The elements from the data pointer a declaration reaches: its offset, then the last
    element its strides reach (a symbolic stride or offset: bound later, see extern_op)."""
    if not strides:
        total: int | Expr = 1
        for extent in shape:
            total = extent * total if isinstance(extent, int) and isinstance(total, int) else \
                binary(BinaryOp.MUL, total, extent)
    else:
        total = 1
        for extent, stride in zip(shape, strides):
            total = binary(BinaryOp.ADD, total, binary(BinaryOp.MUL, binary(BinaryOp.SUB, extent, 1), stride))
    if isinstance(elem_offset, Expr) or isinstance(elem_offset, int) and elem_offset:
        total = binary(BinaryOp.ADD, total, elem_offset)
    return total.value if isinstance(total, Const) and isinstance(total.value, int) else total


def decl_buffer(shape, dtype="float32", name: str = "buffer", data=None, strides=None, elem_offset=None,
                scope: str = "", data_alignment: int = -1, offset_factor: int = 0, buffer_type: str = "",
                axis_separators=None, span=None) -> DeclBuffer:
    """TVM's ``tir.decl_buffer``: declare the memory an extern body sees for one tensor.

    Parameters
    ----------
    shape
        The extents (ints or ``ns.var`` sizes).
    dtype
        The element type.
    name
        The buffer's name in the printed body.
    strides
        Elements between neighbours of each dimension; ints, or ``ns.var`` variables that
        binding to the tensor fixes (Nestor's tensors are dense and row-major).
    elem_offset
        The first element's offset from the data pointer: 0, or a variable bound to 0.
    scope
        ``""``/``"global"``, ``"shared"`` or ``"local"``.
    data, data_alignment, offset_factor, buffer_type, axis_separators, span
        TVM's: ``data`` (another buffer's memory) and ``axis_separators`` are refused; the
        alignment and offset factor are hints Nestor's dense buffers always meet.

    Returns
    -------
    DeclBuffer
        Pass it in ``extern(..., in_buffers=, out_buffers=)``.
    """
    who = f"decl_buffer({name!r})"
    if not isinstance(name, str) or not name:
        raise DefinitionError(f"decl_buffer(name={name!r}): name must be a non-empty string")
    if data is not None:
        raise DefinitionError(f"{who}: data= (a buffer over another buffer's memory) is not supported; declare "
                              "one buffer per tensor and pass the tensors to extern")
    if axis_separators:
        raise DefinitionError(f"{who}: axis_separators={axis_separators} is not supported; buffers are flat")
    dims = as_shape(shape, who)
    if strides is not None and len(strides) != len(dims):
        raise DefinitionError(f"{who}: {len(strides)} strides {list(strides)} for shape {list(dims)}; give one "
                              "stride per dimension")
    stride_exprs = () if strides is None else as_shape(tuple(strides), f"{who} strides")
    if elem_offset is not None and not isinstance(elem_offset, (int, Var)):
        raise DefinitionError(f"{who}: elem_offset={elem_offset!r} must be 0 or a variable (ns.var)")
    return DeclBuffer(dims, as_dtype(dtype), identifier(name), stride_exprs, elem_offset, scope_of(scope, who))


__all__ = ["DeclBuffer", "decl_buffer"]
