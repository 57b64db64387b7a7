"""The larger models of ``nestor train``: needle's ResNet9 for 32x32 images and its word-level
language model (an embedding, an RNN or LSTM, a linear read-out)."""

from __future__ import annotations

from . import nn
from .tensor import Tensor

#: ResNet9's convolutions as (input channels, output channels, kernel, stride) in units of the
#: base width ``w`` (needle's: ``w = 16``); the third and sixth pairs sit in residual blocks
RESNET9_CONVS = ((None, 1, 7, 4), (1, 2, 3, 2), (2, 2, 3, 1), (2, 2, 3, 1), (2, 4, 3, 2), (4, 8, 3, 2),
                 (8, 8, 3, 1), (8, 8, 3, 1))


def conv_bn(in_channels: int, out_channels: int, kernel: int, stride: int, rng=None, device: str = "cpu"):
    """Convolution (size-keeping padding), BatchNorm2d, ReLU."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel, stride, rng=rng, device=device),
                         nn.BatchNorm2d(out_channels, device=device), nn.ReLU())


def _out_extent(extent: int) -> int:
    for _, _, kernel, stride in RESNET9_CONVS:
        extent = (extent + 2 * (kernel // 2) - kernel) // stride + 1
    return extent


class ResNet9(nn.Module):
    """needle's ResNet9: ConvBN(3->w, 7, /4), ConvBN(w->2w, 3, /2), a residual pair of
    ConvBN(2w, 3), ConvBN(2w->4w, 3, /2), ConvBN(4w->8w, 3, /2), a residual pair of ConvBN(8w, 3),
    Flatten, Linear(8w, 8w), ReLU, Linear(8w, classes). ``w = 16`` gives needle's model."""

    def __init__(self, in_shape: tuple[int, int, int] = (3, 32, 32), classes: int = 10, width: int = 16,
                 rng=None, device: str = "cpu"):
        super().__init__()
        c, h, w = in_shape
        convs = [conv_bn(c if a is None else a * width, b * width, k, s, rng, device)
                 for a, b, k, s in RESNET9_CONVS]
        flat = 8 * width * _out_extent(h) * _out_extent(w)
        self.model = nn.Sequential(convs[0], convs[1], nn.Residual(nn.Sequential(convs[2], convs[3])), convs[4],
                                   convs[5], nn.Residual(nn.Sequential(convs[6], convs[7])), nn.Flatten(),
                                   nn.Linear(flat, 8 * width, rng=rng, device=device), nn.ReLU(),
                                   nn.Linear(8 * width, classes, rng=rng, device=device))

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


def resnet9_size(in_shape: tuple[int, int, int], classes: int, width: int) -> int:
    """How many numbers a ResNet9 holds: weights, biases and BatchNorm statistics."""
    c, h, w = in_shape
    total = 0
    for a, b, k, _ in RESNET9_CONVS:
        cin, cout = c if a is None else a * width, b * width
        total += cout * cin * k * k + cout + 4 * cout  # conv weight and bias; BN weight, bias, mean, variance
    flat = 8 * width * _out_extent(h) * _out_extent(w)
    return total + flat * 8 * width + 8 * width + 8 * width * classes + classes


class LanguageModel(nn.Module):
    """needle's ``LanguageModel(embedding_size, output_size, hidden_size, num_layers, seq_model)``:
    word ids ``(seq_len, batch)`` -> embeddings -> an RNN or LSTM -> logits ``(seq_len * batch,
    output_size)``; ``model(x, h)`` returns ``(logits, h)``."""

    def __init__(self, embedding_size: int, output_size: int, hidden_size: int, num_layers: int = 1,
                 seq_model: str = "rnn", device: str = "cpu", dtype: str = "float32", rng=None):
        super().__init__()
        if seq_model not in ("rnn", "lstm"):
            raise ValueError(f"LanguageModel: seq_model {seq_model!r} is unknown; use 'rnn' or 'lstm'")
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(output_size, embedding_size, device=device, dtype=dtype, rng=rng)
        kind = nn.LSTM if seq_model == "lstm" else nn.RNN
        self.seq_model = kind(embedding_size, hidden_size, num_layers, device=device, dtype=dtype, rng=rng)
        self.linear = nn.Linear(hidden_size, output_size, dtype=dtype, device=device, rng=rng)

    def forward(self, x: Tensor, h=None):
        out, h = self.seq_model(self.embedding(x), h)
        return self.linear(out.reshape(x.shape[0] * x.shape[1], self.hidden_size)), h


def language_model_size(vocabulary: int, embedding: int, hidden: int, layers: int) -> int:
    """How many numbers an LSTM language model holds."""
    cells = sum((embedding if k == 0 else hidden) * 4 * hidden + hidden * 4 * hidden + 8 * hidden
                for k in range(layers))
    return vocabulary * embedding + cells + hidden * vocabulary + vocabulary
