"""Seconds to build the default CPU matmul template with a cold kernel cache (median of runs),
next to the time to lower it, and to load it again from the disk cache.

    python benchmarks/compile_time.py [--json]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.harness import Report, parser  # noqa: E402


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--size", type=int, default=1024)
    args = p.parse_args()
    import nestor as ns
    from backends.llvm import module as llvm_module
    from schedules.templates import matmul_cpu

    report = Report("compile_time", args.json)
    n = args.size
    lower_s, cold_s, warm_s = [], [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as cache:
            os.environ["NESTOR_CACHE_DIR"] = cache
            llvm_module._compiled.clear()
            start = time.perf_counter()
            s, tensors = matmul_cpu(n, n, n)
            func = ns.lower(s, tensors, name="matmul")
            lower_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            ns.build(func, target="llvm")
            cold_s.append(time.perf_counter() - start)
            llvm_module._compiled.clear()
            start = time.perf_counter()
            ns.build(func, target="llvm")
            warm_s.append(time.perf_counter() - start)
    cold = statistics.median(cold_s) + statistics.median(lower_s)
    report.add(f"matmul_cpu n={n} cold", cold, "disk-cache hit", statistics.median(warm_s),
               lower_s=statistics.median(lower_s), codegen_s=statistics.median(cold_s))


if __name__ == "__main__":
    main()
