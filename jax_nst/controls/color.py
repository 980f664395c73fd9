"""Colour preservation (Gatys, Bethge, Hertzmann & Shechtman 2016, "Preserving Color in Neural
Artistic Style Transfer"): luminance-only transfer in YIQ, or colour matching of the style to the
content before transfer. Images are float (..., H, W, 3) RGB in [0, 1].
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

RGB_TO_YIQ = np.array(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]], np.float64
)
YIQ_TO_RGB = np.linalg.inv(RGB_TO_YIQ)
EPS = 1e-5


def rgb_to_yiq(rgb: np.ndarray) -> np.ndarray:
    """(Y, I, Q) = M·(R, G, B): Y the luminance, I and Q the chrominance."""
    return np.asarray(rgb, np.float64) @ RGB_TO_YIQ.T


def yiq_to_rgb(yiq: np.ndarray) -> np.ndarray:
    """(R, G, B) = M⁻¹·(Y, I, Q), not clipped."""
    return np.asarray(yiq, np.float64) @ YIQ_TO_RGB.T


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Y = 0.299 R + 0.587 G + 0.114 B, shape (..., H, W)."""
    return rgb_to_yiq(rgb)[..., 0]


def grey(y: np.ndarray) -> np.ndarray:
    """A luminance image (..., H, W) as an RGB image with R = G = B = Y, float32 in [0, 1]."""
    return np.repeat(np.clip(y, 0.0, 1.0)[..., None], 3, axis=-1).astype(np.float32)


def match_luminance(style_y: np.ndarray, content_y: np.ndarray) -> np.ndarray:
    """L_S' = σ_C/σ_S (L_S − μ_S) + μ_C: the style's luminance with the content's mean and spread."""
    mu_s, sd_s = float(np.mean(style_y)), float(np.std(style_y))
    mu_c, sd_c = float(np.mean(content_y)), float(np.std(content_y))
    return (style_y - mu_s) * (sd_c / max(sd_s, EPS)) + mu_c


def _sqrtm(cov: np.ndarray, power: float) -> np.ndarray:
    """cov^power of a symmetric positive semi-definite 3×3 matrix (eigenvalues floored at EPS)."""
    values, vectors = np.linalg.eigh(cov)
    return (vectors * np.maximum(values, EPS) ** power) @ vectors.T


def match_colors(style: np.ndarray, content_pixels: np.ndarray) -> np.ndarray:
    """x_S' = Σ_C^½ Σ_S^-½ (x_S − μ_S) + μ_C: the style's colours given the content's mean and covariance.

    The linear colour transfer of Gatys et al. 2016 (Image Analogies variant, symmetric square roots);
    ``content_pixels`` is any array of content pixels (..., 3), e.g. a whole batch.
    """
    s = np.asarray(style, np.float64).reshape(-1, 3)
    c = np.asarray(content_pixels, np.float64).reshape(-1, 3)
    mu_s, mu_c = s.mean(0), c.mean(0)
    transform = _sqrtm(np.cov(c, rowvar=False), 0.5) @ _sqrtm(np.cov(s, rowvar=False), -0.5)
    out = (s - mu_s) @ transform.T + mu_c
    return np.clip(out, 0.0, 1.0).reshape(np.shape(style)).astype(np.float32)


def luminance_inputs(contents: np.ndarray, styles: Sequence[np.ndarray]) -> tuple[np.ndarray, list]:
    """Grey contents and grey styles whose luminance is matched to the contents' (``match_luminance``)."""
    content_y = luminance(contents)
    styles = [grey(match_luminance(luminance(style), content_y)) for style in styles]
    return grey(content_y), styles


def keep_chrominance(stylized: np.ndarray, contents: np.ndarray) -> np.ndarray:
    """RGB of (Y of ``stylized``, I and Q of ``contents``), clipped to [0, 1]."""
    yiq = rgb_to_yiq(contents)
    yiq[..., 0] = luminance(stylized)
    return np.clip(yiq_to_rgb(yiq), 0.0, 1.0).astype(np.float32)


def prepare(mode: str | None, contents: np.ndarray, styles: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The (contents, styles) the optimization sees for ``preserve_colors`` = ``mode``."""
    if mode == "luminance":
        return luminance_inputs(contents, styles)
    if mode == "histogram":
        return contents, [match_colors(style, contents) for style in styles]
    return contents, list(styles)


def working(mode: str | None, pictures: np.ndarray) -> np.ndarray:
    """``pictures`` in the space the optimization works in: grey luminance for "luminance", else as they are."""
    return grey(luminance(pictures)) if mode == "luminance" else pictures


def finish(mode: str | None, stylized: np.ndarray, contents: np.ndarray) -> np.ndarray:
    """The final image(s): with "luminance", the stylized Y recombined with the contents' chrominance."""
    return keep_chrominance(stylized, contents) if mode == "luminance" else stylized
