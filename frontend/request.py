"""KernelRequest: everything one frontend kernel depends on, frozen; the kernel cache's key.

An op's ``forward`` looks at its input arrays (shapes, dtypes, layouts), chooses a variant, and
builds a request; the op's ``compute``, ``schedule``, ``kernel``, ``default_config`` and
``tuning_task`` read only the request (with the op's construction parameters, which it carries
in ``params``). So an op object applied to different shapes or layouts, in any order, gets the
right kernel each time, and equal requests share one kernel (:mod:`frontend.dispatch`).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class KernelRequest:
    """One kernel of one op.

    Attributes
    ----------
    op
        The op's name (``"matmul"``, ``"add_scalar"``, ...).
    params
        The op's construction parameters that the kernel depends on (a scalar, conv parameters).
    variant
        What ``forward`` chose from the arrays: a layout (``(transposed_a, transposed_b)``), a
        form (``("dot",)``), a canonical output shape, the kinds of reduced axes.
    shapes, dtypes
        Of the input arrays as the kernel reads them.
    device
        ``"cpu"`` or ``"cuda"``.
    """

    op: str
    params: tuple
    variant: tuple
    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[str, ...]
    device: str = "cpu"
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # looked up on every kernel call: hash the nested tuples once
        object.__setattr__(self, "_hash", hash((self.op, self.params, self.variant, self.shapes, self.dtypes,
                                                self.device)))

    def __hash__(self) -> int:
        return self._hash

    @property
    def key(self) -> tuple:
        """``(op, *params, *variant)``: what configs are registered under
        (:func:`frontend.dispatch.register_config`)."""
        return (self.op, *self.params, *self.variant)

    @property
    def target(self) -> str:
        """The backend that builds the kernel: ``"cuda"`` or ``"llvm"``."""
        return "cuda" if self.device == "cuda" else "llvm"

    @property
    def kernel_name(self) -> str:
        """The compiled function's name: the string parts of :attr:`key`."""
        return "_".join(str(part) for part in self.key if isinstance(part, str)) or "kernel"
