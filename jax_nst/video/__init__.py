"""Video: clips stylized frame by frame with a temporal term (Ruder et al. 2016), flow, clip I/O and
clips with known motion. Needs the ``video`` extra (PyAV, OpenCV): ``pip install 'jax_nst[video]'``."""

from .stylize import FrameDone, stylize_video
