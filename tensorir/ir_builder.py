"""TVM's ``tir.ir_builder``: statements written imperatively (loops, conditions, scratch
buffers, GPU thread extents) for the body of an extern operation (:mod:`tensorir.extern_op`).

The builder makes Nestor's own statement nodes (:mod:`tensorir.stmt`) as TVM's makes its: each
scope collects the statements emitted inside it, and a statement that wraps the rest of its
scope (an allocation, a ``let``, a thread extent) is kept as a function of that rest until
the scope closes. TVM's ``LetStmt`` becomes a one-element local buffer, and
``scope_attr(tx, "thread_extent", n)`` a loop over ``tx`` bound to that GPU index. Nestor's IR
has no while loop, so ``while_loop`` is refused with the bounded form to write instead.
"""

from __future__ import annotations

from collections.abc import Callable

from .buffer import Buffer, Scope
from .decl_buffer import DeclBuffer, as_shape, scaled, scope_of, stored_value, sum_of
from .dtypes import INDEX, DType, as_dtype
from .errors import DefinitionError
from .expr import BinaryOp, BufferLoad, Const, Expr, Var, as_expr, binary, const
from .stmt import Allocate, Evaluate, For, ForKind, IfThenElse, Seq, Stmt, Store, While, seq
from .visitor import substitute

#: ``for_range``'s kinds, TVM's names
KINDS = {"serial": ForKind.SERIAL, "parallel": ForKind.PARALLEL, "vectorize": ForKind.VECTORIZED,
         "unroll": ForKind.UNROLLED}
THREAD_TAGS = ("blockIdx.x", "blockIdx.y", "blockIdx.z", "threadIdx.x", "threadIdx.y", "threadIdx.z")
Wrapper = Callable[[Stmt], Stmt]


class WithScope:
    """A ``with`` scope: its value on entry, a callback on exit."""

    def __init__(self, value, on_exit: Callable[[], None]):
        self._value, self._on_exit = value, on_exit

    def __enter__(self):
        return self._value

    def __exit__(self, kind, value, trace):
        if kind is None:
            self._on_exit()


class BufferVar:
    """Elements of a buffer by flat offset (``p[i]``) or, given a shape, by one index per
    dimension row-major (``p[i, j]``): reading builds a load, assigning emits a store."""

    def __init__(self, builder: IRBuilder, buffer: Buffer | None, shape: tuple | None, dtype, name: str):
        self._builder, self._buffer, self._shape = builder, buffer, shape
        self.dtype, self.name = dtype, name

    def _offset(self, index) -> Expr:
        if self._buffer is None:
            raise DefinitionError(f"pointer {self.name}: it points at no buffer, so its elements cannot be read "
                                  "or written; use ib.allocate(dtype, shape) or ib.buffer_ptr(buffer)")
        if isinstance(index, tuple):
            if self._shape is None or len(index) != len(self._shape):
                rank = "no shape" if self._shape is None else f"rank {len(self._shape)}"
                raise DefinitionError(f"buffer {self.name}[{', '.join(map(str, index))}]: {len(index)} indices "
                                      f"for a pointer of {rank}; give one index per dimension, or one flat index")
            return _row_major(tuple(_index(i, self.name) for i in index), self._shape)
        return _index(index, self.name)

    def __getitem__(self, index) -> Expr:
        return BufferLoad(self._buffer, (self._offset(index),), self.dtype)

    def __setitem__(self, index, value) -> None:
        offset = self._offset(index)
        self._builder.emit(Store(self._buffer, (offset,), stored_value(value, self.dtype, self.name)))

    def asobject(self):
        return self

    def __repr__(self) -> str:
        return f"BufferVar({self.name}: {self.dtype})"


def _row_major(index: tuple[Expr, ...], shape: tuple) -> Expr:
    """The flat offset of ``index`` in a row-major array of ``shape`` (TVM's linear index)."""
    terms: list[Expr] = []
    size: object = 1
    for extent, i in zip(reversed(shape), reversed(index)):
        terms.insert(0, scaled(i, size))
        both_int = isinstance(size, int) and isinstance(extent, int)
        size = size * extent if both_int else binary(BinaryOp.MUL, size, extent)
    return sum_of(terms)


def _index(index, name: str) -> Expr:
    expr = as_expr(index, INDEX)
    if not expr.dtype.is_int:
        raise DefinitionError(f"buffer {name}[{expr}]: the index has type {expr.dtype}; indices are integers "
                              "(use .astype('int32'))")
    return expr


class IRBuilder:
    """TVM's IR builder: emit statements in ``with`` scopes, then take the body with :meth:`get`.

    Examples
    --------
    >>> ib = ns.ir_builder.create()
    >>> out = ib.buffer_ptr(outs[0]); x = ib.buffer_ptr(ins[0])
    >>> with ib.for_range(0, n, name="i") as i:
    ...     out[i] = x[i] + 1.0
    >>> body = ib.get()
    """

    def __init__(self):
        self._scopes: list[list[Stmt | Wrapper]] = [[]]
        self._names = 0
        self._last_if: IfThenElse | None = None

    # -- scopes -----------------------------------------------------------------------------
    def _open(self) -> None:
        self._scopes.append([])

    def _close(self) -> Stmt:
        """The statement of the innermost scope: its statements in order, each wrapper around
        everything emitted after it."""
        items = self._scopes.pop()
        body: Stmt = seq()
        for item in reversed(items):
            body = item(body) if callable(item) else seq(item, body)
        return body

    def emit(self, stmt) -> None:
        """Append a statement (or an expression, evaluated for its effect) to the current scope;
        a function of a statement wraps the rest of the scope."""
        if isinstance(stmt, Expr):
            stmt = Evaluate(stmt)
        if not isinstance(stmt, Stmt) and not callable(stmt):
            raise DefinitionError(f"ir_builder.emit({stmt!r}): expected a statement or an expression")
        self._scopes[-1].append(stmt)

    def for_range(self, begin, end, name: str = "i", dtype="int32", kind: str = "serial") -> WithScope:
        """A loop ``for name in begin..end`` of ``kind`` (serial, parallel, vectorize, unroll); the
        ``with`` value is the loop variable."""
        if kind not in KINDS:
            raise DefinitionError(f"ir_builder.for_range(kind={kind!r}): not a loop kind; use one of "
                                  f"{', '.join(KINDS)}")
        if name == "i":  # TVM's naming: i, j, k, then i_0, i_1, ...
            name = "ijk"[self._names] if self._names < 3 else f"i_{self._names - 3}"
            self._names += 1
        var = Var(name, as_dtype(dtype))
        lo, hi = as_expr(begin, var.dtype), as_expr(end, var.dtype)
        if not (lo.dtype.is_int and hi.dtype.is_int):
            raise DefinitionError(f"ir_builder.for_range({begin}, {end}): bounds must be integers")
        extent = hi if isinstance(lo, Const) and lo.value == 0 else binary(BinaryOp.SUB, hi, lo)
        self._open()

        def close():
            self.emit(For(var, lo, extent, KINDS[kind], self._close()))

        return WithScope(var, close)

    def if_scope(self, cond) -> WithScope:
        """Statements run where ``cond`` holds."""
        cond = _condition(cond, "if_scope")
        self._open()

        def close():
            self.emit(IfThenElse(cond, self._close()))

        return WithScope(None, close)

    def else_scope(self) -> WithScope:
        """Statements run where the condition of the ``if_scope`` just closed does not hold."""
        scope = self._scopes[-1]
        if not scope or not isinstance(scope[-1], IfThenElse) or scope[-1].else_body is not None:
            raise DefinitionError("ir_builder.else_scope: it must follow an if_scope directly (with no statement "
                                  "between them, and once)")
        previous = scope.pop()
        self._open()

        def close():
            self.emit(IfThenElse(previous.cond, previous.then_body, self._close()))

        return WithScope(None, close)

    def new_scope(self) -> WithScope:
        """A scope of its own: allocations and thread extents inside end with it."""
        self._open()
        return WithScope(None, lambda: self.emit(self._close()))

    def while_loop(self, condition) -> WithScope:
        """Statements run again while ``condition`` holds, tested before each run (the body
        must change what it reads, e.g. a counter in a local buffer, or the loop never ends)."""
        cond = _condition(condition, "while_loop")
        self._open()

        def close():
            self.emit(While(cond, self._close()))

        return WithScope(None, close)

    # -- values and buffers -----------------------------------------------------------------------
    def let(self, var_name: str, value) -> Expr:
        """A name for ``value`` computed here, once (TVM's LetStmt): a one-element local buffer,
        so that a later store cannot change what the name reads."""
        value = as_expr(value)
        holder = Buffer(f"{var_name}.let", (1,), value.dtype, Scope.LOCAL)
        name = Var(var_name, value.dtype)
        zero = (const(0, INDEX),)

        def wrap(body: Stmt) -> Stmt:
            return Allocate(holder, seq(Store(holder, zero, value), substitute(body, {name: BufferLoad(holder, zero,
                                                                                                     value.dtype)})))

        self.emit(wrap)
        return name

    def allocate(self, dtype, shape, name: str = "buf", scope: str = "") -> BufferVar:
        """A scratch buffer of ``shape`` that lives until the current scope ends."""
        dims = as_shape(shape, f"ir_builder.allocate({name!r})")
        size = 1
        for extent in dims:
            if not isinstance(extent, int):
                raise DefinitionError(f"ir_builder.allocate({name!r}, shape={list(dims)}): scratch buffers have "
                                      "constant shapes; allocate the largest size the body needs")
            size *= extent
        buffer = Buffer(name, (size,), as_dtype(dtype), scope_of(scope, f"ir_builder.allocate({name!r})"))
        self.emit(lambda body: Allocate(buffer, body))
        return BufferVar(self, buffer, dims, buffer.dtype, name)

    def pointer(self, content_type, name: str = "ptr", scope: str = "") -> BufferVar:
        """A pointer of ``content_type`` to no buffer: Nestor refuses its loads and stores."""
        return BufferVar(self, None, None, as_dtype(content_type), name)

    def buffer_ptr(self, buf, shape=None) -> BufferVar:
        """The elements of a declared buffer (an extern's ``ins``/``outs``), indexed flat or,
        with one index per dimension, row-major over its shape (or ``shape``)."""
        if isinstance(buf, BufferVar):
            return buf
        from .tile_pointer import pointer_to  # a tensor intrinsic's tile, or an access_ptr

        pointer = pointer_to(self, buf, shape)
        if pointer is not None:
            return pointer
        if not isinstance(buf, DeclBuffer):
            raise DefinitionError(f"ir_builder.buffer_ptr({buf!r}): expected a buffer (one of extern's ins or "
                                  "outs, or ns.decl_buffer(...))")
        dims = buf.shape if shape is None else as_shape(shape, f"ir_builder.buffer_ptr({buf.name})")
        return BufferVar(self, buf.placeholder, dims, buf.dtype, buf.name)

    def scope_attr(self, node, attr_key: str, value) -> None:
        """An attribute of the rest of the scope; ``"thread_extent"`` of a GPU index
        (``ns.thread_axis("threadIdx.x")``) runs the rest once per index value ``0..value``."""
        if attr_key == "virtual_thread":
            attr_key = "thread_extent"
        if attr_key != "thread_extent":
            raise DefinitionError(f"ir_builder.scope_attr(key={attr_key!r}): Nestor supports 'thread_extent' (a GPU "
                                  "index over the rest of the scope); remove other attributes")
        tag = getattr(node, "thread_tag", None)
        var = getattr(node, "var", None)
        if tag not in THREAD_TAGS or not isinstance(var, Var):
            raise DefinitionError(f"ir_builder.scope_attr({node!r}, 'thread_extent'): the node must be a GPU index "
                                  f"from ns.thread_axis(tag) with tag in {list(THREAD_TAGS)}")
        extent = as_expr(value, INDEX)
        self.emit(lambda body: For(var, const(0, var.dtype), extent, ForKind.THREAD_BINDING, body, tag))

    def likely(self, expr) -> Expr:
        """``expr`` (TVM's branch hint; Nestor's backends pick their own branch layout)."""
        return as_expr(expr)

    def get(self) -> Stmt:
        """The statement built so far; every scope must be closed."""
        if len(self._scopes) != 1:
            raise DefinitionError("ir_builder.get(): called inside an open scope (a with block); call it after "
                                  "the last with block ends")
        body = self._close()
        self._scopes = [[body]]
        return body


def _condition(cond, who: str) -> Expr:
    expr = as_expr(cond)
    if expr.dtype is not DType.BOOL:
        raise DefinitionError(f"ir_builder.{who}({expr}): the condition has type {expr.dtype}; compare it, e.g. "
                              f"{expr} != 0")
    return expr


def create() -> IRBuilder:
    """A new, empty :class:`IRBuilder` (TVM's ``tir.ir_builder.create()``)."""
    return IRBuilder()


__all__ = ["BufferVar", "IRBuilder", "Seq", "create"]
