"""npconv.nn: the torch.nn convolution layers, plus what training them takes."""
from .activation import LeakyReLU, ReLU, Sigmoid, Tanh
from .container import Sequential
from .conv import (Conv1d, Conv2d, Conv3d, ConvNd, ConvTranspose1d, ConvTranspose2d,
                   ConvTranspose3d, ConvTransposeNd, LazyConv1d, LazyConv2d, LazyConv3d,
                   LazyConvTranspose1d, LazyConvTranspose2d, LazyConvTranspose3d)
from .fold import Fold, Unfold
from .loss import MSELoss
from .module import Module
from .parameter import Parameter, UninitializedParameter

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvNd", "ConvTranspose1d", "ConvTranspose2d",
           "ConvTranspose3d", "ConvTransposeNd", "Fold", "LazyConv1d", "LazyConv2d",
           "LazyConv3d", "LazyConvTranspose1d", "LazyConvTranspose2d", "LazyConvTranspose3d",
           "LeakyReLU", "Module", "MSELoss", "Parameter", "ReLU", "Sequential", "Sigmoid", "Tanh",
           "Unfold", "UninitializedParameter"]
