"""``custom_op(compute_fn)``: any index expression as a differentiable frontend op.

``compute_fn`` receives one Nestor placeholder per input tensor and returns the compute of the
output. The forward is that compute, compiled by Nestor like every other op's; the gradient of
each input is derived from it (:func:`tensorir.gradient.gradient`: a sympy derivative of the
body, the index maps inverted with isl into a gather) and is itself a custom op of the inputs and
the output's adjoint, so it can be differentiated again.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from schedules.templates.generic_cpu import generic, register_tiled
from tensorir.errors import DefinitionError
from tensorir.expr import Reduce
from tensorir.gradient import gradient
from tensorir.names import identifier
from tensorir.tensor import ComputeOp, placeholder
from tensorir.tensor import Tensor as Expression

from .ops.base import Op
from .tensor import Tensor

#: the register tile of reductions: rows x vector lanes
TILE_C, TILE_V = 4, 16


class CustomOp(Op):
    """The op of a user's compute function; its key holds the function, so kernels are cached per
    function, shapes and dtypes."""

    name = "custom"

    def __init__(self, compute_fn: Callable, label: str):
        self.compute_fn, self.label = compute_fn, label
        self.key = (self.name, label, compute_fn)

    def compute(self, request, *inputs: Expression) -> Expression:
        out = self.compute_fn(*inputs)
        if not isinstance(out, Expression) or not isinstance(out.op, ComputeOp):
            raise DefinitionError(
                f"custom_op {self.label}: the compute function returned {out!r}; it must return the output "
                "compute, e.g. ns.compute(shape, lambda i: ..., name='out')")
        return out

    def schedule(self, request, s, outputs, config) -> None:
        """The largest reduction of rank 2 or more (an output or an intermediate stage) keeps a
        register tile (rows x a vector of the last axis) while it runs; the others are generic."""
        candidates = [stage.op for stage in list(s.stages) if _tileable(stage.op)]
        if not candidates:
            for out in outputs:
                generic(s, out, config)
            return
        largest = max(candidates, key=lambda op: math.prod(op.shape) * math.prod(r.extent for r in op.reduce_axis))
        register_tiled(s, largest.output, len(largest.shape) - 2, len(largest.shape) - 1,
                       {"tile_c": TILE_C, "tile_v": TILE_V})

    def gradient(self, out_grad: Tensor, node: Tensor) -> tuple[Tensor | None, ...]:
        specs = tuple((t.shape if t.ndim else (1,), t.dtype) for t in node.inputs)
        grads = []
        for position, tensor in enumerate(node.inputs):
            if not tensor.requires_grad:
                grads.append(None)
                continue
            adjoint = Adjoint(self.compute_fn, self.label, position, specs, (out_grad.shape, out_grad.dtype))
            operands = [*node.inputs, out_grad, node]
            used = adjoint.reads()
            if not used:  # the output does not depend on this input
                grads.append(None)
                continue
            op = CustomOp(adjoint.restricted(used), f"{self.label}_grad{position}")
            grad = op(*[operands[n] for n in used])
            grads.append(grad if grad.shape == tensor.shape else grad.reshape(tensor.shape))
        return tuple(grads)


@dataclass(frozen=True)
class Adjoint:
    """The derived adjoint of input ``position`` of ``compute_fn``: a compute function of the
    inputs, the head and the forward's output (``specs`` and ``head`` give their shapes and
    dtypes; the output has the head's), each given only where the adjoint reads it (``used``)."""

    compute_fn: Callable
    label: str
    position: int
    specs: tuple
    head: tuple
    used: tuple[int, ...] | None = None

    def build(self, given: dict[int, Expression]) -> Expression:
        """The adjoint over ``given`` placeholders (by operand position) and fresh ones for the rest."""
        operands = [given[n] if n in given else placeholder(shape, dtype, name=f"in{n}")
                    for n, (shape, dtype) in enumerate(self.operand_specs)]
        out = CustomOp(self.compute_fn, self.label).compute(None, *operands[:-2])
        head, value = operands[-2:]
        if head.shape != out.shape:  # a rank-0 output travels as shape (1,)
            raise DefinitionError(
                f"custom_op {self.label}: the output adjoint has shape {list(head.shape)} but the compute "
                f"has shape {list(out.shape)}")
        return gradient(out, [operands[self.position]], head, output_value=value)[0]

    @property
    def operand_specs(self) -> tuple:
        """Shapes and dtypes of the inputs, the head and the forward's output."""
        return (*self.specs, self.head, self.head)

    def reads(self) -> tuple[int, ...]:
        """The operand positions (inputs, the head, the output) that the adjoint reads (derived once per
        function, position and shapes: every backward step asks)."""
        return _reads(self)

    def restricted(self, used: tuple[int, ...]) -> Adjoint:
        return Adjoint(self.compute_fn, self.label, self.position, self.specs, self.head, used)

    def __call__(self, *operands: Expression) -> Expression:
        return self.build(dict(zip(self.used, operands)))


@lru_cache(maxsize=1024)
def _reads(adjoint: Adjoint) -> tuple[int, ...]:
    operands = {n: placeholder(shape, dtype, name=f"in{n}") for n, (shape, dtype) in enumerate(adjoint.operand_specs)}
    reached = _reached(adjoint.build(operands))
    return tuple(n for n, p in operands.items() if p.op in reached)


def _reached(tensor: Expression) -> set:
    seen: set = set()
    stack = [tensor.op]
    while stack:
        op = stack.pop()
        if op not in seen:
            seen.add(op)
            stack.extend(t.op for t in op.inputs)
    return seen


def _tileable(op) -> bool:
    return (isinstance(op, ComputeOp) and isinstance(op.body, Reduce) and len(op.shape) >= 2
            and op.shape[-1] >= TILE_V)


def _check_arity(compute_fn: Callable, label: str, count: int) -> None:
    try:
        inspect.signature(compute_fn).bind(*range(count))
    except TypeError as error:
        raise DefinitionError(f"custom_op {label}: the compute function cannot take {count} inputs ({error}); "
                              "give it one parameter per input tensor") from None
    except ValueError:  # no signature to read (a builtin): the call itself will tell
        pass


def custom_op(compute_fn: Callable, name: str | None = None) -> Callable[..., Tensor]:
    """A frontend op computed by ``compute_fn``, with gradients derived from its index expression.

    Parameters
    ----------
    compute_fn
        A function of one Nestor placeholder per input (in order) returning the output compute,
        e.g. ``lambda a: ns.compute((n - 2,), lambda i: a[i] + 2 * a[i + 1] + a[i + 2])``.
    name
        The op's name in kernel names and errors (default: the function's name).

    Returns
    -------
    callable
        Applied to frontend tensors, it returns the output tensor; ``backward`` through it runs the
        derived adjoint kernels.

    Examples
    --------
    >>> def scores(q, k):
    ...     r = ns.reduce_axis(q.shape[1], "r")
    ...     return ns.compute((q.shape[0], k.shape[0]), lambda i, j: ns.sum(q[i, r] * k[j, r], axis=r))
    >>> attention = nf.custom_op(scores)
    >>> s = attention(q, k); s.sum().backward()
    """
    if not callable(compute_fn):
        raise DefinitionError(f"custom_op: compute_fn must be a function of placeholders, got {compute_fn!r}")
    label = identifier(name or getattr(compute_fn, "__name__", "op"), prefix="op_")
    if label == "_lambda_":
        label = "lambda"

    def apply(*tensors: Tensor) -> Tensor:
        _check_arity(compute_fn, label, len(tensors))
        for position, tensor in enumerate(tensors):
            if not isinstance(tensor, Tensor):
                raise DefinitionError(
                    f"custom_op {label}: input {position} is {type(tensor).__name__}, not a frontend Tensor; "
                    "wrap arrays with frontend.Tensor(...)")
        return CustomOp(compute_fn, label)(*tensors)

    apply.__name__ = label
    return apply
