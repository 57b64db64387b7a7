"""needle's names over the frontend's, for the conformance programs (tests only, no arithmetic).

``ndl`` mimics ``import needle as ndl``: ``ndl.Tensor``, ``ndl.ops``, ``ndl.init``, ``ndl.nn``,
``ndl.optim``, ``ndl.data``, ``ndl.autograd``, ``ndl.cpu()``,
``ndl.backend_ndarray``, ``ndl.TensorTuple``, and needle's ops re-exported at the top level
(``ndl.summation``, ``ndl.divide_scalar``, ...), then init's ``ones``/``zeros``/``ones_like``/
``zeros_like`` as needle's ``__init__`` imports them last. Every name is the frontend's object itself: the
frontend carries needle's names and meanings, this module only gathers them.
"""

from __future__ import annotations

import types

import frontend
import frontend.needle_autograd
from frontend import ops

ndl = types.SimpleNamespace(
    Tensor=frontend.Tensor,
    autograd=frontend.needle_autograd,
    ops=ops,
    init=frontend.init,
    nn=frontend.nn,
    optim=frontend.optim,
    data=frontend.data,
    cpu=frontend.cpu,
    cpu_numpy=frontend.cpu_numpy,
    cuda=frontend.cuda,
    default_device=frontend.default_device,
    all_devices=frontend.all_devices,
    no_grad=frontend.no_grad,
    TensorTuple=frontend.TensorTuple,
    make_tuple=frontend.make_tuple,
    tuple_get_item=frontend.tuple_get_item,
    backend_ndarray=frontend.backend_ndarray,
)
for _name in ops.__all__:  # needle re-exports its ops at the top level
    setattr(ndl, _name, getattr(ops, _name))
for _name in ("ones", "zeros", "ones_like", "zeros_like"):  # then init's: ``ndl.ones(2, 3)`` is init.ones
    setattr(ndl, _name, getattr(frontend.init, _name))
