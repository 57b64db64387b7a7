"""CUDA C of a cross-thread reduction (:class:`~tensorir.thread_reduce.ThreadAllReduce`): warp
shuffles (``__shfl_down_sync``) within each warp, then one value per warp through shared memory
and a combination of those, so that every thread of the group gets the result.

A group is ``threads`` consecutive threads of the block (the loop bound to ``threadIdx.x``
spans the block's x extent, which :mod:`.kernels` checks since the reduction synchronises like a
barrier); groups must not share a warp unevenly: where threadIdx.y or z is bound too, ``threads``
is a power of two up to 32 or a multiple of 32.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tensorir.errors import CodegenError
from tensorir.stmt import Store
from tensorir.thread_reduce import ThreadAllReduce, ThreadCombine

from .cstyle import C_TYPES

if TYPE_CHECKING:
    from .codegen import KernelPrinter

#: the combining functor of each reducer (max and min propagate NaN, as the other kernels do)
OPS = {
    "nestor_sum_op": "struct nestor_sum_op { template <typename T> __device__ __forceinline__ "
                     "T operator()(T a, T b) const { return a + b; } };",
    "nestor_max_op": "struct nestor_max_op { template <typename T> __device__ __forceinline__ "
                     "T operator()(T a, T b) const { return nestor_max(a, b); } };",
    "nestor_min_op": "struct nestor_min_op { template <typename T> __device__ __forceinline__ "
                     "T operator()(T a, T b) const { return nestor_min(a, b); } };",
}

HELPER = """\
// Every thread of the block calls this. Groups of `threads` consecutive threads (by the linear
// index `thread`, of `block` threads in all) reduce together; each thread gets its group's result.
template <typename T, typename Op>
__device__ __forceinline__ T nestor_allreduce(T value, int threads, int thread, int block, Op op) {
  __shared__ T scratch[32];
  const int segment = (threads < 32 && (threads & (threads - 1)) == 0) ? threads : 32;
  const int in_group = thread % threads, lane = in_group % segment;
  const int valid = min(segment, threads - in_group / segment * segment);
  const int present = min(32, block - thread / 32 * 32);
  const unsigned mask = present == 32 ? 0xffffffffu : (1u << present) - 1u;
  for (int offset = 16; offset > 0; offset /= 2) {
    if (offset >= segment) continue;
    const T other = __shfl_down_sync(mask, value, offset, segment);
    if (lane + offset < valid) value = op(value, other);
  }
  if (threads <= 32) return __shfl_sync(mask, value, 0, segment);
  const int warps = (threads + 31) / 32, first = thread / threads * warps;
  __syncthreads();  // an earlier reduction's threads may still read scratch
  if (lane == 0) scratch[thread / 32] = value;
  __syncthreads();
  value = scratch[first];
  for (int w = 1; w < warps; ++w) value = op(value, scratch[first + w]);
  return value;
}"""


def _supported(threads: int, block: int) -> bool:
    """Whether no warp holds threads of two groups unevenly."""
    return threads == block or threads % 32 == 0 or (threads < 32 and threads & (threads - 1) == 0)


def emit_allreduce(printer: KernelPrinter, s: Store, depth: int) -> None:
    """``buffer[offset] = nestor_allreduce(value, ...)`` for the Store ``s`` of a ThreadAllReduce."""
    node: ThreadAllReduce = s.value  # type: ignore[assignment]
    if isinstance(node, ThreadCombine):  # no warp shuffles: any group size
        emit_combine(printer, s, node, depth)
        return
    kernel = printer.kernel
    block = kernel.block[0] * kernel.block[1] * kernel.block[2]
    if not _supported(node.threads, block):
        raise CodegenError(
            f"cuda kernel {kernel.name}: a cross-thread reduction over {node.threads} threads "
            f"(a reduction loop bound to threadIdx.x) in blocks of {kernel.block} threads: with "
            "threadIdx.y or threadIdx.z bound too, the reduction needs a power of two up to 32 "
            "or a multiple of 32 threads; split the reduction loop with such a factor")
    op = f"nestor_{node.op.value}_op"
    printer.helpers |= {"nestor_allreduce", op} | ({f"nestor_{node.op.value}"} if node.op.value != "sum" else set())
    bx, by, _ = kernel.block
    thread = "threadIdx.x"
    if kernel.block[1] > 1 or kernel.block[2] > 1:
        thread = f"(int)(threadIdx.x + {bx} * (threadIdx.y + {by} * threadIdx.z))"
    bound = printer.temporaries((node.value, *s.indices), depth)
    printer.emit(f"{printer.name(s.buffer)}[{printer.offset(s)}] = nestor_allreduce({printer.expr(node.value)}, "
                 f"{node.threads}, {thread}, {block}, {op}());", depth)
    printer.release(bound)


def _linear_thread(printer: KernelPrinter) -> str:
    bx, by, _ = printer.kernel.block
    if printer.kernel.block[1] > 1 or printer.kernel.block[2] > 1:
        return f"(int)(threadIdx.x + {bx} * (threadIdx.y + {by} * threadIdx.z))"
    return "(int)threadIdx.x"


def emit_combine(printer: KernelPrinter, s: Store, node: ThreadCombine, depth: int) -> None:
    """``buffer[offset] =`` element ``node.index`` of the user reducer folded over the group's
    tuples: every thread leaves its tuple in shared arrays (one per element), and after a
    barrier each thread folds its group's tuples in thread order, so all get the same result."""
    kernel = printer.kernel
    block = kernel.block[0] * kernel.block[1] * kernel.block[2]
    if block % node.threads:
        raise CodegenError(
            f"cuda kernel {kernel.name}: a cross-thread reduction over {node.threads} threads in blocks of "
            f"{kernel.block} threads; bind the reduction loop to all of threadIdx.x's extent")
    bound = printer.temporaries((*node.values, *s.indices), depth)
    types = [C_TYPES[v.dtype] for v in node.values]
    arrays = [printer.fresh(f"{node.combiner.name}_{k}") for k in range(len(types))]
    me, first = printer.fresh("thread"), printer.fresh("first")
    accs = [printer.fresh(f"acc{k}") for k in range(len(types))]
    emit, inner = printer.emit, depth + 1
    emit(f"{{  // the threads' tuples combined with comm_reducer {node.combiner.name}", depth)
    for ctype, array in zip(types, arrays):
        emit(f"__shared__ {ctype} {array}[{block}];", inner)
    emit(f"const int {me} = {_linear_thread(printer)};", inner)
    emit("__syncthreads();  // an earlier combination's threads may still read the arrays", inner)
    for array, value in zip(arrays, node.values):
        emit(f"{array}[{me}] = {printer.expr(value)};", inner)
    emit("__syncthreads();", inner)
    emit(f"const int {first} = {me} / {node.threads} * {node.threads};", inner)
    for ctype, acc, array in zip(types, accs, arrays):
        emit(f"{ctype} {acc} = {array}[{first}];", inner)
    _emit_fold(printer, node, types, arrays, accs, first, inner)
    emit(f"{printer.name(s.buffer)}[{printer.offset(s)}] = {accs[node.index]};", inner)
    emit("}", depth)
    printer.release(bound)


def _emit_fold(printer: KernelPrinter, node: ThreadCombine, types, arrays, accs, first: str, depth: int) -> None:
    """The loop that combines the accumulators ``accs`` with the tuples of threads 1.. of the group."""
    combiner, emit = node.combiner, printer.emit
    step = printer.fresh("t")
    news = [printer.fresh(f"new{k}") for k in range(len(types))]
    nexts = [printer.fresh(f"next{k}") for k in range(len(types))]
    emit(f"for (int {step} = 1; {step} < {node.threads}; ++{step}) {{", depth)
    for ctype, new, array in zip(types, news, arrays):
        emit(f"const {ctype} {new} = {array}[{first} + {step}];", depth + 1)
    printer.overrides.update(zip((*combiner.lhs, *combiner.rhs), (*accs, *news)))
    for ctype, following, result in zip(types, nexts, combiner.results):
        emit(f"const {ctype} {following} = {printer.expr(result)};", depth + 1)
    for var in (*combiner.lhs, *combiner.rhs):
        del printer.overrides[var]
    for acc, following in zip(accs, nexts):
        emit(f"{acc} = {following};", depth + 1)
    emit("}", depth)
