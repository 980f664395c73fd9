"""Optimizing the image: the compiled loop, memory (remat) decisions and sharding over devices."""

from .loop import Averaged, Loop, compiler_options, make_loop, make_optimizer, output_image, per_image, stack
