"""TVM's stage primitives that Nestor does not take, refused at the call with what to do instead,
rather than an AttributeError (``tensorize`` is now :mod:`schedules.tensorize`)."""

from __future__ import annotations

from tensorir.errors import ScheduleError


class TVMRefusals:
    """Mixed into ``Stage``: the refused primitives, each naming the call and a way forward."""

    name: str

    def transform_layout(self, mapping_function, *_args, **_kwargs):
        """TVM's layout transformation of a stage's buffer is not supported: refused."""
        raise ScheduleError(
            f"s[{self.name}].transform_layout(...): storing a stage in a transformed layout is not "
            f"supported; define the relaid tensor with ns.compute (e.g. T = ns.compute((m, n), lambda j, i: "
            f"{self.name}[i, j])) and schedule that stage instead")
