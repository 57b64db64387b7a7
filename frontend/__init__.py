"""Autograd Tensor, ops, nn, optim and data on Nestor-compiled kernels."""
