"""VGG-19 and VGG-16: the layer table, convolution implementations, the Flax module and weight files."""

from . import row_bands
from .conv import DEFAULT_CONV
from .conv import WINOGRAD_MIN_CHANNELS, Conv, Direct, Fast, adjoint_kernel, lax_conv, winograd, winograd_kernel
from .layers import (
    LAYERS, MODELS, POOLINGS, TABLES, WIDTHS, Layer, blocks, check_layers, deepest, layer, layer_names, min_side,
    shapes, table,
)
from .module import PADDINGS, PRECISIONS, PREPARED, VGG, Conv3x3, Input, Params, Tap, apply, features, init_params, merge, \
    prepare, preprocess
from .weights import (
    CAFFE, DEFAULT_PREPROCESSING, IMAGENET_MEAN, IMAGENET_STD, MEAN_BGR, TORCHVISION, WEIGHTS_ENV,
    expected_sha256, file_sha256, input_transform, load_params, resolve_weights, shipped_weights, tensor_digest,
)
