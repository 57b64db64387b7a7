"""TVM's ``Stage.rolling_buffer()``, refused at the call with what to write instead.

In TVM it marks a stage computed at a loop of a sliding-window consumer (a pooling, a
convolution) so its buffer rolls: only the rows a window adds are computed, into a buffer
folded modulo the window. Nestor has no rolling storage; a program that drops the call computes
the same values with the producer's attached buffer (``compute_at``), recomputing the overlap.
"""

from __future__ import annotations

from tensorir.errors import ScheduleError


class RollingBufferPrimitive:
    """Mixed into ``Stage``: :meth:`rolling_buffer`."""

    name: str
    is_output: bool

    def rolling_buffer(self) -> None:
        """TVM's rolling buffer (refused: see the module docstring).

        Raises
        ------
        ScheduleError
            Always: on an output with TVM's reason, elsewhere naming the replacement.
        """
        call = f"s[{self.name}].rolling_buffer()"
        if self.is_output:
            raise ScheduleError(f"{call}: {self.name} is an output, and an output's buffer cannot roll (TVM "
                                "refuses this too); apply it to a producer computed at a loop of its consumer")
        raise ScheduleError(f"{call}: rolling buffers are not supported (Nestor has no storage folded modulo a "
                            f"window); drop the call: with s[{self.name}].compute_at(...) the kernel computes the "
                            "same values, recomputing the rows windows share")
