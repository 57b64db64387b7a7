"""The weight transform of Winograd's F(m x m, 3x3), ``U = G g G^T`` for every (input, output)
channel pair, as compute stages, their schedule, and a template of its own.

A model's weights are constants: transformed once (:func:`conv2d_winograd_weights`), they feed
:func:`schedules.templates.conv_winograd.conv2d_winograd` with ``weights="transformed"``, which
then does no weight work per call (as TVM's ``conv2d_winograd_without_weight_transform``). On
ResNet-18's last 3x3 layer (512 -> 512 channels at 7x7) the per-call transform writes 16 MiB
(F(2x2,3x3)) or 36 MiB (F(4x4,3x3)) of ``U`` for a convolution of 8 ms.

The transformed weights ``U`` have the shape ``(m+2, m+2, C/ib, ib, K')``: per point of the
transformed tile, the ``C x K'`` matrix of the products (input channels blocked by
``ib = min(16, C)``, output channels ``K' = ceil(K/16)*16``, both zero-padded).
"""

from __future__ import annotations

from tensorir import functions as fn
from tensorir.errors import DefinitionError
from tensorir.intmath import ceil_div
from tensorir.tensor import compute, placeholder

from ..schedule import create_schedule
from .winograd_phases import phase_weights
from .winograd_transforms import STRIDE2_VARIANTS, VARIANTS, row_transform

#: the forms of the weights conv2d_winograd takes
WEIGHTS = ("raw", "transformed")
LAYOUTS = ("NCHW", "NCHWc")


def variant(tile: int, stride: int = 1):
    """The Winograd algorithm of a 3x3 convolution's ``tile`` and ``stride`` (F(tile, 3) for
    stride 1, F(tile, 2) over the phases for stride 2), or None."""
    return {1: VARIANTS, 2: STRIDE2_VARIANTS}.get(stride, {}).get(tile)


def weight_shape(in_channels: int, out_channels: int, tile: int, stride: int = 1) -> tuple:
    """The shape of the transformed weights ``U`` of a 3x3 convolution by ``F(tile x tile, .)``
    (for stride 2 four phase channels per input channel)."""
    alpha, ib = variant(tile, stride).alpha, min(16, in_channels)
    return (alpha, alpha, stride * stride * ceil_div(in_channels, ib), ib, ceil_div(out_channels, 16) * 16)


def pack_weights(W, ib: int, ob: int):
    """KCRS ``W`` blocked ``K/ob, C/ib, 3, 3, ib, ob`` (partial blocks zero-padded)."""
    out_channels, in_channels, _, _ = W.shape

    def at(bk, bc, r, q, c, k):
        value = W[bk * ob + k, bc * ib + c, r, q]
        if in_channels % ib or out_channels % ob:
            return fn.value_or_zero((bk * ob + k < out_channels) & (bc * ib + c < in_channels), value)
        return value

    return compute((ceil_div(out_channels, ob), ceil_div(in_channels, ib), 3, 3, ib, ob), at, name="W.blocked")


def transform_weights(wino, Wb):
    """``Ug`` (the row pass) and ``U`` (the column pass) of the blocked weights ``Wb``."""
    kb, cb, _, _, ib, ob = Wb.shape
    a = wino.alpha
    Ug = compute((a, wino.r, cb, ib, kb * ob), lambda e, q, bc, c, k: row_transform(
        wino.G, e, lambda r: Wb[k // ob, bc, r, q, c, k % ob]), name="Ug")
    U = compute((a, a, cb, ib, kb * ob), lambda e, f, bc, c, k: row_transform(
        wino.G, f, lambda q: Ug[e, q, bc, c, k]), name="U")
    return Ug, U


def schedule_weights(s, Ug, U, parallel: bool) -> None:
    """Per input channel and block of 16 output channels: ``Ug`` then ``U``, unrolled over the
    tile, vectorized over the output channels."""
    e, f, bc, c, k = U.op.axis
    ko, ki = s[U].split(k, factor=16)
    s[U].reorder(bc, c, ko, e, f, ki)
    for axis in (e, f):
        s[U].unroll(axis)
    s[U].vectorize(ki)
    s[Ug].set_scope("local")
    s[Ug].compute_at(s[U], ko)
    ue, uq, _, _, uk = Ug.op.axis
    s[Ug].unroll(ue)
    s[Ug].unroll(uq)
    s[Ug].vectorize(uk)
    if parallel:
        s[U].parallel(s[U].fuse(bc, c))


def conv2d_winograd_weights(in_channels: int, out_channels: int, *, tile: int = 2, stride: int = 1,
                            layout: str = "NCHW", dtype: str = "float32", parallel: bool = True):
    """The kernel ``[W, U]`` that transforms 3x3 weights once for
    ``conv2d_winograd(..., tile=tile, weights="transformed")``.

    Parameters
    ----------
    in_channels, out_channels
        The convolution's channels.
    tile, stride
        As the convolution's: stride 1 with tile 2 (F(2x2,3x3)) or 4 (F(4x4,3x3)), stride 2 with
        tile 4 (F(4x4,2x2)) or 7 (F(7x7,2x2)) over the phases.
    layout
        ``"NCHW"``: ``W`` of shape ``(out_channels, in_channels, 3, 3)``; ``"NCHWc"``: the blocked
        weights of :func:`schedules.templates.conv2d_nchwc` (``(K/16, C/ib, 3, 3, ib, 16)``).

    Returns
    -------
    tuple
        The schedule and ``[W, U]``, ``U`` of shape :func:`weight_shape`.
    """
    if variant(tile, stride) is None:
        raise DefinitionError(f"conv2d_winograd_weights: {tile_choices(stride, 'conv2d_winograd_weights')}, "
                              f"got tile {tile!r} with stride {stride!r}")
    if layout not in LAYOUTS:
        raise DefinitionError(f"conv2d_winograd_weights: layout must be 'NCHW' or 'NCHWc', got {layout!r}")
    for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise DefinitionError(f"conv2d_winograd_weights: {name} must be a positive integer, got {value!r}")
    ib, ob = min(16, in_channels), 16
    if layout == "NCHW":
        W = placeholder((out_channels, in_channels, 3, 3), dtype, name="W")
        Wb = pack_weights(W, ib, ob)
    else:
        W = Wb = placeholder((ceil_div(out_channels, ob), ceil_div(in_channels, ib), 3, 3, ib, ob), dtype, name="W")
    phases = phase_weights(Wb) if stride == 2 else Wb
    Ug, U = transform_weights(variant(tile, stride), phases)
    s = create_schedule(U)
    schedule_weights(s, Ug, U, parallel)
    for stage in (Wb, phases) if phases is not Wb else (Wb,):
        if stage is not W:
            s[stage].compute_inline()
    return s, [W, U]


def tile_choices(stride, name: str) -> str:
    """What ``name`` accepts as tile for ``stride``, for an error message."""
    if stride == 2:
        return "a stride-2 tile must be 4 (F(4x4,2x2)) or 7 (F(7x7,2x2))"
    if stride == 1:
        return "tile must be 2 (F(2x2,3x3)) or 4 (F(4x4,3x3))"
    return "stride must be 1 or 2"
