"""Ready-made schedules from the seed course; each returns ``(schedule, args)`` for given sizes.

The frontend's kernels come from here too: the matmul layout variants (:mod:`.matmul_variants`)
and the generic CPU schedules of kernels without a template of their own (:mod:`.generic_cpu`).
"""

from .conv2d import conv2d_cpu
from .conv_nchwc import conv2d_nchwc
from .elementwise import bias_add, elementwise_cpu, row_sum_cpu, softmax_cpu
from .matmul_cpu import matmul_cpu
from .matmul_gpu import matmul_gpu
from .matmul_variants import matmul_dot, matmul_layout, matmul_layout_2d
from .window_sum import window_sum_gpu

__all__ = ["bias_add", "conv2d_cpu", "conv2d_nchwc", "elementwise_cpu", "matmul_cpu", "matmul_dot", "matmul_gpu",
           "matmul_layout", "matmul_layout_2d", "row_sum_cpu", "softmax_cpu", "window_sum_gpu"]
