"""Neural-network modules (seed Lec7/Lec9/Lec10)."""

from .conv import AvgPool2d, Conv, Conv2d, MaxPool2d
from .layers import Dropout, Flatten, Identity, Linear, ReLU, Residual, Sequential, Sigmoid, SoftmaxLoss, Tanh
from .module import Module, Parameter
from .norm import BatchNorm, BatchNorm1d, BatchNorm2d, LayerNorm, LayerNorm1d
from .recurrent import LSTM, RNN, Embedding, LSTMCell, RNNCell
from .transformer import AttentionLayer, MultiHeadAttention, Transformer, TransformerLayer

__all__ = [
    "LSTM", "RNN", "AttentionLayer", "AvgPool2d", "BatchNorm", "BatchNorm1d", "BatchNorm2d", "Conv", "Conv2d",
    "Dropout", "Embedding", "Flatten", "Identity", "LSTMCell", "LayerNorm", "LayerNorm1d", "Linear", "MaxPool2d",
    "Module", "MultiHeadAttention", "Parameter", "RNNCell", "ReLU", "Residual", "Sequential", "Sigmoid",
    "SoftmaxLoss", "Tanh", "Transformer", "TransformerLayer",
]
