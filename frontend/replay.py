"""Replayed forwards: an op applied again to arrays of a signature seen before skips its Python.

An op's forward reads its input arrays' shapes, strides, dtypes and device, derives a plan and a
kernel request (memoised), and runs one compiled kernel, often on reshaped views of its inputs;
on small tensors that Python costs several times the kernel. Where the forward's choices are a
function of that signature alone, the first call teaches :func:`forward` what the forward did:

* the op opts in (``replays = True``: the elementwise ops, the reductions, the matrix product);
* the forward ran exactly one kernel through :meth:`frontend.dispatch.KernelCache.run`, and
  nothing that declined replay (:func:`frontend.dispatch.decline_replay`: a kernel taken out of
  the cache to be called directly);
* each of the kernel's arrays was one of the inputs, as it is or reshaped (same memory, both
  C-contiguous), and the result was the kernel's first output, as it is or reshaped. Inputs
  sharing memory (``x * x``) teach nothing: which one the kernel read cannot be told, and a later
  ``x * y`` of the same signature must read both.

Then :class:`Replay` holds the kernel and those reshapes, keyed on ``(op type, op.key, device,
(type, shape, strides, dtype) of each input)``, and a later call with that key runs the kernel
directly: no plan, no request, no layout logic. A product whose weight may have a packed copy
kept (:mod:`frontend.packed_weights`) depends on the weight's memory too: its
:class:`PackedReplay` looks the copy up on every call, as the forward does (the same checks of
writes and handed-out memory), and replays the product over the copy or over the weight. A
signature that did anything else is remembered as not replayable and runs the forward every
time. Checks of bad input happen before the forward (the op functions,
:meth:`frontend.tensor.Tensor.from_op`, ``infer``) and are not skipped; a bad input that only the
forward would refuse never builds a replay (its first call raised), and what a kernel checks
while it runs (subscripts computed from data) it still checks.

The table lives on the kernel cache (:attr:`~frontend.dispatch.KernelCache.replays`) and is
forgotten with its kernels (``dispatch.clear()``); it holds at most :data:`MAX_ENTRIES`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backends.args import data_pointers

from . import aligned, dispatch

#: signatures remembered; past that the table starts over (a program with ever new shapes)
MAX_ENTRIES = 4096
#: a signature whose forward did more than one replayable kernel call
_NO = False


@dataclass(frozen=True, slots=True)
class Replay:
    """What a forward did: ``kernel`` on the inputs at ``inputs`` (positions; each as it is or
    reshaped, which the kernel, reading addresses, does not see), into new outputs of ``outs``
    (``(shape, dtype, bytes)``, the first in the shape of the forward's result), returning the first."""

    kernel: object
    inputs: tuple[int, ...]
    outs: tuple[tuple[tuple[int, ...], np.dtype, int], ...]

    def run(self, arrays: list[np.ndarray]) -> np.ndarray:
        """The forward's result on ``arrays`` (of the signature this replay was learnt on)."""
        inputs = [arrays[j] for j in self.inputs]
        outs, addresses = aligned.outputs_at(self.outs, inputs)
        self.kernel.at([*data_pointers(inputs), *addresses])
        return outs[0]


def signature(op, arrays: list[np.ndarray], device: str) -> tuple:
    """The key of a replay: everything the forwards that opt in decide on. The arrays' types
    too: a numpy scalar (``np.float64(2.0)``) has a 0-d array's shape and strides, but no data
    address where an array has one (the forward copies it into an array first)."""
    return (type(op), op.key, device, *[(type(a), a.shape, a.strides, a.dtype) for a in arrays])


def forward(op, arrays: list[np.ndarray], device: str) -> np.ndarray:
    """``op.forward(*arrays, device=device)``, replayed where a call of this signature taught how."""
    if not op.replays or device != "cpu":  # a CUDA kernel checks its arrays' shapes: no reshapes unseen
        return op.forward(*arrays, device=device)
    table = dispatch.cache.replays
    key = signature(op, arrays, device)
    found = table.get(key)
    if found is not None:
        if type(found) is Replay:
            return found.run(arrays)
        if found is _NO:
            return op.forward(*arrays, device=device)
        result, copy = found.run(arrays)
        if result is not None:
            return result
        with found.looked_up(arrays, copy):  # the half of a product over a kept copy not seen yet
            return _learnt(op, arrays, device, found)
    if len(set(data_pointers(arrays))) < len(arrays):
        return op.forward(*arrays, device=device)  # ``x * x``: which input a kernel read is ambiguous
    if len(table) >= MAX_ENTRIES:
        table.clear()
    return _learnt(op, arrays, device, None)


def _learnt(op, arrays: list[np.ndarray], device: str, partial: PackedReplay | None) -> np.ndarray:
    """The forward run once with its kernel calls recorded, and what it did remembered."""
    with dispatch.recording() as calls:
        result = op.forward(*arrays, device=device)
    learnt = learn(arrays, result, calls)
    if partial is not None:
        partial.merge(learnt)
    else:
        dispatch.cache.replays[signature(op, arrays, device)] = learnt or _NO
    return result


def learn(arrays: list[np.ndarray], result: np.ndarray, calls: list) -> Replay | PackedReplay | None:
    """What a forward that made the kernel ``calls`` on ``arrays`` and returned ``result`` did, or
    None where it did anything else (see the module docstring)."""
    steps = [n for n, call in enumerate(calls) if type(call) is dispatch.PackedStep]
    if steps:  # a product that looked up a kept packed copy: what follows the lookup is the product
        return _learn_packed(arrays, result, calls[steps[-1]:]) if len(steps) == 1 else None
    if len(calls) != 1 or not isinstance(result, np.ndarray):
        return None
    kernel, kernel_arrays, outs = calls[0]
    if not getattr(kernel, "raw", False):
        return None
    positions = tuple(_origin(array, arrays) for array in kernel_arrays)
    if None in positions or _view_of(result, outs[0]) is False or not result.flags.c_contiguous:
        return None
    specs = tuple((out.shape, out.dtype, out.nbytes) for out in [result, *outs[1:]])
    return Replay(kernel, positions, specs)


def _learn_packed(arrays: list[np.ndarray], result: np.ndarray, calls: list) -> PackedReplay | None:
    step, *rest = calls
    position = next((n for n, array in enumerate(arrays) if array is step.b), None)
    if position is None or len(rest) != 1:
        return None
    # the kept copy, where it was read, is one input more: the last
    product = learn(arrays if step.packed is None else [*arrays, step.packed], result, rest)
    if product is None:
        return None
    return PackedReplay(position, step.layout, product if step.packed is None else None,
                        product if step.packed is not None else None)


def _kept_copy(b: np.ndarray, layout: tuple, device: str) -> np.ndarray | None:
    from .ops.matmul_packed import kept_copy  # the ops import the frontend's core, this among it

    _KEPT[0] = kept_copy
    return kept_copy(b, layout, device)


_KEPT = [_kept_copy]


class PackedReplay:
    """A product whose right operand (the input at ``position``) may have a packed copy kept by
    the frontend (:mod:`frontend.packed_weights`): each call looks it up, as the forward does, and
    replays ``packed`` (over the copy, passed as one input more) or ``plain`` (over the operand);
    a half not learnt yet runs the forward once, which teaches it."""

    __slots__ = ("position", "layout", "plain", "packed")

    def __init__(self, position: int, layout: tuple, plain: Replay | None, packed: Replay | None):
        self.position, self.layout, self.plain, self.packed = position, layout, plain, packed

    def run(self, arrays: list[np.ndarray]) -> tuple[np.ndarray | None, np.ndarray | None]:
        """``(product, kept copy found)``; the product None where the half it needs is not learnt."""
        copy = _KEPT[0](arrays[self.position], self.layout, "cpu")
        if copy is None:
            return (None if self.plain is None else self.plain.run(arrays)), None
        return (None if self.packed is None else self.packed.run([*arrays, copy])), copy

    def looked_up(self, arrays: list[np.ndarray], copy: np.ndarray | None):
        """A block in which the forward's own lookup answers ``copy``, what :meth:`run` found."""
        from .ops.matmul_packed import looked_up

        return looked_up(arrays[self.position], self.layout, copy)

    def merge(self, learnt) -> None:
        """Take the half that a forward run after :meth:`run` taught (if it is of this product)."""
        if isinstance(learnt, PackedReplay) and learnt.position == self.position and learnt.layout == self.layout:
            self.plain = self.plain or learnt.plain
            self.packed = self.packed or learnt.packed


def _origin(array: np.ndarray, arrays: list[np.ndarray]) -> int | None:
    """The position of the input that ``array`` is, or is a reshape of; else None."""
    for position, source in enumerate(arrays):
        if array is source:
            return position
    for position, source in enumerate(arrays):
        if _view_of(array, source) is not False:
            return position
    return None


def _view_of(array: np.ndarray, source: np.ndarray) -> tuple[int, ...] | None | bool:
    """None where ``array`` is ``source``; its shape where it is ``source`` reshaped (the same
    memory, elements and dtype, both C-contiguous); False otherwise."""
    if array is source:
        return None
    if not (isinstance(array, np.ndarray) and isinstance(source, np.ndarray)):
        return False
    same = (array.dtype == source.dtype and array.size == source.size and array.flags.c_contiguous
            and source.flags.c_contiguous and data_pointers((array,)) == data_pointers((source,)))
    return array.shape if same else False
