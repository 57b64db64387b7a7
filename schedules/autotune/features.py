"""Features of a config that mean the same at every shape, so a cost model fitted on some shapes of a
template ranks the configs of another: tile footprints in bytes against this machine's L1 and L2
caches, vector lanes used and wasted at tails, arithmetic intensity of the register tile and of the
cache tile, loop trip counts and their ratio to the problem, the share of padded (guarded) work of
imperfect tiles, and parallel chunks per core.

Each template with transferable features has a function ``(sizes, options, dtype, kwargs) ->
{name: value}`` in :data:`FEATURES`, keyed by the template function; :func:`featurizer` binds one to a
task. Sizes enter only through ratios and trip counts, never as absolute extents.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tensorir.intmath import ceil_div

from ..templates import conv2d_cpu, matmul_cpu, matmul_gpu
from .space import Config

#: cache sizes assumed where the system does not report them: L1 data, L2 (bytes)
DEFAULT_CACHES = (32 * 1024, 1024 * 1024)
_UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3}


def _size(text: str) -> int | None:
    text = text.strip().upper()
    scale = _UNITS.get(text[-1:], 1)
    digits = text[:-1] if text[-1:] in _UNITS else text
    return int(digits) * scale if digits.isdigit() and int(digits) > 0 else None


@functools.lru_cache(maxsize=4)
def cache_sizes(root: str = "/sys/devices/system/cpu/cpu0/cache") -> tuple[int, int]:
    """(L1 data, L2) cache sizes in bytes from ``root/index*/{level,type,size}``, with
    :data:`DEFAULT_CACHES` for any level the system does not report."""
    found: dict[int, int] = {}
    for index in sorted(Path(root).glob("index*")):
        try:
            level = int((index / "level").read_text())
            kind = (index / "type").read_text().strip()
            size = _size((index / "size").read_text())
        except (OSError, ValueError):
            continue
        if kind in ("Data", "Unified") and size and level not in found:
            found[level] = size
    return found.get(1, DEFAULT_CACHES[0]), found.get(2, DEFAULT_CACHES[1])


def _cores() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def _log2(value: float) -> float:
    return math.log2(max(float(value), 1e-9))


def _waste(extent: int, tile: int) -> float:
    """Share of the iterations of ``extent`` split by ``tile`` that are padding (guarded off)."""
    padded = ceil_div(extent, tile) * tile
    return (padded - extent) / padded


def _lanes(width: int, lanes: int) -> tuple[float, float]:
    """(vectors of ``width`` elements, share of their lanes left empty)."""
    vectors = ceil_div(width, lanes)
    return float(vectors), 1.0 - width / (vectors * lanes)


def _balance(chunks: int, cores: int) -> float:
    """Parallel efficiency of ``chunks`` equal chunks on ``cores`` cores (1: no core idles)."""
    return chunks / (ceil_div(chunks, cores) * cores)


def _matmul_cpu(sizes: tuple, options: dict, dtype: str, kwargs: dict) -> dict[str, float]:
    from .spaces import host_vectors

    m, n, k = sizes
    lanes, registers = host_vectors(dtype)
    item = np.dtype(dtype).itemsize
    l1, l2 = cache_sizes()
    v1, v2, v3 = (kwargs.get(name, default) for name, default in (("v1", 8), ("v2", 32), ("v3", 4)))
    b1, b2, b3 = kwargs.get("b1", 8), kwargs.get("b2", 32), kwargs.get("b3", 64)
    chunked = b3 is not None
    e1, e2, e3 = min(b1, m), min(b2, n), min(b3 if chunked else k, k)
    vectors, empty = _lanes(v2, lanes)
    chunks = ceil_div(n, b2)
    panel = e3 * v2 * item  # the B panel one register tile streams
    block = (e1 * e3 + e2 * e3 + e1 * e2) * item  # A block, B block, C tile of one cache tile
    return {
        "log_v1": _log2(v1), "log_v2": _log2(v2), "log_v3": _log2(v3), "log_b1": _log2(b1), "log_b2": _log2(b2),
        "log_b3": _log2(e3), "k_chunks": float(chunked), "pack_b": float(kwargs.get("pack_b", True)),
        "pack_a": float(kwargs.get("pack_a", False)),
        "vectors": vectors, "empty_lanes": empty, "registers_used": (v1 * vectors + vectors + 1) / registers,
        "register_intensity": 2.0 * v1 * v2 / (v1 + v2), "cache_intensity": 2.0 * e1 * e2 * e3 / (block / item),
        "panel_per_l1": _log2(panel / l1), "a_block_per_l1": _log2(e1 * e3 * item / l1),
        "tile_per_l1": _log2(block / l1), "tile_per_l2": _log2(block / l2),
        "waste_v1": _waste(m, v1), "waste_v2": _waste(n, v2), "waste_b1": _waste(m, b1), "waste_b2": _waste(n, b2),
        "waste_b3": _waste(k, e3), "share_m": e1 / m, "share_n": e2 / n, "share_k": e3 / k,
        "log_trips_i": _log2(ceil_div(m, b1)), "log_trips_k": _log2(ceil_div(k, e3)),
        "log_trips_i_inner": _log2(ceil_div(e1, v1)), "log_trips_j_inner": _log2(ceil_div(e2, v2)),
        "log_trips_k_inner": _log2(ceil_div(e3, v3)),
        "log_chunks_per_core": _log2(chunks / _cores()), "parallel_balance": _balance(chunks, _cores()),
    }


_INPUT_CACHES = ("root", "tile", "inline")


def _conv2d_cpu(sizes: tuple, options: dict, dtype: str, kwargs: dict) -> dict[str, float]:
    from .spaces import _conv_out, host_vectors

    batch, channels, _, _, out_channels, kernel = sizes
    out_h, out_w = _conv_out(sizes, options)
    stride = options.get("stride", 1)
    lanes, registers = host_vectors(dtype)
    item = np.dtype(dtype).itemsize
    l1, l2 = cache_sizes()
    tk, ty, tx = kwargs.get("tile_k", 8), kwargs.get("tile_y", 2), kwargs.get("tile_x", 16)
    cache = kwargs.get("input_cache", "root")
    vectors, empty = _lanes(tx, lanes)
    patch = channels * ((ty - 1) * stride + kernel) * ((tx - 1) * stride + kernel) * item
    weights = min(tk, out_channels) * channels * kernel * kernel * item
    chunks = batch * ceil_div(out_channels, tk)
    return {
        "log_tile_k": _log2(tk), "log_tile_y": _log2(ty), "log_tile_x": _log2(tx),
        **{f"input_cache_{c}": float(cache == c) for c in _INPUT_CACHES},
        "vectors": vectors, "empty_lanes": empty, "registers_used": (tk * ty * vectors + vectors + 1) / registers,
        "register_intensity": 2.0 * tk * ty * tx / (tk + ty * tx),
        "patch_per_l1": _log2(patch / l1), "patch_per_l2": _log2(patch / l2),
        "weights_per_l1": _log2(weights / l1), "weights_per_l2": _log2(weights / l2),
        "waste_k": _waste(out_channels, tk), "waste_y": _waste(out_h, ty), "waste_x": _waste(out_w, tx),
        "share_k": min(tk, out_channels) / out_channels, "share_y": min(ty, out_h) / out_h,
        "share_x": min(tx, out_w) / out_w, "log_trips_y": _log2(ceil_div(out_h, ty)),
        "log_trips_x": _log2(ceil_div(out_w, tx)),
        "log_chunks_per_core": _log2(chunks / _cores()), "parallel_balance": _balance(chunks, _cores()),
    }


def _matmul_gpu(sizes: tuple, options: dict, dtype: str, kwargs: dict) -> dict[str, float]:
    m, n, k = sizes
    tile, step, vector = kwargs.get("L", 128), kwargs.get("S", 8), kwargs.get("V", 8)
    columns = kwargs.get("W") or vector
    copies = 2 if kwargs.get("double_buffer", True) else 1
    item = np.dtype(dtype).itemsize
    blocks = ceil_div(m, tile) * ceil_div(n, tile)
    return {
        "log_tile": _log2(tile), "log_step": _log2(step), "log_vector": _log2(vector),
        "log_threads": _log2((tile // vector) * (tile // columns)),
        "register_intensity": 2.0 * vector * columns / (vector + columns),
        "shared_per_48k": _log2(copies * 2 * tile * step * item / (48 * 1024)), "block_intensity": tile / 2.0,
        "double_buffer": float(copies - 1),
        "waste_m": _waste(m, tile), "waste_n": _waste(n, tile), "waste_k": _waste(k, step),
        "share_m": min(tile, m) / m, "share_n": min(tile, n) / n,
        "log_blocks": _log2(blocks), "log_trips_k": _log2(ceil_div(k, step)),
    }


#: the transferable features of each template, by template function
FEATURES: dict[Callable, Callable[[tuple, dict, str, dict], dict[str, float]]] = {
    matmul_cpu: _matmul_cpu, conv2d_cpu: _conv2d_cpu, matmul_gpu: _matmul_gpu}


def featurizer(spec, sizes: tuple, options: dict, dtype: str) -> Callable[[Config], np.ndarray] | None:
    """``config -> features`` of a task of ``spec`` (a TunableTemplate), or None for a template
    without transferable features."""
    function = FEATURES.get(spec.function)
    if function is None:
        return None
    return lambda config: kwargs_features(spec, sizes, options, dtype, spec.to_kwargs(config))


def named_features(spec, sizes: tuple, options: dict, dtype: str, kwargs: dict) -> dict[str, float]:
    """The features of the template keyword arguments ``kwargs`` at ``sizes``, by name."""
    return FEATURES[spec.function](tuple(sizes), options, dtype, kwargs)


def kwargs_features(spec, sizes: tuple, options: dict, dtype: str, kwargs: dict) -> np.ndarray:
    """:func:`named_features` as a vector (in a fixed order per template)."""
    return np.array(list(named_features(spec, sizes, options, dtype, kwargs).values()), dtype=float)
