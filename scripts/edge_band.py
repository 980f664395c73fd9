"""The frame along the edges of a stylized image, for each border of the first convolution.

VGG pads conv1_1 with zeros (the mean colour after preprocessing), so the outermost pixels see a
different neighbourhood and come out special. For each ``--paddings`` entry this stylizes the bundled
samples with the demo's settings and reports, per RGB channel, the mean of the outer ``--ring`` px
minus the mean of the next ``--inner`` px inwards, in 8-bit levels (0 = no frame), and its largest
absolute channel. Also writes the pictures side by side (``--sheet``). Example:

    python scripts/edge_band.py --size 256 --steps 70 --sheet /tmp/edges.png
"""

from __future__ import annotations

import argparse

import numpy as np

import jax_nst
from jax_nst import doctor, images, progress, samples


def ring_minus_inside(img: np.ndarray, ring: int, inner: int) -> np.ndarray:
    """Per channel: mean of the outer ``ring`` px − mean of the ``inner`` px band just inside it, in 0–255 levels."""
    h, w = img.shape[:2]
    outer = np.ones((h, w), bool)
    outer[ring:h - ring, ring:w - ring] = False
    band = np.zeros((h, w), bool)
    band[ring:h - ring, ring:w - ring] = True
    band[ring + inner:h - ring - inner, ring + inner:w - ring - inner] = False
    return (img[outer].mean(axis=0) - img[band].mean(axis=0)) * 255.0


def side_profiles(img: np.ndarray, ring: int, inner: int) -> list[np.ndarray]:
    """Per side (top, bottom, left, right): at each position along it, the mean of the outer ``ring`` px − the mean of
    the ``inner`` px just inside them, per channel, in 0–255 levels (four arrays of shape (length, 3))."""
    strips = [(img[:ring].mean(0), img[ring:ring + inner].mean(0)),
              (img[-ring:].mean(0), img[-ring - inner:-ring].mean(0)),
              (img[:, :ring].mean(1), img[:, ring:ring + inner].mean(1)),
              (img[:, -ring:].mean(1), img[:, -ring - inner:-ring].mean(1))]
    return [(o - i) * 255.0 for o, i in strips]


def sides_minus_inside(img: np.ndarray, ring: int, inner: int) -> np.ndarray:
    """Per side (top, bottom, left, right) and channel: mean of that side's outer ``ring`` px − mean of the ``inner``
    px just inside them, in 0–255 levels (shape (4, 3)): the mean of :func:`side_profiles`."""
    return np.stack([p.mean(0) for p in side_profiles(img, ring, inner)])


def sides_band(img: np.ndarray, ring: int, inner: int) -> np.ndarray:
    """Per side and channel: the median of :func:`side_profiles` along the side (shape (4, 3)). A frame is a band
    along the whole side and moves the median; a star or stone that happens to lie on the edge does not."""
    return np.stack([np.median(p, axis=0) for p in side_profiles(img, ring, inner)])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=70)
    p.add_argument("--paddings", nargs="+", default=["zero", "replicate", "reflect"])
    p.add_argument("--ring", type=int, default=2)
    p.add_argument("--inner", type=int, default=6)
    p.add_argument("--sheet", help="write the pictures side by side here")
    args = p.parse_args()
    print(f"# {doctor.describe()}\n")
    print(f"| padding | outer {args.ring} px − next {args.inner} px, R / G / B (levels) | largest |")
    print("|---|---|---|")
    pictures = []
    for padding in args.paddings:
        out = jax_nst.stylize(samples.CONTENT, samples.STYLE, size=args.size, steps=args.steps, padding=padding)
        d = ring_minus_inside(out, args.ring, args.inner)
        pictures.append(out)
        print(f"| {padding} | {d[0]:+.1f} / {d[1]:+.1f} / {d[2]:+.1f} | {np.abs(d).max():.1f} |", flush=True)
    if args.sheet:
        sheet = progress.sheet([pictures], col_labels=args.paddings, tile=args.size)
        images.save_image(np.asarray(sheet), args.sheet)
        print(f"\nwrote {args.sheet}")


if __name__ == "__main__":
    main()
