"""The GPU schedules the CUDA tests build: every catalogue operator under the generic GPU
schedule, the GPU templates, and vectorized (float4) schedules; each with a numpy reference."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

import nestor as ns
from schedules.templates import matmul_gpu, window_sum_gpu
from schedules.templates.gpu_generic import schedule_gpu
from tests.catalogue import CATALOGUE, Operator, random_array
from tests.schedules.test_storage_primitives import transpose


class Case(NamedTuple):
    name: str
    make: Callable[[], tuple[object, list, Operator | None]]  # schedule, args, operator
    reference: Callable[[list[np.ndarray]], list[np.ndarray]]
    rtol: float = 1e-5
    options: dict | None = None  # build options


def _catalogue_case(builder) -> Case:
    def make():
        op = builder()
        return schedule_gpu(ns.create_schedule(op.outputs), threads=32), op.args, op

    return Case(f"generic_{builder.__name__}", make, lambda inputs: [])


def _template_case(name: str, template, sizes: tuple, reference, options=None, **params) -> Case:
    def make():
        schedule, args = template(*sizes, **params)
        return schedule, args, None

    return Case(name, make, reference, rtol=1e-4, options=options)


def _window(radius: int):
    def reference(inputs):
        (a,) = inputs
        n = a.shape[0] - 2 * radius
        return [sum(a.astype(np.float64)[d:d + n] for d in range(2 * radius + 1)).astype(np.float32)]

    return reference


def _matmul(inputs):
    a, b = inputs
    return [(a.astype(np.float64) @ b.astype(np.float64)).astype(np.float32)]


def vectorized_scale(rows: int, cols: int, lanes: int = 4):
    """``Y = 2 * X + bias`` with rows on blocks, columns split over threads and ``lanes``-wide
    vectors (float4 where ``cols`` keeps every row aligned)."""
    X = ns.placeholder((rows, cols), name="X")
    bias = ns.placeholder((cols,), name="bias")
    Y = ns.compute((rows, cols), lambda i, j: X[i, j] * 2.0 + bias[j], name="Y")
    s = ns.create_schedule(Y)
    i, j = Y.op.axis
    jo, ji = s[Y].split(j, factor=lanes)
    s[Y].bind(i, "blockIdx.x")
    s[Y].bind(jo, "threadIdx.x")
    s[Y].vectorize(ji)
    return s, [X, bias, Y]


def window_sum_guarded(n: int):
    """A window sum whose shared copy runs on 16 threads of a 32-thread block (under a guard)."""
    A = ns.placeholder((n + 4,), name="A")
    r = ns.reduce_axis(5, "r")
    B = ns.compute((n,), lambda i: ns.sum(A[i + r], axis=r), name="B")
    s = ns.create_schedule(B)
    cache = s.cache_read(A, "shared", [B])
    io, ii = s[B].split(B.op.axis[0], factor=32)
    s[B].bind(io, "blockIdx.x")
    s[B].bind(ii, "threadIdx.x")
    s[cache].compute_at(s[B], io)
    _, inner = s[cache].split(s[cache].op.axis[0], factor=16)
    s[cache].bind(inner, "threadIdx.x")
    return s, [A, B]


def bound_relu(rows: int, cols: int, tags: tuple[str, str]):
    """``Y = max(X, 0)`` with its two loops bound to ``tags`` (an empty tag leaves a loop serial)."""
    X = ns.placeholder((rows, cols), name="X")
    Y = ns.compute((rows, cols), lambda i, j: ns.maximum(X[i, j], 0.0), name="Y")
    s = ns.create_schedule(Y)
    for axis, tag in zip(Y.op.axis, tags):
        if tag:
            s[Y].bind(axis, tag)
    return s, [X, Y]


def _relu_reference(inputs):
    return [np.maximum(inputs[0], 0)]


def _scale_reference(inputs):
    x, bias = inputs
    return [(x * np.float32(2.0) + bias).astype(np.float32)]


def math_mix() -> Operator:
    """Every helper and intrinsic the generated C may call: float and integer floor division and
    modulo (negative operands and divisors), NaN-propagating max/min, sigmoid, powers, casts, a
    bool output, and float64 and int64 arithmetic."""
    n = 37
    x = ns.placeholder((n,), name="x")
    k = ns.placeholder((n,), "int64", name="k")
    d = ns.placeholder((n,), "float64", name="d")
    Y = ns.compute((n,), lambda i: x[i] // 0.75 + x[i] % 0.5 + ns.sigmoid(x[i] * 4.0)
                   + ns.maximum(x[i], 0.1) + ns.minimum(x[i], -0.1) + ns.power(x[i] * x[i], 1.5)
                   + ns.abs(x[i]) + ns.log(ns.abs(x[i]) + 1.0), name="Y")
    Z = ns.compute((n,), lambda i: k[i] // -3 + k[i] % -3 + k[i] // 2 + k[i] ** 3
                   + ns.abs(k[i]) + ns.maximum(k[i], 1) + (x[i] * 10.0).astype("int64"), name="Z")
    W = ns.compute((n,), lambda i: d[i] // 0.3 + d[i] % 0.3 + ns.sigmoid(d[i]) + ns.tanh(d[i])
                   + ns.sqrt(d[i] * d[i]), name="W")
    F = ns.compute((n,), lambda i: (x[i] > 0) & ((k[i] != 0) | (d[i] < -0.5)), name="F")

    def make_inputs(rng):
        return [random_array(rng, (n,)), random_array(rng, (n,), "int64"), random_array(rng, (n,), "float64")]

    def reference(inputs):
        x_, k_, d_ = inputs
        sig = 1 / (1 + np.exp(-x_.astype(np.float64) * 4))
        y = (x_ // np.float32(0.75) + x_ % np.float32(0.5) + sig + np.maximum(x_, 0.1) + np.minimum(x_, -0.1)
             + (x_.astype(np.float64) ** 2) ** 1.5 + np.abs(x_) + np.log(np.abs(x_.astype(np.float64)) + 1))
        z = (k_ // -3 + k_ % -3 + k_ // 2 + k_ ** 3 + np.abs(k_) + np.maximum(k_, 1)
             + (x_ * np.float32(10)).astype(np.int64))
        w = d_ // 0.3 + d_ % 0.3 + 1 / (1 + np.exp(-d_)) + np.tanh(d_) + np.abs(d_)
        f = (x_ > 0) & ((k_ != 0) | (d_ < -0.5))
        return [y.astype(np.float32), z, w, f]

    return Operator("math_mix", [x, k, d, Y, Z, W, F], [Y, Z, W, F], make_inputs, reference)


TEMPLATE_CASES = [
    _template_case("matmul_gpu_default", matmul_gpu, (100, 70, 30), _matmul),
    _template_case("matmul_gpu_small_tiles", matmul_gpu, (45, 37, 19), _matmul, L=16, S=4, V=2),
    _template_case("matmul_gpu_dynamic_shared", matmul_gpu, (200, 136, 150), _matmul,
                   {"shared_memory_bytes": 96 * 1024}, L=128, S=64, V=8, double_buffer=False),
    # float4 fetches (fused then split), k-major A, double buffering, several blocks
    _template_case("matmul_gpu_double_buffered", matmul_gpu, (256, 384, 96), _matmul),
    _template_case("matmul_gpu_8x4_s16", matmul_gpu, (192, 160, 48), _matmul, L=64, S=16, V=8, W=4),
    _template_case("matmul_gpu_double_buffered_dynamic", matmul_gpu, (136, 132, 100), _matmul,
                   {"shared_memory_bytes": 96 * 1024}, L=128, S=32, V=8),
    _template_case("matmul_gpu_scalar_single", matmul_gpu, (130, 132, 36), _matmul, double_buffer=False,
                   vector=1),
    _template_case("storage_aligned_transpose", transpose, (64,), lambda inputs: [inputs[0].T]),
    _template_case("window_sum_gpu", window_sum_gpu, (70,), _window(2)),
    _template_case("window_sum_gpu_r3", window_sum_gpu, (100,), _window(3), radius=3, threads=64),
    _template_case("window_sum_guarded", window_sum_guarded, (70,), _window(2)),
    _template_case("threads_only", bound_relu, (7, 13, ("threadIdx.y", "threadIdx.x")), _relu_reference),
    _template_case("blocks_only", bound_relu, (7, 13, ("blockIdx.x", "")), _relu_reference),
    _template_case("vectorized_scale", vectorized_scale, (5, 32), _scale_reference),
    _template_case("vectorized_scale_8", vectorized_scale, (3, 64), _scale_reference, lanes=8),
    _template_case("vectorized_unaligned", vectorized_scale, (5, 30), _scale_reference),
]

CASES = [_catalogue_case(b) for b in [*CATALOGUE, math_mix]] + TEMPLATE_CASES
NAMES = [case.name for case in CASES]


class Built(NamedTuple):
    case: Case
    module: object
    args: list
    operator: Operator | None

    def inputs(self, rng) -> list[np.ndarray]:
        if self.operator is not None:
            return self.operator.make_inputs(rng)
        return [random_array(rng, t.shape, t.dtype.value) for t in self.args if not _is_output(t, self)]

    def outputs(self) -> list[np.ndarray]:
        outs = self.operator.outputs if self.operator is not None else self.args[-1:]
        return [np.full(t.shape, np.nan if t.dtype.is_float else -7, t.dtype.numpy) for t in outs]

    def reference(self, inputs) -> list[np.ndarray]:
        if self.operator is not None:
            return self.operator.reference(inputs)
        return self.case.reference(inputs)


def _is_output(tensor, built: Built) -> bool:
    return tensor is built.args[-1]


def build_case(case: Case) -> Built:
    """The case's CUDA module; its kernels are named after the case, so that sources can share
    one translation unit."""
    schedule, args, operator = case.make()
    module = ns.build(schedule, args, target="cuda", name=case.name, **(case.options or {}))
    return Built(case, module, args, operator)
