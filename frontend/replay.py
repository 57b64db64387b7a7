"""Replayed forwards: an op applied again to arrays of a signature seen before skips its Python.

An op's forward reads its input arrays' shapes, strides, dtypes and device, derives a plan and a
kernel request (memoised), and runs one compiled kernel, often on reshaped views of its inputs;
on small tensors that Python costs several times the kernel. Where the forward's choices are a
function of that signature alone, the first call teaches :func:`forward` what the forward did:

* the op opts in (``replays = True``: the elementwise ops, the reductions, the matrix product);
* the forward ran exactly one kernel through :meth:`frontend.dispatch.KernelCache.run`, nothing
  that declined replay (:func:`frontend.dispatch.decline_replay`: a product over a packed copy of
  its weight, which depends on the weight's memory, not its signature; a kernel taken out of the
  cache to be called directly);
* each of the kernel's arrays was one of the inputs, as it is or reshaped (same memory, both
  C-contiguous), and the result was the kernel's first output, as it is or reshaped. Inputs
  sharing memory (``x * x``) teach nothing: which one the kernel read cannot be told, and a later
  ``x * y`` of the same signature must read both.

Then :class:`Replay` holds the kernel and those reshapes, keyed on ``(op type, op.key, device,
(shape, strides, dtype) of each input)``, and a later call with that key runs the kernel
directly: no plan, no request, no layout logic. A signature that did anything else is remembered
as not replayable and runs the forward every time. Checks of bad input happen before the forward
(the op functions, :meth:`frontend.tensor.Tensor.from_op`, ``infer``) and are not skipped; a bad
input that only the forward would refuse never builds a replay (its first call raised).

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
    (``(shape, dtype)``, the first in the shape of the forward's result), returning the first."""

    kernel: object
    inputs: tuple[int, ...]
    outs: tuple[tuple[tuple[int, ...], np.dtype], ...]

    def run(self, arrays: list[np.ndarray]) -> np.ndarray:
        """The forward's result on ``arrays`` (of the signature this replay was learnt on)."""
        inputs = [arrays[j] for j in self.inputs]
        outs = aligned.outputs(self.outs, inputs)
        self.kernel(inputs, outs)
        return outs[0]


def signature(op, arrays: list[np.ndarray], device: str) -> tuple:
    """The key of a replay: everything the forwards that opt in decide on."""
    return (type(op), op.key, device, *[(a.shape, a.strides, a.dtype) for a in arrays])


def forward(op, arrays: list[np.ndarray], device: str) -> np.ndarray:
    """``op.forward(*arrays, device=device)``, replayed where a call of this signature taught how."""
    if not op.replays or device != "cpu":  # a CUDA kernel checks its arrays' shapes: no reshapes unseen
        return op.forward(*arrays, device=device)
    table = dispatch.cache.replays
    key = signature(op, arrays, device)
    found = table.get(key)
    if found is not None:
        return found.run(arrays) if found is not _NO else op.forward(*arrays, device=device)
    with dispatch.recording() as calls:
        result = op.forward(*arrays, device=device)
    if len(set(data_pointers(arrays))) < len(arrays):
        return result  # ``x * x``: which input the kernel read is ambiguous; learn from another call
    if len(table) >= MAX_ENTRIES:
        table.clear()
    table[key] = learn(arrays, result, calls) or _NO
    return result


def learn(arrays: list[np.ndarray], result: np.ndarray, calls: list) -> Replay | None:
    """The :class:`Replay` of a forward that made the kernel ``calls`` on ``arrays`` and returned
    ``result``, or None where it did anything else."""
    if len(calls) != 1 or not isinstance(result, np.ndarray):
        return None
    kernel, kernel_arrays, outs = calls[0]
    positions = tuple(_origin(array, arrays) for array in kernel_arrays)
    if None in positions or _view_of(result, outs[0]) is False or not result.flags.c_contiguous:
        return None
    specs = ((result.shape, outs[0].dtype), *[(out.shape, out.dtype) for out in outs[1:]])
    return Replay(kernel, positions, specs)


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
