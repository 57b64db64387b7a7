"""Devices as TVM names them (``tvm.cpu(0)``, ``tvm.cuda(0)``, ``tvm.device("cuda", 0)``): what a
program passes to ``time_evaluator`` and asks ``.exist`` of, and ``.sync()`` to wait for it.

Arrays here are numpy's (a CUDA module copies them to the GPU and back), so a device is no place
to allocate on: it names the machine a kernel runs on.
"""

from __future__ import annotations

from dataclasses import dataclass

from tensorir.errors import ArgumentError, BackendUnavailable

#: TVM's device type codes
CODES = {"cpu": 1, "cuda": 2}
#: the spellings ``device`` accepts for each kind
ALIASES = {"cpu": "cpu", "llvm": "cpu", "c": "cpu", "cuda": "cuda", "gpu": "cuda", "nvptx": "cuda"}


@dataclass(frozen=True)
class Device:
    """A device: ``kind`` (``"cpu"`` or ``"cuda"``) and ``index``."""

    kind: str
    index: int = 0

    @property
    def device_type(self) -> int:
        return CODES[self.kind]

    @property
    def device_id(self) -> int:
        return self.index

    @property
    def exist(self) -> bool:
        """Whether this device is there: CPU 0 always; a CUDA device where the driver finds it."""
        if self.kind == "cpu":
            return self.index == 0
        try:
            from .cuda.runtime import driver

            return self.index < driver("asking whether a GPU exists").Device.count()
        except BackendUnavailable:
            return False

    def sync(self) -> None:
        """Wait for everything launched on the device (a CPU kernel has ended when its call returns)."""
        if self.kind == "cuda":
            from .cuda.runtime import driver

            driver("synchronizing a CUDA device").Context.synchronize()

    def __str__(self) -> str:
        return f"{self.kind}({self.index})"


def device(kind: str, index: int = 0) -> Device:
    """The device ``kind`` (``"cpu"``/``"llvm"`` or ``"cuda"``/``"gpu"``) number ``index``."""
    name = ALIASES.get(kind.split()[0] if isinstance(kind, str) and kind.strip() else kind) \
        if isinstance(kind, str) else None
    if name is None:
        raise ArgumentError(f"device: unknown device {kind!r}; use one of {', '.join(repr(a) for a in ALIASES)}")
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ArgumentError(f"device: the index must be an int >= 0, got {index!r}")
    return Device(name, index)


def cpu(index: int = 0) -> Device:
    """CPU ``index`` (TVM's ``tvm.cpu``)."""
    return device("cpu", index)


def cuda(index: int = 0) -> Device:
    """CUDA GPU ``index`` (TVM's ``tvm.cuda``)."""
    return device("cuda", index)


__all__ = ["Device", "cpu", "cuda", "device"]
