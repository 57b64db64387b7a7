"""GPU memory and the CUDA driver through pycuda: the device context, device arrays, loading
compiled kernels. pycuda is imported only when something needs the GPU, so the backend (and its
source generation) works without it; what is missing is reported as BackendUnavailable."""

from __future__ import annotations

import atexit
import threading

import numpy as np

from tensorir.errors import ArgumentError, BackendUnavailable, NestorError

_state: dict = {}
#: which threads have the context current (the driver keeps a context stack per thread)
_threads = threading.local()


class CudaLaunchError(NestorError, RuntimeError):
    """A kernel failed to launch or faulted while running. ``sticky``: the fault left the CUDA
    context unusable (an illegal address, a trap): every later call in this process fails too."""

    def __init__(self, message: str, sticky: bool = False):
        super().__init__(message)
        self.sticky = sticky


_STICKY = ("illegal address", "illegal memory access", "misaligned address", "illegal instruction",
           "unspecified launch failure", "hardware stack error", "assert", "trap", "invalid program counter",
           "exception on", "not permitted")


def is_sticky(error: BaseException) -> bool:
    """Whether ``error`` (from a CUDA call) leaves the context unusable, so that the process must
    start afresh: a CudaLaunchError that says so, or a driver error naming a fault."""
    if isinstance(error, CudaLaunchError):
        return error.sticky
    text = str(error).lower()
    return type(error).__module__.startswith("pycuda") and any(word in text for word in _STICKY)


def _make_current() -> None:
    """Make the primary context current on the calling thread (each thread has its own stack)."""
    if not getattr(_threads, "current", False):
        _state["context"].push()
        _threads.current = True


def driver(purpose: str = "running CUDA kernels"):
    """The initialised ``pycuda.driver`` with device 0's primary context current.

    Raises
    ------
    BackendUnavailable
        Where pycuda is not installed, the CUDA driver cannot start, or no GPU is present.
    """
    if "driver" in _state:
        _make_current()
        return _state["driver"]
    try:
        import pycuda.driver as drv
    except ImportError as error:
        raise BackendUnavailable(
            f"{purpose} needs pycuda, which is not installed: pip install 'nestor[cuda]' (it builds "
            f"against the local CUDA toolkit); generated sources stay available ({error})") from None
    try:
        drv.init()
        count = drv.Device.count()
    except Exception as error:  # pycuda raises its own error types from the driver
        raise BackendUnavailable(f"{purpose} needs a CUDA GPU, but the CUDA driver could not start: "
                                 f"{error}") from None
    if count == 0:
        raise BackendUnavailable(f"{purpose} needs a CUDA GPU, and none was found on this machine")
    device = drv.Device(0)
    context = device.retain_primary_context()
    context.push()
    atexit.register(_release, context)
    _state.update(driver=drv, device=device, context=context)
    _threads.current = True
    return drv


def _release(context) -> None:
    try:
        context.pop()
        from pycuda.tools import clear_context_caches

        clear_context_caches()
    except Exception:  # the process is ending; the driver may already be gone
        pass


def device_arch() -> str:
    """The nvcc architecture of device 0, e.g. ``"sm_90"``."""
    driver()
    major, minor = _state["device"].compute_capability()
    return f"sm_{major}{minor}"


class DeviceArray:
    """An array in GPU memory: its shape and dtype, and ``.numpy()`` to copy it back.

    Make one with :func:`device_array`. A module called on device arrays launches its kernels
    on them without copies.
    """

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype):
        drv = driver("a device array")
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)
        self.allocation = drv.mem_alloc(max(self.nbytes, 1))

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    @property
    def ptr(self) -> int:
        return int(self.allocation)

    def copy_from(self, array: np.ndarray) -> DeviceArray:
        """Copy the host ``array`` (same shape and dtype) into this device array."""
        array = np.ascontiguousarray(array)
        if array.shape != self.shape or array.dtype != self.dtype:
            raise ArgumentError(f"DeviceArray.copy_from: expected {self.dtype}{list(self.shape)}, got "
                                f"{array.dtype}{list(array.shape)}")
        if self.nbytes:
            driver().memcpy_htod(self.allocation, array)
        return self

    def numpy(self) -> np.ndarray:
        """A new host array with this array's contents (waits for the kernels writing it)."""
        out = np.empty(self.shape, self.dtype)
        if self.nbytes:
            driver().memcpy_dtoh(out, self.allocation)
        return out

    def __repr__(self) -> str:
        return f"DeviceArray({self.dtype}{list(self.shape)}, cuda)"


def device_array(array, device: str = "cuda") -> DeviceArray:
    """A copy of ``array`` in GPU memory.

    Parameters
    ----------
    array
        A numpy array (or anything ``np.asarray`` accepts).
    device
        ``"cuda"`` (device 0).

    Returns
    -------
    DeviceArray
        The device copy; ``.numpy()`` copies it back.

    Raises
    ------
    BackendUnavailable
        Where pycuda or a GPU is missing.
    """
    if device not in ("cuda", "cuda:0"):
        raise ArgumentError(f"device_array: unknown device {device!r}; use 'cuda'")
    host = np.ascontiguousarray(array)
    return DeviceArray(host.shape, host.dtype).copy_from(host)


def load_kernels(cubin: bytes, names) -> list:
    """The functions ``names`` of a compiled cubin, loaded into the current context."""
    drv = driver()
    module = drv.module_from_buffer(cubin)
    _state.setdefault("modules", []).append(module)  # a function lives as long as its module
    return [module.get_function(name) for name in names]
