"""InterpModule: a lowered function made callable on numpy arrays through its Python translation."""

from __future__ import annotations

import time

import numpy as np

from tensorir.buffer import Buffer
from tensorir.stmt import PrimFunc, Store
from tensorir.visitor import walk

from ..aliasing import separated
from ..args import check_arrays
from ..bind import Binder
from ..runtime_module import RuntimeModule
from .pysource import python_source
from .runtime import NAMESPACE


def written_buffers(func: PrimFunc) -> set[Buffer]:
    return {node.buffer for node in walk(func.body) if isinstance(node, Store)}


class InterpModule(RuntimeModule):
    """Call with numpy arrays (inputs then outputs); outputs are written in place."""

    target = "interp"
    SOURCE_FORMATS = {"py": "python", "tir": "source"}
    SAVE_SUFFIXES = {"py": "py", "tir": "tir"}

    def __init__(self, func: PrimFunc):
        self.func = func
        self.source = str(func)
        self.python = python_source(func)
        namespace = dict(NAMESPACE)
        exec(compile(self.python, f"<nestor interp {func.name}>", "exec"), namespace)
        self._kernel = namespace["kernel"]
        self._written = written_buffers(func)

    def __call__(self, *arrays) -> None:
        sizes: list[int] = []
        if self.func.scalars:
            arrays, sizes = Binder(self.func, self._written).bind(arrays)
        else:
            arrays = check_arrays(self.func.name, self.func.params, arrays, self._written)
        separated(self.func.name, self.func.params, arrays, self._written)  # refuses two overlapping outputs
        flats = [a.ravel().tolist() for a in arrays]
        self._kernel(*flats, *sizes)
        for param, array, flat in zip(self.func.params, arrays, flats):
            if param in self._written:
                with np.errstate(over="ignore"):  # a float32 result past its range is inf, as on LLVM
                    array[...] = np.asarray(flat, dtype=param.dtype.numpy).reshape(array.shape)

    def time(self, *arrays, number: int = 1, repeat: int = 3) -> float:
        """Median seconds per call over ``repeat`` rounds of ``number`` calls."""
        rounds = []
        for _ in range(repeat):
            start = time.perf_counter()
            for _ in range(number):
                self(*arrays)
            rounds.append((time.perf_counter() - start) / number)
        return float(np.median(rounds))

    def __repr__(self) -> str:
        return f"InterpModule({self.func.name})"


def build(func: PrimFunc) -> InterpModule:
    return InterpModule(func)
