"""The trace: one frozen Step per primitive call, serialisable to JSON and replayable."""

from __future__ import annotations

import inspect
import json
import keyword
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tensorir.errors import ScheduleError
from tensorir.names import identifier as _identifier

if TYPE_CHECKING:
    from .schedule import Schedule

#: Step arguments that name loop axes of the step's stage (printed as variables, not strings).
AXIS_ARGS = frozenset({"axis", "axes", "x", "y", "outer", "inner", "var"})
#: Step arguments printed as keywords.
KEYWORD_ARGS = frozenset({"factor", "nparts", "x_factor", "y_factor", "factor_axis"})
#: Step arguments that name stages or tensors.
STAGE_ARGS = frozenset({"stage", "tensor", "readers"})


@dataclass(frozen=True)
class Step:
    """One primitive call: which primitive, on which stage (or ``""`` for the schedule), with what."""

    primitive: str
    stage: str
    args: tuple[tuple[str, Any], ...]
    results: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"primitive": self.primitive, "stage": self.stage,
                "args": {k: list(v) if isinstance(v, tuple) else v for k, v in self.args},
                "results": list(self.results)}

    @classmethod
    def from_dict(cls, data: dict) -> Step:
        try:
            args = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in data["args"].items())
            return cls(data["primitive"], data["stage"], args, tuple(data.get("results", ())))
        except (KeyError, AttributeError, TypeError) as error:
            raise ScheduleError(
                f"Schedule.from_trace: malformed step {data!r} ({error}); a step is an object with "
                "'primitive', 'stage', 'args' and 'results', as s.trace.to_json() writes it") from None


class Trace:
    """The steps applied to a schedule, in order. ``print(trace)`` shows the Python that made it."""

    def __init__(self, steps: list[Step] | None = None):
        self.steps: list[Step] = list(steps or [])

    def record(self, step: Step) -> None:
        self.steps.append(step)

    def __iter__(self):
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    def __getitem__(self, index):
        return self.steps[index]

    def to_json(self) -> str:
        return json.dumps([s.to_dict() for s in self.steps])

    @classmethod
    def from_json(cls, text: str) -> Trace:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ScheduleError(f"Schedule.from_trace: the trace is not valid JSON ({error}); pass the "
                                "text of s.trace.to_json() or the Trace itself") from None
        if not isinstance(data, list):
            raise ScheduleError(f"Schedule.from_trace: the trace JSON must be a list of steps, got "
                                f"{type(data).__name__}; pass the text of s.trace.to_json()")
        return cls([Step.from_dict(d) for d in data])

    def __str__(self) -> str:
        return "\n".join(_python(step) for step in self.steps)

    __repr__ = __str__


def identifier(name: str) -> str:
    """A Python name for ``name`` in a printed trace (a keyword such as ``lambda`` gets a ``_``)."""
    return _identifier(name, reserved_names=_KEYWORDS)


_KEYWORDS = frozenset(keyword.kwlist)


def _python_value(key: str, value: Any) -> str:
    if key in AXIS_ARGS:
        return ", ".join(map(identifier, value)) if isinstance(value, tuple) else identifier(value)
    if key == "stage":
        return f"s[{identifier(value)}]"
    if key == "readers":
        return f"[{', '.join(f's[{identifier(v)}]' for v in value)}]"
    if key == "tensor":
        return identifier(value)
    if isinstance(value, dict) and set(value) == {"size_var"}:  # a split by a size variable
        return value["size_var"]
    return repr(value)


def _python(step: Step) -> str:
    """The Python statement that made ``step``."""
    args = []
    for key, value in step.args:
        if value is None:
            continue
        text = _python_value(key, value)
        args.append(f"{key}={text}" if key in KEYWORD_ARGS else text)
    target = f"s[{identifier(step.stage)}]" if step.stage else "s"
    call = f"{target}.{step.primitive}({', '.join(args)})"
    if step.results:
        call = f"{', '.join(map(identifier, step.results))} = {call}"
    return call


#: The primitives a trace may call: on a stage, and on the schedule.
STAGE_PRIMITIVES = frozenset({"split", "tile", "reorder", "fuse", "unroll", "vectorize", "parallel",
                              "bind", "compute_at", "compute_inline", "compute_root", "set_scope",
                              "set_store_predicate"})
SCHEDULE_PRIMITIVES = frozenset({"cache_read", "cache_write", "rfactor"})
#: storage primitives of GPU stages
STAGE_PRIMITIVES |= frozenset({"double_buffer", "launch_bounds", "storage_align"})
#: a hint on a loop
STAGE_PRIMITIVES |= frozenset({"prefetch"})
#: a stage stored in another layout (its mapping recorded as ``layout``)
STAGE_PRIMITIVES |= frozenset({"transform_layout"})
KEYWORD_ARGS |= frozenset({"layout"})
#: a loop replaced by a tensor intrinsic, named as declared (``tensorize(var, intrin=name)``: the
#: intrinsic most recently declared under that name, its match with the tile checked again)
STAGE_PRIMITIVES |= frozenset({"tensorize"})
KEYWORD_ARGS |= frozenset({"intrin"})


def replay(schedule: Schedule, trace: Trace | str) -> None:
    """Apply the steps of ``trace`` to ``schedule`` (axes and stages are found by name)."""
    if isinstance(trace, str):
        trace = Trace.from_json(trace)
    for step in trace:
        known = STAGE_PRIMITIVES if step.stage else SCHEDULE_PRIMITIVES
        if step.primitive not in known:
            raise ScheduleError(f"Schedule.from_trace: unknown primitive {step.primitive!r} in step "
                                f"{step.to_dict()}; a step names one of {sorted(known)}")
        target = schedule[step.stage] if step.stage else schedule
        method = getattr(target, step.primitive)
        kwargs = dict(step.args)
        positional = kwargs.pop("axes", ())
        try:
            if not isinstance(positional, tuple):
                raise TypeError("'axes' must be a list")
            inspect.signature(method).bind(*positional, **kwargs)
        except TypeError as error:
            raise ScheduleError(f"Schedule.from_trace: malformed arguments in step {step.to_dict()} "
                                f"({error}); replay traces that s.trace.to_json() wrote") from None
        method(*positional, **kwargs)
