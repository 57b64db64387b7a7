"""TVM's stage primitives that Nestor does not take (``tensorize``), refused at the call with
what to do instead, rather than an AttributeError."""

from __future__ import annotations

from tensorir.errors import ScheduleError


class TVMRefusals:
    """Mixed into ``Stage``: the refused primitives, each naming the call and a way forward."""

    name: str

    def tensorize(self, var, tensor_intrin) -> None:
        """TVM's tensor intrinsics are not supported: refused."""
        loop = getattr(var, "name", var)
        raise ScheduleError(f"s[{self.name}].tensorize({loop}, ...): tensor intrinsics are not supported; "
                            f"vectorize the inner loop with s[{self.name}].vectorize(loop) instead")
