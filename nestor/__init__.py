"""Nestor: a tensor compiler with a scheduling DSL.

The public API re-exports the layers below it: the tensor language from ``tensorir`` (every name
of ``tensorir.__all__`` except the IR's own nodes), schedules and templates from ``schedules``,
and ``build`` (:mod:`nestor.api`), which only composes ``schedules.lower`` (schedule -> loop nest
-> passes) and ``backends.build`` (the one target registry). The command line is
:mod:`nestor.cli`.

>>> import nestor as ns
>>> A = ns.placeholder((64, 32), name="A"); B = ns.placeholder((48, 32), name="B")
>>> C = ns.compute("C[i,j] = sum(A[i,k] * B[j,k])", A=A, B=B)
>>> s = ns.create_schedule(C)
>>> print(ns.lower(s, [A, B, C], name="matmul"))  # doctest: +SKIP
"""

import tensorir as _language
from backends.cuda.runtime import device_array
from schedules import Schedule, Stage, autotune, create_schedule
from schedules.thread_axis import thread_axis
from schedules.transform_layout import AXIS_SEPARATOR
from tensorir import *  # noqa: F403 - the tensor language, listed once in tensorir.__all__
from tensorir import tensor  # TVM's te.tensor.Tensor
from tensorir.expr import Reduce  # TVM's tir.Reduce, for isinstance checks of op.body[0]
from tensorir.functions import te_power as power  # noqa: F401 - TVM's te.power (listed in __all__): refuses two ints

from . import runtime  # TVM's tvm.runtime: load_module, devices
from . import te_schedule as schedule  # TVM's te.schedule.InferBound
from .api import build, lower
from .kinds import ComputeOp, ExternOp, FloatImm, IntImm, PlaceholderOp, PrimExpr, ScanOp  # TVM's class names
from .prim_func import create_prim_func
from .runtime import cpu, cuda, device, load_module

__version__ = "0.1.0"

__all__ = [name for name in _language.__all__ if name not in _language.INTERNAL]
__all__ += ["Schedule", "Stage", "autotune", "build", "create_schedule", "device_array", "lower", "thread_axis"]
__all__ += ["AXIS_SEPARATOR"]
__all__ += ["ComputeOp", "PlaceholderOp", "PrimExpr", "ScanOp", "schedule", "tensor"]
__all__ += ["Reduce", "cpu", "cuda", "device", "load_module", "runtime"]
__all__ += ["FloatImm", "IntImm", "create_prim_func"]
__all__ += ["ExternOp"]
