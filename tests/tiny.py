"""Options that keep a test's compiled programs small where the property under test does not depend on depth.

The paper's layers reach conv5_1: one optimization at 32 px then compiles for ~25 s on 2 CPU cores. Two
blocks (style conv1_1, conv2_1; content conv2_2) compile in ~3 s and exercise the same code: the layer
table, pooling, every term, the optimizer and the loop. Tests of the full network keep the defaults.
"""

from __future__ import annotations

LAYERS = {"style_layers": "conv1_1,conv2_1", "content_layers": "conv2_2"}
FLAGS = ["--style-layers", "conv1_1,conv2_1", "--content-layers", "conv2_2"]
STYLIZING = {**LAYERS, "style_weight": 1e5}
"""Two blocks with a β that moves the picture as far in a few steps as the paper's layers do at β = 1e3
(content at conv2_2 holds the picture more tightly than at conv4_2)."""
