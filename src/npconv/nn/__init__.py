"""npconv.nn: the torch.nn convolution layers, plus what training them takes.

The conv layers (Conv1d/2d/3d, ConvTranspose1d/2d/3d, their Lazy forms, and ConvNd /
ConvTransposeNd for any number of spatial dims), Fold and Unfold have torch's names,
signatures, attributes, initialisation, repr and state_dict keys. Every module has a
``backward(grad_output)`` that returns the input gradient and adds the parameters'
gradients into their ``.grad``; Sequential, the activations and MSELoss complete a
minimal training kit with npconv.optim.

>>> import numpy as np
>>> from npconv import nn
>>> model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU())
>>> y = model(np.ones((2, 1, 8, 8), np.float32))
>>> model.backward(np.ones_like(y)).shape
(2, 1, 8, 8)
"""

from .activation import LeakyReLU, ReLU, Sigmoid, Tanh
from .container import Sequential
from .conv import (
    Conv1d,
    Conv2d,
    Conv3d,
    ConvNd,
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
    ConvTransposeNd,
    LazyConv1d,
    LazyConv2d,
    LazyConv3d,
    LazyConvTranspose1d,
    LazyConvTranspose2d,
    LazyConvTranspose3d,
)
from .fold import Fold, Unfold
from .loss import MSELoss
from .module import Module
from .parameter import Parameter, UninitializedParameter

__all__ = [
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "ConvNd",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
    "ConvTransposeNd",
    "Fold",
    "LazyConv1d",
    "LazyConv2d",
    "LazyConv3d",
    "LazyConvTranspose1d",
    "LazyConvTranspose2d",
    "LazyConvTranspose3d",
    "LeakyReLU",
    "MSELoss",
    "Module",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "Unfold",
    "UninitializedParameter",
]
