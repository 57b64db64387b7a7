"""Matrix products, batched over leading axes, with the layouts of their operands chosen at dispatch.

A transposed operand is usually a view (``W.T``, and both gradients ``g @ B.T``, ``A.T @ g``
read transposes). Rather than copy it, the kernel reads the untransposed storage. ``forward``
picks the form of the product from the arrays and passes it in the kernel request's variant:
``(transposed_a, transposed_b)`` or ``("dot",)``. The kernels are templates: ``matmul_cpu``
covers ``A @ B`` and ``A @ B.T``; a transposed left operand and batches use ``matmul_layout``,
and narrow products ``matmul_dot`` (:mod:`schedules.templates.matmul_variants`), all on one
register- and cache-tiled schedule. Every 2-D product names its tuning task (``matmul_cpu``,
``matmul_layout`` or ``matmul_dot``), so tuned configs reach all of them; batched products keep
the defaults.
"""

from __future__ import annotations

import inspect

import numpy as np

from schedules.templates import matmul_cpu, matmul_dot, matmul_layout
from schedules.templates.generic_cpu import VECTOR, worth_parallel
from schedules.templates.matmul_prepacked import matmul_prepacked
from schedules.templates.matmul_variants import product, product_dims
from tensorir.errors import DefinitionError
from tensorir.intmath import ceil_div

from .. import dispatch
from ..autograd import is_grad_enabled
from ..tensor import Tensor
from .base import Op, contiguous
from .matmul_packed import check_packed, is_packed, packed_config, packed_dims, prepacked
from .promote import promote

#: products with fewer output columns than this (and more rows) are computed transposed
NARROW = 16
#: the kernel request variant of a narrow product computed as dot products of rows
DOT = ("dot",)
#: narrow products of at least this many columns run on the template (:func:`narrow_on_template`)
DOT_MAX = 4
#: a whole-k product with a reduction shorter than NARROW, or narrow with one up to this long,
#: does not unroll its reduction loop (``v3 = 1``): compiled with a symbolic batch on one thread,
#: 128x256 @ 256x10 + bias (the MLP's second layer) 198 -> 92 ms for 14.3 vs 14.2 us a call,
#: the MLP's dZ @ W2^T (128x10 @ 10x256) 236 -> 94 ms for 13.6 vs 13.7 us, 32x128x10 197 -> 88 ms
#: (4.9 us either way), 1000x64x8 116 -> 67 ms (13.3 vs 13.8 us); at 64x1024x15 unrolling pays
#: (42 vs 57 us), so longer reductions keep ``v3 = 4``
ROLLED_K_MAX = 256
#: products start threads from this many multiply-adds (and NESTOR_PARALLEL_MIN's). On a quiet
#: 2-core machine the MLP's 128x784x256 products on two threads bring its train step from 1.96 to
#: 1.54-1.95 ms (PyTorch on two threads: 1.35-1.91 ms); while another process holds the other
#: core, a thread team waits for it (several times slower), so smaller products stay on one thread
#: (the LSTM's per-step 32x128x512 ones; its 1024x128x512 input products broke even either way)
PARALLEL_PRODUCT_MIN = 1 << 24
#: up to this long a reduction runs whole in the register tile of the plain template (``b3=None``)
#: rather than in 64-long chunks, and A is read as stored: the MLP's 128x784 @ 784x256 took 524 us
#: so against 2966 us in chunks and 869 us (+42 us to transpose A) from a transposed A, the
#: LSTM's 1024x128 @ 128x512 1209 against 1615 us (best of several, on one thread)
WHOLE_K_MAX = 1024
#: a whole-k product with at most this many columns reads B as stored (no packed copy per
#: call): one thread, 128x784x256 (the MLP's forward) 466 vs 496 us, 64/256/512 rows x784x256
#: 2-8% faster, 2048 rows equal; with 512 columns only up to 512 rows gain (1024x128x512 5%,
#: 1024x1024x512 9% slower), with 1024 columns packing wins (128x784x1024 6%). Columns only, so
#: the config does not depend on the batch. Off a multiple of 32 columns B unpacked keeps the
#: guard ``j < n`` in the register tile, yet packing it (zero-padded, no guard) does not pay at
#: these widths: one thread, M symbolic, x784x100: 1 row 37 -> 45 us, 7 rows 52 -> 58, 128 rows
#: 238 either way; 33 columns 0-5% faster; B read as stored with its padding columns masked
#: (``if_then_else``) 7x784x100 52 -> 74 us. A transposed B stays packed: read as stored its
#: columns are gathers (the MLP's dZ @ W2^T, 128x10x256: 14.9 vs 11.1 us, and 1.35 s to compile
#: with a symbolic batch, a third of the first step)
UNPACKED_N_MAX = 256
#: whether the template reads a left operand stored transposed (``matmul_cpu(transpose_a=True)``):
#: then the weight gradient ``X^T @ dZ`` of a short reduction runs on it from the stored ``X``,
#: with no transposed copy first (the MLP's 784x128 @ 128x256: one kernel instead of a 45 us copy
#: and the product); without it, A is copied plain (:func:`copies_transposed_a`)
TEMPLATE_TRANSPOSED_A = "transpose_a" in inspect.signature(matmul_cpu).parameters
#: its knobs there: 8x32 cache tiles and 64-long reduction chunks, A^T's rows read in place. One
#: thread, 784x128 @ 128x256: 456-475 us against 470-486 with the whole reduction in 64x128 tiles
#: (730 us in a parallel schedule) and 527-567 us for the copy of A and the plain product
TRANSPOSED_A_CONFIG = {"v1": 8, "v2": 32, "v3": 4, "b1": 8, "b2": 32, "b3": 64, "pack_b": True, "transpose_a": True}


def _layout(array: np.ndarray, device: str) -> tuple[np.ndarray, bool]:
    """``(storage, transposed)``: the array itself, or the contiguous array it is a transpose of."""
    if array.flags.c_contiguous:
        return array, False
    if array.ndim >= 2:
        swapped = np.swapaxes(array, -1, -2)
        if swapped.flags.c_contiguous:
            return swapped, True
    return contiguous(array, device), False


class MatMul(Op):
    """``C[b, i, j] = sum(A[b, i, k] * B[b, k, j], k)``; batch axes broadcast like numpy's."""

    name = "matmul"
    replays = True  # except over a packed B, which declines (prepacked)
    #: whether a stored right operand seen unchanged is packed once (:mod:`frontend.packed_weights`)
    packs_weights = True
    #: whether a whole-k product's cache tiles are one register tile's rows (see default_config)
    register_row_tiles = True

    def forward(self, a: np.ndarray, b: np.ndarray, device: str = "cpu") -> np.ndarray:
        return self.product_of(a, b, None, device)

    def product_of(self, a: np.ndarray, b: np.ndarray, bias: np.ndarray | None, device: str) -> np.ndarray:
        """``a @ b`` in the form the arrays call for; ``bias`` goes to :meth:`launch`."""
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) if a.ndim > 2 or b.ndim > 2 else ()
        m, n = a.shape[-2], b.shape[-1]
        if batch and b.ndim == 2 and a.flags.c_contiguous:  # a shared right operand: one 2-D product
            return self._product(a.reshape(-1, a.shape[-1]), b, (), bias, device).reshape(batch + (m, n))
        if not batch and n < NARROW and a.flags.c_contiguous:
            if narrow_on_template(a.shape[-1], n) and b.flags.c_contiguous:  # vectors along the padded row
                return self._product(a, b, batch, bias, device)
            return self.launch([a, contiguous(b.T, device)], bias, device, DOT, False)  # dot products of rows
        if not batch and n < NARROW <= m:  # few columns waste vector lanes: C = (B^T A^T)^T
            return self._product(b.T, a.T, batch, bias, device, flipped=True).T
        return self._product(a, b, batch, bias, device).reshape(batch + (m, n))

    def _product(self, a: np.ndarray, b: np.ndarray, batch: tuple[int, ...], bias: np.ndarray | None, device: str,
                 flipped: bool = False) -> np.ndarray:
        if not batch and not a.flags.c_contiguous and not b.flags.c_contiguous \
                and a.T.flags.c_contiguous and b.T.flags.c_contiguous:
            # A^T B^T = (B A)^T, both stored plainly
            return self._product(b.T, a.T, batch, bias, device, not flipped).T
        if not batch and a.flags.c_contiguous and a.shape[0] >= 64 and a.shape[1] > WHOLE_K_MAX:
            # the register tile reads v1 rows of A at each k: contiguous when A is stored transposed
            a = contiguous(a.T, device).T
        elif not batch and a.T.flags.c_contiguous and not a.flags.c_contiguous and copies_transposed_a(*a.shape) \
                and not (TEMPLATE_TRANSPOSED_A and device == "cpu" and b.flags.c_contiguous):
            # A stored transposed with a short reduction (an MLP's weight gradient X^T dZ): copied
            # plain, the template's whole-k register tile reads it at ~1.3x the transposed-A kernel
            # (784x128 @ 128x256: 0.57-0.66 vs 0.77 ms on one thread, copy included), unless the
            # template reads A transposed itself (TEMPLATE_TRANSPOSED_A: 0.48 ms, no copy)
            a = contiguous(a, device)
        a_store, ta = _layout(_batched(a, batch), device)
        b_store, tb = _layout(_batched(b, batch), device)
        if tb and (ta or batch):  # only the template reads a transposed B well (it packs it)
            b_store, tb = contiguous(np.swapaxes(b_store, -1, -2), device), False
        if not (batch or ta or flipped) and self.packs_weights:  # B packed once while it is unchanged
            found = prepacked(self, a_store, b_store, tb, device)
            if found is not None:
                return self.launch(found[0], bias, device, found[1], flipped)
        return self.launch([a_store, b_store], bias, device, (ta, tb), flipped)

    def plain_form(self, a: np.ndarray, b: np.ndarray) -> bool:
        """Whether :meth:`product_of` runs ``a @ b`` (no bias) as the template's form ``(False,
        False)`` on the two arrays as they are: both 2-D and C-contiguous, enough columns, and
        no copy of A. A loop repeating such a product binds its kernel once
        (:func:`frontend.dispatch.bind`)."""
        return (a.ndim == b.ndim == 2 and a.flags.c_contiguous and b.flags.c_contiguous
                and b.shape[1] >= NARROW and not (a.shape[0] >= 64 and a.shape[1] > WHOLE_K_MAX))

    def launch(self, arrays: list[np.ndarray], bias: np.ndarray | None, device: str, variant: tuple,
               flipped: bool) -> np.ndarray:
        """Run the kernel of form ``variant`` on the stored operands; ``flipped``: it computes the
        transpose of the product asked for (an epilogue's bias then runs along its rows)."""
        return dispatch.run(self, arrays, device, variant)[0]

    def default_config(self, request) -> dict:
        """The template's knobs for ``request``. A whole-k product (``b3=None``) takes cache tiles
        of one register tile's rows (``b1 = v1``): built for a symbolic batch, the rows' last
        partial cache tile of 64 ran all 8 of its register tiles, each row guarded (8 rows cost
        as 64). One thread, over a packed B: 8 x 784 @ 784 x 1000 380 -> 123 us, 8x512x100 42 ->
        14 us, 32x784x1000 788 -> 478 us; 128 and 256 rows as fast either way (1.93 / 3.80 ms),
        and on two threads 512 to 2048 rows x784x256 and 1024x784x1000 within the noise (ratios
        0.92-1.13, interleaved, a shared machine)."""
        if request.variant == DOT:
            return {"vector": VECTOR}
        if is_packed(request.variant):
            return packed_config(request.variant)
        m, k, n = product_dims(*request.shapes, *request.variant)
        config = {"v1": 8, "v2": 32 if n >= 32 else 16, "v3": 4, "b1": 64, "b2": 128, "pack_b": True,
                  "parallel": m * n * k >= PARALLEL_PRODUCT_MIN and worth_parallel(m * n * k, ceil_div(m, 64))}
        if _transposed_a_on_template(request):  # the config, part of the kernel's key, says which template
            return {**config, **TRANSPOSED_A_CONFIG}
        if not request.variant[0] and k <= WHOLE_K_MAX:
            config["b3"] = None  # the register tile accumulates the whole reduction
            if self.register_row_tiles:
                config["b1"] = config["v1"]  # the rows' last cache tile computes only its own register tiles
            if k < NARROW or (n < NARROW and k <= ROLLED_K_MAX):
                config["v3"] = 1  # the reduction loop not unrolled: half the compile time, as fast
            if n <= UNPACKED_N_MAX and not request.variant[1]:
                config["pack_b"] = False
        return config

    def tuning_task(self, request) -> tuple | None:
        shapes, variant = request.shapes, request.variant
        if request.target != "llvm" or is_packed(variant):
            return None  # a packed B: the config it was packed with, in its variant
        if variant == DOT:
            (m, k), n = shapes[0], shapes[1][0]
            return "matmul_dot", (m, n, k), {}
        if len(shapes[0]) != 2 or len(shapes[1]) != 2:
            return None  # batches: a template variant without a tuning space
        m, k, n = product_dims(*shapes, *variant)
        if n < NARROW and not variant[0]:
            return None  # a narrow product on the template (narrow_on_template): its space wants 16 columns
        parallel = self.default_config(request)["parallel"]
        if _transposed_a_on_template(request):  # tuned as the plain product it was (A copied plain):
            # the template's space has no transposed-A option; its knobs mean the same there
            return "matmul_cpu", (m, n, k), {"transpose_b": False, "parallel": parallel}
        if variant[0]:
            return "matmul_layout", (m, n, k), {"transpose_a": True, "transpose_b": variant[1], "parallel": parallel}
        return "matmul_cpu", (m, n, k), {"transpose_b": variant[1], "parallel": parallel}

    def kernel(self, request, config):
        shapes, dtype, target = request.shapes, request.dtypes[0], request.target
        if request.variant == DOT:
            (m, k), n = shapes[0], shapes[1][0]
            return matmul_dot(m, n, k, vector=config["vector"], dtype=dtype, target=target)
        if is_packed(request.variant):
            check_packed(request, config)
            knobs = {knob: config[knob] for knob in ("v1", "v2", "v3", "b1", "b2")}
            return matmul_prepacked(*packed_dims(request), transpose_b=request.variant[1], dtype=dtype,
                                    parallel=bool(config.get("parallel")), **knobs)
        ta, tb = request.variant
        if target == "llvm" and len(shapes[0]) == 2 and len(shapes[1]) == 2 and not ta:
            m, k, n = product_dims(*shapes, ta, tb)
            return matmul_cpu(m, n, k, transpose_b=tb, dtype=dtype, **config)
        if config.get("transpose_a"):  # A^T @ B from A's storage (_transposed_a_on_template)
            m, k, n = product_dims(*shapes, ta, tb)
            return matmul_cpu(m, n, k, transpose_b=False, dtype=dtype, **config)
        knobs = {knob: config[knob] for knob in ("v1", "v2", "v3", "b1", "b2")}
        return matmul_layout(shapes[0], shapes[1], transpose_a=ta, transpose_b=tb, dtype=dtype, target=target,
                             parallel=bool(config.get("parallel")), **knobs)

    def compute(self, request, a, b):
        return product(a, b, *request.variant)

    def gradient(self, g, node):
        return product_adjoints(g, *node.inputs[:2])


def _transposed_a_on_template(request) -> bool:
    """Whether the product of ``request`` is ``A^T @ B`` (a plain B) that the template computes
    from the transposed storage of A (:data:`TEMPLATE_TRANSPOSED_A`): 2-D, on the CPU (llvm), a
    reduction it keeps whole and at least 64 rows, as :func:`copies_transposed_a` would copy (for
    a request with a symbolic batch, the concrete request's config says: ``transpose_a``)."""
    shapes, variant = request.shapes, request.variant
    if not TEMPLATE_TRANSPOSED_A or variant != (True, False) or request.target != "llvm" \
            or len(shapes[0]) != 2 or len(shapes[1]) != 2:
        return False
    k, m = shapes[0]
    return isinstance(k, int) and isinstance(m, int) and copies_transposed_a(m, k)


def copies_transposed_a(m: int, k: int) -> bool:
    """Whether a left operand ``(m, k)`` stored transposed is copied plain for the product: with
    at least 64 rows and a reduction the register tile keeps whole."""
    return m >= 64 and k <= WHOLE_K_MAX


def narrow_on_template(k: int, n: int) -> bool:
    """Whether a product with ``n < NARROW`` columns and a plain A runs on the template (its
    vectors along the row of C, padded to 16 lanes) rather than as dot products of rows: from
    :data:`DOT_MAX` columns on, with a reduction the register tile keeps whole. One thread:
    128x256 @ 256x10 (the MLP's second layer) 14 vs 32 us, 32x128x10 3.6 vs 7.2, 128x256x4 8.7
    vs 15; a column or two stay dot products (128x256x1 5 vs 17 us), and so does a long
    reduction (64x1568x15 145 vs 169 us)"""
    return DOT_MAX <= n and k <= WHOLE_K_MAX


def product_adjoints(g: Tensor, a: Tensor, b: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """The adjoints of ``a`` and ``b`` in ``a @ b`` from the adjoint ``g`` of the product."""
    if (g.ndim == a.ndim == b.ndim == 2 and g.dtype == a.dtype == b.dtype and g.device == a.device == b.device
            and not is_grad_enabled()):
        return _unrecorded_adjoints(g, a, b)
    from .elementwise import reduce_to_shape
    from .shape import swapaxes

    da = reduce_to_shape(matmul(g, swapaxes(b, -1, -2)), a.shape) if a.requires_grad else None
    db = reduce_to_shape(matmul(swapaxes(a, -1, -2), g), b.shape) if b.requires_grad else None
    return da, db


def _unrecorded_adjoints(g: Tensor, a: Tensor, b: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """:func:`product_adjoints` of 2-D operands of one dtype where no graph is recorded (a plain
    ``backward()``): the same two products on the stored operands, transposed as views, without
    a transpose op and a tensor per operand (the MLP's backward runs three such products)."""
    op, device, grad = MatMul(), g.device, g._storage()
    da = Tensor._wrap(op.product_of(grad, b._storage().T, None, device), device) if a.requires_grad else None
    db = Tensor._wrap(op.product_of(a._storage().T, grad, None, device), device) if b.requires_grad else None
    return da, db


def _batched(array: np.ndarray, batch: tuple[int, ...]) -> np.ndarray:
    """A 2-D operand as is (the kernel reuses it for every batch), else ``(batch, rows, cols)``."""
    if array.ndim == 2 or not batch:
        return array
    if array.shape[:-2] != batch:
        array = np.broadcast_to(array, batch + array.shape[-2:])
    if not array.flags.c_contiguous:
        swapped = np.swapaxes(array, -1, -2)
        if swapped.flags.c_contiguous:
            return np.swapaxes(swapped.reshape((-1,) + swapped.shape[-2:]), -1, -2)
    return contiguous(array).reshape((-1,) + array.shape[-2:])


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """The matrix product ``a @ b`` over the last two axes, batched over the others.

    Raises
    ------
    DefinitionError
        When an operand has fewer than 2 dimensions, the inner extents differ, the batch axes
        do not broadcast. Operands of different dtypes are promoted as numpy does.
    """
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):  # a numpy array or a list, as in ``array @ t``
        from .elementwise import _tensor

        a, b = _tensor(a, b if isinstance(b, Tensor) else None), _tensor(b, a if isinstance(a, Tensor) else None)
    shape_a, shape_b = a.shape, b.shape  # each a property: read once
    if len(shape_a) < 2 or len(shape_b) < 2:
        raise DefinitionError(f"matmul: operands need at least 2 dimensions, got shapes {shape_a} and {shape_b}; "
                              "reshape a vector to (1, n) or (n, 1)")
    if shape_a[-1] != shape_b[-2]:
        raise DefinitionError(f"matmul: shapes {shape_a} and {shape_b} do not align: "
                              f"{shape_a[-1]} != {shape_b[-2]}")
    if len(shape_a) > 2 and len(shape_b) > 2:
        try:
            np.broadcast_shapes(shape_a[:-2], shape_b[:-2])
        except ValueError:
            raise DefinitionError(f"matmul: batch shapes of {shape_a} and {shape_b} cannot broadcast") from None
    return MatMul()(*promote(a, b))
