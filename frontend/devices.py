"""needle's device functions: ``cpu()``, ``cuda()``, ``default_device()``, ``all_devices()``.

A device is named by its string here (``Tensor(..., device="cpu")``); these return a
:class:`Device`, a string with needle's ``enabled()`` and text (``str(cpu())`` is ``"cpu()"``),
so ``Tensor(x, device=cpu())``, ``t.device == cpu()`` and ``cuda().enabled()`` (to skip GPU
tests) read as in needle.
"""

from __future__ import annotations

from tensorir.errors import DefinitionError, NestorError


class Device(str):
    """A device name (``"cpu"`` or ``"cuda"``) that can say whether this machine runs it."""

    __slots__ = ()

    def enabled(self) -> bool:
        """Whether tensors can be placed on this device here (a GPU and the CUDA backend for cuda)."""
        from .tensor import check_device

        try:
            check_device(self.name)
        except (NestorError, ImportError, OSError):
            return False
        return True

    @property
    def name(self) -> str:
        """The plain device name (``"cpu"``, ``"cuda"``)."""
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"{self.name}()"

    # -- needle's BackendDevice constructors: NDArrays on this device --------------------------
    def randn(self, *shape, dtype: str = "float32"):
        """An NDArray of standard normal values drawn from numpy's global generator (as needle's)."""
        from . import init

        return self._ndarray(init.randn(*shape, dtype=_float32("randn", dtype)))

    def rand(self, *shape, dtype: str = "float32"):
        """An NDArray of uniform values in ``[0, 1)`` drawn from numpy's global generator."""
        from . import init

        return self._ndarray(init.rand(*shape, dtype=_float32("rand", dtype)))

    def one_hot(self, n: int, i, dtype: str = "float32"):
        """An NDArray of rows of ``n`` zeros with a one at each label of ``i`` (needle's
        ``np.eye(n)[i]``, computed by the one-hot kernel)."""
        from . import init

        return self._ndarray(init.one_hot(n, i, dtype=_float32("one_hot", dtype)))

    def empty(self, shape, dtype: str = "float32"):
        """An NDArray of ``shape`` whose values are not set."""
        from . import backend_ndarray

        return backend_ndarray.empty(shape, dtype=dtype, device=self)

    def full(self, shape, fill_value, dtype: str = "float32"):
        """An NDArray of ``shape`` with every value ``fill_value``."""
        from . import backend_ndarray

        return backend_ndarray.full(shape, fill_value, dtype=dtype, device=self)

    def __getattr__(self, name: str):
        """needle's backend functions on buffers (``device.ewise_add(a._handle, b._handle,
        out._handle)``, ``device.matmul_tiled``, ``device.__tile_size__``): see
        :mod:`frontend.backend_ndarray.device_functions`."""
        from .backend_ndarray import device_functions as functions

        if name in functions.NAMES:
            return getattr(functions, name)
        if name in functions.CONSTANTS:
            return self.name if name == "__device_name__" else functions.CONSTANTS[name]
        raise AttributeError(f"{type(self).__name__} {self!s} has no attribute {name!r}")

    def _ndarray(self, tensor):
        from .backend_ndarray import NDArray

        return NDArray(tensor, device=self)

    def __str__(self) -> str:
        """needle's text for a device (``str(cpu()) == "cpu()"``); :attr:`name` is the plain name."""
        return repr(self)


def _float32(method: str, dtype) -> str:
    """``dtype`` if it is float32 (the only dtype of needle's NDArray); an error naming the fix."""
    if dtype not in (None, "float32"):
        raise DefinitionError(f"Device.{method}: dtype {dtype!r}; needle's NDArray stores float32 only, give "
                          "dtype='float32' (or use ndl.init for a Tensor of another dtype)")
    return "float32"


def cpu() -> Device:
    """The CPU (kernels compiled through LLVM)."""
    return Device("cpu")


def cpu_numpy() -> Device:
    """needle's numpy-backed CPU device: the same CPU here (numpy only stores the values)."""
    return Device("cpu")


def cuda() -> Device:
    """The GPU (kernels compiled through the CUDA backend); ``cuda().enabled()`` is False where
    this machine cannot run CUDA, and a tensor placed there raises BackendUnavailable saying why."""
    return Device("cuda")


def default_device() -> Device:
    return Device("cpu")


def all_devices() -> list[Device]:
    """The devices a tensor can name."""
    return [Device("cpu"), Device("cuda")]
