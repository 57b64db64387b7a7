"""Pointers into a declared buffer that is a view (a tensor intrinsic's tile): what
``ib.buffer_ptr(buf)`` and ``buf.access_ptr(mask)`` give when ``buf`` has an element offset or
strides of its own: a tensor intrinsic's buffers, while its ``fcompute`` runs (an extern's
buffers keep ``ib.buffer_ptr``'s row-major meaning from the data pointer, and refuse
``access_ptr``, which only external calls would need there).

As in TVM (whose ``BufferVar`` loads through the declared buffer, and whose ``access_ptr`` is
the data pointer plus the element offset):

- ``ib.buffer_ptr(buf)[i, j]`` is element ``[i, j]`` of the view: ``elem_offset + i * s0 + j * s1``
  with the declared strides; a single index ``[k]`` of a buffer of rank two or more is the
  ``k``-th element in row-major order over the shape (unravelled, then addressed by strides);
- ``ib.buffer_ptr(buf.access_ptr("r"))[k]`` is memory element ``elem_offset + offset + k``,
  counting in memory from where the view starts. A pointer whose mask has no ``"w"`` is
  read-only here: a store through it is refused (TVM leaves that to the external code).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from .decl_buffer import DeclBuffer, sum_of
from .dtypes import INDEX
from .errors import DefinitionError
from .expr import BinaryOp, Expr, as_expr, binary
from .ir_builder import BufferVar, _index

_MASKS = {"r": (True, False), "w": (False, True), "rw": (True, True), "wr": (True, True),
          1: (True, False), 2: (False, True), 3: (True, True)}


#: the declared buffers of the tensor intrinsic whose ``fcompute`` is running (its tiles)
_TILES: ContextVar[tuple[DeclBuffer, ...]] = ContextVar("nestor_intrinsic_tiles", default=())


@contextmanager
def declaring(buffers) -> Iterator[None]:
    """While ``decl_tensor_intrin`` calls ``fcompute``: pointers to ``buffers`` address tiles."""
    token = _TILES.set(tuple(buffers))
    try:
        yield
    finally:
        _TILES.reset(token)


def is_view(buf: DeclBuffer) -> bool:
    """Whether ``buf`` is a tile of the tensor intrinsic being declared: it lies at its element
    offset in its tensor with its strides, so a pointer to it counts from there."""
    return any(buf is tile for tile in _TILES.get())


@dataclass(frozen=True, eq=False)
class AccessPtr:
    """TVM's ``buf.access_ptr(mask, offset=...)``: the memory of ``buffer`` from its element
    offset plus ``offset``; index it through ``ib.buffer_ptr(ptr)``."""

    buffer: DeclBuffer
    readable: bool
    writable: bool
    offset: Expr

    @property
    def dtype(self) -> str:
        return "handle"

    def __repr__(self) -> str:
        mask = ("r" if self.readable else "") + ("w" if self.writable else "")
        return f"{self.buffer.name}.access_ptr({mask!r})"


def access_ptr(buf: DeclBuffer, access_mask, ptr_type: str = "handle", content_lanes: int = 1, offset=0,
               extent=None) -> AccessPtr:
    """The work of ``DeclBuffer.access_ptr`` (TVM's signature)."""
    if not is_view(buf):  # an extern's dense buffer: its elements are ib.buffer_ptr(buf)[i]
        raise DefinitionError(f"buffer {buf.name}.access_ptr: raw pointers are only for packed or external "
                              "calls, which Nestor cannot make; read and write the elements with "
                              "ib.buffer_ptr(buf)[i] or buf.vload/vstore")
    who = f"buffer {buf.name}.access_ptr({access_mask!r})"
    if access_mask not in _MASKS:
        raise DefinitionError(f"{who}: the access mask must be 'r', 'w' or 'rw' (or TVM's 1, 2, 3)")
    if content_lanes != 1:
        raise DefinitionError(f"{who}: content_lanes={content_lanes}; vector pointers are not supported, use 1")
    start = as_expr(offset, INDEX)
    if not start.dtype.is_int:
        raise DefinitionError(f"{who}: offset {start} has type {start.dtype}; give an integer element offset")
    base = buf.elem_offset if buf.elem_offset is not None else 0
    readable, writable = _MASKS[access_mask]
    return AccessPtr(buf, readable, writable, sum_of([as_expr(base, INDEX), start]))


def unravel(flat: Expr, shape: tuple) -> tuple[Expr, ...]:
    """The row-major indices of element ``flat`` of an array of ``shape`` (TVM's unravel_index)."""
    indices: list[Expr] = []
    rest = flat
    for extent in reversed(shape[1:]):
        indices.insert(0, binary(BinaryOp.FLOORMOD, rest, extent))
        rest = binary(BinaryOp.FLOORDIV, rest, extent)
    return (rest, *indices)


class ViewVar(BufferVar):
    """``ib.buffer_ptr(buf)`` of a view: indices address the view by its offset and strides."""

    def __init__(self, builder, buf: DeclBuffer):
        super().__init__(builder, buf.placeholder, buf.shape, buf.dtype, buf.name)
        self._view = buf

    def _offset(self, index) -> Expr:
        indices = tuple(_index(i, self.name) for i in (index if isinstance(index, tuple) else (index,)))
        if len(indices) == 1 and len(self._view.shape) > 1:
            indices = unravel(indices[0], self._view.shape)
        return self._view.offset_of(indices)


class RawPointerVar(BufferVar):
    """``ib.buffer_ptr(buf.access_ptr(mask))``: flat memory elements from where the view starts."""

    def __init__(self, builder, pointer: AccessPtr):
        buf = pointer.buffer
        super().__init__(builder, buf.placeholder, None, buf.dtype, buf.name)
        self._pointer = pointer

    def _offset(self, index) -> Expr:
        if isinstance(index, tuple):
            raise DefinitionError(f"pointer {self._pointer!r}[{', '.join(map(str, index))}]: a pointer from "
                                  "access_ptr counts memory elements; give one flat index, or index "
                                  f"ib.buffer_ptr({self.name}) by dimension")
        return sum_of([self._pointer.offset, _index(index, self.name)])

    def __setitem__(self, index, value) -> None:
        if not self._pointer.writable:
            raise DefinitionError(f"store through {self._pointer!r}: the pointer is read-only; take it with "
                                  f"{self.name}.access_ptr('w') or 'rw' to write")
        super().__setitem__(index, value)


def pointer_to(builder, buf, shape) -> BufferVar | None:
    """What ``ib.buffer_ptr(buf, shape)`` gives for an access pointer or a view (None otherwise)."""
    if isinstance(buf, AccessPtr):
        return RawPointerVar(builder, buf)
    if not isinstance(buf, DeclBuffer) or not is_view(buf):
        return None
    if shape is not None:
        raise DefinitionError(f"ir_builder.buffer_ptr({buf.name}, shape={shape}): {buf.name} lies at an offset in "
                              "its tensor (a tensor intrinsic's tile), so it keeps its declared shape; leave "
                              "out shape")
    return ViewVar(builder, buf)


__all__ = ["AccessPtr", "RawPointerVar", "ViewVar", "access_ptr", "declaring", "is_view", "pointer_to", "unravel"]
