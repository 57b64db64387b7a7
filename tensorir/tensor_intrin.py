"""TVM's ``te.decl_tensor_intrin``: a compute definition (what a tile computes) paired with the
statements that compute it (what replaces the tile's loops when a stage is tensorized, see
:mod:`schedules.tensorize`).

The statements are built once, by ``fcompute(ins, outs)`` over declared buffers
(:mod:`tensorir.decl_buffer`), one per input and output of the definition. A declared buffer's
element offset and strides are variables here (as TVM's with ``offset_factor``), bound at
lowering to where the tile lies in the stage's tensors. ``fcompute`` returns the body (a
statement), or for a reduction ``(body, reset, update)``: the body computes the tile from
scratch, the reset starts its accumulators and the update adds one more slice of the
reduction to them; any of the three may be None.

While ``fcompute`` runs, ``ib.buffer_ptr(buf)`` of a declared buffer addresses the tile (its
element offset and strides; a flat index is unravelled over the shape) and
``buf.access_ptr(mask)`` is the memory from where the tile starts, as in TVM's tensorize how-to
(:mod:`tensorir.tile_pointer`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .analysis import free_vars
from .decl_buffer import DeclBuffer, decl_buffer
from .dtypes import INDEX
from .errors import DefinitionError, ScheduleError
from .expr import BufferLoad, Expr, Reduce, Var
from .stmt import Allocate, Evaluate, Stmt, Store
from .tensor import ComputeOp, PlaceholderOp, Tensor
from .tile_pointer import declaring
from .visitor import walk


@dataclass(frozen=True, eq=False)
class TensorIntrin:
    """A declared tensor intrinsic: the definition ``op``, one declared buffer per input tensor
    (``inputs``, in the order of ``op.inputs``) and for the output, and the statements."""

    name: str
    op: ComputeOp
    inputs: tuple[Tensor, ...]
    in_buffers: tuple[DeclBuffer, ...]
    out_buffer: DeclBuffer
    body: Stmt | None
    reset: Stmt | None
    update: Stmt | None

    @property
    def buffers(self) -> tuple[DeclBuffer, ...]:
        """TVM's ``intrin.buffers``: the declared buffers, inputs then the output."""
        return (*self.in_buffers, self.out_buffer)

    @property
    def is_reduction(self) -> bool:
        return isinstance(self.op.body, Reduce)

    def __repr__(self) -> str:
        return f"TensorIntrin({self.name}: {self.op.name})"


def _as_op(op, who: str) -> ComputeOp:
    if isinstance(op, Tensor):
        op = op.op
    if not isinstance(op, ComputeOp):
        raise DefinitionError(f"{who}: op is {op!r}; pass the operation of a compute (c.op, with c = "
                              "ns.compute(...)) that describes what the intrinsic computes")
    if op.num_outputs != 1:
        raise DefinitionError(f"{who}: {op.name} has {op.num_outputs} outputs; a tensor intrinsic computes one")
    for tensor in op.inputs:
        if not isinstance(tensor.op, PlaceholderOp):
            raise DefinitionError(f"{who}: {op.name} reads {tensor.op.name}, which is not a placeholder; an "
                                  "intrinsic's compute reads ns.placeholder tensors only")
    return op


def _movable(declared: DeclBuffer, tensor: Tensor, who: str) -> DeclBuffer:
    """``declared`` checked against ``tensor``, its element offset made a variable if it had none
    (so that the tile can lie anywhere in the stage's tensor)."""
    if not isinstance(declared, DeclBuffer):
        raise DefinitionError(f"{who}: binds[{tensor.op.name}] is {declared!r}; bind each tensor to "
                              "ns.decl_buffer(...)")
    if declared.dtype is not tensor.dtype:
        raise DefinitionError(f"{who}: buffer {declared.name} holds {declared.dtype}, tensor {tensor.op.name} "
                              f"{tensor.dtype}; declare it with dtype='{tensor.dtype}'")
    if len(declared.shape) != len(tensor.shape) or any(
            isinstance(a, int) and isinstance(b, int) and a != b for a, b in zip(declared.shape, tensor.shape)):
        raise DefinitionError(f"{who}: buffer {declared.name} has shape {list(declared.shape)}, tensor "
                              f"{tensor.op.name} {list(tensor.shape)}; declare it with the tensor's shape")
    if declared.elem_offset is not None:
        return declared
    return DeclBuffer(declared.shape, declared.dtype, declared.name, declared.strides,
                      Var(f"{declared.name}_elem_offset", INDEX), declared.scope)


def _default_buffer(tensor: Tensor, params: dict, who: str) -> DeclBuffer:
    """TVM's default binding, with variable strides so that any region of a tensor binds."""
    name = tensor.op.name
    params = dict(params)
    params.setdefault("strides", [Var(f"{name}_s{d}", INDEX) for d in range(len(tensor.shape))])
    try:
        declared = decl_buffer(tensor.shape, tensor.dtype, name, **params)
    except TypeError as error:
        raise DefinitionError(f"{who}: default_buffer_params={params} ({error}); pass decl_buffer's "
                              "keyword arguments") from None
    return _movable(declared, tensor, who)


def _statement(value, role: str, who: str) -> Stmt | None:
    if value is None or isinstance(value, Stmt):
        return value
    if isinstance(value, Expr):
        return Evaluate(value)
    raise DefinitionError(f"{who}: fcompute returned {type(value).__name__} as the {role}; return a statement "
                          "(ib.get()), or (body, reset, update) for a reduction")


def _check_accesses(stmt: Stmt | None, declared: list[DeclBuffer], who: str) -> None:
    """Every access is to a declared or allocated buffer, and one to a declared buffer whose
    element offset is a variable counts from that offset (where the tile lies in its tensor)."""
    if stmt is None:
        return
    offsets = {d.placeholder: d for d in declared}
    known = set(offsets) | {n.buffer for n in walk(stmt) if isinstance(n, Allocate)}
    for node in walk(stmt):
        if not isinstance(node, (BufferLoad, Store)):
            continue
        if node.buffer not in known:
            raise DefinitionError(f"{who}: the body accesses buffer {node.buffer.name}, which is neither one of "
                                  "the intrinsic's ins/outs nor allocated in its body")
        buffer = offsets.get(node.buffer)
        if buffer is not None and isinstance(buffer.elem_offset, Var) and \
                buffer.elem_offset not in free_vars(node.indices[0]):
            raise DefinitionError(
                f"{who}: the body accesses {buffer.name}[{node.indices[0]}] counting from the data pointer "
                f"(ib.buffer_ptr), not from where the tile starts ({buffer.elem_offset}); access it with "
                f"{buffer.name}.vload/vstore([...]) or {buffer.name}[i, j], which add the element offset and "
                "strides, or add the buffer's elem_offset to the index yourself")


def decl_tensor_intrin(op, fcompute, name: str = "tensor_intrin", binds=None, scalar_params=None,
                       default_buffer_params=None) -> TensorIntrin:
    """TVM's ``te.decl_tensor_intrin``: statements that compute what ``op`` defines, for
    ``s[C].tensorize(loop, intrin)``.

    Parameters
    ----------
    op
        The compute operation (``c.op``) over placeholders that a tile computes.
    fcompute
        ``fcompute(ins, outs)`` over declared buffers (one per input of ``op``, one output):
        the statement computing the tile (``ib.get()``), or for a reduction ``(body, reset,
        update)``, any of them None.
    name
        The intrinsic's name (in messages).
    binds
        ``{tensor: ns.decl_buffer(...)}`` for the tensors of ``op`` whose buffers are declared
        by hand (strides and offset variables bind to the tile's place at lowering); the
        others get buffers with variable strides and offset.
    scalar_params
        TVM's scalar parameters: not supported (must be empty).
    default_buffer_params
        Keyword arguments of ``decl_buffer`` for the buffers not in ``binds``.

    Returns
    -------
    TensorIntrin
    """
    who = f"decl_tensor_intrin({getattr(op, 'name', type(op).__name__)})"
    op = _as_op(op, who)
    if not callable(fcompute):
        raise DefinitionError(f"{who}: fcompute={fcompute!r} is not callable; pass fcompute(ins, outs) returning "
                              "the statement")
    if scalar_params:
        raise DefinitionError(f"{who}: scalar_params={list(scalar_params)} is not supported; give the values as "
                              "constants in the intrinsic's compute")
    binds = dict(binds or {})
    tensors = (*op.inputs, op.output)
    for tensor in binds:
        if not any(tensor is t for t in tensors):
            raise DefinitionError(f"{who}: binds holds {getattr(tensor, 'name', tensor)!r}, which is not an "
                                  f"input or the output of {op.name}; bind only its tensors")
    declared = [_movable(binds[t], t, who) if t in binds else _default_buffer(t, default_buffer_params or {}, who)
                for t in tensors]
    with declaring(declared):  # ib.buffer_ptr / access_ptr of these address the tile
        result = fcompute(declared[:-1], declared[-1:])
    parts = result if isinstance(result, tuple) else (result, None, None)
    if len(parts) != 3:
        raise DefinitionError(f"{who}: fcompute returned {len(parts)} statements; return one, or (body, reset, "
                              "update)")
    body, reset, update = (_statement(v, r, who) for v, r in zip(parts, ("body", "reset", "update")))
    if body is None and update is None:
        raise DefinitionError(f"{who}: fcompute returned no body and no update; return the statement that "
                              "computes the tile")
    for stmt in (body, reset, update):
        _check_accesses(stmt, declared, who)
    intrin = TensorIntrin(name, op, tuple(op.inputs), tuple(declared[:-1]), declared[-1], body, reset, update)
    _DECLARED[name] = intrin
    return intrin


#: the intrinsic most recently declared under each name, for trace replay (TVM's tir keeps
#: ``TensorIntrin.register``/``get`` by name; te's intrinsics have only their names)
_DECLARED: dict[str, TensorIntrin] = {}


def declared_intrin(name: str, who: str) -> TensorIntrin:
    """The intrinsic most recently declared as ``name`` in this process (for a replayed
    ``tensorize`` step, whose trace records only the name)."""
    if not isinstance(name, str) or name not in _DECLARED:
        known = sorted(_DECLARED) or "none yet"
        raise ScheduleError(f"{who}: no tensor intrinsic named {name!r} is declared in this process (declared: "
                              f"{known}); declare it with ns.decl_tensor_intrin(..., name={name!r}) before "
                              "replaying the trace")
    return _DECLARED[name]


__all__ = ["TensorIntrin", "decl_tensor_intrin", "declared_intrin"]
