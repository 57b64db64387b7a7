"""TVM's names for Nestor's, as the conformance programs spell them: ``te.X`` is ``ns.X``,
``tvm.te.X`` and ``tvm.tir.X`` too, ``tvm.lower``/``tvm.build`` are ``ns.lower``/``ns.build``
(``tvm.runtime``, ``tvm.cpu``, ``tvm.cuda``, ``tvm.device``: ``ns``'s of those names),
and arrays are numpy's (``tvm.nd.array(x)`` is ``x``). A mapping only: nothing here computes,
checks or converts, so every program runs on Nestor's own meaning of each name."""

from __future__ import annotations

from types import SimpleNamespace

import nestor as ns

te = ns
tvm = SimpleNamespace(te=ns, tir=ns, lower=ns.lower, build=ns.build, runtime=ns.runtime, cpu=ns.cpu, cuda=ns.cuda,
                      device=ns.device)

__all__ = ["te", "tvm"]
