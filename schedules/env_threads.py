"""TVM's ``s[scan].env_threads([bx, ty, tx])``: the GPU indices a scan's steps share, so that TVM
can keep the threads alive across the steps in one persistent kernel.

Nestor takes the call as a hint and computes the same values: a scan whose steps are bound to
GPU indices runs one kernel per step, launched in order (see :mod:`schedules.scan_lowering`),
which needs no grid-wide barrier between the steps. Only a scan stage takes it, and only
``thread_axis`` handles (or their tags), as in TVM.
"""

from __future__ import annotations

from tensorir.errors import ScheduleError
from tensorir.scan import ScanOp

from .thread_axis import THREAD_TAGS


class EnvThreadsPrimitive:
    """Mixed into ``Stage``: ``env_threads``, recording the handles in ``environment_threads``."""

    name: str
    environment_threads: tuple

    def env_threads(self, threads) -> None:
        """Mark the GPU indices ``threads`` as shared by every step of this scan (TVM's
        persistent-kernel hint; the values are the same with or without it).

        Parameters
        ----------
        threads
            A ``thread_axis(...)`` handle or a list of them, e.g. ``[block_x, thread_y, thread_x]``.
        """
        listed = list(threads) if isinstance(threads, (list, tuple)) else [threads]
        shown = [getattr(t, "thread_tag", None) or getattr(t, "name", t) for t in listed]  # a loop has no tag
        call = f"s[{self.name}].env_threads({shown})"
        if not isinstance(self.op, ScanOp):
            raise ScheduleError(f"{call}: {self.name} is not a scan; env_threads is for the stage of a te.scan "
                                "(bind the loops of other stages with s[T].bind(loop, thread_axis))")
        for tag in shown:
            if tag not in THREAD_TAGS:
                raise ScheduleError(f"{call}: {tag!r} is not a GPU index; pass thread_axis handles of "
                                    f"{', '.join(THREAD_TAGS)}")
        if len(set(shown)) != len(shown):
            raise ScheduleError(f"{call}: a GPU index is listed twice; list each once")
        self.environment_threads = tuple(listed)
