"""needle's backend device functions (hw3's ``ndarray_backend_cpu`` module), reached as
``device.ewise_add(a._handle, b._handle, out._handle)``, ``device.matmul_tiled(...)``,
``device.__tile_size__``: each works on flat buffers (:class:`~.ndarray.Handle`) and writes into
``out``.

Each is the NDArray view of the buffers it names, then the NDArray operation (a Nestor kernel);
the result is stored into ``out``'s buffer. Where needle's C++ would read or write past a buffer
(a size or a tile that does not fit), these raise a DefinitionError naming the function and the fix.
"""

from __future__ import annotations

import numpy as np

from tensorir.errors import DefinitionError

from .ndarray import Handle, NDArray

#: the side of the square tiles of ``matmul_tiled`` (needle's ``TILE``)
TILE = 8
ELEMENT_SIZE = 4


def Array(size: int) -> Handle:  # noqa: N802 - needle's name for a new buffer
    """A new flat float32 buffer of ``size`` elements (values not set)."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 0:
        raise DefinitionError(f"Array: size {size!r} is not a number of elements; give a non-negative int")
    return Handle(np.empty(int(size), dtype=np.float32))


def _handle(function: str, value, size: int | None = None) -> Handle:
    if not isinstance(value, Handle):
        raise DefinitionError(f"{function}: expected a buffer (an NDArray's ._handle), got {type(value).__name__}")
    if size is not None and value.size < size:
        raise DefinitionError(f"{function}: a buffer of {value.size} elements is used as {size}; give a buffer of "
                              "at least that many (NDArray.make(shape) makes one)")
    return value


def _flat(function: str, handle, size: int, shape: tuple[int, ...] | None = None) -> NDArray:
    """The first ``size`` elements of ``handle`` as a compact NDArray (of ``shape`` when given)."""
    return NDArray.make(shape or (size,), handle=_handle(function, handle, size))


def _store(function: str, out, values: NDArray) -> None:
    _flat(function, out, values.size, values.shape)[()] = values


def _strided(function: str, handle, shape, strides, offset) -> NDArray:
    return NDArray.make(tuple(shape), tuple(strides), handle=_handle(function, handle), offset=offset)


# -- copies and fills ----------------------------------------------------------------------------
def fill(out, val) -> None:
    """Every element of ``out`` set to ``val``."""
    _flat("fill", out, _handle("fill", out).size).fill(val)


def compact(a, out, shape, strides, offset) -> None:
    """The view ``(shape, strides, offset)`` of ``a`` written compactly into ``out``."""
    view = _strided("compact", a, shape, strides, offset)
    _store("compact", out, view.compact())


def ewise_setitem(a, out, shape, strides, offset) -> None:
    """The compact values of ``a`` written into the view ``(shape, strides, offset)`` of ``out``."""
    view = _strided("ewise_setitem", out, shape, strides, offset)
    view[()] = _flat("ewise_setitem", a, view.size, view.shape)


def scalar_setitem(size, val, out, shape, strides, offset) -> None:
    """``val`` written into the view ``(shape, strides, offset)`` of ``out`` (``size`` elements)."""
    view = _strided("scalar_setitem", out, shape, strides, offset)
    if view.size != size:
        raise DefinitionError(f"scalar_setitem: size {size} but the view {tuple(shape)} has {view.size} elements; "
                              "give the view's size")
    view.fill(val)


def from_numpy(a, out) -> None:
    """The values of the numpy array ``a`` (as float32) copied into ``out``."""
    values = np.ascontiguousarray(a, dtype=np.float32).reshape(-1)
    _flat("from_numpy", out, values.size).numpy()  # checks the size
    _handle("from_numpy", out).array[:values.size] = values


def to_numpy(a, shape, strides, offset) -> np.ndarray:
    """The view ``(shape, strides in elements, offset)`` of ``a`` as a numpy copy."""
    return _strided("to_numpy", a, shape, strides, offset).numpy()


# -- elementwise and scalar operations ------------------------------------------------------------
def _ewise(name: str, method: str):
    def apply(a, b, out) -> None:
        size = _handle(name, out).size
        _store(name, out, getattr(_flat(name, a, size), method)(_flat(name, b, size)))

    apply.__name__ = name
    apply.__doc__ = f"``out = a {method} b`` elementwise over ``out``'s elements, one kernel."
    return apply


def _scalar(name: str, method: str):
    def apply(a, val, out) -> None:
        size = _handle(name, out).size
        _store(name, out, getattr(_flat(name, a, size), method)(val))

    apply.__name__ = name
    apply.__doc__ = f"``out = a {method} val`` over ``out``'s elements, one kernel."
    return apply


def _unary(name: str, method: str):
    def apply(a, out) -> None:
        size = _handle(name, out).size
        _store(name, out, getattr(_flat(name, a, size), method)())

    apply.__name__ = name
    apply.__doc__ = f"``out = {method}(a)`` elementwise, one kernel."
    return apply


BINARY = {"add": "__add__", "mul": "__mul__", "div": "__truediv__", "maximum": "maximum", "eq": "__eq__",
          "ge": "__ge__"}
ewise_add, ewise_mul, ewise_div, ewise_maximum, ewise_eq, ewise_ge = (
    _ewise(f"ewise_{name}", method) for name, method in BINARY.items())
scalar_add, scalar_mul, scalar_div, scalar_maximum, scalar_eq, scalar_ge = (
    _scalar(f"scalar_{name}", method) for name, method in BINARY.items())
scalar_power = _scalar("scalar_power", "__pow__")
ewise_log, ewise_exp, ewise_tanh = (_unary(f"ewise_{name}", name) for name in ("log", "exp", "tanh"))


# -- reductions and products ---------------------------------------------------------------------
def _reduce(name: str, method: str):
    def apply(a, out, reduce_size: int) -> None:
        rows = _handle(name, out).size
        if isinstance(reduce_size, bool) or not isinstance(reduce_size, (int, np.integer)) or reduce_size < 1:
            raise DefinitionError(f"{name}: reduce_size {reduce_size!r}; give the positive number of elements "
                                  "reduced into each output")
        values = _flat(name, a, rows * int(reduce_size), (rows, int(reduce_size)))
        _store(name, out, getattr(values, method)(axis=1))

    apply.__name__ = name
    apply.__doc__ = (f"``out[i] = {method}(a[i * reduce_size:(i + 1) * reduce_size])`` for each element of "
                     "``out``, one kernel.")
    return apply


reduce_sum, reduce_max = _reduce("reduce_sum", "sum"), _reduce("reduce_max", "max")


def _dims(name: str, m, n, p) -> tuple[int, int, int]:
    if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 for v in (m, n, p)):
        raise DefinitionError(f"{name}: sizes {(m, n, p)}; give positive ints m, n, p for (m, n) @ (n, p)")
    return int(m), int(n), int(p)


def matmul(a, b, out, m, n, p) -> None:
    """``out (m, p) = a (m, n) @ b (n, p)``, all compact, one kernel."""
    m, n, p = _dims("matmul", m, n, p)
    _store("matmul", out, _flat("matmul", a, m * n, (m, n)) @ _flat("matmul", b, n * p, (n, p)))


def _untiled(name: str, handle, rows: int, cols: int) -> NDArray:
    """A buffer in tiled layout ``(rows/T, cols/T, T, T)`` as the compact ``(rows, cols)`` matrix."""
    tiles = _flat(name, handle, rows * cols, (rows // TILE, cols // TILE, TILE, TILE))
    return tiles.permute((0, 2, 1, 3)).compact().reshape((rows, cols))


def matmul_tiled(a, b, out, m, n, p) -> None:
    """The product of tiled matrices: ``a`` is ``(m/T, n/T, T, T)``, ``b`` ``(n/T, p/T, T, T)`` and
    ``out`` ``(m/T, p/T, T, T)`` (tile ``[i, j]`` of a matrix holds its rows ``i*T..``, columns
    ``j*T..``), with ``T = __tile_size__``; one product kernel between two layout copies."""
    m, n, p = _dims("matmul_tiled", m, n, p)
    if any(v % TILE for v in (m, n, p)):
        raise DefinitionError(f"matmul_tiled: sizes {(m, n, p)} must be multiples of the tile size {TILE}; pad the "
                              "matrices or use matmul")
    product = _untiled("matmul_tiled", a, m, n) @ _untiled("matmul_tiled", b, n, p)
    tiled = product.reshape((m // TILE, TILE, p // TILE, TILE)).permute((0, 2, 1, 3)).compact()
    _store("matmul_tiled", out, tiled)


NAMES = frozenset({
    "Array", "fill", "compact", "ewise_setitem", "scalar_setitem", "from_numpy", "to_numpy", "matmul",
    "matmul_tiled", "reduce_sum", "reduce_max", "scalar_power", "ewise_log", "ewise_exp", "ewise_tanh",
    *(f"ewise_{name}" for name in BINARY), *(f"scalar_{name}" for name in BINARY),
})
CONSTANTS = {"__tile_size__": TILE, "__device_name__": None, "_datatype": np.float32,
             "_datetype_size": ELEMENT_SIZE}
