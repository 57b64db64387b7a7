"""Vectorized loops as ``float4`` accesses: a loop of ``4 * n`` lanes whose body stores one
float32 element per lane, contiguous in the loop variable and aligned to 16 bytes (provably,
from the affine form of the flat offset, seeing through the ``//`` and ``%`` that a ``fuse``
then ``split`` leaves, see :func:`.arith.see_through`), becomes ``n`` groups of one 128-bit
store, 128-bit loads where a load is contiguous and aligned too, and four scalar lane
computations. Where only loads are contiguous (a transposing copy), they are read as float4 and
the four lanes stored one by one. Loads under
a condition (``if_then_else``) stay scalar, so that no element outside the chosen branch is
read. Anything else is left to the caller (an unrolled scalar loop)."""

from __future__ import annotations

from tensorir.buffer import Scope
from tensorir.dtypes import DType
from tensorir.expr import (
    Binary,
    BinaryOp,
    BufferLoad,
    Call,
    Cast,
    Const,
    Expr,
    Select,
    Unary,
    Var,
    binary,
    const,
)
from tensorir.passes.simplify import simplify_expr
from tensorir.stmt import For, Store
from tensorir.visitor import substitute, walk

from .arith import contiguous_lanes

LANES = ("x", "y", "z", "w")


def _loads_outside_selects(e: Expr, out: list[BufferLoad]) -> None:
    """The loads of ``e`` that are evaluated whatever the conditions of its selects."""
    match e:
        case Select(cond=cond):
            children: tuple[Expr, ...] = (cond,)
        case BufferLoad(indices=indices):
            out.append(e)
            children = indices
        case Binary(a=a, b=b):
            children = (a, b)
        case Unary(a=a):
            children = (a,)
        case Cast(value=value):
            children = (value,)
        case Call(args=args):
            children = args
        case _:
            children = ()
    for child in children:
        _loads_outside_selects(child, out)


def _contiguous_aligned(access: BufferLoad | Store, loop: For) -> bool:
    buffer = access.buffer
    if buffer.dtype is not DType.FLOAT32 or buffer.scope is Scope.LOCAL:
        return False
    return contiguous_lanes(access.indices[0], loop.var, loop.min.value)


def _plan(loop: For, printer) -> list[BufferLoad] | None:
    """The loads to read as float4, or None where the loop cannot use float4 accesses (neither
    its store nor any of its loads is contiguous and aligned)."""
    store = loop.body
    if not (isinstance(store, Store) and isinstance(loop.min, Const) and isinstance(loop.extent, Const)
            and loop.extent.value % 4 == 0 and loop.extent.value > 0):
        return None
    target = printer.offset(store)
    candidates: list[BufferLoad] = []
    _loads_outside_selects(store.value, candidates)
    for node in walk(store.value):
        # a load of the stored buffer elsewhere than the stored element could see another lane's store
        if isinstance(node, BufferLoad) and node.buffer is store.buffer \
                and printer.offset(node) != target:
            return None
    loads = [load for load in candidates if _contiguous_aligned(load, loop)]
    return loads if loads or _contiguous_aligned(store, loop) else None


def emit_float4(printer, loop: For, depth: int) -> bool:
    """Print ``loop`` with float4 accesses; False (nothing printed) where that is not provably safe."""
    if not (isinstance(loop.min, Const) and isinstance(loop.extent, Const)):
        return False
    groups, lo = loop.extent.value // 4, loop.min.value
    # the lane's range first: the plan compares printed offsets, which prove signs from it
    printer.ranges[loop.var] = (lo, lo + loop.extent.value - 1)
    vector_loads = _plan(loop, printer)
    if vector_loads is None:
        return False
    printer.emit(f"{{  // {loop.var.name}: {loop.extent.value} lanes as float4", depth)
    if groups == 1:
        _emit_group(printer, loop, vector_loads, const(lo, loop.var.dtype), depth + 1)
    else:
        group = Var(f"{loop.var.name}.group", loop.var.dtype)
        name = printer.name(group)
        printer.ranges[group] = (0, groups - 1)
        printer.emit("#pragma unroll", depth + 1)
        printer.emit(f"for (int {name} = 0; {name} < {groups}; ++{name}) {{", depth + 1)
        base = simplify_expr(binary(BinaryOp.ADD, binary(BinaryOp.MUL, group, 4), lo))
        _emit_group(printer, loop, vector_loads, base, depth + 2)
        printer.emit("}", depth + 1)
    printer.emit("}", depth)
    return True


def _address(printer, access, var: Var, base: Expr) -> str:
    (flat,) = access.indices
    return f"&{printer.name(access.buffer)}[{printer.expr(simplify_expr(substitute(flat, {var: base})))}]"


def _emit_group(printer, loop: For, vector_loads, base: Expr, depth: int) -> None:
    """One group of four lanes starting at lane ``base``: vector loads, lanes, one vector store."""
    store: Store = loop.body  # type: ignore[assignment]
    registers: dict[str, str] = {}
    lanes_of: dict[BufferLoad, str] = {}
    for load in vector_loads:
        address = _address(printer, load, loop.var, base)
        if address not in registers:
            registers[address] = printer.fresh(f"{load.buffer.name}.v")
            printer.emit(f"const float4 {registers[address]} = "
                         f"*reinterpret_cast<const float4*>({address});", depth)
        lanes_of[load] = registers[address]
        printer.aligned.add(load.buffer)
    vector_store = _contiguous_aligned(store, loop)
    if vector_store:
        printer.aligned.add(store.buffer)
        result = printer.fresh(f"{store.buffer.name}.v")
        printer.emit(f"float4 {result};", depth)
    for lane, component in enumerate(LANES):
        at = simplify_expr(binary(BinaryOp.ADD, base, lane))
        mapping: dict = {loop.var: at}
        for load, register in lanes_of.items():
            mapping[load] = Var(f"{register}.{component}", load.dtype)
            printer.overrides[mapping[load]] = f"{register}.{component}"
        value = printer.expr(simplify_expr(substitute(store.value, mapping)))
        if vector_store:
            printer.emit(f"{result}.{component} = {value};", depth)
        else:  # a strided store (a transposing copy): one scalar store per lane
            printer.emit(f"{_address(printer, store, loop.var, at)[1:]} = {value};", depth)
    if vector_store:
        printer.emit(f"*reinterpret_cast<float4*>({_address(printer, store, loop.var, base)}) = {result};",
                     depth)
