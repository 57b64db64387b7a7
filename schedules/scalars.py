"""The size variables a lowered function takes: those of its buffers' shapes, in order, then the
ones passed explicitly in the argument list (``build(s, [A, B, n])``), and a check that every
size variable the loop nest uses is among them."""

from __future__ import annotations

from collections.abc import Sequence

from tensorir.buffer import Buffer
from tensorir.errors import LoweringError
from tensorir.expr import Var
from tensorir.scalar_param import scalar_param_tensor
from tensorir.stmt import ForKind, Stmt
from tensorir.symbolic import ShapeVar, shape_vars
from tensorir.visitor import walk


def split_scalar_args(args: object, name: str) -> tuple[object, list[ShapeVar]]:
    """``args`` without its size variables, and those variables in order."""
    if not isinstance(args, (list, tuple)):
        return args, []
    args = [scalar_param_tensor(a) or a for a in args]  # a float var: the rank-0 input it reads
    scalars = [a for a in args if isinstance(a, ShapeVar)]
    loose = [a for a in args if isinstance(a, Var) and not isinstance(a, ShapeVar)]
    if loose:
        raise LoweringError(
            f"lower {name}: argument {loose[0].name} is a loop variable, not a size variable; pass "
            "tensors and size variables made with ns.var/ns.size_var")
    return [a for a in args if not isinstance(a, ShapeVar)], scalars


def function_scalars(params: Sequence[Buffer], explicit: Sequence[ShapeVar], body: Stmt,
                     name: str) -> tuple[ShapeVar, ...]:
    """The size variables of the function in the order its callers bind them."""
    found = shape_vars([p.shape for p in params])
    bare = {id(extent) for p in params for extent in p.shape if isinstance(extent, ShapeVar)}
    for v in explicit:
        if id(v) in bare:
            continue  # TVM lists a shape's variables too; ns.build checks the value passed against the shape
        if v in found:
            raise LoweringError(
                f"lower {name}: the size variable {v.name} is passed explicitly but is also a "
                f"dimension of an argument tensor, which binds it; remove {v.name} from the arguments")
        found.append(v)
    used = {n for n in walk(body) if isinstance(n, ShapeVar)}
    for node in walk(body):
        if hasattr(node, "buffer"):
            used.update(shape_vars([node.buffer.shape]))
    missing = [v for v in used if v not in found]
    if missing:
        names = ", ".join(sorted(v.name for v in missing))
        raise LoweringError(
            f"lower {name}: the size variable(s) {names} appear in no argument's shape, so a call "
            f"cannot bind them; pass them as arguments after the tensors, e.g. [..., {missing[0].name}]")
    return tuple(found)


def symbolic_kind(stage, leaf, kind: ForKind, extent: object) -> ForKind:
    """The kind of a loop whose extent turned out symbolic: an unroll hint is dropped (a serial
    loop), vectorizing is refused with how to fix it."""
    if isinstance(extent, int) or kind not in (ForKind.UNROLLED, ForKind.VECTORIZED):
        return kind
    if kind is ForKind.UNROLLED:
        return ForKind.SERIAL
    raise LoweringError(
        f"lower: loop {leaf.name} of stage {stage.name} is vectorized but its extent {extent} is "
        f"symbolic; split it by a constant factor and vectorize the inner loop")
