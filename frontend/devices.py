"""needle's device functions: ``cpu()``, ``cuda()``, ``default_device()``, ``all_devices()``.

A device is named by its string here (``Tensor(..., device="cpu")``); these return a
:class:`Device`, a string with needle's ``enabled()`` and text (``str(cpu())`` is ``"cpu()"``),
so ``Tensor(x, device=cpu())``, ``t.device == cpu()`` and ``cuda().enabled()`` (to skip GPU
tests) read as in needle.
"""

from __future__ import annotations

from tensorir.errors import NestorError


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

    def __str__(self) -> str:
        """needle's text for a device (``str(cpu()) == "cpu()"``); :attr:`name` is the plain name."""
        return repr(self)


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
