"""Right-hand operands of matrix products packed once and reused while their storage is unchanged.

The CPU product packs B into zero-padded strips of its register tile (:mod:`schedules.templates.
matmul_whole`). A weight that meets many products unchanged (inference, a layer applied to batch
after batch between optimizer steps) need not be packed on every call: at batch 1, 1 x 784 @ 784
x 1000 spent three quarters of its time re-packing the 3 MB of B. Here the packed copy is kept
per stored operand and the product runs on it (:func:`~schedules.templates.matmul_prepacked.
matmul_prepacked`).

When a packed copy may be reused (all must hold, else the product packs B itself, as before):

* **the same memory, unchanged.** An entry is keyed on the object owning the memory (the root of
  the array's chain of ``base`` objects, held by a weak reference: the entry dies with it), the
  address, shape, strides and dtype of the operand's view, and the packed layout. The frontend
  never writes into a stored array except through ``t[index] = value`` / ``t.data[index] =
  value`` (:func:`frontend.tensor_data.write`), which drops the entries of that memory
  (:func:`written`); the optimizers and ``t.data = x`` give the tensor new storage (a new key).
* **memory the user cannot write.** Storage handed out to the user (``np.asarray(t.data)``,
  ``cached_data``, ``Tensor.wrap``, an array assigned to ``t.data``; :mod:`frontend.lazy_storage`)
  may be written at any time behind the frontend's back: it is never cached, and entries made
  before it was handed out are dropped at the next lookup.
* **seen before.** An operand is packed into the cache on its second product, not its first: in
  training each weight meets one forward and one backward product before the optimizer replaces
  it, and those keep the single kernel that packs as it goes.

At most ``NESTOR_PACKED_WEIGHTS_MB`` MiB (256 by default; 0 turns the cache off) are kept; past
that the oldest operands' copies are dropped.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field

import numpy as np

from backends.args import data_pointers
from tensorir import config

from .lazy_storage import _exposed, root


@dataclass
class _Owner:
    """The packed copies of the views of one memory owner, and the views seen once."""

    ref: weakref.ref
    packed: dict = field(default_factory=dict)
    seen: set = field(default_factory=set)
    nbytes: int = 0


@dataclass
class PackedStats:
    """Counters: products that ran on a kept copy (``hits``), copies made (``packs``), and
    copies dropped because their memory was written, handed out or over the budget."""

    hits: int = 0
    packs: int = 0
    dropped: int = 0


class PackedWeights:
    """Packed copies of stored right operands by memory owner (see the module docstring)."""

    def __init__(self) -> None:
        self._owners: dict[int, _Owner] = {}
        self._bytes = 0
        self._lock = threading.RLock()  # a weak reference's callback may run while it is held
        self.stats = PackedStats()

    def lookup(self, array: np.ndarray, layout: tuple, pack) -> np.ndarray | None:
        """The packed copy of ``array`` in ``layout`` (made by ``pack(array)`` on the second
        sighting of these unchanged bytes), or None: the caller packs as it goes."""
        budget = config.PACKED_WEIGHTS_MB() << 20
        if budget == 0:
            return None
        owner = root(array)
        key = id(owner)
        exposed = _exposed.get(key, False)
        if exposed is None or (exposed is not False and exposed() is owner):  # lazy_storage.is_exposed
            self._drop(key)
            return None
        view = (data_pointers((array,))[0], array.shape, array.strides, array.dtype.str, layout)
        found = self._owners.get(key)
        if found is not None and found.ref() is owner:
            packed = found.packed.get(view)
            if packed is not None:
                self.stats.hits += 1
                return packed
            if view in found.seen:
                return self._store(found, view, pack(array), budget)
            found.seen.add(view)
            return None
        if found is not None:  # another object that had the same id
            self._drop(key)
        try:
            ref = weakref.ref(owner, lambda _, key=key: self._drop(key))
        except TypeError:  # memory without weak references: never kept
            return None
        with self._lock:
            self._owners[key] = _Owner(ref, seen={view})
        return None

    def _store(self, owner: _Owner, view: tuple, packed: np.ndarray, budget: int) -> np.ndarray:
        self.stats.packs += 1
        if packed.nbytes > budget:
            return packed
        with self._lock:
            owner.packed[view] = packed
            owner.nbytes += packed.nbytes
            self._bytes += packed.nbytes
            for key in list(self._owners):  # the oldest owners first
                if self._bytes <= budget:
                    break
                if self._owners[key] is not owner:
                    self._drop_locked(key)
        return packed

    def written(self, array: np.ndarray) -> None:
        """Forget the copies of the memory of ``array``, which is being written."""
        self._drop(id(root(array)))

    def _drop(self, key: int) -> None:
        with self._lock:
            self._drop_locked(key)

    def _drop_locked(self, key: int) -> None:
        owner = self._owners.pop(key, None)
        if owner is not None:
            self._bytes -= owner.nbytes
            self.stats.dropped += len(owner.packed)

    def clear(self) -> None:
        """Forget every packed copy."""
        with self._lock:
            self._owners.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        """Bytes of packed copies kept."""
        return self._bytes

    def __len__(self) -> int:
        return sum(len(owner.packed) for owner in self._owners.values())


#: the frontend's one cache of packed right operands
cache = PackedWeights()


def written(array: np.ndarray) -> None:
    """Forget the packed copies of the memory of ``array`` (called before the frontend writes into it)."""
    if cache._owners:
        cache.written(array)
