"""The objective: terms (pure functions), their targets, and their weighted sum over one VGG pass."""

from .evaluate import PARTS, evaluate
from .targets import BATCHED, Targets, blend_grams, first_image
from .temporal import Temporal
from .terms import Term, content_loss, gram_matrix, size_factor, style_layer_loss, style_loss, terms_of, tv_loss
