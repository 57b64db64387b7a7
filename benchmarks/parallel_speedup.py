"""Parallel loops on real threads: a compute-bound kernel (the matmul template at n=1024) with
all CPUs against the same kernel on one thread (OMP_NUM_THREADS=1), each in its own process.

    python benchmarks/parallel_speedup.py [--json]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.harness import Report, parser  # noqa: E402

CHILD = """
import json, statistics, time, numpy as np, nestor as ns
from schedules.templates import matmul_cpu
n = {n}
s, t = matmul_cpu(n, n, n, transpose_b=False)
m = ns.build(s, t, target="llvm")
a = np.random.rand(n, n).astype(np.float32); b = np.random.rand(n, n).astype(np.float32)
c = np.empty((n, n), np.float32)
print(json.dumps(m.time(a, b, c, number=3, repeat={repeat})))
"""


def _run(threads: int | None, n: int, repeat: int) -> float:
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env.pop("OMP_NUM_THREADS", None)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    out = subprocess.run([sys.executable, "-c", CHILD.format(n=n, repeat=repeat)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--size", type=int, default=1024)
    args = p.parse_args()
    cpus = len(os.sched_getaffinity(0))
    rounds = [(_run(None, args.size, args.repeat), _run(1, args.size, args.repeat)) for _ in range(3)]
    parallel = sorted(r[0] for r in rounds)[1]
    single = sorted(r[1] for r in rounds)[1]
    Report("parallel", args.json).add(f"matmul n={args.size} on {cpus} threads", parallel,
                                      "same kernel, 1 thread", single, cpus=cpus)


if __name__ == "__main__":
    main()
