"""``gradient(output, inputs, head)``: the adjoint compute definitions of a compute (TVM's
``te.gradient``, Halide's autodiff).

Reverse mode over the stages between the inputs and the output, output first. For a stage
``T[i] = body(i, k)`` (a sum, max or min over ``k``, or no reduction) whose adjoint ``dT`` is
known, each input ``U`` read as ``U[f(i, k)]`` receives

    dU[x] += sum over the (i, k) with f(i, k) = x of dT[i] * d body / d U[f(i, k)]

The scalar derivative comes from sympy (:mod:`.sympy_bridge`); the sum is a gather, enumerated
from ``x`` by inverting ``f`` with isl (:mod:`.isl_inverse`). A subscript with no affine form
(``U[I[i]]``, ``U[i * i]``) is not inverted: the sum runs over its indices and keeps the points
where it equals ``x`` (:mod:`.opaque`, TVM's Jacobian). A max or min reduction passes the
adjoint to every element equal to the result (the indicator ``body == T[i]``), as TVM does.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce as fold

from ..dtypes import DType
from ..errors import DefinitionError
from ..expr import Const, Expr, IterKind, IterVar, Reduce, ReduceOp, TensorLoad, Var, const
from ..extern_op import refuse_gradient
from ..functions import if_then_else
from ..functions import sum as reduce_sum
from ..passes.simplify import simplify_expr
from ..structural import identity_key
from ..tensor import ComputeOp, Tensor, make_compute
from ..visitor import substitute, walk
from .isl_inverse import Domain, Preimage, invert, opaque_subscripts
from .opaque import matched
from .reductions import summand


def gradient(output: Tensor, inputs: Sequence[Tensor], head: Tensor | None = None, *,
             output_value: Tensor | None = None) -> list[Tensor]:
    """The adjoints of ``inputs`` in the computation of ``output``, as compute definitions.

    Parameters
    ----------
    output
        A compute (or placeholder) of float type.
    inputs
        Tensors ``output`` depends on (placeholders or intermediate computes).
    head
        The adjoint of ``output``, of shape ``prefix + output.shape``: the Jacobians are multiplied
        by it, ``d[p..., x...] = sum_o head[p..., o...] * d output[o...] / d input[x...]``. A head
        of ``output``'s shape (no prefix) is the gradient of a loss with respect to ``output``;
        ones give the gradient of ``sum(output)``. None (as in TVM) stands for the identity of
        shape ``output.shape + output.shape``: the results are the full Jacobians.
    output_value
        A tensor of ``output``'s shape holding its values (a placeholder bound to the computed
        forward): the adjoints read it wherever they need ``output`` itself (``1 - tanh(x)**2``,
        the maximum of a max reduction) instead of computing ``output`` again.

    Returns
    -------
    list of Tensor
        One compute per input, of shape ``prefix + input.shape`` and the input's type. An input
        ``output`` does not depend on gets zeros.

    Raises
    ------
    DefinitionError
        For a non-float output or input, a head of the wrong shape, or a body that cannot be
        differentiated. A subscript that is not affine in the indices (one read from an index
        tensor, as TVM's ``take``) is differentiated as TVM does: its adjoint sums the reads whose
        subscript equals each element, at a cost of the input's size times the reads' count (the
        affine subscripts of the same read are still solved); an index the forward refuses at run
        time is refused by the adjoint too.

    Examples
    --------
    >>> A = ns.placeholder((8, 4), name="A"); B = ns.placeholder((4,), name="B")
    >>> k = ns.reduce_axis(4, "k")
    >>> C = ns.compute((8,), lambda i: ns.sum(A[i, k] * B[k], axis=k), name="C")
    >>> ones = ns.compute((8,), lambda i: 1.0)
    >>> dA, dB = ns.gradient(C, [A, B], ones)   # dA[i, k] = B[k], dB[k] = sum_i A[i, k]
    """
    inputs = _check_arguments(output, inputs, head)
    if output_value is not None and (not isinstance(output_value, Tensor) or output_value.shape != output.shape):
        raise DefinitionError(f"gradient of {output.name}: output_value must be a tensor of the output's shape "
                              f"{list(output.shape)}, got {output_value!r}")
    values = {_key(output): output if output_value is None else output_value}
    head = _identity(output) if head is None else head
    prefix = head.shape[:len(head.shape) - output.ndim]
    stages = _stages(output)
    needed = _needed(stages, {t.op for t in inputs})
    refuse_gradient(needed - {t.op for t in inputs}, output.name)  # an extern body has no derivative here
    readers = _readers(stages, needed)
    adjoints: dict = {_key(output): head}
    contributions: dict = {}
    for op in reversed(stages):
        for result in op.outputs:  # each output of a compute with several has an adjoint of its own
            if _key(result) != _key(output):
                adjoints[_key(result)] = _accumulate(result, contributions.pop(_key(result), []))
        if not (isinstance(op, ComputeOp) and op in needed):
            continue
        for result in op.outputs:
            if adjoints.get(_key(result)) is None:
                continue
            for operand in op.inputs:
                if operand.op in needed:
                    name = f"d{operand.name}" if readers[operand.op] == 1 else f"d{operand.name}.{result.name}"
                    contributions.setdefault(_key(operand), []).append(_stage_adjoint(
                        op, result, adjoints[_key(result)], operand, name, prefix, values.get(_key(result), result)))
    return [adjoints[_key(t)] if adjoints.get(_key(t)) is not None else
            _filled((*prefix, *t.shape), t.dtype, 0.0, f"d{t.name}") for t in inputs]


def _key(tensor: Tensor) -> tuple:
    """One output of an operation (a compute may have several)."""
    return tensor.op, tensor.value_index


def _check_arguments(output, inputs, head) -> list[Tensor]:
    if not isinstance(output, Tensor):
        raise DefinitionError(f"gradient: output must be a tensor (a compute), got {output!r}")
    if isinstance(inputs, Tensor):
        inputs = [inputs]
    if not isinstance(inputs, (list, tuple)) or not all(isinstance(t, Tensor) for t in inputs):
        raise DefinitionError(f"gradient of {output.name}: inputs must be a list of tensors, got {inputs!r}")
    for tensor in (output, *inputs):
        if not tensor.dtype.is_float:
            raise DefinitionError(
                f"gradient of {output.name}: {tensor.name} has type {tensor.dtype}; only float tensors have "
                "gradients (cast integer data to float first, or leave it out of the inputs)")
    if head is not None:
        if not isinstance(head, Tensor):
            raise DefinitionError(f"gradient of {output.name}: head must be a tensor or None, got {head!r}")
        if head.shape[len(head.shape) - output.ndim:] != output.shape:
            raise DefinitionError(
                f"gradient of {output.name}: head {head.name} has shape {list(head.shape)}, which does not end "
                f"with the output's shape {list(output.shape)}; the head is the adjoint of the output: its shape "
                "is the output's, or a prefix followed by it")
        if not head.dtype.is_float:
            raise DefinitionError(f"gradient of {output.name}: head {head.name} has type {head.dtype}; it must "
                                  "be a float tensor")
    return list(inputs)


def _stages(output: Tensor) -> list:
    """The operations ``output`` depends on, each after its inputs (``output``'s last)."""
    order: list = []
    seen: set = set()
    stack = [(output.op, False)]
    while stack:
        op, expanded = stack.pop()
        if expanded:
            order.append(op)
            continue
        if op in seen:
            continue
        seen.add(op)
        stack.append((op, True))
        stack.extend((t.op, False) for t in reversed(op.inputs) if t.op not in seen)
    return order


def _needed(stages: list, wanted: set) -> set:
    """The stages on a path from a wanted tensor to the output. A stage with integer results only
    (an index computed from the data) passes no gradient: it is piecewise constant."""
    needed: set = set()
    for op in stages:
        carries = any(t.dtype.is_float for t in op.outputs) and any(t.op in needed for t in op.inputs)
        if op in wanted or carries:
            needed.add(op)
    return needed


def _readers(stages: list, needed: set) -> dict:
    """How many needed stages read each stage."""
    count: dict = {}
    for op in stages:
        if op in needed:
            for operand in op.inputs:
                count[operand.op] = count.get(operand.op, 0) + 1
    return count


def _identity(output: Tensor) -> Tensor:
    """``I[p..., o...] = (p == o)``: the head whose adjoints are the Jacobians."""
    axis = _axes((*output.shape, *output.shape), "i")
    half = len(output.shape)
    same = fold(lambda a, b: a & b, [p.var == o.var for p, o in zip(axis[:half], axis[half:])])
    return make_compute(f"{output.name}.identity", axis,
                        if_then_else(same, const(1.0, output.dtype), const(0.0, output.dtype)))


def _filled(shape: Sequence[int], dtype: DType, value: float, name: str) -> Tensor:
    return make_compute(name, _axes(shape, "i"), const(value, dtype))


def _axes(shape: Sequence[int], prefix: str, taken: frozenset = frozenset()) -> tuple[IterVar, ...]:
    names = []
    for n in range(len(shape)):
        name = f"{prefix}{n}"
        while name in taken:
            name += "_"
        names.append(name)
    return tuple(IterVar(Var(name), 0, extent, IterKind.DATA_PAR) for name, extent in zip(names, shape))


def _accumulate(tensor: Tensor, parts: list[Tensor]) -> Tensor | None:
    """The sum of the contributions to the adjoint of ``tensor`` (None when nothing reads it)."""
    if len(parts) <= 1:
        return parts[0] if parts else None
    axis = _axes(parts[0].shape, "i")
    body = fold(lambda a, b: a + b, [p[tuple(iv.var for iv in axis)] for p in parts])
    return make_compute(f"d{tensor.name}", axis, body)


def _stage_adjoint(op: ComputeOp, result: Tensor, head: Tensor, operand: Tensor, name: str,
                   prefix: tuple[int, ...], computed: Tensor) -> Tensor:
    """``d sum(head * result) / d operand`` for one output ``result`` of stage ``op`` that reads
    ``operand`` (with the head's ``prefix`` axes kept in front); ``computed`` holds the values of
    ``result``."""
    from .sympy_bridge import derivative, to_sympy  # sympy loads on the first derivative, not with nestor

    who = f"{result.name} with respect to {operand.name}"
    body = op.bodies[result.value_index]
    source = summand(op, body, operand) if isinstance(body, Reduce) else body
    translation = to_sympy(source, who)
    out_index = tuple(iv.var for iv in op.axis)
    domains = [Domain(iv.var, iv.min, iv.extent) for iv in (*op.axis, *op.reduce_axis)]
    taken = frozenset(d.var.name for d in domains)
    leading = _axes(prefix, "p", taken)
    upstream = _constant(head)
    if upstream is None:
        upstream = head[(*(iv.var for iv in leading), *out_index)]
    if isinstance(body, Reduce) and body.op in (ReduceOp.MAX, ReduceOp.MIN):
        upstream = if_then_else(source == computed[out_index], upstream, const(0.0, op.dtype))
    own = _axes(operand.shape, "i", taken)
    axis = (*leading, *own)
    targets = tuple(iv.var for iv in own)
    gathers = []
    for load in _loads_of(source, operand):
        local = derivative(translation, load, operand.dtype, who,
                           None if isinstance(body, Reduce) else computed[out_index])
        if isinstance(local, Const) and local.value == 0:
            continue  # read only where it cannot change the value (a condition, an integer cast)
        value = local if _is_one(upstream) else upstream if _is_one(local) else upstream * local
        value = matched(_typed(value, operand.dtype), load, source, targets, opaque_subscripts(domains, load.indices))
        preimage = invert(f"{op.name} reading {operand.name}", domains, load.indices, operand.shape, targets)
        gathers.append(_gather(preimage, value, axis))
    if len(gathers) == 1 and gathers[0][1]:
        return make_compute(name, axis, reduce_sum(*gathers[0]))
    terms = [_reduced(expr, free, axis, f"{name}.part{n}") for n, (expr, free) in enumerate(gathers)]
    return make_compute(name, axis, fold(lambda a, b: a + b, terms) if terms else const(0.0, operand.dtype))


def _constant(head: Tensor) -> Expr | None:
    """The value of a head that is one constant everywhere (``ones``), read without a load."""
    body = head.op.bodies[head.value_index] if isinstance(head.op, ComputeOp) else None
    if isinstance(body, Const) and head.dtype.is_float:
        return body
    return None


def _is_one(expr: Expr) -> bool:
    return isinstance(expr, Const) and expr.value == 1


def _typed(expr: Expr, dtype: DType) -> Expr:
    from ..expr import cast

    return cast(expr, dtype)


def _loads_of(source: Expr, operand: Tensor) -> list[TensorLoad]:
    """The distinct loads of ``operand`` in ``source`` (one per distinct subscript)."""
    found: dict = {}
    for node in walk(source):
        if isinstance(node, TensorLoad) and _key(node.tensor) == _key(operand):
            found.setdefault(identity_key(node), node)
    return list(found.values())


def _gather(preimage: Preimage, value: Expr, axis) -> tuple[Expr, list[IterVar]]:
    """``value`` over the preimage of the element at ``axis``: the summand and the axes to sum over."""
    taken = {iv.name for iv in axis}
    free = {}
    for d in preimage.free:
        label = d.var.name
        while label in taken:
            label += "_"
        taken.add(label)
        free[d.var] = IterVar(Var(label), d.lo, d.extent, IterKind.REDUCE)
    renamed = {var: iv.var for var, iv in free.items()}
    result: Expr = const(0.0, value.dtype)
    for piece in reversed(preimage.pieces):
        mapping = {var: substitute(expr, renamed) for var, expr in piece.solved} | renamed
        chosen = substitute(value, mapping)
        if piece.guard is None:
            result = chosen
        else:
            result = if_then_else(substitute(piece.guard, renamed), chosen, result)
    return simplify_expr(result), list(free.values())


def _reduced(expr: Expr, free: list[IterVar], axis, name: str) -> Expr:
    """``expr`` summed over ``free`` as an expression of ``axis`` (a compute of its own when ``free``)."""
    if not free:
        return expr
    own = _axes([iv.extent for iv in axis], "i", frozenset(iv.name for iv in free))
    renamed = substitute(expr, {iv.var: mine.var for iv, mine in zip(axis, own)})
    part = make_compute(name, own, reduce_sum(renamed, free))
    return part[tuple(iv.var for iv in axis)]
