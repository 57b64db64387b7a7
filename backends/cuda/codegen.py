"""Lowered IR -> CUDA C: one ``extern "C" __global__`` kernel per root nest of the function.

Reads lowered IR only. Loops bound to ``blockIdx``/``threadIdx`` become those indices (a thread
loop shorter than the block runs under a guard; nested loops bound to the same index reuse it,
as in the reference interpreter); other loops become ``for`` loops (``#pragma unroll`` for
unrolled ones; vectorized ones as ``float4`` accesses where provably contiguous and aligned,
see :mod:`.vectorize`, else unrolled). Buffers of scope shared become ``__shared__`` arrays at
kernel scope (carved out of dynamic shared memory where they exceed the 48 KiB that static
arrays may take), buffers of scope local per-thread arrays (short serial loops that index them get
``#pragma unroll`` too, so that they can stay in registers), barriers ``__syncthreads()``. Integer
``//`` and ``%`` print as C's ``/`` and ``%`` where the operands are provably non-negative, else
as helpers with floor semantics (and numpy's results for a zero divisor and ``INT_MIN // -1``).
Integer arithmetic whose bounds pass 32 bits runs in ``long long``. A subscript that no proof
bounds (:mod:`tensorir.access_guards`) is checked by ``nestor_checked``, which reports to the
kernel's ``nestor_status`` parameter. Accesses are printed from their flat offsets
(``flatten_buffers`` runs first; 64-bit offsets for buffers past 2**31 elements come from there).
The checks of :mod:`.kernels` run first.
"""

from __future__ import annotations

from dataclasses import dataclass

from tensorir.access_guards import runtime_checks, site_number
from tensorir.buffer import Scope
from tensorir.dtypes import DType
from tensorir.expr import BufferLoad, Call, CheckedIndex, Const, Expr, Func
from tensorir.intmath import round_up
from tensorir.passes.flatten_buffers import flatten_buffers
from tensorir.stmt import Allocate, Evaluate, For, ForKind, IfThenElse, PrimFunc, Stmt, Store, While
from tensorir.thread_reduce import ThreadAllReduce
from tensorir.visitor import walk

from .allreduce import HELPER as ALLREDUCE_HELPER
from .allreduce import OPS as ALLREDUCE_OPS
from .allreduce import emit_allreduce
from .cstyle import C_TYPES, CPrinter
from .ctyped import HELPERS as TYPED_HELPERS
from .double_buffer import double_buffer
from .kernels import AXES, KernelNest, Limits, is_bound, split_kernels
from .vectorize import emit_float4

#: the most static ``__shared__`` memory a kernel may declare; more goes through dynamic shared memory
STATIC_SHARED_LIMIT = 48 * 1024
#: serial loops up to this extent that index a local array are unrolled (see _indexes_registers)
_REGISTER_UNROLL_LIMIT = 32

#: the kernel parameter where a failing subscript check reports (check number, index)
STATUS = "nestor_status"

_HELPERS = {
    # x // 0 and x % 0 are 0, INT_MIN // -1 wraps to INT_MIN (numpy's results, see tensorir.dtypes)
    "nestor_floordiv": """\
template <typename T> __device__ __forceinline__ T nestor_floordiv(T a, T b) {
  if (b == 0) return 0;
  if (b == -1) return (T)(0ULL - (unsigned long long)a);
  T q = a / b;
  return (q * b != a && ((a < 0) != (b < 0))) ? q - 1 : q;
}""",
    "nestor_floormod": """\
template <typename T> __device__ __forceinline__ T nestor_floormod(T a, T b) {
  if (b == 0 || b == -1) return 0;
  T r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}""",
    # a subscript no proof bounds: outside 0..extent it reports the first failure and reads index 0
    "nestor_checked": """\
__device__ __forceinline__ long long nestor_checked(long long index, long long extent, long long check,
                                                    long long* status) {
  if ((unsigned long long)index < (unsigned long long)extent) return index;
  if (atomicCAS((unsigned long long*)status, 0ULL, (unsigned long long)check) == 0ULL) status[1] = index;
  return 0;
}""",
    "nestor_floordiv_float": """\
template <typename T> __device__ __forceinline__ T nestor_floordiv_float(T a, T b) {
  if (b == 0) return a / b;  // numpy: +-inf, nan for 0 // 0
  T m = fmod(a, b);
  T q = (a - m) / b;
  if (m != 0 && ((b < 0) != (m < 0))) q -= 1;
  if (q == 0) return copysign(T(0), a / b);
  T f = floor(q);
  return q - f > T(0.5) ? f + 1 : f;
}""",
    "nestor_floormod_float": """\
template <typename T> __device__ __forceinline__ T nestor_floormod_float(T a, T b) {
  T m = fmod(a, b);
  if (m == 0) return copysign(T(0), b);
  return ((b < 0) != (m < 0)) ? m + b : m;
}""",
    "nestor_max": """\
template <typename T> __device__ __forceinline__ T nestor_max(T a, T b) {
  return (a != a || b != b) ? a + b : (a >= b ? a : b);  // NaN wins, as in numpy
}""",
    "nestor_min": """\
template <typename T> __device__ __forceinline__ T nestor_min(T a, T b) {
  return (a != a || b != b) ? a + b : (a <= b ? a : b);  // NaN wins, as in numpy
}""",
    "nestor_sigmoid": """\
__device__ __forceinline__ float nestor_sigmoid(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
  float z = expf(x);
  return z / (1.0f + z);
}
__device__ __forceinline__ double nestor_sigmoid(double x) {
  if (x >= 0.0) return 1.0 / (1.0 + exp(-x));
  double z = exp(x);
  return z / (1.0 + z);
}""",
    "nestor_ipow": """\
template <typename T> __device__ __forceinline__ T nestor_ipow(T a, T b) {
  if (b < 0) return a == 1 ? 1 : (a == -1 ? (b % 2 ? -1 : 1) : 0);
  T result = 1;
  for (; b > 0; b >>= 1, a *= a) if (b & 1) result *= a;
  return result;
}""",
}


@dataclass(frozen=True)
class Launch:
    """How one kernel is launched: its grid and block sizes, shared memory and arguments.

    ``dynamic_shared_bytes`` is the shared memory requested at launch: zero where the kernel's
    ``__shared__`` arrays are static (up to 48 KiB), else all of ``shared_bytes``.
    """

    kernel: str
    grid: tuple[int, int, int]
    block: tuple[int, int, int]
    shared_bytes: int
    args: tuple[str, ...]
    dynamic_shared_bytes: int = 0

    @property
    def threads(self) -> int:
        return self.block[0] * self.block[1] * self.block[2]


@dataclass(frozen=True)
class CudaSource:
    """The CUDA C of a function, its kernels in launch order and the temporaries to allocate."""

    source: str
    kernels: tuple[KernelNest, ...]
    launches: tuple[Launch, ...]
    temporaries: tuple


class KernelPrinter(CPrinter):
    """Prints one kernel."""

    def __init__(self, kernel: KernelNest, checks: tuple = ()):
        super().__init__()
        self.kernel = kernel
        #: the function's run-time subscript checks, numbered as the module reads them
        self.checks = checks
        # names declared in each open C scope, so a bound loop met twice in one scope gets braces
        self.scopes: list[set[str]] = [set()]
        #: buffers accessed as float4, which need 16-byte alignment
        self.aligned: set = set()

    def special_float(self, value: float, dtype: DType) -> str:
        suffix = "_F" if dtype is DType.FLOAT32 else ""
        if value != value:
            return f"CUDART_NAN{suffix}"
        return f"CUDART_INF{suffix}" if value > 0 else f"-CUDART_INF{suffix}"

    def signature(self) -> str:
        params = []
        for buffer in self.kernel.params:
            const = "" if buffer in self.kernel.written else "const "
            params.append(f"{const}{C_TYPES[buffer.dtype]}* __restrict__ {self.name(buffer)}")
        params += [f"{C_TYPES[v.dtype]} {self.name(v)}" for v in self.kernel.scalars]
        if has_checks(self.kernel):
            params.append(f"long long* __restrict__ {STATUS}")
        threads = self.kernel.block[0] * self.kernel.block[1] * self.kernel.block[2]
        blocks = max((b.min_blocks for b in self.kernel.written), default=0)
        bounds = f"{threads}, {blocks}" if blocks else f"{threads}"
        return (f'extern "C" __global__ void __launch_bounds__({bounds}) '
                f"{self.kernel.name}({', '.join(params)}) {{")

    def source(self) -> str:
        k = self.kernel
        dynamic = " (dynamic)" if dynamic_shared_bytes(k) else ""
        shared = f", {k.shared_bytes} bytes of shared memory{dynamic}" if k.shared else ""
        self.emit(f"// {k.name}: grid {k.grid}, block {k.block}{shared}", 0)
        self.emit(self.signature(), 0)
        declarations = len(self.lines)
        for buffer in k.root_locals:
            self.emit(f"{C_TYPES[buffer.dtype]} {self.name(buffer)}[{max(buffer.size, 1)}];", 1)
        self.stmt(k.body, 1)
        self.emit("}", 0)
        self.lines[declarations:declarations] = self.shared_declarations()
        return "\n".join(self.lines)

    def shared_declarations(self) -> list[str]:
        """Static ``__shared__`` arrays (16-byte aligned where read as float4), or, over the static
        limit, pointers into the dynamic shared memory of the launch (16-byte aligned slices)."""
        k, pad = self.kernel, self.indent
        if not dynamic_shared_bytes(k):
            return [f"{pad}__shared__ {'__align__(16) ' if b in self.aligned else ''}"
                    f"{C_TYPES[b.dtype]} {self.name(b)}[{max(b.size, 1)}];" for b in k.shared]
        lines = [f"{pad}extern __shared__ __align__(16) unsigned char nestor_dynamic_shared[];"]
        for buffer, offset in dynamic_shared_offsets(k):
            ctype = C_TYPES[buffer.dtype]
            lines.append(f"{pad}{ctype}* __restrict__ {self.name(buffer)} = "
                         f"reinterpret_cast<{ctype}*>(nestor_dynamic_shared + {offset});")
        return lines

    def checked_index(self, e: CheckedIndex) -> str:
        self.helpers.add("nestor_checked")
        extent = f"(long long)({self.expr(e.extent)})" if isinstance(e.extent, Expr) else f"{e.extent}LL"
        return (f"nestor_checked({self.expr(e.value)}, {extent}, {site_number(self.checks, e)}, "
                f"{STATUS})")

    def stmt(self, s: Stmt, depth: int) -> None:
        match s:
            case Evaluate(value=Call(func=Func.BARRIER)):
                self.emit("__syncthreads();", depth)
            case Evaluate(value=Call(func=Func.PREFETCH)):
                pass  # the GPU's caches are not steered from a kernel here: the hint is dropped
            case Store(value=ThreadAllReduce()):
                emit_allreduce(self, s, depth)
            case IfThenElse() | While():  # a block of its own
                self.scopes.append(set())
                super().stmt(s, depth)
                self.scopes.pop()
            case _:
                super().stmt(s, depth)

    def loop(self, s: For, depth: int) -> None:
        if is_bound(s):
            self.bound_loop(s, depth)
        elif s.kind is ForKind.VECTORIZED and emit_float4(self, s, depth):
            return
        else:
            if s.kind is ForKind.SERIAL and _indexes_registers(s):
                self.emit("#pragma unroll", depth)
            self.scopes.append(set())
            super().loop(s, depth)
            self.scopes.pop()

    def bound_loop(self, s: For, depth: int) -> None:
        """``var = threadIdx.x`` (or blockIdx), under a guard where the loop is shorter than the block."""
        axis = AXES.index(s.thread_tag[-1])
        size = (self.kernel.block if s.thread_tag.startswith("threadIdx") else self.kernel.grid)[axis]
        var = self.name(s.var)
        guarded = s.extent is not size if not isinstance(s.extent, Const) else s.extent.value != size
        opened = guarded or var in self.scopes[-1]
        if opened:
            self.emit(f"if ({s.thread_tag} < {self.expr(s.extent)}) {{" if guarded else "{", depth)
            depth += 1
            self.scopes.append(set())
        start = "" if self.expr(s.min) == "0" else f" + {self.expr(s.min)}"
        self.emit(f"const {C_TYPES[s.var.dtype]} {var} = {s.thread_tag}{start};", depth)
        self.scopes[-1].add(var)
        self.ranges[s.var] = self.loop_range(s)
        self.stmt(s.body, depth)
        if opened:
            self.scopes.pop()
            self.emit("}", depth - 1)

    def allocate(self, s: Allocate, depth: int) -> None:
        if s.buffer.scope is Scope.SHARED:
            self.stmt(s.body, depth)  # declared at kernel scope
        else:
            super().allocate(s, depth)


def has_checks(kernel: KernelNest) -> bool:
    """Whether ``kernel`` checks subscripts when it runs: it then takes the status parameter."""
    return any(isinstance(n, CheckedIndex) for n in walk(kernel.body))


def dynamic_shared_bytes(kernel: KernelNest) -> int:
    """The dynamic shared memory ``kernel`` needs at launch: 0 where its arrays are static."""
    if kernel.shared_bytes <= STATIC_SHARED_LIMIT:
        return 0
    buffer, offset = dynamic_shared_offsets(kernel)[-1]
    return offset + buffer.size * buffer.dtype.numpy.itemsize


def dynamic_shared_offsets(kernel: KernelNest) -> list[tuple[object, int]]:
    """Each shared buffer's byte offset in the dynamic shared memory (16-byte aligned)."""
    offsets, at = [], 0
    for buffer in kernel.shared:
        offsets.append((buffer, at))
        at += round_up(buffer.size * buffer.dtype.numpy.itemsize, 16)
    return offsets


def _indexes_registers(loop: For) -> bool:
    """Whether ``loop`` is short and indexes a local array with its variable: unrolled, the array
    can live in registers (indexed by a runtime value, it would go to local memory)."""
    if not isinstance(loop.extent, Const) or loop.extent.value > _REGISTER_UNROLL_LIMIT:
        return False
    for node in walk(loop.body):
        if isinstance(node, (BufferLoad, Store)) and node.buffer.scope is Scope.LOCAL \
                and any(v is loop.var for index in node.indices for v in walk(index)):
            return True
    return False


_HELPERS |= ALLREDUCE_OPS | {"nestor_allreduce": ALLREDUCE_HELPER}


def _preamble(helpers: set[str]) -> str:
    parts = ["// Generated by Nestor.", "#include <math_constants.h>"]
    for name, text in {**_HELPERS, **TYPED_HELPERS}.items():
        if name in helpers:
            guard = name.upper()
            parts.append(f"\n#ifndef {guard}\n#define {guard}\n{text}\n#endif")
    return "\n".join(parts)


def generate(func: PrimFunc, limits: Limits | None = None) -> CudaSource:
    """The CUDA C of ``func``: checks its kernels (raising CodegenError) and prints them.

    Parameters
    ----------
    func
        A lowered function whose loops are bound to GPU indices.
    limits
        Launch limits to check against (threads, grid, shared memory); default :class:`Limits`.

    Returns
    -------
    CudaSource
        The source, the kernels in launch order with their launch shapes, and the global
        temporaries that the module allocates on the device.
    """
    flat = double_buffer(flatten_buffers(func))
    kernels, temporaries = split_kernels(flat, limits or Limits())
    checks = runtime_checks(flat)
    texts, helpers = [], set()
    if any(isinstance(n, (Store, BufferLoad)) and n.buffer.dtype is DType.FLOAT16 for n in walk(flat.body)):
        helpers.add("nestor_fp16")  # __half buffers
    for kernel in kernels:
        printer = KernelPrinter(kernel, checks)
        texts.append(printer.source())
        helpers |= printer.helpers
    launches = tuple(
        Launch(k.name, k.grid, k.block, k.shared_bytes,
               tuple(b.name for b in k.params) + tuple(v.name for v in k.scalars)
               + ((STATUS,) if has_checks(k) else ()),
               dynamic_shared_bytes(k))
        for k in kernels)
    source = _preamble(helpers) + "\n\n" + "\n\n".join(texts) + "\n"
    return CudaSource(source, tuple(kernels), launches, tuple(temporaries))
