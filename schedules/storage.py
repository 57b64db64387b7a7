"""Storage layout requests of a stage: padded strides from ``storage_align``."""

from __future__ import annotations

from tensorir.buffer import row_major_strides


def aligned_strides(shape: tuple[int, ...], alignments: tuple[tuple[int, int, int], ...]) -> tuple[int, ...]:
    """Row-major strides of ``shape``, the stride of each dimension in ``alignments`` padded up to
    the next ``k * factor + offset`` (the dimensions outside it grow with it); ``()`` (row-major)
    where nothing is aligned."""
    if not alignments:
        return ()
    wanted = {dimension: (factor, offset) for dimension, factor, offset in alignments}
    strides, step = [], 1
    for dimension in reversed(range(len(shape))):
        if dimension in wanted:
            factor, offset = wanted[dimension]
            if not isinstance(step, int):
                from tensorir.errors import LoweringError

                raise LoweringError(
                    f"storage_align of dimension {dimension}: the rows it pads have the symbolic size {step}; "
                    "align a dimension whose inner dimensions have constant extents, or drop storage_align")
            step += (offset - step) % factor
        strides.append(step)
        step *= shape[dimension]
    aligned = tuple(reversed(strides))
    return () if aligned == row_major_strides(shape) else aligned
