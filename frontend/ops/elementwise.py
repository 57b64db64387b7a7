"""Elementwise ops with numpy broadcasting: arithmetic, scalars, exp/log/tanh/sigmoid/relu/power.

Each op is one scalar expression (``scalar``) applied at every index. Before compiling, the
broadcast is put in a canonical form: axes of extent 1 in the output are dropped and adjacent
axes that every operand broadcasts alike are merged, so ``(64, 16, 28, 28) + (1, 16, 1, 1)``
compiles as ``(64, 16, 784) + (1, 16, 1)`` and same-shape operands as one flat loop. The
canonical output shape is the variant of the kernel request (an op object may run on any
shapes); the plan of a call signature is memoised in the kernel cache.
"""

from __future__ import annotations

import math

import numpy as np

from tensorir import functions as fn
from tensorir.errors import DefinitionError
from tensorir.expr import as_expr
from tensorir.tensor import compute

from .. import dispatch
from ..request import KernelRequest
from ..tensor import DTYPES, Tensor
from .base import Op, contiguous
from .promote import promote


def broadcast_shape(name: str, shapes: tuple[tuple[int, ...], ...]) -> tuple[int, ...]:
    """The numpy broadcast of ``shapes``, or a DefinitionError naming ``name`` and the shapes."""
    ndim = max(len(s) for s in shapes)
    out = []
    for axis in range(ndim):
        extents = {s[axis - ndim + len(s)] for s in shapes if axis - ndim + len(s) >= 0} - {1}
        if len(extents) > 1:
            shown = " and ".join(str(s) for s in shapes)
            raise DefinitionError(f"{name}: shapes {shown} cannot broadcast: dimension "
                                  f"{' != '.join(str(e) for e in sorted(extents))}")
        out.append(extents.pop() if extents else 1)
    return tuple(out)


def _plan(name: str, shapes: tuple, stored: tuple) -> tuple:
    """``(output shape, canonical input shapes, canonical output shape)`` of a broadcast of
    ``shapes``, whose storage has the shapes ``stored`` (extent 1 where a view broadcasts)."""
    out = broadcast_shape(name, shapes)
    aligned = [(1,) * (len(out) - len(s)) + tuple(s) for s in stored]
    groups: list[tuple[int, tuple[bool, ...]]] = []
    for axis, extent in enumerate(out):
        if extent == 1:
            continue
        pattern = tuple(a[axis] == extent for a in aligned)
        if groups and groups[-1][1] == pattern:
            groups[-1] = (groups[-1][0] * extent, pattern)
        else:
            groups.append((extent, pattern))
    if not groups:
        groups = [(1, tuple(True for _ in shapes))]
    canon_out = tuple(extent for extent, _ in groups)
    canon_in = tuple(tuple(extent if pattern[k] else 1 for extent, pattern in groups) for k in range(len(shapes)))
    return out, canon_in, canon_out


def _unbroadcast_view(array: np.ndarray) -> np.ndarray:
    """A stride-0 (broadcast) view shrunk to extent 1 along those axes: the kernel broadcasts."""
    if 0 not in array.strides:
        return array
    index = tuple(slice(0, 1) if s == 0 and n > 1 else slice(None) for s, n in zip(array.strides, array.shape))
    return array[index]


class Elementwise(Op):
    """``out[idx] = scalar(in0[idx], in1[idx], ...)`` with the inputs broadcast."""

    lazy = replays = True

    def scalar(self, *values):
        raise NotImplementedError

    def out_dtype(self, dtype: str) -> str:
        """The output's dtype for inputs of ``dtype``."""
        return dtype

    def infer(self, inputs) -> tuple[tuple[int, ...], str]:
        """``(shape, dtype)`` of the output on ``inputs`` (Tensors), checked as ``forward``
        checks them: the dtypes agree, the shapes broadcast, the scalar body accepts the dtype."""
        dtype = inputs[0].dtype
        for t in inputs:
            if t.dtype != dtype:
                raise DefinitionError(f"{self.name}: dtypes {' and '.join(t.dtype for t in inputs)} differ; "
                                      "convert one with .astype(...)")
        shapes = tuple([t.shape for t in inputs])
        memo = dispatch.cache.requests
        signature = ("infer", self.key, shapes, dtype)
        found = memo.get(signature)
        if found is None:
            body, out = self.check_scalar(dtype, len(inputs)), self.out_dtype(dtype)
            if str(body.dtype) != out:  # the kernel would store other values than the tensor claims
                raise DefinitionError(f"{self.name}: on {dtype} inputs the op computes {body.dtype}, not {out}; "
                                      "cast the inputs to a float dtype first (.astype('float64'))")
            found = memo[signature] = (broadcast_shape(self.name, shapes), out)
        return found

    def check_scalar(self, dtype: str, count: int):
        """Build the scalar body once on loads of ``dtype``: an op the dtype does not allow
        raises its DefinitionError here, at the call, not when the fused kernel is compiled."""
        from tensorir.tensor import placeholder

        return self.scalar(*(placeholder((1,), dtype, name=f"in{n}")[0] for n in range(count)))

    def forward(self, *arrays: np.ndarray, device: str = "cpu") -> np.ndarray:
        shapes = tuple([a.shape for a in arrays])
        dtype = arrays[0].dtype
        plain = True
        for a in arrays:
            if a.dtype != dtype:
                raise DefinitionError(f"{self.name}: dtypes {' and '.join(str(a.dtype) for a in arrays)} differ; "
                                      "convert one with .astype(...)")
            plain = plain and a.flags.c_contiguous
        if not plain:  # strided views: broadcast axes stay views (the kernel broadcasts), others compact
            arrays = [contiguous(_unbroadcast_view(a), device) for a in arrays]
        stored = shapes if plain else tuple([a.shape for a in arrays])
        signature = ("broadcast", self.key, shapes, stored, dtype, device)
        plan = dispatch.cache.requests.get(signature)
        if plan is None:
            plan = dispatch.cache.requests[signature] = self.plan(shapes, stored, dtype.name, device)
        out_shape, canon_in, request = plan
        out = dispatch.cache.run(self, request, [a.reshape(shape) for a, shape in zip(arrays, canon_in)])[0]
        return out.reshape(out_shape)

    def plan(self, shapes: tuple, stored: tuple, dtype: str, device: str) -> tuple:
        """``(output shape, canonical input shapes, kernel request)`` of inputs of ``shapes``
        stored with the shapes ``stored``; the canonical output shape is the request's variant
        (the inputs alone may all be broadcast)."""
        out_shape, canon_in, canon_out = _plan(self.name, shapes, stored)
        request = KernelRequest(self.key[0], self.key[1:], (canon_out,), canon_in, (dtype,) * len(shapes), device)
        return out_shape, canon_in, request

    def compute(self, request, *inputs):
        (out_shape,) = request.variant

        def load(tensor, idx):
            return tensor[tuple(0 if n == 1 and m != 1 else i for i, n, m in zip(idx, tensor.shape, out_shape))]

        return compute(out_shape, lambda *idx: self.scalar(*(load(t, idx) for t in inputs)), name=self.name)

    def inputs_grad(self, grads, node: Tensor):
        """Sum each gradient over the axes its input was broadcast along."""
        return tuple(None if g is None else reduce_to_shape(g, t.shape) for g, t in zip(grads, node.inputs))


def reduce_to_shape(grad: Tensor, shape: tuple[int, ...]) -> Tensor:
    """``grad`` summed over the axes that broadcasting ``shape`` to ``grad.shape`` added."""
    if grad.shape == tuple(shape):
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + a for a, n in enumerate(shape) if n == 1 and grad.shape[lead + a] != 1)
    from .reduce import summation
    from .shape import reshape

    if axes and not lead and grad._lazy is None:  # computed, and only axes of extent 1 in ``shape`` summed:
        # kept, the sum has the shape and no reshape op runs (a pending grad's sum fuses with it as is)
        return summation(grad, axes, keepdims=True)
    return reshape(summation(grad, axes, keepdims=False), shape) if axes else reshape(grad, shape)


# -- tensor-tensor arithmetic -------------------------------------------------------------------
class Add(Elementwise):
    name = "add"
    saves, saves_output = (), False

    def scalar(self, a, b): return a + b

    def gradient(self, g, node): return self.inputs_grad((g, g), node)


class Subtract(Elementwise):
    name = "subtract"
    saves, saves_output = (), False

    def scalar(self, a, b): return a - b

    def gradient(self, g, node): return self.inputs_grad((g, negative(g)), node)


class Multiply(Elementwise):
    name = "multiply"
    saves, saves_output = (0, 1), False

    def scalar(self, a, b): return a * b

    def gradient(self, g, node):
        a, b = node.inputs
        return self.inputs_grad((multiply(g, b), multiply(g, a)), node)


class Divide(Elementwise):
    name = "divide"
    saves, saves_output = (0, 1), True

    def scalar(self, a, b): return a / b

    def gradient(self, g, node):
        a, b = node.inputs
        return self.inputs_grad((divide(g, b), negative(divide(multiply(g, node), b))), node)


class Power(Elementwise):
    name = "power"
    saves, saves_output = (0, 1), True

    def scalar(self, a, b): return fn.power(a, b)

    def gradient(self, g, node):
        a, b = node.inputs
        da = multiply(g, multiply(b, power(a, ScalarOp("sub", 1.0)(b))))
        return self.inputs_grad((da, multiply(g, multiply(node, log(a)))), node)


# -- a tensor and a Python number ---------------------------------------------------------------
class ScalarOp(Elementwise):
    """``x <kind> c`` (or ``c <kind> x`` with ``reverse``) for a constant ``c``: add, sub, mul, div, pow."""

    def __init__(self, kind: str, value: float, reverse: bool = False):
        # an int stays an int (integer tensors then keep their dtype, as in numpy)
        self.kind, self.value, self.reverse = kind, value if isinstance(value, int) else float(value), reverse
        self.name = f"{kind}_scalar"
        self.key = (self.name, self.value, reverse)
        # what the gradient reads: c / x and c ** x read the output, x ** c and c / x the input
        self.saves = (0,) if (kind == "pow" and not reverse) or (kind == "div" and reverse) else ()
        self.saves_output = reverse and kind in ("div", "pow")

    def scalar(self, x):
        # the constant takes x's type (numpy's weak scalars), not a Python literal's TVM typing
        c = as_expr(self.value, x.dtype)
        a, b = (c, x) if self.reverse else (x, c)
        if self.kind == "pow":
            return x * x if not self.reverse and self.value == 2.0 else fn.power(a, b)
        return {"add": lambda: a + b, "sub": lambda: a - b, "mul": lambda: a * b, "div": lambda: a / b}[self.kind]()

    def gradient(self, g, node):
        (x,) = node.inputs
        c, kind = self.value, self.kind
        if kind == "add":
            return (g,)
        if kind == "sub":
            return (negative(g) if self.reverse else g,)
        if kind == "mul":
            return (ScalarOp("mul", c)(g),)
        if kind == "div":
            return (negative(divide(multiply(g, node), x)) if self.reverse else ScalarOp("mul", 1.0 / c)(g),)
        if self.reverse:  # c ** x
            return (multiply(g, ScalarOp("mul", math.log(c))(node)),)
        return (multiply(g, ScalarOp("mul", c)(ScalarOp("pow", c - 1.0)(x))),)


# -- unary maps ---------------------------------------------------------------------------------
class Negate(Elementwise):
    name = "negative"
    saves, saves_output = (), False

    def scalar(self, x): return -x

    def gradient(self, g, node): return (negative(g),)


class Exp(Elementwise):
    name = "exp"
    saves, saves_output = (), True

    def scalar(self, x): return fn.exp(x)

    def gradient(self, g, node): return (multiply(g, node),)


class Log(Elementwise):
    name = "log"
    saves, saves_output = (0,), False

    def scalar(self, x): return fn.log(x)

    def gradient(self, g, node): return (divide(g, node.inputs[0]),)


class Tanh(Elementwise):
    name = "tanh"
    saves, saves_output = (), True

    def scalar(self, x): return fn.tanh(x)

    def gradient(self, g, node): return (TanhBackward()(g, node),)


class Sigmoid(Elementwise):
    name = "sigmoid"
    saves, saves_output = (), True

    def scalar(self, x): return fn.sigmoid(x)

    def gradient(self, g, node): return (SigmoidBackward()(g, node),)


class ReLU(Elementwise):
    name = "relu"
    saves, saves_output = (0,), False

    def scalar(self, x): return fn.maximum(x, 0.0 if "float" in str(x.dtype) else 0)  # an int stays an int

    def gradient(self, g, node): return (ReLUBackward()(g, node.inputs[0]),)


class Cast(Elementwise):
    """A copy in another dtype; the gradient of a float input is the adjoint cast back to the
    input's dtype (an integer input gets none: it is not differentiable)."""

    def __init__(self, dtype: str):
        self.dtype = dtype
        self.name = "cast"
        self.key = ("cast", dtype)

    saves, saves_output = (), False

    def scalar(self, x): return x.astype(self.dtype)

    def out_dtype(self, dtype: str) -> str: return self.dtype

    def gradient(self, g, node):
        source = node.inputs[0].dtype
        if not source.startswith("float"):
            return (None,)
        return (g if g.dtype == source else cast(g, source),)


class PromotionCast(Cast):
    """The cast of numpy's promotion of an operand (:func:`promoted`): an integer input that
    requires grad (needle's default, so an ``int64`` image fed to ``nn.Conv``) gets the adjoint in
    the float dtype, as needle gives it; an explicit :func:`cast` gives it none."""

    def gradient(self, g, node):
        integer = not node.inputs[0].dtype.startswith("float")
        return (g if node.inputs[0].requires_grad else None,) if integer else super().gradient(g, node)


# -- fused gradients (each one kernel, each differentiable again) ------------------------------
def mask(condition, dtype):
    """1 where ``condition`` holds, else 0, in ``dtype``: a multiply by it vectorizes, where a
    choice between loads (``if_then_else``) has to evaluate lane by lane."""
    return condition.astype(dtype.value)


# -- the functional API -------------------------------------------------------------------------
def _tensor(value, like: Tensor | None = None) -> Tensor:
    """``value`` as a Tensor: a numpy array keeps its dtype (and is promoted with the other
    operand, as in numpy); a list or number takes the dtype of ``like``."""
    if isinstance(value, Tensor):
        return value
    typed = isinstance(value, np.ndarray) and value.dtype.name in ("float32", "float64", "int32", "int64")
    return Tensor(value, dtype=None if typed or like is None else like.dtype,
                  device=like.device if like is not None else "cpu", requires_grad=False)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _scalar_operand(kind: str, x: Tensor, value, reverse: bool = False) -> tuple[Tensor, int | float]:
    """``x`` and ``value`` as numpy would combine them: a float tensor keeps its dtype and takes the
    number as a float; an integer tensor stays integer with an int (except in a division) and
    becomes float64 with a float."""
    if x.dtype.startswith("float"):
        return x, float(value)
    if isinstance(value, float) or kind == "div":
        return promoted(x, "float64"), float(value)
    if kind == "pow" and value < 0 and not reverse:
        raise DefinitionError(f"power: {x.dtype} tensor to the negative power {value}; integers to negative "
                              "integer powers are not allowed (as in numpy): cast the tensor to a float dtype first")
    return x, int(value)


def promoted(x: Tensor, dtype: str) -> Tensor:
    """``x`` converted to ``dtype`` by numpy's promotion rules (:class:`PromotionCast`)."""
    return x if dtype == x.dtype else PromotionCast(dtype)(x)


def _binary(op_class, kind: str, a, b) -> Tensor:
    if isinstance(a, Tensor) and isinstance(b, Tensor):  # the common case first: nothing to convert
        dtype = a.dtype
        if dtype == b.dtype and (kind != "div" or dtype.startswith("float")):
            return op_class()(a, b)
    if _is_number(b) and isinstance(a, Tensor):
        a, b = _scalar_operand(kind, a, b)
        return ScalarOp(kind, b)(a)
    if _is_number(a) and isinstance(b, Tensor):
        b, a = _scalar_operand(kind, b, a, reverse=True)
        return ScalarOp(kind, a, reverse=True)(b)
    a = _tensor(a, b if isinstance(b, Tensor) else None)
    a, b = promote(a, _tensor(b, a))
    if kind == "div" and not a.dtype.startswith("float"):  # true division, as in numpy
        a, b = promoted(a, "float64"), promoted(b, "float64")
    return op_class()(a, b)


def add(a, b) -> Tensor:
    """``a + b`` with broadcasting; either may be a Python number."""
    return _binary(Add, "add", a, b)


def subtract(a, b) -> Tensor:
    """``a - b`` with broadcasting."""
    return _binary(Subtract, "sub", a, b)


def multiply(a, b) -> Tensor:
    """``a * b`` with broadcasting."""
    return _binary(Multiply, "mul", a, b)


def divide(a, b) -> Tensor:
    """``a / b`` with broadcasting."""
    return _binary(Divide, "div", a, b)


def power(a, b) -> Tensor:
    """``a ** b``: a tensor to a number, a number to a tensor, or elementwise."""
    return _binary(Power, "pow", a, b)


def negative(x: Tensor) -> Tensor:
    return Negate()(x)


def as_float(x: Tensor) -> Tensor:
    """``x``, an integer tensor cast to float64 first (numpy's result dtype for exp, log, ...)."""
    return x if not isinstance(x, Tensor) or x.dtype.startswith("float") else promoted(x, "float64")


def exp(x: Tensor) -> Tensor:
    return Exp()(as_float(x))


def log(x: Tensor) -> Tensor:
    return Log()(as_float(x))


def tanh(x: Tensor) -> Tensor:
    return Tanh()(as_float(x))


def sigmoid(x: Tensor) -> Tensor:
    return Sigmoid()(as_float(x))


def relu(x: Tensor) -> Tensor:
    return ReLU()(x)


def cast(x: Tensor, dtype: str) -> Tensor:
    """``x`` converted to ``dtype``; gradients flow back through it, cast to ``x``'s dtype."""
    try:
        dtype = np.dtype(dtype).name
    except TypeError:
        dtype = str(dtype)
    if dtype not in DTYPES:
        raise DefinitionError(f"cast: dtype {dtype} is not supported; use one of {', '.join(DTYPES)}")
    return x if dtype == x.dtype else Cast(dtype)(x)


# the fused activation gradients subclass Elementwise and use multiply/ScalarOp, all defined above
from .activation_grads import ReLUBackward, SigmoidBackward, TanhBackward  # noqa: E402
