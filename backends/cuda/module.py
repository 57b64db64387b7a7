"""CudaModule: the CUDA C of a lowered function, compiled with nvcc and launched through pycuda
when first called. Building needs neither a GPU nor pycuda; calling does."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tensorir.access_guards import out_of_bounds, runtime_checks
from tensorir.buffer import Buffer
from tensorir.errors import ArgumentError, CodegenError
from tensorir.stmt import PrimFunc, Store
from tensorir.symbolic import evaluate
from tensorir.visitor import walk

from ..aliasing import separated
from ..args import check_arrays, passed_by_value
from ..bind import Binder
from ..runtime_module import RuntimeModule, SourceModule
from .codegen import STATUS, CudaSource, generate
from .kernels import Limits
from .nvcc import compile_cuda
from .runtime import CudaLaunchError, DeviceArray, device_arch, driver, is_sticky, load_kernels


class CudaModule(RuntimeModule):
    """Call with numpy arrays (copied to the GPU and back) or device arrays (no copies), inputs
    then outputs; outputs are written in place.

    Attributes
    ----------
    source : str
        The CUDA C source.
    launches : tuple of Launch
        Grid and block sizes, shared memory and arguments of each kernel, in launch order.
    kernels : tuple of KernelNest
        The kernels' loop nests and parameter buffers, in launch order.
    temporaries : tuple of Buffer
        Global buffers between kernels, allocated on the device by the module.
    """

    target = "cuda"
    SOURCE_FORMATS = {"cu": "source", "cuda": "source"}
    SAVE_SUFFIXES = {"cu": "cu"}

    @property
    def imported_modules(self) -> list:
        """TVM's device module of a GPU build: ``imported_modules[0].get_source()`` is the CUDA C."""
        return [SourceModule(self.source, "cuda")]

    def __init__(self, func: PrimFunc, generated: CudaSource):
        self.func = func
        self.source = generated.source
        self.launches = generated.launches
        self.kernels = generated.kernels
        self.temporaries = generated.temporaries
        self._written = {n.buffer for n in walk(func.body) if isinstance(n, Store)}
        self._functions: list | None = None
        self._temporaries: dict[Buffer, DeviceArray] = {}
        #: run-time subscript checks, reported by the kernels in a device status slot
        self._checks = runtime_checks(func)
        self._status: DeviceArray | None = None

    def _load(self) -> list:
        if self._functions is None:
            driver()
            cubin = compile_cuda(self.source, device_arch(), "cubin")
            functions = load_kernels(cubin, [launch.kernel for launch in self.launches])
            for function, launch, kernel in zip(functions, self.launches, self.kernels):
                scalars = len(kernel.scalars)
                buffers = len(launch.args) - scalars - (STATUS in launch.args)
                function.prepare("P" * buffers + "i" * scalars + "P" * (STATUS in launch.args))
                if launch.dynamic_shared_bytes:
                    attribute = driver().function_attribute.MAX_DYNAMIC_SHARED_SIZE_BYTES
                    function.set_attribute(attribute, launch.dynamic_shared_bytes)
            self._temporaries = {b: DeviceArray(b.shape, b.dtype.numpy) for b in self.temporaries}
            if self._checks:
                self._status = DeviceArray((2,), np.dtype(np.int64))
            self._functions = functions
        return self._functions

    def _check(self, arrays) -> None:
        name, params = self.func.name, self.func.params
        if not any(isinstance(a, DeviceArray) for a in arrays):
            check_arrays(name, params, arrays, self._written)
            return
        if len(arrays) != len(params):
            check_arrays(name, params, arrays, self._written)  # raises the count message
        for position, (param, array) in enumerate(zip(params, arrays)):
            if not isinstance(array, DeviceArray):
                try:
                    check_arrays(name, [param], [array], self._written)
                except ArgumentError as error:
                    raise ArgumentError(str(error).replace(": argument 0 (", f": argument {position} (", 1)) \
                        from None
            elif array.dtype != param.dtype.numpy or array.shape != tuple(param.shape):
                raise ArgumentError(
                    f"{name}: argument {position} ({param.name}) must be a device array "
                    f"{param.dtype.value}{list(param.shape)}, got {array.dtype}{list(array.shape)}")
        check_no_aliasing(name, params, arrays, self._written)

    def launch(self, arrays: list[DeviceArray], sizes: Sequence[int] = ()) -> None:
        """Launch every kernel, in order, on device arrays (asynchronously, on the default stream).

        A kernel that checks subscripts reports a failure on the device; ``__call__`` and ``time``
        raise it, a caller of ``launch`` reads it with :meth:`raise_failed_check`."""
        functions = self._load()
        memory = dict(zip(self.func.params, arrays)) | self._temporaries
        if self._status is not None:
            self._status.copy_from(np.zeros(2, dtype=np.int64))
        values = dict(zip(self.func.scalars, sizes))
        for group in host_loop_groups(self.kernels):
            host = self.kernels[group[0]].host_loop
            steps = [{}] if host is None else host_loop_steps(host, values)
            for step in steps:
                for position in group:
                    self._launch_one(functions[position], position, memory, values | step)

    def _launch_one(self, function, position: int, memory: dict, values: dict) -> None:
        kernel, shape = self.kernels[position], self.launches[position]
        status = (self._status.ptr,) if STATUS in shape.args else ()  # type: ignore[union-attr]
        grid = tuple(evaluate(extent, values) for extent in kernel.grid)
        if not all(grid):
            return  # a symbolic grid of no blocks: nothing to do
        try:
            function.prepared_call(grid, kernel.block, *(memory[b].ptr for b in kernel.params),
                                   *(values[v] for v in kernel.scalars), *status,
                                   shared_size=shape.dynamic_shared_bytes)
        except Exception as error:  # noqa: BLE001 - pycuda raises its own driver error types
            raise launch_error(shape, error) from None

    def synchronize(self) -> None:
        """Wait for the launched kernels; a fault while they ran raises CudaLaunchError."""
        try:
            driver().Context.synchronize()
        except Exception as error:  # noqa: BLE001 - pycuda raises its own driver error types
            raise CudaLaunchError(
                f"{self.func.name}: a kernel failed while running: {error}"
                + ("; the CUDA context is unusable now: start a new process" if is_sticky(error) else ""),
                sticky=is_sticky(error)) from None

    def raise_failed_check(self) -> None:
        """Raise OutOfBoundsError where a kernel's subscript check failed (waits for the kernels)."""
        if self._status is None:
            return
        check, value = (int(x) for x in self._status.numpy())
        if check:
            found = self._checks[check - 1]
            raise out_of_bounds(found.site, found.extent, value, "cuda")

    def _to_device(self, arrays) -> list[DeviceArray]:
        return [a if isinstance(a, DeviceArray) else DeviceArray(a.shape, a.dtype).copy_from(a)
                for a in arrays]

    def _copy_back(self, arrays, device: list[DeviceArray]) -> None:
        for param, array, on_device in zip(self.func.params, arrays, device):
            if param in self._written and not isinstance(array, DeviceArray):
                array[...] = on_device.numpy()

    def _bound(self, arrays) -> tuple[tuple, list[int]]:
        """The arguments checked, and the size variables' values bound from their shapes."""
        arrays = passed_by_value(self.func, arrays)
        if not self.func.scalars:
            self._check(arrays)
            checked, sizes = arrays, []
        else:
            checked, sizes = Binder(self.func, self._written).bind(arrays)
        if not any(isinstance(a, DeviceArray) for a in checked):
            # numpy inputs are copied to the device apart; two numpy outputs in one memory are refused
            separated(self.func.name, self.func.params, checked, self._written)
        return tuple(checked), sizes

    def __call__(self, *arrays) -> None:
        arrays, sizes = self._bound(arrays)
        self._load()
        device = self._to_device(arrays)
        self.launch(device, sizes)
        self.synchronize()
        self.raise_failed_check()
        self._copy_back(arrays, device)

    def time(self, *arrays, number: int = 1, repeat: int = 3) -> float:
        """Median seconds per call over ``repeat`` rounds of ``number`` calls, timed with CUDA
        events on device arrays (numpy arguments are copied to the GPU once, outside the timing)."""
        arrays, sizes = self._bound(arrays)
        drv = driver()
        self._load()
        device = self._to_device(arrays)
        self.launch(device, sizes)  # warm-up
        rounds = []
        for _ in range(repeat):
            start, end = drv.Event(), drv.Event()
            start.record()
            for _ in range(number):
                self.launch(device, sizes)
            end.record()
            self.synchronize()
            rounds.append(start.time_till(end) / 1e3 / number)
        self.raise_failed_check()
        self._copy_back(arrays, device)
        return float(np.median(rounds))

    def __repr__(self) -> str:
        return f"CudaModule({self.func.name}, {len(self.launches)} kernels)"


def host_loop_groups(kernels) -> list[list[int]]:
    """The kernels' positions in launch order, consecutive kernels of one host loop together."""
    groups: list[list[int]] = []
    for position, kernel in enumerate(kernels):
        if groups and kernel.host_loop is not None and kernels[groups[-1][0]].host_loop is kernel.host_loop:
            groups[-1].append(position)
        else:
            groups.append([position])
    return groups


def host_loop_steps(loop, values: dict) -> list[dict]:
    """The values of a host loop's variable, in order, for the function's sizes ``values``."""
    start = evaluate(loop.min, values)
    return [{loop.var: step} for step in range(start, start + max(0, evaluate(loop.extent, values)))]


def launch_error(launch, error: BaseException) -> CudaLaunchError:
    """The error of a kernel launch that the driver refused (or that found the context broken)."""
    sticky = is_sticky(error)
    hint = ("the CUDA context is unusable after an earlier fault: start a new process" if sticky else
            "check the launch against the device's limits (threads, shared memory, registers)")
    return CudaLaunchError(
        f"cuda kernel {launch.kernel}: launch with grid {launch.grid}, block {launch.block} and "
        f"{launch.dynamic_shared_bytes} bytes of dynamic shared memory failed: {error}; {hint}", sticky)


def check_no_aliasing(name: str, params, arrays, written) -> None:
    """Refuse one device array (or overlapping ones) passed for two parameters of which one is
    written: the kernels mark their pointers ``__restrict__``, which promises that no memory is
    reached through two of them, and nvcc may then reorder the loads and stores."""
    spans = [(array.ptr, array.ptr + array.nbytes, position, param)
             for position, (param, array) in enumerate(zip(params, arrays))
             if isinstance(array, DeviceArray) and array.nbytes]
    for n, (start, end, i, first) in enumerate(spans):
        for other, other_end, j, second in spans[n + 1:]:
            if not (start < other_end and other < end) or (first not in written and second not in written):
                continue
            raise ArgumentError(
                f"{name}: arguments {i} ({first.name}) and {j} ({second.name}) share device memory, and "
                f"the kernel writes one of them through a __restrict__ pointer; pass separate arrays "
                f"(copy one with ns.device_array(array.numpy()))")


def build(func: PrimFunc, *, shared_memory_bytes: int = 48 * 1024, max_threads: int = 1024) -> CudaModule:
    """A CUDA module of the lowered function ``func``.

    The source is generated and checked here (launch limits raise CodegenError); nvcc and pycuda
    are needed only when the module is first called (BackendUnavailable otherwise).

    Parameters
    ----------
    func
        A lowered function whose loops are bound to GPU indices.
    shared_memory_bytes
        Shared memory allowed per block: 48 KiB by default (every CUDA GPU); an H100 allows up to
        227 KiB, which kernels over 48 KiB take as dynamic shared memory.
    max_threads
        Threads allowed per block.
    """
    if not isinstance(func, PrimFunc):
        raise CodegenError(f"cuda build: expected a lowered function (a PrimFunc from ns.lower), got "
                           f"{type(func).__name__}; use ns.build(schedule, args, target='cuda')")
    limits = Limits(max_threads=max_threads, shared_memory_bytes=shared_memory_bytes)
    return CudaModule(func, generate(func, limits))
