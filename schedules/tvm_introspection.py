"""TVM's views of a stage's loops: ``s[T].iter_var_attrs[loop].iter_type`` (compared with
``te.schedule.IterVar.Unrolled``, ``.Vectorized``, ...; a loop with pragma hints lists them in
``.pragma_keys``/``.pragma_values``) and ``s[T].all_iter_vars``."""

from __future__ import annotations

from dataclasses import dataclass, replace

from tensorir.stmt import ForKind


class IterVarType:
    """TVM's ``IterVar`` type numbers."""

    DataPar = 0
    ThreadIndex = 1
    CommReduce = 2
    Ordered = 3
    DimInfo = 4
    Unrolled = 5
    Vectorized = 6
    Parallelized = 7
    Tensorized = 8


_TYPES = {ForKind.UNROLLED: IterVarType.Unrolled, ForKind.VECTORIZED: IterVarType.Vectorized,
          ForKind.PARALLEL: IterVarType.Parallelized, ForKind.THREAD_BINDING: IterVarType.ThreadIndex}


@dataclass(frozen=True)
class IterVarAttr:
    """What a primitive made of one loop: its ``iter_type`` and the GPU index it is bound to."""

    iter_type: int
    thread_tag: str = ""
    #: the keys and values of the loop's pragma hints (``s[T].pragma``), in the order given
    pragma_keys: tuple = ()
    pragma_values: tuple = ()


def iter_var_attrs(stage) -> dict:
    """The loops of ``stage`` that a primitive marked (unroll, vectorize, parallel, bind, pragma)."""
    marked = {axis: IterVarAttr(_TYPES[note.kind], note.thread_tag) for axis, note in stage.annotations.items()
              if note.kind in _TYPES}
    for axis, hints in stage.pragmas.items():
        attr = marked.get(axis, IterVarAttr(IterVarType.DataPar))
        marked[axis] = replace(attr, pragma_keys=tuple(k for k, _ in hints), pragma_values=tuple(v for _, v in hints))
    return marked
