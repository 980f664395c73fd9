"""The objective: terms (pure functions), their targets, and their weighted sum over one VGG pass."""

from . import style_losses, terms
from .evaluate import evaluate
from .targets import BATCHED, Targets, first_image
