"""Paint the procedural sample style image, jax_nst/samples/style.png.

Thick curved brush strokes follow a swirling flow field in a starry-night-like
palette; the output is deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIZE = 512
SCALE = 2  # paint at twice the size, then downsample for antialiasing
SEED = 1889
DEFAULT_OUT = pathlib.Path(__file__).resolve().parents[1] / "jax_nst" / "samples" / "style.png"

# Vortices: (x, y, radius, strength) in unit coordinates.
VORTICES = [
    (0.30, 0.30, 0.16, 1.0),
    (0.62, 0.22, 0.11, -0.8),
    (0.78, 0.50, 0.14, 1.0),
    (0.45, 0.58, 0.12, -0.9),
    (0.15, 0.70, 0.10, 0.8),
]
# Stars: (x, y, radius) in unit coordinates.
STARS = [(0.12, 0.14, 0.05), (0.86, 0.13, 0.075), (0.52, 0.08, 0.04), (0.90, 0.78, 0.05)]
# Palette from dark to light: navy, cobalt, cerulean, pale blue, cream, yellow.
PALETTE = np.array(
    [
        (14, 24, 70),
        (28, 58, 150),
        (52, 110, 190),
        (120, 170, 215),
        (230, 225, 175),
        (245, 200, 55),
    ],
    dtype=np.float64,
)


def smooth_noise(rng: np.random.Generator, n: int, cells: int) -> np.ndarray:
    """Smooth random field in [-1, 1] of shape (n, n) from a coarse bicubic grid."""
    coarse = rng.uniform(-1.0, 1.0, (cells, cells)).astype(np.float32)
    field = Image.fromarray(coarse).resize((n, n), Image.Resampling.BICUBIC)
    arr = np.asarray(field, dtype=np.float64)
    return arr / max(1e-6, np.abs(arr).max())


def grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit-square pixel-centre coordinates (x, y), each of shape (n, n)."""
    t = (np.arange(n) + 0.5) / n
    return np.meshgrid(t, t)


def stream_function(rng: np.random.Generator, n: int) -> np.ndarray:
    """Stream function: Gaussian vortices plus multi-scale noise and a gentle drift."""
    x, y = grid(n)
    psi = 0.08 * y + 0.05 * np.sin(6.0 * x + 2.0 * y)
    for cx, cy, r, s in VORTICES:
        psi += s * r * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r))
    psi += 0.025 * smooth_noise(rng, n, 6) + 0.01 * smooth_noise(rng, n, 14)
    return psi


def flow_angles(psi: np.ndarray) -> np.ndarray:
    """Stroke direction at each pixel: perpendicular to the gradient of `psi`."""
    gy, gx = np.gradient(psi)
    return np.arctan2(-gx, gy)


def colour_field(rng: np.random.Generator, psi: np.ndarray) -> np.ndarray:
    """Scalar in [0, 1] choosing the palette colour: bright in vortex cores and stars."""
    n = psi.shape[0]
    x, y = grid(n)
    c = 0.28 + 0.22 * smooth_noise(rng, n, 9) + 0.08 * smooth_noise(rng, n, 25)
    for cx, cy, r, _ in VORTICES:
        c += 0.45 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * (0.8 * r) ** 2))
    for sx, sy, r in STARS:
        c += 0.9 * np.exp(-((x - sx) ** 2 + (y - sy) ** 2) / (2 * (1.6 * r) ** 2))
    c -= 0.25 * np.clip((y - 0.78) / 0.22, 0.0, 1.0)
    return np.clip(c, 0.0, 1.0)


def palette_colour(rng: np.random.Generator, c: float) -> tuple[int, int, int]:
    """Interpolate the palette at `c` with a little random jitter per stroke."""
    pos = np.clip(c + rng.normal(0.0, 0.07), 0.0, 1.0) * (len(PALETTE) - 1)
    lo = int(np.floor(pos))
    hi = min(lo + 1, len(PALETTE) - 1)
    rgb = PALETTE[lo] * (1 - (pos - lo)) + PALETTE[hi] * (pos - lo)
    rgb = rgb * rng.uniform(0.88, 1.12) + rng.normal(0.0, 8.0, 3)
    return tuple(int(v) for v in np.clip(rgb, 0, 255))


def trace(angles: np.ndarray, start: np.ndarray, steps: int, step: float) -> np.ndarray:
    """Follow the flow field from `start` (x, y pixels) for `steps` steps."""
    n = angles.shape[0]
    pts = [start.astype(np.float64)]
    for _ in range(steps):
        xi, yi = np.clip(pts[-1].astype(int), 0, n - 1)
        a = angles[yi, xi]
        pts.append(pts[-1] + step * np.array([np.cos(a), np.sin(a)]))
    return np.stack(pts)


def shade(rgb: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    """Scale a colour towards black (factor < 1) or white (factor > 1)."""
    arr = np.array(rgb, dtype=np.float64)
    arr = arr * factor if factor <= 1 else arr + (255 - arr) * (factor - 1)
    return tuple(int(v) for v in np.clip(arr, 0, 255))


def brush(
    draw: ImageDraw.ImageDraw, pts: np.ndarray, rgb: tuple[int, int, int], width: int
) -> None:
    """Draw one stroke: dark rim, body, then a thin offset highlight."""
    line = [tuple(p) for p in pts]
    draw.line(line, fill=shade(rgb, 0.55), width=width + max(2, width // 3), joint="curve")
    draw.line(line, fill=rgb, width=width, joint="curve")
    offset = [(x - width * 0.2, y - width * 0.2) for x, y in line[1:-1]]
    if len(offset) > 1:
        draw.line(offset, fill=shade(rgb, 1.35), width=max(1, width // 4), joint="curve")


def paint_layer(
    draw: ImageDraw.ImageDraw,
    rng: np.random.Generator,
    fields: tuple[np.ndarray, np.ndarray],
    count: int,
    width: int,
) -> None:
    """Paint `count` strokes of about `width` pixels following the flow."""
    angles, colours = fields
    n = angles.shape[0]
    for _ in range(count):
        start = rng.uniform(-0.05 * n, 1.05 * n, 2)
        w = max(2, int(width * rng.uniform(0.7, 1.3)))
        steps = int(rng.integers(4, 9))
        pts = trace(angles, start, steps, step=w * rng.uniform(0.7, 1.1))
        xi, yi = np.clip(start.astype(int), 0, n - 1)
        brush(draw, pts, palette_colour(rng, colours[yi, xi]), w)


def paint_star(draw: ImageDraw.ImageDraw, rng: np.random.Generator, star: tuple, n: int) -> None:
    """Paint a star as concentric rings of short yellow and cream dabs."""
    sx, sy, r = (v * n for v in star)
    for ring in np.linspace(r, 0.1 * r, 7):
        for a in np.linspace(0, 2 * np.pi, max(6, int(ring / 4)), endpoint=False):
            a += rng.uniform(-0.1, 0.1)
            arc = np.linspace(a, a + 0.5, 4)
            pts = np.stack([sx + ring * np.cos(arc), sy + ring * np.sin(arc)], axis=1)
            c = 1.0 - 0.12 * ring / r
            brush(draw, pts, palette_colour(rng, c), max(3, int(r / 6)))


def canvas_texture(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Add a faint woven-canvas grain and darken the borders slightly."""
    arr = np.asarray(img, dtype=np.float64)
    n = arr.shape[0]
    x, y = grid(n)
    weave = 0.5 * (np.sin(x * n * 0.9) + np.sin(y * n * 0.9))
    grain = 3.0 * weave[..., None] + rng.normal(0.0, 5.0, arr.shape)
    vignette = 1.0 - 0.25 * ((x - 0.5) ** 2 + (y - 0.5) ** 2)[..., None] * 2
    return Image.fromarray(np.clip((arr + grain) * vignette, 0, 255).astype(np.uint8))


def make_style(seed: int = SEED, size: int = SIZE) -> Image.Image:
    """Paint the style image and return it as a (size, size) RGB PIL image."""
    rng = np.random.default_rng(seed)
    n = size * SCALE
    psi = stream_function(rng, n)
    fields = (flow_angles(psi), colour_field(rng, psi))
    img = Image.new("RGB", (n, n), tuple(int(v) for v in PALETTE[1]))
    draw = ImageDraw.Draw(img)
    for count, width in ((900, 34), (2600, 20), (5200, 11), (3200, 6)):
        paint_layer(draw, rng, fields, count, width * SCALE // 2)
    for star in STARS:
        paint_star(draw, rng, star, n)
    img = img.filter(ImageFilter.GaussianBlur(0.8 * SCALE))
    img = canvas_texture(img, rng)
    return img.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    """Write the style image to the path given on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    make_style(args.seed).save(args.out, optimize=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
