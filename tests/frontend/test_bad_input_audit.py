"""Bad input through the frontend's public surface, as a program written against needle would hit
it: each row is one call and the whole message it must raise at that call (naming the op or
layer, the bad value and a fix), never a numpy or kernel-build internal. Then the inputs that are
not errors: non-finite values flow as numpy's, and needle's meanings of backward without an
adjoint, backward twice, optimizers without gradients and scalars next to 0-d tensors."""

from __future__ import annotations

import gzip
import pickle
import re

import numpy as np
import pytest

from frontend.data.cifar import HOW_TO_GET as CIFAR_HOW_TO_GET
from frontend.errors import DataError
from tensorir.errors import DefinitionError

from .needle_shim import ndl

nn, ops, data = ndl.nn, ndl.ops, ndl.data


def T(*shape, dtype="float32"):
    return ndl.Tensor(np.arange(int(np.prod(shape))).reshape(shape).astype(dtype) - 1.5)


def labels(*values):
    return ndl.Tensor(np.array(values, dtype=np.int64), requires_grad=False)


def _write(path, content: bytes):
    path.write_bytes(content)
    return path


def _idx(kind: int, extents: tuple[int, ...], body: bytes) -> bytes:
    return bytes([0, 0, 8, kind]) + b"".join(n.to_bytes(4, "big") for n in extents) + body


def _cifar_folder(folder, batch: bytes):
    folder.mkdir()
    for k in range(1, 6):
        _write(folder / f"data_batch_{k}", batch)
    return folder


def _set_grad(value):
    p = nn.Parameter(np.ones(2, np.float32))
    p.grad = value
    return ndl.optim.SGD([p], lr=0.1).step()


def _other_device():
    x, y = T(3), T(3)
    y.device = "cuda"  # as a CUDA tensor reads; no GPU is needed to meet the check
    return x + y


# (call, error, message): the call gets pytest's tmp_path; ``{tmp}`` in the message is that folder
CASES = {
    # -- shapes -------------------------------------------------------------------------------
    "broadcast mismatch": (lambda tmp: T(3, 4) + T(5), DefinitionError,
                           "add: shapes (3, 4) and (5,) cannot broadcast: dimension 4 != 5"),
    "matmul inner dims": (lambda tmp: T(3, 4) @ T(5, 6), DefinitionError,
                          "matmul: shapes (3, 4) and (5, 6) do not align: 4 != 5"),
    "matmul of vectors": (lambda tmp: T(4) @ T(4), DefinitionError,
                          "matmul: operands need at least 2 dimensions, got shapes (4,) and (4,); reshape a vector "
                          "to (1, n) or (n, 1)"),
    "Linear in_features": (lambda tmp: nn.Linear(3, 2)(T(4, 5)), DefinitionError,
                           "matmul: shapes (4, 5) and (3, 2) do not align: 5 != 3"),
    "Conv channels": (lambda tmp: nn.Conv(3, 4, 3)(T(1, 5, 8, 8)), DefinitionError,
                      "Conv: input of shape (1, 5, 8, 8) should be (N, 3, H, W)"),
    "conv op channels": (lambda tmp: ops.conv(T(1, 8, 8, 3), T(3, 3, 4, 5)), DefinitionError,
                         "conv: the image has 3 channels (last axis of (1, 8, 8, 3)) but the weight (3, 3, 4, 5) "
                         "expects 4 (its third axis)"),
    "conv kernel too big": (lambda tmp: ops.conv(T(1, 2, 2, 3), T(3, 3, 3, 5)), DefinitionError,
                            "conv2d: a 3x3 kernel (dilation 1) does not fit the 2x2 input padded by 0"),
    "BatchNorm1d features": (lambda tmp: nn.BatchNorm1d(3)(T(4, 5)), DefinitionError,
                             "BatchNorm1d: input of shape (4, 5) does not fit the layer's 3 features; give (N, 3)"),
    "LayerNorm1d features": (lambda tmp: nn.LayerNorm1d(3)(T(4, 5)), DefinitionError,
                             "LayerNorm: input of shape (4, 5) does not end in the layer's 3 features; give (..., 3)"),
    "SoftmaxLoss labels": (lambda tmp: nn.SoftmaxLoss()(T(4, 5), labels(0, 1, 2)), DefinitionError,
                           "softmax_loss: logits (4, 5) and labels (3,) do not fit; want (N, K) and (N,)"),
    "reshape size": (lambda tmp: ops.reshape(T(2, 3), (4, 2)), DefinitionError,
                     "reshape: cannot reshape shape (2, 3) (6 elements) to (4, 2)"),
    "reshape two -1": (lambda tmp: ops.reshape(T(2, 3), (-1, -1)), DefinitionError,
                       "reshape: cannot reshape shape (2, 3) (6 elements) to (-1, -1)"),
    "transpose axis out of range": (lambda tmp: ops.transpose(T(2, 3), (0, 5)), DefinitionError,
                                    "transpose: axis 5 is out of range for shape (2, 3); give two axes from -2 to 1 "
                                    "to swap"),
    "transpose repeated axis": (lambda tmp: ops.transpose(T(2, 3, 4), (1, 1)), DefinitionError,
                                "transpose: axes (1, 1) are not a permutation of the 3 axes of (2, 3, 4) nor two "
                                "different axes to swap; give two different axes"),
    "permute repeated axis": (lambda tmp: ops.permute(T(2, 3, 4), (0, 0, 1)), DefinitionError,
                              "transpose: axes (0, 0, 1) are not a permutation of the 3 axes of (2, 3, 4); list every "
                              "axis once, or give two axes to swap"),
    "summation axis out of range": (lambda tmp: ops.summation(T(2, 3), axes=(2,)), DefinitionError,
                                    "sum: axis 2 is out of range for a tensor of 2 dimensions"),
    "summation axis twice": (lambda tmp: ops.summation(T(2, 3), axes=(1, -1)), DefinitionError,
                             "sum: axis (1, -1) lists an axis twice"),
    "summation axis bool": (lambda tmp: ops.summation(T(2, 3), axes=True), DefinitionError,
                            "sum: axis True is not an axis; give an int or a tuple of ints"),
    "summation axis bool in tuple": (lambda tmp: ops.summation(T(2, 3), axes=(0, False)), DefinitionError,
                                     "sum: axis False is not an axis; give an int or a tuple of ints"),
    "logsumexp axis out of range": (lambda tmp: ops.logsumexp(T(2, 3), axes=(3,)), DefinitionError,
                                    "logsumexp: axis 3 is out of range for a tensor of 2 dimensions"),
    "broadcast_to incompatible": (lambda tmp: ops.broadcast_to(T(2, 3), (3, 3)), DefinitionError,
                                  "broadcast_to: cannot broadcast shape (2, 3) to (3, 3)"),
    "getitem out of range": (lambda tmp: T(2, 3)[5], DefinitionError,
                             "getitem: index 5 is out of range for axis 0 of extent 2"),
    "getitem str": (lambda tmp: T(5)["a"], DefinitionError,
                    "getitem: index 'a' is not supported; use integers, slices and ..."),
    "getitem float": (lambda tmp: T(5)[1.5], DefinitionError,
                      "getitem: index 1.5 is not supported; use integers, slices and ..."),
    "getitem too many indices": (lambda tmp: T(5)[1, 2], DefinitionError,
                                 "getitem: 2 indices for a tensor of shape (5,)"),
    "getitem step 0": (lambda tmp: T(3)[::0], DefinitionError,
                       "getitem: slice slice(None, None, 0) of axis 0 is not valid (slice step cannot be zero); give "
                       "int bounds (or None) and a nonzero step"),
    "getitem slice of str": (lambda tmp: T(3)["a":], DefinitionError,
                             "getitem: slice slice('a', None, None) of axis 0 is not valid (slice indices must be "
                             "integers or None or have an __index__ method); give int bounds (or None) and a nonzero "
                             "step"),
    "reshape to None": (lambda tmp: ops.reshape(T(2, 3), None), DefinitionError,
                        "reshape: shape None is not a shape; give a tuple of ints, e.g. (2, 3)"),
    "reshape to floats": (lambda tmp: ops.reshape(T(2, 3), (2, 3.5)), DefinitionError,
                          "reshape: shape (2, 3.5) must hold positive integers (one of them may be -1)"),
    "broadcast_to a str": (lambda tmp: ops.broadcast_to(T(1), "ab"), DefinitionError,
                           "broadcast_to: shape 'ab' is not a shape; give a tuple of ints, e.g. (2, 3)"),
    "broadcast_to floats": (lambda tmp: ops.broadcast_to(T(1), (2.5,)), DefinitionError,
                            "broadcast_to: shape (2.5,) must hold non-negative ints (or -1 to keep an extent)"),
    "stack of a number": (lambda tmp: ops.stack(5, 0), DefinitionError,
                          "stack: give a list of tensors, not a int: stack([a, b], axis)"),
    "Flatten of a 0-d tensor": (lambda tmp: nn.Flatten()(ndl.Tensor(np.float32(1))), DefinitionError,
                                "Flatten: a 0-d tensor has no batch axis to keep; give (N, ...)"),
    "init.constant of a str": (lambda tmp: ndl.init.constant(2, c="a"), DefinitionError,
                               "init.constant: c must be a number, got str 'a'"),
    "getitem of a 0-d tensor": (lambda tmp: ndl.Tensor(np.float32(3))[0], DefinitionError,
                                "getitem: 1 indices for a tensor of shape ()"),
    "stack different shapes": (lambda tmp: ops.stack([T(2), T(3)], 0), DefinitionError,
                               "stack: tensors have different shapes [(2,), (3,)]; stack needs one shape"),
    "stack nothing": (lambda tmp: ops.stack([], 0), DefinitionError, "stack: give at least one tensor"),
    "stack axis out of range": (lambda tmp: ops.stack([T(2), T(2)], 3), DefinitionError,
                                "stack: axis 3 is out of range for 2 tensors of shape (2,); give an int from -2 to 1"),
    "stack an array": (lambda tmp: ops.stack([T(2), np.ones(2)], 0), DefinitionError,
                       "stack: input 1 is a ndarray, not a Tensor; wrap it first: Tensor(value)"),
    "split missing axis": (lambda tmp: ops.split(T(2, 3), 2), DefinitionError,
                           "split: axis 2 is out of range for shape (2, 3); give an int from -2 to 1"),
    "split negative axis": (lambda tmp: ops.split(T(2, 3), -3), DefinitionError,
                            "split: axis -3 is out of range for shape (2, 3); give an int from -2 to 1"),
    "flip axis": (lambda tmp: ops.flip(T(2, 3), (2,)), DefinitionError,
                  "flip: axis 2 is out of range for a tensor of 2 dimensions; use integers from -2 to 1"),
    "dilate negative": (lambda tmp: ops.dilate(T(2, 3), (0,), -1), DefinitionError,
                        "dilate: dilation must be a non-negative int (the zeros between elements), got -1"),
    "Linear of a vector": (lambda tmp: nn.Linear(3, 2)(T(3)), DefinitionError,
                           "matmul: operands need at least 2 dimensions, got shapes (3,) and (3, 2); reshape a vector "
                           "to (1, n) or (n, 1)"),
    "Residual changes shape": (lambda tmp: nn.Residual(nn.Linear(3, 2))(T(1, 3)), DefinitionError,
                               "add: shapes (1, 2) and (1, 3) cannot broadcast: dimension 2 != 3"),
    "LSTM input size": (lambda tmp: nn.LSTM(3, 4)(T(5, 2, 6)), DefinitionError,
                        "LSTMCell: input of shape (2, 6) does not fit input_size 3; give (batch, 3)"),
    # -- values and dtypes --------------------------------------------------------------------
    "object values": (lambda tmp: ndl.Tensor(np.array([object()])), DefinitionError,
                      "Tensor: dtype object is not supported; use one of float32, float64, int32, int64"),
    "complex values": (lambda tmp: ndl.Tensor(np.array([1j])), DefinitionError,
                       "Tensor: dtype complex128 is not supported; use one of float32, float64, int32, int64"),
    "float16 dtype": (lambda tmp: ndl.Tensor([1.0], dtype="float16"), DefinitionError,
                      "Tensor: dtype float16 is not supported; use one of float32, float64, int32, int64"),
    "add None": (lambda tmp: T(3) + None, DefinitionError,
                 "Tensor: cannot make float32 values of 'None' (a NoneType, not numbers); give numbers, a numpy "
                 "array or nested lists of one shape"),
    "add_scalar of a tensor": (lambda tmp: ops.add_scalar(T(3), T(3)), DefinitionError,
                               "add_scalar: scalar must be a number, got Tensor "),
    "power_scalar str": (lambda tmp: ops.power_scalar(T(3), "2"), DefinitionError,
                         "power_scalar: scalar must be a number, got str '2'; use the elementwise op for a tensor "
                         "operand"),
    "int to a negative power": (lambda tmp: ops.power_scalar(ndl.Tensor(np.array([1, 2])), -1), DefinitionError,
                                "power: int64 tensor to the negative power -1; integers to negative integer powers "
                                "are not allowed (as in numpy): cast the tensor to a float dtype first"),
    "Dropout of ints": (lambda tmp: nn.Dropout(0.5)(ndl.Tensor(np.array([1, 2]))), DefinitionError,
                        "dropout: on int64 inputs the op computes float32, not int64; cast the inputs to a float dtype "
                        "first (.astype('float64'))"),
    "labels not whole": (lambda tmp: nn.SoftmaxLoss()(T(4, 5), T(4)), DataError,
                         "softmax_cross_entropy: label -1.5 (at position 0) is not a class number from 0 to 4; labels "
                         "must be whole numbers"),
    "label too large": (lambda tmp: nn.SoftmaxLoss()(T(2, 5), labels(0, 7)), DataError,
                        "softmax_cross_entropy: label 7 (at position 1) is outside the 5 classes 0..4; fix the labels "
                        "(or give the model 8 classes)"),
    "label negative": (lambda tmp: nn.SoftmaxLoss()(T(2, 5), labels(0, -1)), DataError,
                       "softmax_cross_entropy: label -1 (at position 1) is outside the 5 classes 0..4; fix the labels "
                       "(class numbers start at 0)"),
    "one_hot of no classes": (lambda tmp: ndl.init.one_hot(0, labels(0)), DataError,
                              "one_hot: the number of classes must be a positive int, got 0"),
    "Embedding index": (lambda tmp: nn.Embedding(5, 3)(ndl.Tensor(np.array([[7]]))), DataError,
                        "gather_rows: label 7 (at position 0) is outside the 5 classes 0..4; fix the labels (or give "
                        "the model 8 classes)"),
    "Linear of an array": (lambda tmp: nn.Linear(3, 2)(np.ones((1, 3), np.float32)), DefinitionError,
                           "Linear: the input is of type ndarray, not a Tensor; wrap it first: Tensor(value)"),
    "Conv of an array": (lambda tmp: nn.Conv(3, 4, 3)(np.ones((1, 3, 5, 5), np.float32)), DefinitionError,
                         "Conv: the input is of type ndarray, not a Tensor; wrap it first: Tensor(value)"),
    "Sequential of a number": (lambda tmp: nn.Sequential(nn.Linear(2, 2), 5), DefinitionError,
                               "Sequential: module 1 (5) is not a Module; give layers such as nn.Linear(4, 2), "
                               "nn.ReLU()"),
    # -- empty tensors: a batch of 0 samples ----------------------------------------------------
    "empty batch through Linear": (lambda tmp: nn.Linear(3, 2)(T(0, 3)), DefinitionError,
                                   "Linear: the input has shape (0, 3), which holds no elements; layers need every "
                                   "dimension positive: skip empty batches"),
    "empty batch through Linear without bias": (lambda tmp: nn.Linear(3, 2, bias=False)(T(0, 3)), DefinitionError,
                                                "Linear: the input has shape (0, 3), which holds no elements"),
    "empty batch through Sequential": (lambda tmp: nn.Sequential(nn.Linear(3, 2), nn.ReLU())(T(0, 3)),
                                       DefinitionError, "Linear: the input has shape (0, 3), which holds no elements"),
    "empty batch through Conv": (lambda tmp: nn.Conv(3, 4, 3)(T(0, 3, 8, 8)), DefinitionError,
                                 "Conv: the input has shape (0, 3, 8, 8), which holds no elements; layers need every "
                                 "dimension positive: skip empty batches"),
    "empty batch through Conv2d": (lambda tmp: nn.Conv2d(3, 4, 3)(T(0, 3, 8, 8)), DefinitionError,
                                   "Conv2d: the input has shape (0, 3, 8, 8), which holds no elements"),
    "empty batch through BatchNorm1d": (lambda tmp: nn.BatchNorm1d(3)(T(0, 3)), DefinitionError,
                                        "BatchNorm1d: the input has shape (0, 3), which holds no elements; layers need "
                                        "every dimension positive: skip empty batches"),
    "empty batch through BatchNorm2d": (lambda tmp: nn.BatchNorm2d(3)(T(0, 3, 2, 2)), DefinitionError,
                                        "BatchNorm2d: the input has shape (0, 3, 2, 2), which holds no elements"),
    "empty batch through LayerNorm1d": (lambda tmp: nn.LayerNorm1d(3)(T(0, 3)), DefinitionError,
                                        "LayerNorm: the input has shape (0, 3), which holds no elements"),
    "empty batch through SoftmaxLoss": (lambda tmp: nn.SoftmaxLoss()(T(0, 5), labels()), DefinitionError,
                                        "SoftmaxLoss: the logits has shape (0, 5), which holds no elements; layers "
                                        "need every dimension positive: skip empty batches"),
    "sum of an empty tensor": (lambda tmp: ops.summation(T(0, 3)), DefinitionError,
                               "sum: the input of shape (0, 3) is empty; a reduction needs every dimension positive "
                               "(slice or pad it to a nonempty shape)"),
    # -- autograd and optimizers ----------------------------------------------------------------
    "adjoint of another shape": (lambda tmp: (T(3) * 2).backward(ndl.Tensor(np.ones(4))), DefinitionError,
                                 "backward: out_grad has shape (4,) but the tensor has (3,); give an adjoint of the "
                                 "tensor's shape"),
    "adjoint an array": (lambda tmp: (T(3) * 2).backward(np.ones(3)), DefinitionError,
                         "backward: out_grad is a ndarray, not a Tensor; wrap it: Tensor(out_grad, "
                         "requires_grad=False)"),
    "tensors on different devices": (lambda tmp: _other_device(), DefinitionError,
                                     "add: inputs are on devices cpu and cuda; move them to one device first"),
    "unknown device": (lambda tmp: ndl.Tensor([1.0], device="tpu"), DefinitionError,
                       "Tensor(device='tpu'): unknown device; use one of cpu, cuda"),
    "optimizer of a module": (lambda tmp: ndl.optim.SGD(nn.Linear(2, 2)), DefinitionError,
                              "SGD: give the module's parameters, SGD(model.parameters(), ...), not the module itself"),
    "negative learning rate": (lambda tmp: ndl.optim.Adam([nn.Parameter(np.ones(2))], lr=-1), DefinitionError,
                               "Adam: lr=-1 is outside >= 0; give a number in that range"),
    "gradient an array": (lambda tmp: _set_grad(np.ones(2)), DefinitionError,
                          "SGD.step: a parameter of shape (2,) has a gradient of type ndarray, not a Tensor; assign "
                          "p.grad = Tensor(values) (or let backward() set it)"),
    "gradient of another shape": (lambda tmp: _set_grad(ndl.Tensor(np.ones(3))), DefinitionError,
                                  "SGD.step: a parameter of shape (2,) has a gradient of shape (3,); give each "
                                  "parameter a gradient of its own shape"),
    # -- data ---------------------------------------------------------------------------------
    "DataLoader batch_size 0": (lambda tmp: data.DataLoader(data.NDArrayDataset(np.ones((4, 2))), batch_size=0),
                                DefinitionError, "DataLoader: batch_size must be a positive int, got 0"),
    "DataLoader batch_size -1": (lambda tmp: data.DataLoader(data.NDArrayDataset(np.ones((4, 2))), batch_size=-1),
                                 DefinitionError, "DataLoader: batch_size must be a positive int, got -1"),
    "NDArrayDataset lengths": (lambda tmp: data.NDArrayDataset(np.ones((4, 2)), np.ones(3)), DataError,
                               "NDArrayDataset: the arrays must share their first extent, got shapes [(4, 2), (3,)]"),
    "transforms not a list": (lambda tmp: data.MNISTDataset("a", "b", transforms=5), DataError,
                              "MNISTDataset: transforms must be a list of callables, got int 5; e.g. "
                              "transforms=[RandomFlipHorizontal()]"),
    "MNIST missing": (lambda tmp: data.MNISTDataset(str(tmp / "no.gz"), str(tmp / "no2.gz")), DataError,
                      "read_idx: cannot read {tmp}/no.gz ([Errno 2] No such file or directory: '{tmp}/no.gz'); give an "
                      "IDX file, plain or gzipped"),
    "MNIST not gzip": (lambda tmp: data.MNISTDataset(_write(tmp / "i.gz", b"garbage"), _write(tmp / "l.gz", b"x")),
                       DataError, "read_idx: cannot read {tmp}/i.gz (Not a gzipped file (b'ga')); give an IDX file, "
                                  "plain or gzipped"),
    "MNIST truncated": (lambda tmp: data.MNISTDataset(
        _write(tmp / "i.gz", gzip.compress(_idx(3, (10, 28, 28), bytes(100)))),
        _write(tmp / "l.gz", gzip.compress(_idx(1, (10,), bytes(10))))), DataError,
        "read_idx: {tmp}/i.gz holds only 100, less than the 7840 data bytes its header announces for extents "
        "(10, 28, 28); the file is damaged or truncated"),
    "MNIST counts differ": (lambda tmp: data.MNISTDataset(
        _write(tmp / "i.gz", gzip.compress(_idx(3, (2, 2, 2), bytes(8)))),
        _write(tmp / "l.gz", gzip.compress(_idx(1, (3,), bytes(3))))), DataError,
        "mnist: {tmp}/i.gz holds 2 images but {tmp}/l.gz 3 labels; use the image and label files of the same split"),
    "CIFAR missing folder": (lambda tmp: data.CIFAR10Dataset(str(tmp / "none")), DataError,
                             "cifar10: {tmp}/none is not a folder; " + CIFAR_HOW_TO_GET),
    "CIFAR corrupt pickle": (lambda tmp: data.CIFAR10Dataset(_cifar_folder(tmp / "c", b"junk")), DataError,
                             "cifar10: {tmp}/c/data_batch_1 is not a CIFAR-10 python batch (pickle data was "
                             "truncated); " + CIFAR_HOW_TO_GET),
    "CIFAR truncated pickle": (lambda tmp: data.CIFAR10Dataset(_cifar_folder(tmp / "c", pickle.dumps(
        {b"data": np.zeros((10, 3072), np.uint8), b"labels": [0] * 10})[:-20])), DataError,
        "cifar10: {tmp}/c/data_batch_1 is not a CIFAR-10 python batch (pickle data was truncated); "
        + CIFAR_HOW_TO_GET),
    "CIFAR image size": (lambda tmp: data.CIFAR10Dataset(_cifar_folder(tmp / "c", pickle.dumps(
        {b"data": np.zeros((10, 100), np.uint8), b"labels": [0] * 10}))), DataError,
        "cifar10: {tmp}/c/data_batch_1 holds data uint8 (10, 100); want uint8 (N, 3072)"),
    "PTB missing folder": (lambda tmp: data.Corpus(str(tmp / "none")), DataError, "text corpus: {tmp}/none is not a "
                                                                                  "folder; put train.txt and test.txt"),
    "PTB not text": (lambda tmp: (_write(tmp / "train.txt", b"\xff\xfe\x00a"), _write(tmp / "test.txt", b"a"),
                                  data.Corpus(str(tmp))), DataError,
                     "text corpus: {tmp}/train.txt is not UTF-8 text ('utf-8' codec can't decode byte 0xff in "
                     "position 0: invalid start byte); give a plain text file"),
    "PTB negative max_lines": (lambda tmp: data.Corpus(str(tmp), max_lines=-1), DataError,
                               "text corpus: max_lines must be None (every line) or a non-negative int, got -1"),
    "batchify 0": (lambda tmp: data.batchify(np.arange(10), 0), DataError,
                   "batchify: batch_size must be a positive int, got 0"),
    "get_batch past the end": (lambda tmp: data.get_batch(data.batchify(np.arange(20), 2), 50, 3), DataError,
                               "get_batch: row 50 leaves no (input, next word) pair in 10 rows; use 0 <= i < 9"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_refused_at_the_call_naming_the_value_and_the_fix(name, tmp_path):
    call, error, message = CASES[name]
    with pytest.raises(error) as caught:
        call(tmp_path)
    assert caught.type is error
    assert str(caught.value).startswith(message.replace("{tmp}", str(tmp_path))), str(caught.value)


# -- what is not an error: numpy's and needle's meanings ---------------------------------------
@pytest.mark.parametrize("name, apply, reference", [
    ("log of negatives and zero", lambda x: ops.log(x), np.log),
    ("power 0.5 of negatives", lambda x: ops.power_scalar(x, 0.5), lambda a: a ** 0.5),
    ("divide by zero", lambda x: x / ndl.Tensor(np.zeros(4)), lambda a: a / np.zeros(4)),
    ("exp overflow", lambda x: ops.exp(x * 1000.0), lambda a: np.exp(a * 1000.0)),
])
def test_non_finite_values_flow_as_numpys(name, apply, reference):
    a = np.array([-2.0, -0.0, 0.0, 3.0])
    with np.errstate(all="ignore"):
        want = reference(a)
    got = apply(ndl.Tensor(a)).numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_integer_and_mixed_dtypes_follow_numpys_promotion():
    ints = np.array([0, 1, 2])
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(ops.log(ndl.Tensor(ints)).numpy(), np.log(ints))
        got = (ndl.Tensor(ints) / ndl.Tensor(ints)).numpy()
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ints / ints))
    assert (T(3) + T(3, dtype="float64")).dtype == "float64"
    assert ndl.Tensor(np.array([True, False])).numpy().tolist() == [1.0, 0.0]


def test_negative_steps_index_as_numpy():
    a = np.arange(6.0)
    np.testing.assert_array_equal(ndl.Tensor(a)[::-1].numpy(), a[::-1])
    np.testing.assert_array_equal(ndl.Tensor(a)[4:0:-2].numpy(), a[4:0:-2])


def test_backward_of_a_non_scalar_uses_ones_and_a_second_backward_overwrites_as_needle():
    a = np.array([1.0, -2.0, 3.0])
    x = ndl.Tensor(a)
    (x * x).backward()  # needle: out_grad defaults to ones of the output's shape
    np.testing.assert_allclose(x.grad.numpy(), 2 * a, rtol=1e-14)
    y = (x * x).sum()
    y.backward()
    y.backward()  # needle sets .grad from each pass; it does not add them up
    np.testing.assert_allclose(x.grad.numpy(), 2 * a, rtol=1e-14)


def test_a_scalar_and_a_0d_tensor_broadcast_alike():
    a = np.array([1.0, 2.0, 3.0], np.float32)
    np.testing.assert_array_equal((ndl.Tensor(a) + 2.0).numpy(), a + 2.0)
    np.testing.assert_array_equal((ndl.Tensor(a) + ndl.Tensor(np.float32(2.0))).numpy(), a + np.float32(2.0))
    x = ndl.Tensor(np.float32(3.0))
    (x * x).backward()
    assert x.grad.shape == () and float(x.grad.numpy()) == 6.0


def test_optimizers_without_params_or_gradients_leave_everything_unchanged():
    ndl.optim.SGD([], lr=0.1).step()
    p = nn.Parameter(np.ones(3, np.float32))
    for optimizer in (ndl.optim.SGD([p], lr=0.1, momentum=0.9), ndl.optim.Adam([p], lr=0.1)):
        optimizer.step()
        np.testing.assert_array_equal(p.numpy(), np.ones(3, np.float32))


def test_an_empty_dataset_gives_no_batches():
    assert list(data.DataLoader(data.NDArrayDataset(np.ones((0, 2))), batch_size=2)) == []


def test_every_message_above_names_the_call():
    # a message starts with the op, layer or reader it came from, never with numpy's or Python's words
    for name, (_, _, message) in CASES.items():
        assert re.match(r"^[\w.()'= -]+?: ", message), name
