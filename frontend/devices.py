"""needle's device functions: ``cpu()``, ``cuda()``, ``default_device()``, ``all_devices()``.

A device is named by its string here (``Tensor(..., device="cpu")``), so these return the names;
``Tensor(x, device=cpu())`` and ``t.device == cpu()`` read as in needle.
"""

from __future__ import annotations


def cpu() -> str:
    """The CPU (kernels compiled through LLVM)."""
    return "cpu"


def cpu_numpy() -> str:
    """needle's numpy-backed CPU device: the same CPU here (numpy only stores the values)."""
    return "cpu"


def cuda() -> str:
    """The GPU (kernels compiled through the CUDA backend); a tensor placed there raises
    BackendUnavailable with the reason where this machine cannot run CUDA."""
    return "cuda"


def default_device() -> str:
    return "cpu"


def all_devices() -> list[str]:
    """The devices a tensor can name."""
    return ["cpu", "cuda"]
