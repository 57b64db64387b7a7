"""Each stage of the Winograd pipeline of :func:`schedules.templates.conv_winograd.conv2d_winograd`
as a kernel of its own, with the schedule that stage has in the pipeline run stage by stage
(``fused=False``), so a profile can time where a Winograd convolution spends its time:

- ``"weights"``: ``[W, U]``, the blocked 3x3 weights transformed (done once where the weights
  are given transformed);
- ``"input"``: ``[X, V]``, the input tiles transformed (from the blocked padded input);
- ``"products"``: ``[V, U, M]``, the ``alpha^2`` matrix products;
- ``"output"``: ``[M, Y]``, the output tiles transformed back into the blocked output.
"""

from __future__ import annotations

from tensorir.errors import DefinitionError
from tensorir.intmath import ceil_div
from tensorir.tensor import placeholder

from ..schedule import create_schedule
from .conv_winograd import (
    _grown_input,
    input_tiles,
    output_tiles,
    products,
    schedule_output,
    schedule_products,
    schedule_tiles,
)
from .winograd_phases import phase_input
from .winograd_weights import conv2d_winograd_weights, tile_choices, variant, weight_shape

#: the stages, in pipeline order
STAGES = ("weights", "input", "products", "output")


def winograd_stage(stage: str, batch: int, in_channels: int, height: int, width: int, out_channels: int, *,
                   padding: int = 1, tile: int = 2, stride: int = 1, rows: int = 8, lanes: int = 16,
                   dtype: str = "float32", parallel: bool = True):
    """The kernel of one ``stage`` (see the module docstring) of a Winograd convolution on
    blocked arrays (``layout="NCHWc"``); returns ``(schedule, args)``."""
    wino = variant(tile, stride)
    if wino is None:
        raise DefinitionError(f"winograd_stage: {tile_choices(stride, 'winograd_stage')}, got tile {tile!r} with "
                              f"stride {stride!r}")
    if stage not in STAGES:
        raise DefinitionError(f"winograd_stage: stage must be one of {', '.join(STAGES)}, got {stage!r}")
    if stage == "weights":
        return conv2d_winograd_weights(in_channels, out_channels, tile=tile, stride=stride, layout="NCHWc",
                                       dtype=dtype, parallel=parallel)
    ib = min(16, in_channels)
    out_h, out_w = ((extent + 2 * padding - 3) // stride + 1 for extent in (height, width))
    grid = (batch, ceil_div(out_h, tile), ceil_div(out_w, tile))
    if stage == "input":
        X = placeholder((batch, ceil_div(in_channels, ib), height + 2 * padding, width + 2 * padding, ib), dtype,
                        name="X")
        return _input_stage(wino, X, grid, stride, parallel)
    tiles = grid[0] * grid[1] * grid[2]
    if stage == "products":
        shape_u = weight_shape(in_channels, out_channels, tile, stride)
        V = placeholder((wino.alpha, wino.alpha, tiles, shape_u[2], ib), dtype, name="V")
        return _products_stage(V, placeholder(shape_u, dtype, name="U"), rows, lanes, parallel)
    kb = ceil_div(out_channels, 16)
    M = placeholder((wino.alpha, wino.alpha, tiles, kb * 16), dtype, name="M")
    S, Yb = output_tiles(wino, M, *grid, out_h, out_w, kb, 16)
    s = create_schedule(Yb)
    n, rows_outer = schedule_output(s, wino, S, Yb, 1)
    if parallel:
        s[Yb].parallel(s[Yb].fuse(n, rows_outer))
    return s, [M, Yb]


def _input_stage(wino, X, grid: tuple, stride: int, parallel: bool):
    batch, tiles_y, tiles_x = grid
    rows, cols = ((n * wino.m + 1) * stride + 2 - stride for n in (tiles_y, tiles_x))
    P = _grown_input(X, rows, cols)
    view = phase_input(P, tiles_y * wino.m + 1, tiles_x * wino.m + 1) if stride == 2 else P
    T, V = input_tiles(wino, view, batch, tiles_y, tiles_x)
    s = create_schedule(V)
    loop = schedule_tiles(s, T, V)
    for stage in (P, view) if view is not P else (P,):
        if stage is not X:
            s[stage].compute_inline()
    if parallel:
        s[V].parallel(loop)
    return s, [X, V]


def _products_stage(V, U, rows: int, lanes: int, parallel: bool):
    M = products(V, U)
    s = create_schedule(M)
    loops = schedule_products(s, M, s.cache_write(M, "local"), rows, lanes, weights_outer=True)
    if parallel:
        s[M].parallel(s[M].fuse(*loops))
    return s, [V, U, M]
