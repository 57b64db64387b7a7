"""The tunable templates: for each ready-made schedule, its search space, how a config maps to the
template's keyword arguments, and the numpy reference every measured candidate is checked against.

The templates themselves (:mod:`schedules.templates`) keep their keyword API; this module only
declares which values of those keywords are worth trying on this machine.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from tensorir.intmath import ceil_div

from ..templates import conv2d_cpu, matmul_cpu, matmul_dot, matmul_gpu, matmul_layout_2d
from ..templates.conv_nchwc import conv2d_nchwc
from ..templates.conv_variants import ConvParams, conv2d_tiled
from .errors import TuningError
from .space import Config, ConfigSpace


@dataclass(frozen=True, eq=False)
class TunableTemplate:
    """A template with a search space.

    Attributes
    ----------
    name
        The operator name recorded in the tuning database (``"matmul_cpu"``).
    function
        The template: ``function(*sizes, dtype=..., **options, **kwargs) -> (schedule, args)``.
    size_names
        The names of its positional size arguments (``("m", "n", "k")``).
    target
        The backend it schedules for (``"llvm"`` or ``"cuda"``).
    declare
        ``declare(cfg, sizes, options, dtype)`` declares the knobs and constraints on ``cfg``.
    to_kwargs
        ``to_kwargs(config)`` gives the template's keyword arguments for a config.
    reference
        ``reference(inputs, sizes, options)``: the expected outputs, from numpy.
    options
        Fixed (not tuned) keyword arguments and their defaults, part of the tuning key.
    flops
        ``flops(sizes, options)``: floating-point operations of one call, for GFLOP/s.
    locator
        How a worker process finds this template again: a registered name or ``module:attribute``.
    """

    name: str
    function: Callable[..., tuple]
    size_names: tuple[str, ...]
    target: str
    declare: Callable[[ConfigSpace, tuple, dict, str], None]
    to_kwargs: Callable[[Config], dict]
    reference: Callable[[list[np.ndarray], tuple, dict], list[np.ndarray]]
    options: dict = field(default_factory=dict)
    flops: Callable[[tuple, dict], float] | None = None
    locator: str = ""

    def task_options(self, options: dict | None = None) -> dict:
        """The fixed options with defaults filled in, checked against the known ones."""
        unknown = sorted(set(options or {}) - set(self.options))
        if unknown:
            raise TuningError(f"{self.name}: unknown options {unknown}; known: {sorted(self.options)}")
        return {**self.options, **(options or {})}

    def space(self, sizes: Sequence[int], options: dict | None = None, dtype: str = "float32") -> ConfigSpace:
        """The search space of this template at ``sizes``."""
        sizes = self.check_sizes(sizes)
        cfg = ConfigSpace()
        self.declare(cfg, sizes, self.task_options(options), dtype)
        return cfg

    def check_sizes(self, sizes: Sequence[int]) -> tuple[int, ...]:
        sizes = tuple(int(s) for s in sizes)
        if len(sizes) != len(self.size_names) or any(s <= 0 for s in sizes):
            raise TuningError(f"{self.name}: expected {len(self.size_names)} positive sizes "
                              f"({', '.join(self.size_names)}), got {list(sizes)}")
        return sizes

    def instantiate(self, sizes: Sequence[int], kwargs: dict, dtype: str = "float32",
                    options: dict | None = None):
        """The template's ``(schedule, args)`` with these keyword arguments."""
        return self.function(*self.check_sizes(sizes), dtype=dtype, **self.task_options(options), **kwargs)


# -- host facts ----------------------------------------------------------------------------
def host_vectors(dtype: str) -> tuple[int, int]:
    """(lanes of the widest vector register for ``dtype``, number of vector registers)."""
    from backends.llvm.target import host_target

    width = host_target().vector_bytes
    return max(1, width // np.dtype(dtype).itemsize), 32 if width == 64 else 16


def _split_policy(extent: int, quantum: int) -> str:
    """Exact divisors where ``extent`` has enough of them, powers of two (with guards) otherwise."""
    return "factors" if extent % quantum == 0 else "power2"


# -- CPU matmul ----------------------------------------------------------------------------
def _constrain_register_tile(cfg: ConfigSpace, n: int, lanes: int, registers: int, v3: int) -> None:
    """The register-tile constraints every CPU matmul space shares: v2 a whole number of vectors,
    the v1 x v2 accumulators (plus a row of B and a broadcast of A) in registers, and an unrolled
    body of bounded size; ``v3`` is the position of the innermost factor in ``tile_k``."""

    def vectors(c: Config) -> int:
        return ceil_div(c["tile_j"][2], lanes)

    cfg.constrain(lambda c: c["tile_j"][2] % lanes == 0 or c["tile_j"][2] == n,
                  f"v2 is a whole number of {lanes}-lane vectors")
    cfg.constrain(lambda c: c["tile_i"][2] * vectors(c) + vectors(c) + 1 <= registers,
                  f"the v1 x v2 accumulator tile, a row of B and a broadcast of A fit the {registers} "
                  "vector registers")
    cfg.constrain(lambda c: c["tile_i"][2] * vectors(c) * c["tile_k"][v3] <= 512,
                  "the unrolled v3 x v1 body has at most 512 vector multiply-adds")


def _matmul_cpu_kwargs(c: Config) -> dict:
    (_, bi, v1), (_, bj, v2), (_, bk, v3) = c["tile_i"], c["tile_j"], c["tile_k"]
    b3 = bk * v3 if c["k_chunks"] else None
    return {"v1": v1, "v2": v2, "v3": v3, "b1": bi * v1, "b2": bj * v2, "b3": b3, "pack_b": c["pack_b"]}


def _declare_matmul_cpu(cfg: ConfigSpace, sizes: tuple, options: dict, dtype: str) -> None:
    """``tile_i = [m/b1, b1/v1, v1]``, ``tile_j = [n/b2, b2/v2, v2]``, ``tile_k = [k/b3, b3/v3, v3]``;
    ``k_chunks`` False is the explicit register cache (``b3=None``)."""
    m, n, k = sizes
    lanes, registers = host_vectors(dtype)
    cfg.define_split("tile_i", m, num_outputs=3, policy=_split_policy(m, 8))
    cfg.define_split("tile_j", n, num_outputs=3, policy=_split_policy(n, lanes))
    cfg.define_split("tile_k", k, num_outputs=3, policy=_split_policy(k, 8), max_factor=32)
    cfg.define_knob("k_chunks", [True, False])
    cfg.define_knob("pack_b", [False, True])

    _constrain_register_tile(cfg, n, lanes, registers, v3=2)
    cfg.constrain(lambda c: c["k_chunks"] or c["tile_k"][1] == 1,
                  "without reduction chunks (b3=None) the chunk split is unused: b3/v3 = 1")


def _matmul_reference(inputs: list[np.ndarray], sizes: tuple, options: dict) -> list[np.ndarray]:
    a, b = inputs
    return [a @ (b.T if options.get("transpose_b", True) else b)]


def _matmul_flops(sizes: tuple, options: dict) -> float:
    m, n, k = sizes
    return 2.0 * m * n * k


MATMUL_CPU = TunableTemplate(
    "matmul_cpu", matmul_cpu, ("m", "n", "k"), "llvm", _declare_matmul_cpu, _matmul_cpu_kwargs,
    _matmul_reference, {"transpose_b": True, "parallel": True}, _matmul_flops, "matmul_cpu")


# -- CPU matmul layout variants (the frontend's transposed-A and narrow products) -----------
def _declare_register_tiles(cfg: ConfigSpace, sizes: tuple, dtype: str) -> None:
    """``tile_i = [m/b1, b1/v1, v1]``, ``tile_j = [n/b2, b2/v2, v2]``, ``tile_k = [k/v3, v3]``: the
    register and cache tiles of :func:`~schedules.templates.matmul_cpu.register_cache_tile`, with
    the register constraints of ``matmul_cpu``."""
    m, n, k = sizes
    lanes, registers = host_vectors(dtype)
    cfg.define_split("tile_i", m, num_outputs=3, policy=_split_policy(m, 8))
    cfg.define_split("tile_j", n, num_outputs=3, policy=_split_policy(n, lanes))
    cfg.define_split("tile_k", k, num_outputs=2, policy=_split_policy(k, 8), max_factor=32)

    _constrain_register_tile(cfg, n, lanes, registers, v3=1)


def _matmul_layout_kwargs(c: Config) -> dict:
    (_, bi, v1), (_, bj, v2), (_, v3) = c["tile_i"], c["tile_j"], c["tile_k"]
    return {"v1": v1, "v2": v2, "v3": v3, "b1": bi * v1, "b2": bj * v2}


def _matmul_layout_reference(inputs: list[np.ndarray], sizes: tuple, options: dict) -> list[np.ndarray]:
    a, b = inputs
    return [(a.T if options["transpose_a"] else a) @ (b.T if options["transpose_b"] else b)]


MATMUL_LAYOUT = TunableTemplate(
    "matmul_layout", matmul_layout_2d, ("m", "n", "k"), "llvm",
    lambda cfg, sizes, options, dtype: _declare_register_tiles(cfg, sizes, dtype), _matmul_layout_kwargs,
    _matmul_layout_reference, {"transpose_a": True, "transpose_b": False, "parallel": False}, _matmul_flops,
    "matmul_layout")


def _declare_matmul_dot(cfg: ConfigSpace, sizes: tuple, options: dict, dtype: str) -> None:
    """``vector`` partial sums along the contiguous ``k`` of both rows: up to four vector registers."""
    _, _, k = sizes
    lanes, _ = host_vectors(dtype)
    cfg.define_knob("vector", [v for v in (lanes // 2, lanes, 2 * lanes, 4 * lanes) if 0 < v <= k] or [k])


def _matmul_dot_reference(inputs: list[np.ndarray], sizes: tuple, options: dict) -> list[np.ndarray]:
    a, bt = inputs
    return [a @ bt.T]


MATMUL_DOT = TunableTemplate(
    "matmul_dot", matmul_dot, ("m", "n", "k"), "llvm", _declare_matmul_dot, dict, _matmul_dot_reference, {},
    _matmul_flops, "matmul_dot")


# -- CPU conv2d ----------------------------------------------------------------------------
def _conv_out(sizes: tuple, options: dict) -> tuple[int, int]:
    _, _, height, width, _, kernel = sizes
    stride, padding = options["stride"], options["padding"]
    return (height + 2 * padding - kernel) // stride + 1, (width + 2 * padding - kernel) // stride + 1


def _declare_conv2d_cpu(cfg: ConfigSpace, sizes: tuple, options: dict, dtype: str) -> None:
    _, in_channels, _, _, out_channels, kernel = sizes
    out_h, out_w = _conv_out(sizes, options)
    lanes, registers = host_vectors(dtype)
    x_tiles = sorted({t for t in (lanes // 2, lanes, 2 * lanes, 3 * lanes, 4 * lanes) if 0 < t <= out_w}
                     | {d for d in range(4, min(out_w, 4 * lanes) + 1) if out_w % d == 0} or {out_w})
    cfg.define_split("tile_k", out_channels, num_outputs=2, policy=_split_policy(out_channels, 2), max_factor=16)
    cfg.define_knob("tile_y", [t for t in (1, 2, 3, 4, 6, 8) if t <= out_h] or [1])
    cfg.define_knob("tile_x", x_tiles)
    cfg.define_knob("input_cache", ["root", "tile", "inline"])

    def vectors(c: Config) -> int:
        return ceil_div(c["tile_x"], lanes)

    cfg.constrain(lambda c: c["tile_k"][1] * c["tile_y"] * vectors(c) + vectors(c) + 1 <= registers,
                  f"the tile_k x tile_y x tile_x accumulator tile fits the {registers} vector registers")

    def patch(c: Config) -> int:
        rows, columns = ((c[t] - 1) * options["stride"] + kernel for t in ("tile_y", "tile_x"))
        return in_channels * rows * columns * np.dtype(dtype).itemsize

    cfg.constrain(lambda c: c["input_cache"] != "tile" or patch(c) <= 256 * 1024,
                  "a per-tile input patch fits 256 KiB of cache")


def _conv2d_kwargs(c: Config) -> dict:
    return {"tile_k": c["tile_k"][1], "tile_y": c["tile_y"], "tile_x": c["tile_x"], "input_cache": c["input_cache"]}


def _conv2d_reference(inputs: list[np.ndarray], sizes: tuple, options: dict) -> list[np.ndarray]:
    x, w = inputs
    stride, padding = options["stride"], options["padding"]
    kernel = w.shape[2]
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (kernel, kernel), axis=(2, 3))
    windows = windows[:, :, ::stride, ::stride]
    return [np.einsum("ncyxrq,kcrq->nkyx", windows, w, optimize=True).astype(x.dtype)]


def _conv2d_flops(sizes: tuple, options: dict) -> float:
    batch, in_channels, _, _, out_channels, kernel = sizes
    out_h, out_w = _conv_out(sizes, options)
    return 2.0 * batch * out_channels * out_h * out_w * in_channels * kernel * kernel


CONV2D_CPU = TunableTemplate(
    "conv2d_cpu", conv2d_cpu, ("batch", "in_channels", "height", "width", "out_channels", "kernel"), "llvm",
    _declare_conv2d_cpu, _conv2d_kwargs, _conv2d_reference, {"stride": 1, "padding": 1, "parallel": True},
    _conv2d_flops, "conv2d_cpu")


# -- CPU conv2d in the blocked NCHW[x]c layout --------------------------------------------
def _declare_conv2d_nchwc(cfg: ConfigSpace, sizes: tuple, options: dict, dtype: str) -> None:
    _, in_channels, _, _, out_channels, _ = sizes
    _, out_w = _conv_out(sizes, options)
    lanes, registers = host_vectors(dtype)
    cfg.define_knob("ic_block", sorted({b for b in (4, 8, 16, 32) if b <= in_channels} | {min(16, in_channels)}))
    cfg.define_knob("oc_block", [b for b in (lanes, 2 * lanes) if b <= max(lanes, out_channels)])
    cfg.define_knob("tile_x", sorted({t for t in range(4, min(out_w, 28) + 1) if out_w % t == 0}
                                     | {t for t in (8, 14, 16) if t <= out_w} or {out_w}))
    cfg.define_knob("oc_tiles", [1, 2])
    cfg.define_knob("unroll_kernel", [False, True])
    winograd = sizes[5] == 3 and options["stride"] == 1
    cfg.define_knob("winograd", [0, 2, 4] if winograd else [0])
    cfg.define_knob("winograd_s2", [0, 4, 7] if sizes[5] == 3 and options["stride"] == 2 else [0])
    cfg.constrain(lambda c: (c["tile_x"] + 1) * c["oc_tiles"] * ceil_div(c["oc_block"], lanes) + 1 <= registers,
                  f"the tile_x x oc_tiles x oc_block accumulator tile fits the {registers} vector registers")
    first_tile = cfg.knobs["tile_x"].choices[0]
    cfg.constrain(lambda c: not (c["winograd"] or c["winograd_s2"]) or (
        c["ic_block"] == min(16, in_channels) and c["oc_block"] == 16 and not c["unroll_kernel"]
        and c["tile_x"] == first_tile and c["oc_tiles"] == 1),
        "Winograd blocks channels by 16 and has no tile_x, oc_tiles or unroll_kernel")


def _conv2d_nchwc_kwargs(c: Config) -> dict:
    return {knob: c[knob] for knob in ("ic_block", "oc_block", "tile_x", "oc_tiles", "unroll_kernel", "winograd",
                                       "winograd_s2")}


CONV2D_NCHWC = TunableTemplate(
    "conv2d_nchwc", conv2d_nchwc, ("batch", "in_channels", "height", "width", "out_channels", "kernel"), "llvm",
    _declare_conv2d_nchwc, _conv2d_nchwc_kwargs, _conv2d_reference,
    {"stride": 1, "padding": 1, "parallel": True}, _conv2d_flops, "conv2d_nchwc")


# -- the frontend's convolutions and their adjoints (register_tiled) ----------------------
def _tiled_axes(sizes: tuple, options: dict) -> tuple[int, int, int]:
    """(channels of the register tile, its second channel axis or 1, its vector axis) extents."""
    _, in_channels, height, width, out_channels, kernel = sizes
    out_w = ConvParams(options["stride"], options["padding"]).out_extent(width, kernel)
    return {"forward": (out_channels, 1, out_w), "grad_input": (in_channels, 1, width),
            "grad_weight": (out_channels, in_channels, out_w)}[options["which"]]


def _declare_conv2d_tiled(cfg: ConfigSpace, sizes: tuple, options: dict, dtype: str) -> None:
    channels, second, columns = _tiled_axes(sizes, options)
    lanes, registers = host_vectors(dtype)
    cfg.define_knob("tile_c", sorted({t for t in (1, 2, 4, 8, 16) if t <= channels} | ({channels} - {0}
                                     if channels <= 16 else set())))
    cfg.define_knob("tile_v", sorted({t for t in (lanes // 2, lanes, 2 * lanes, 3 * lanes, 4 * lanes)
                                      if 0 < t <= columns} | ({columns} if columns <= 4 * lanes else set())))
    if options["which"] == "grad_weight":
        cfg.define_knob("tile_2", [t for t in (1, 2, 4) if t <= second])

    def vectors(c: Config) -> int:
        return ceil_div(c["tile_v"], lanes)

    def rows(c: Config) -> int:
        return c["tile_c"] * (c["tile_2"] if options["which"] == "grad_weight" else 1)

    cfg.constrain(lambda c: rows(c) * vectors(c) + vectors(c) + 1 <= registers,
                  f"the accumulator tile and a row of inputs fit the {registers} vector registers")


def _conv_grad_input_reference(dy: np.ndarray, w: np.ndarray, sizes: tuple, options: dict) -> np.ndarray:
    batch, in_channels, height, width, _, kernel = sizes
    stride, padding = options["stride"], options["padding"]
    out_h, out_w = dy.shape[2:]
    padded = np.zeros((batch, in_channels, height + 2 * padding, width + 2 * padding), dy.dtype)
    for r in range(kernel):
        for q in range(kernel):
            padded[:, :, r:r + stride * (out_h - 1) + 1:stride, q:q + stride * (out_w - 1) + 1:stride] += \
                np.einsum("nkyx,kc->ncyx", dy, w[:, :, r, q])
    return padded[:, :, padding:padding + height, padding:padding + width]


def _conv_grad_weight_reference(x: np.ndarray, dy: np.ndarray, sizes: tuple, options: dict) -> np.ndarray:
    kernel, (stride, padding) = sizes[5], (options["stride"], options["padding"])
    out_h, out_w = dy.shape[2:]
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (kernel, kernel), axis=(2, 3))
    windows = windows[:, :, ::stride, ::stride][:, :, :out_h, :out_w]
    return np.einsum("ncyxrq,nkyx->kcrq", windows, dy, optimize=True).astype(x.dtype)


def _conv2d_tiled_reference(inputs: list[np.ndarray], sizes: tuple, options: dict) -> list[np.ndarray]:
    match options["which"]:
        case "forward":
            return _conv2d_reference(inputs, sizes, options)
        case "grad_input":
            return [_conv_grad_input_reference(*inputs, sizes, options)]
    return [_conv_grad_weight_reference(*inputs, sizes, options)]


def _conv2d_tiled_flops(sizes: tuple, options: dict) -> float:
    batch, in_channels, height, width, out_channels, kernel = sizes
    params = ConvParams(options["stride"], options["padding"])
    return 2.0 * batch * out_channels * params.out_extent(height, kernel) * params.out_extent(width, kernel) \
        * in_channels * kernel * kernel


CONV2D_TILED = TunableTemplate(
    "conv2d_tiled", conv2d_tiled, ("batch", "in_channels", "height", "width", "out_channels", "kernel"), "llvm",
    _declare_conv2d_tiled, dict, _conv2d_tiled_reference, {"stride": 1, "padding": 1, "which": "forward"},
    _conv2d_tiled_flops, "conv2d_tiled")


# -- GPU matmul ----------------------------------------------------------------------------
def _declare_matmul_gpu(cfg: ConfigSpace, sizes: tuple, options: dict, dtype: str) -> None:
    m, n, _ = sizes
    itemsize = np.dtype(dtype).itemsize
    largest = max(16, 1 << (max(m, n) - 1).bit_length())
    cfg.define_knob("L", [t for t in (16, 32, 64, 128) if t <= largest])
    cfg.define_knob("S", [4, 8, 16, 32])
    cfg.define_knob("V", [1, 2, 4, 8])
    cfg.define_knob("W", [2, 4, 8])
    cfg.define_knob("double_buffer", [True, False])
    cfg.define_knob("vector", [4])
    cfg.constrain(lambda c: c["L"] % c["V"] == 0 and c["L"] % c["W"] == 0, "L is a multiple of V and W")
    cfg.constrain(lambda c: c["W"] in (c["V"], c["V"] // 2), "W is V (square thread tiles) or V / 2")
    cfg.constrain(lambda c: 32 <= (c["L"] // c["V"]) * (c["L"] // c["W"]) <= 1024,
                  "a block has between 32 (a warp) and 1024 threads")
    cfg.constrain(lambda c: (2 if c["double_buffer"] else 1) * 2 * c["L"] * c["S"] * itemsize <= 48 * 1024,
                  "the A and B tiles (two copies of each when double-buffered) fit 48 KiB of shared memory")
    cfg.constrain(lambda c: c["V"] * c["W"] <= 64, "the V x W accumulator tile fits in registers")


def _matmul_gpu_reference(inputs: list[np.ndarray], sizes: tuple, options: dict) -> list[np.ndarray]:
    a, b = inputs
    return [a @ b]


MATMUL_GPU = TunableTemplate(
    "matmul_gpu", matmul_gpu, ("m", "n", "k"), "cuda", _declare_matmul_gpu, dict, _matmul_gpu_reference, {},
    _matmul_flops, "matmul_gpu")

#: the tunable templates by name
TEMPLATES: dict[str, TunableTemplate] = {t.name: t for t in (MATMUL_CPU, CONV2D_CPU, MATMUL_GPU, MATMUL_LAYOUT,
                                                                MATMUL_DOT, CONV2D_TILED, CONV2D_NCHWC)}
#: operator names for the command line: operator -> target -> template name
ALIASES = {"matmul": {"llvm": "matmul_cpu", "cuda": "matmul_gpu"}, "conv2d": {"llvm": "conv2d_cpu"}}


def resolve_template(template, target: str | None = None) -> TunableTemplate:
    """The tunable template named ``template``: a TunableTemplate, a registered name (or an
    operator alias such as ``"matmul"`` with a target), a template function, or ``module:attribute``."""
    if isinstance(template, TunableTemplate):
        return template
    if callable(template):
        for spec in TEMPLATES.values():
            if spec.function is template:
                return spec
        raise TuningError(f"{getattr(template, '__name__', template)!r} has no search space; "
                          f"tunable templates: {sorted(TEMPLATES)}")
    if not isinstance(template, str):
        raise TuningError(f"expected a template name, got {template!r}")
    if template in TEMPLATES:
        return TEMPLATES[template]
    if template in ALIASES:
        by_target = ALIASES[template]
        name = by_target.get(target or "llvm")
        if name is None:
            raise TuningError(f"{template} has no tunable template for target {target!r}; targets: {sorted(by_target)}")
        return TEMPLATES[name]
    if ":" in template:
        module, _, attribute = template.partition(":")
        spec = getattr(importlib.import_module(module), attribute, None)
        if isinstance(spec, TunableTemplate):
            return spec
    raise TuningError(f"unknown template {template!r}; tunable templates: {sorted(TEMPLATES)}, "
                      f"operators: {sorted(ALIASES)}")
