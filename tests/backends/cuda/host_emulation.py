"""Runs generated CUDA C on the host CPU, so that tests check what the source computes where no
GPU is present. The kernels compile as C++ with a small prelude: ``threadIdx``/``blockIdx`` are
thread-local, ``__shared__`` arrays are static (one block runs at a time), and the threads of a
block whose kernel meets barriers run as OS threads waiting at a pthread barrier.

What a GPU does not promise is made visible: shared memory is filled with NaN (all bits set:
NaN for floats, -1 for integers) before each block, as uninitialised shared memory would hold
anything, and blocks run in a shuffled order (fixed seed), as blocks run in no order."""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import tempfile

import numpy as np

from backends.cuda import CudaModule
from backends.cuda.codegen import has_checks
from backends.cuda.cstyle import C_TYPES
from backends.cuda.module import host_loop_groups, host_loop_steps
from tensorir.access_guards import out_of_bounds, runtime_checks
from tensorir.expr import Call, Func
from tensorir.stmt import Evaluate
from tensorir.thread_reduce import ThreadAllReduce
from tensorir.visitor import walk

PRELUDE = r"""
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
template <typename T> static inline T max(T a, T b) { return a >= b ? a : b; }
template <typename T> static inline T min(T a, T b) { return a <= b ? a : b; }
struct nestor_dim { unsigned x, y, z; };
static thread_local nestor_dim threadIdx, blockIdx;
static pthread_barrier_t nestor_block_barrier;
#define __global__
#define __device__
#define __forceinline__ inline
// a kernel's own __shared__ arrays are rewritten (see poisoned_shared); a helper's stay static
#define __shared__ static
#define __restrict__ __restrict
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
static inline void __syncthreads() { pthread_barrier_wait(&nestor_block_barrier); }
static inline unsigned long long atomicCAS(unsigned long long* at, unsigned long long expected,
                                           unsigned long long value) {
  __atomic_compare_exchange_n(at, &expected, value, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return expected;
}
struct __attribute__((aligned(16))) float4 { float x, y, z, w; };
// warp shuffles: every thread of the block calls them together (the cross-thread reductions
// do), so the values pass through one array between two block barriers
static nestor_dim nestor_block_dim;
static inline unsigned nestor_linear_thread() {
  return threadIdx.x + nestor_block_dim.x * (threadIdx.y + nestor_block_dim.y * threadIdx.z);
}
template <typename T> static T nestor_shuffle(T value, int lane_from_base, int delta, int width) {
  static T slots[1024];
  unsigned t = nestor_linear_thread(), lane = t % width, base = t - lane;
  slots[t] = value;
  __syncthreads();
  unsigned from = lane_from_base >= 0 ? lane_from_base : lane + delta;
  T result = from < (unsigned)width ? slots[base + from] : value;
  __syncthreads();
  return result;
}
template <typename T> static T __shfl_down_sync(unsigned, T value, int delta, int width = 32) {
  return nestor_shuffle(value, -1, delta, width);
}
template <typename T> static T __shfl_sync(unsigned, T value, int lane, int width = 32) {
  return nestor_shuffle(value, lane, 0, width);
}

typedef void (*nestor_body)(void**);
typedef void (*nestor_poison)(void);
struct nestor_thread { nestor_dim thread, block; nestor_body body; void** args; };

static void* nestor_run_thread(void* data) {
  nestor_thread* t = (nestor_thread*)data;
  threadIdx = t->thread;
  blockIdx = t->block;
  t->body(t->args);
  return 0;
}

// Runs every block in turn, in a shuffled order, its shared memory poisoned first; a block's
// threads run one after another, or (where the kernel meets barriers) as concurrent OS threads.
static void nestor_grid(nestor_dim grid, nestor_dim block, int concurrent, nestor_body body, void** args,
                        nestor_poison poison) {
  unsigned n = block.x * block.y * block.z, blocks = grid.x * grid.y * grid.z;
  nestor_thread* threads = (nestor_thread*)malloc(n * sizeof(nestor_thread));
  pthread_t* handles = (pthread_t*)malloc(n * sizeof(pthread_t));
  unsigned* order = (unsigned*)malloc(blocks * sizeof(unsigned));
  unsigned seed = 12345u;
  for (unsigned b = 0; b < blocks; ++b) order[b] = b;
  for (unsigned b = blocks; b > 1; --b) {  // Fisher-Yates with a fixed linear congruential sequence
    seed = seed * 1103515245u + 12345u;
    unsigned other = (seed >> 8) % b, kept = order[b - 1];
    order[b - 1] = order[other];
    order[other] = kept;
  }
  for (unsigned step = 0; step < blocks; ++step) {
    unsigned b = order[step];
    nestor_dim where = {b % grid.x, b / grid.x % grid.y, b / (grid.x * grid.y)};
    poison();
    pthread_barrier_init(&nestor_block_barrier, 0, n);
    nestor_block_dim = block;
    for (unsigned t = 0; t < n; ++t) {
      threads[t] = {{t % block.x, t / block.x % block.y, t / (block.x * block.y)}, where, body, args};
      if (concurrent) pthread_create(&handles[t], 0, nestor_run_thread, &threads[t]);
      else nestor_run_thread(&threads[t]);
    }
    for (unsigned t = 0; concurrent && t < n; ++t) pthread_join(handles[t], 0);
    pthread_barrier_destroy(&nestor_block_barrier);
  }
  free(threads);
  free(handles);
  free(order);
}
"""

MATH_CONSTANTS = """#pragma once
#define CUDART_INF_F INFINITY
#define CUDART_NAN_F NAN
#define CUDART_INF ((double)INFINITY)
#define CUDART_NAN ((double)NAN)
"""


#: the host's half type for kernels that store float16 (g++ 12's _Float16 converts with
#: round-to-nearest-even, as __float2half_rn does)
CUDA_FP16 = r"""
#pragma once
typedef _Float16 __half;
static inline float __half2float(__half value) { return (float)value; }
static inline __half __float2half_rn(float value) { return (__half)value; }
"""


def available() -> bool:
    return shutil.which("g++") is not None


def _launcher(module: CudaModule) -> str:
    lines = []
    for kernel in module.kernels:
        # buffers, then the ints (a host loop's step: the emulation runs static sizes), then the status
        casts = [f"({_ctype(b)}*)args[{n}]" for n, b in enumerate(kernel.params)]
        casts += [f"*(int*)args[{len(casts) + n}]" for n in range(len(kernel.scalars))]
        casts += [f"(long long*)args[{len(casts)}]"] if has_checks(kernel) else []
        casts = ", ".join(casts)
        concurrent = int(_has_barrier(kernel.body))
        grid, block = ", ".join(map(str, kernel.grid)), ", ".join(map(str, kernel.block))
        lines.append(
            f"static void nestor_body_{kernel.name}(void** args) {{ {kernel.name}({casts}); }}\n"
            f'extern "C" void nestor_launch_{kernel.name}(void** args) {{\n'
            f"  nestor_grid({{{grid}}}, {{{block}}}, {concurrent}, nestor_body_{kernel.name}, args, "
            f"nestor_poison_{kernel.name});\n}}")
    return "\n".join(lines)


_SHARED = re.compile(r"^(\s*)__shared__ (?:__align__\(16\) )?([\w ]+?) (\w+)\[(\d+)\];$")
_DYNAMIC = "extern __shared__ __align__(16) unsigned char nestor_dynamic_shared[];"
_KERNEL = re.compile(r'^extern "C" __global__ void (?:__launch_bounds__\([^)]*\) )?(\w+)\(')


def poisoned_shared(source: str) -> str:
    """``source`` with each kernel's ``__shared__`` arrays (and its dynamic shared memory) moved
    to file scope, and a ``nestor_poison_<kernel>`` function that fills them with all bits set."""
    out: list[str] = []
    kernel, start, arrays = None, 0, []

    def close() -> None:
        if kernel is not None:
            fills = " ".join(f"memset({name}, 0xFF, sizeof {name});" for name in arrays)
            out.insert(start, f"static void nestor_poison_{kernel}(void) {{ {fills} }}")

    for line in source.splitlines():
        header = _KERNEL.match(line)
        if header:
            close()
            kernel, start, arrays = header.group(1), len(out), []
        found = _SHARED.match(line)
        if found and kernel is not None:
            pad, ctype, name, size = found.groups()
            stored = f"nestor_shared_{kernel}_{name}"
            out.insert(start, f"static {ctype} {stored}[{size}] __attribute__((aligned(16)));")
            start += 1
            arrays.append(stored)
            line = f"{pad}{ctype}* const {name} = {stored};"
        elif line.strip() == _DYNAMIC and kernel is not None:
            stored = f"nestor_dynamic_shared_{kernel}"
            out.insert(start, f"static unsigned char {stored}[1 << 18] __attribute__((aligned(16)));")
            start += 1
            arrays.append(stored)
            line = f"  unsigned char* const nestor_dynamic_shared = {stored};"
        out.append(line)
    close()
    return "\n".join(out)


def _ctype(buffer) -> str:
    return C_TYPES[buffer.dtype]


def _has_barrier(body) -> bool:
    return any(isinstance(n, Evaluate) and isinstance(n.value, Call) and n.value.func is Func.BARRIER
               for n in walk(body)) or any(isinstance(n, ThreadAllReduce) for n in walk(body))


class HostModule:
    """A CudaModule's kernels run on the CPU; called like the module, on numpy arrays."""

    def __init__(self, module: CudaModule, library: ctypes.CDLL):
        self.module, self.library = module, library

    def __call__(self, *arrays: np.ndarray) -> None:
        memory = dict(zip(self.module.func.params, arrays))
        for buffer in self.module.temporaries:
            memory[buffer] = np.full(buffer.shape, np.nan if buffer.dtype.is_float else -7,
                                     buffer.dtype.numpy)
        status = np.zeros(2, dtype=np.int64)
        kernels = self.module.kernels
        for group in host_loop_groups(kernels):  # the module's own launch order (host loops too)
            host = kernels[group[0]].host_loop
            for step in ([{}] if host is None else host_loop_steps(host, {})):
                for kernel in (kernels[position] for position in group):
                    self._launch(kernel, memory, step, status)
        if status[0]:
            check = runtime_checks(self.module.func)[int(status[0]) - 1]
            raise out_of_bounds(check.site, check.extent, int(status[1]), "cuda")

    def _launch(self, kernel, memory: dict, step: dict, status: np.ndarray) -> None:
        ints = [ctypes.c_int(step[v]) for v in kernel.scalars]  # kept alive through the call
        addresses = [memory[b].ctypes.data for b in kernel.params] + [ctypes.addressof(i) for i in ints]
        addresses += [status.ctypes.data] if has_checks(kernel) else []
        pointers = (ctypes.c_void_p * len(addresses))(*addresses)
        getattr(self.library, f"nestor_launch_{kernel.name}")(pointers)



def compile_host(modules: list[CudaModule], folder: str | None = None) -> list[HostModule]:
    """The modules' kernels compiled for the CPU in one g++ call (kernel names must differ)."""
    folder = folder or tempfile.mkdtemp(prefix="nestor_host_cuda_")
    with open(os.path.join(folder, "math_constants.h"), "w") as handle:
        handle.write(MATH_CONSTANTS)
    with open(os.path.join(folder, "cuda_fp16.h"), "w") as handle:
        handle.write(CUDA_FP16)
    # shared memory: one static array serves every block (blocks run one at a time)
    source = PRELUDE + "\n".join(poisoned_shared(m.source) + "\n" + _launcher(m) for m in modules)
    path = os.path.join(folder, "kernels.cpp")
    with open(path, "w") as handle:
        handle.write(source)
    library = os.path.join(folder, "kernels.so")
    command = ["g++", "-std=c++17", "-O0", "-fno-strict-aliasing", "-shared", "-fPIC", "-pthread",
               "-Wno-unknown-pragmas", "-I", folder, "-o", library, path]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"g++ rejected the generated kernels:\n{done.stderr[-6000:]}")
    loaded = ctypes.CDLL(library)
    return [HostModule(m, loaded) for m in modules]
