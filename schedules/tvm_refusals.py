"""TVM's stage primitives that Nestor does not take (``pragma``, ``tensorize``, ``prefetch``),
refused at the call with what to do instead, rather than an AttributeError."""

from __future__ import annotations

from tensorir.errors import ScheduleError

_PRAGMA_HINTS = {
    "auto_unroll_max_step": "unroll the inner loops with s[{stage}].unroll(loop)",
    "unroll_explicit": "unroll the inner loops with s[{stage}].unroll(loop)",
    "parallel_launch_point": "run a loop on threads with s[{stage}].parallel(loop)",
    "parallel_stride_pattern": "run a loop on threads with s[{stage}].parallel(loop)",
    "parallel_barrier_when_finish": "run a loop on threads with s[{stage}].parallel(loop)",
}


class TVMRefusals:
    """Mixed into ``Stage``: the refused primitives, each naming the call and a way forward."""

    name: str

    def pragma(self, var, pragma_type: str, pragma_value=None) -> None:
        """TVM's pragma hints are not taken: refused with the primitive that does the same."""
        loop = getattr(var, "name", var)
        hint = _PRAGMA_HINTS.get(pragma_type, "leave the pragma out").format(stage=self.name)
        raise ScheduleError(f"s[{self.name}].pragma({loop}, {pragma_type!r}): pragmas are not supported; {hint} "
                            "(a pragma hints how to compile, so leaving it out computes the same values)")

    def tensorize(self, var, tensor_intrin) -> None:
        """TVM's tensor intrinsics are not supported: refused."""
        loop = getattr(var, "name", var)
        raise ScheduleError(f"s[{self.name}].tensorize({loop}, ...): tensor intrinsics are not supported; "
                            f"vectorize the inner loop with s[{self.name}].vectorize(loop) instead")

    def prefetch(self, tensor, var, offset) -> None:
        """TVM's software prefetch is not supported: refused."""
        loop = getattr(var, "name", var)
        raise ScheduleError(f"s[{self.name}].prefetch({getattr(tensor, 'name', tensor)}, {loop}, {offset}): software "
                            "prefetch is not supported; leave it out (the values are the same)")
