"""Neural-network modules (seed Lec7/Lec9/Lec10)."""

from .conv import AvgPool2d, Conv2d, MaxPool2d
from .layers import Dropout, Flatten, Identity, Linear, ReLU, Residual, Sequential, Sigmoid, SoftmaxLoss, Tanh
from .module import Module, Parameter
from .norm import BatchNorm, BatchNorm1d, BatchNorm2d, LayerNorm

__all__ = [
    "AvgPool2d", "BatchNorm", "BatchNorm1d", "BatchNorm2d", "Conv2d", "Dropout", "Flatten", "Identity",
    "LayerNorm", "Linear", "MaxPool2d", "Module", "Parameter", "ReLU", "Residual", "Sequential", "Sigmoid",
    "SoftmaxLoss", "Tanh",
]
