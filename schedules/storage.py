"""A stage's GPU storage and launch requests: ``double_buffer``, ``storage_align`` (and the
padded strides it asks for) and ``launch_bounds``."""

from __future__ import annotations

from tensorir import symbolic
from tensorir.buffer import row_major_strides
from tensorir.expr import BinaryOp, binary

from .primitives import StagePrimitives, _positive_int


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
            if isinstance(step, int):
                step += (offset - step) % factor
            else:  # rows of symbolic size: padded when the kernel runs
                step = binary(BinaryOp.ADD, step, binary(BinaryOp.FLOORMOD, binary(BinaryOp.SUB, offset, step),
                                                         factor))
        strides.append(step)
        step = symbolic.mul(step, shape[dimension])
    aligned = tuple(reversed(strides))
    if all(isinstance(s, int) for s in (*aligned, *shape)) and aligned == row_major_strides(shape):
        return ()
    return aligned


class StoragePrimitives(StagePrimitives):
    """The storage and launch primitives of a stage (the GPU backend reads what they record)."""

    def double_buffer(self) -> None:
        """Keep two copies of this shared stage: the CUDA backend fills the next one while the
        block reads the current one, with one barrier per step instead of two.

        It takes effect where, when lowered, the stage is in shared memory and computed inside a
        serial loop of its reader (``compute_at``); each iteration of that loop then fills the
        copy that the next one reads::

            for k.outer in 0..n:            AT[0] = fetch(0); barrier()
              barrier()                      for k.outer in 0..n:
              AT = fetch(k.outer)     ->       if k.outer + 1 < n: AT[(k.outer+1)%2] = fetch(k.outer+1)
              barrier()                        use(AT[k.outer % 2])
              use(AT)                          barrier()

        As in TVM it may be called before ``set_scope``/``compute_at``, and on any stage: elsewhere
        (global or local memory, at root) the stage keeps one copy and computes the same values.
        """
        call = "double_buffer()"
        self._need_compute(call)
        self.double_buffered = True
        self._record("double_buffer", {})

    def storage_align(self, axis, factor: int, offset: int) -> None:
        """Pad the stride of dimension ``axis`` of this stage's buffer to ``k * factor + offset``
        elements (the smallest such stride at least the unpadded one), as TVM's ``storage_align``.

        A shared tile ``T[32, 32]`` read down its columns by a warp hits one bank 32 times;
        ``storage_align(T.op.axis[0], 32, 1)`` makes its rows 33 elements apart, and each lane
        meets another bank.

        Parameters
        ----------
        axis
            One of the stage's data axes (``T.op.axis[d]``, or its name), split or fused or not.
        factor, offset
            The stride becomes ``k * factor + offset`` with ``0 <= offset < factor``.
        """
        call = f"storage_align({getattr(axis, 'name', axis)}, {factor!r}, {offset!r})"
        self._need_compute(call)
        axes = list(self.op.axis)
        found = [iv for iv in axes if iv is axis or (isinstance(axis, str) and iv.name == axis)]
        if len(found) != 1:
            raise self._fail(call, f"{getattr(axis, 'name', axis)!r} is not a data axis of {self.name}",
                             f"pass one of {[iv.name for iv in axes]} (its dimensions, in order)")
        if not _positive_int(factor) or isinstance(offset, bool) or not isinstance(offset, int) \
                or not 0 <= offset < factor:
            raise self._fail(call, "factor must be a positive integer and offset an integer in 0..factor-1",
                             "storage_align(axis, 32, 1) pads rows of 32 floats to 33")
        dimension = axes.index(found[0])
        self.alignments = tuple(a for a in self.alignments if a[0] != dimension) + ((dimension, factor, offset),)
        self._record("storage_align", {"axis": found[0].name, "factor": factor, "offset": offset})

    def launch_bounds(self, min_blocks: int) -> None:
        """Ask the GPU kernel that computes this stage to leave room for ``min_blocks`` resident
        blocks per SM: ``__launch_bounds__(threads, min_blocks)`` caps its registers per thread at
        what that many blocks can share, so a large register tile does not drop to one block.

        Parameters
        ----------
        min_blocks
            Blocks per SM, 1 to 32.
        """
        call = f"launch_bounds({min_blocks!r})"
        self._need_compute(call)
        if not _positive_int(min_blocks) or min_blocks > 32:
            raise self._fail(call, f"min_blocks must be an integer from 1 to 32 (blocks per SM), got {min_blocks!r}",
                             "2 keeps two blocks resident: one computes while the other waits on memory")
        self.min_blocks = min_blocks
        self._record("launch_bounds", {"min_blocks": min_blocks})

