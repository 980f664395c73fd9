"""Tests for jax_nst.images: loading odd images, errors, resizing and atomic saves."""

from __future__ import annotations

import errno
import io
import os
import pathlib

import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image, ImageCms

from jax_nst import images
from jax_nst.errors import NSTError
from jax_nst.images import (
    check_writable_output,
    fit_long_side,
    load_image,
    resize,
    save_image,
    to_pil,
    to_uint8,
)

RED = (255, 0, 0)
BLUE = (0, 0, 255)


def assert_rgb(img: np.ndarray, shape: tuple[int, int]) -> None:
    """Check the library's image invariants: float32 (H, W, 3) in [0, 1]."""
    assert img.dtype == np.float32
    assert img.shape == (*shape, 3)
    assert img.min() >= 0.0 and img.max() <= 1.0


def noise_image(width: int = 96, height: int = 64) -> Image.Image:
    """A random RGB image that compresses badly, so half a file is really cut."""
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def assert_one_line_error(exc: pytest.ExceptionInfo, name: str) -> None:
    """The message names the file and fits on one line."""
    msg = str(exc.value)
    assert name in msg
    assert "\n" not in msg


# ----------------------------------------------------------------------------
# Odd but valid image files
# ----------------------------------------------------------------------------


def test_rgb_png_exact(tmp_path: pathlib.Path) -> None:
    src = noise_image()
    src.save(tmp_path / "a.png")
    img = load_image(tmp_path / "a.png")
    assert_rgb(img, (64, 96))
    np.testing.assert_allclose(img, np.asarray(src) / 255.0, atol=1e-6)


def test_str_path_accepted(tmp_path: pathlib.Path) -> None:
    Image.new("RGB", (3, 2), RED).save(tmp_path / "a.png")
    np.testing.assert_allclose(load_image(str(tmp_path / "a.png"))[0, 0], [1, 0, 0])


def test_sixteen_bit_greyscale_png_keeps_precision(tmp_path: pathlib.Path) -> None:
    arr = np.full((4, 5), 40000, dtype=np.uint16)
    arr[0, 0] = 65535
    arr[0, 1] = 1
    Image.fromarray(arr).save(tmp_path / "g16.png")
    img = load_image(tmp_path / "g16.png")
    assert_rgb(img, (4, 5))
    np.testing.assert_allclose(img[2, 2], [40000 / 65535] * 3, atol=1e-6)
    np.testing.assert_allclose(img[0, 0], [1.0] * 3, atol=1e-6)
    np.testing.assert_allclose(img[0, 1], [1 / 65535] * 3, atol=1e-7)


def test_sixteen_bit_big_endian_pil_image() -> None:
    arr = np.full((3, 2), 40000, dtype=">u2")
    pil = Image.frombytes("I;16B", (2, 3), arr.tobytes())
    np.testing.assert_allclose(load_image(pil), 40000 / 65535, atol=1e-6)


def test_int32_mode_i_image_scaled_by_65535() -> None:
    pil = Image.fromarray(np.full((2, 3), 40000, dtype=np.int32))
    assert pil.mode == "I"
    np.testing.assert_allclose(load_image(pil), 40000 / 65535, atol=1e-6)


def test_float_mode_f_image() -> None:
    pil = Image.fromarray(np.full((2, 3), 0.25, dtype=np.float32))
    assert pil.mode == "F"
    img = load_image(pil)
    assert_rgb(img, (2, 3))
    np.testing.assert_allclose(img, 0.25, atol=1e-6)


def test_rgba_composited_onto_white(tmp_path: pathlib.Path) -> None:
    arr = np.zeros((2, 2, 4), dtype=np.uint8)
    arr[0, 0] = (0, 0, 0, 0)  # fully transparent black
    arr[0, 1] = (255, 0, 0, 255)  # opaque red
    arr[1, 0] = (0, 0, 0, 128)  # half-transparent black
    Image.fromarray(arr).save(tmp_path / "rgba.png")
    img = load_image(tmp_path / "rgba.png")
    assert_rgb(img, (2, 2))
    np.testing.assert_allclose(img[0, 0], [1, 1, 1], atol=1e-6)
    np.testing.assert_allclose(img[0, 1], [1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(img[1, 0], [1 - 128 / 255] * 3, atol=1e-6)


def test_la_composited_onto_white(tmp_path: pathlib.Path) -> None:
    pil = Image.new("LA", (2, 1), (0, 255))
    pil.putpixel((1, 0), (0, 0))
    pil.save(tmp_path / "la.png")
    img = load_image(tmp_path / "la.png")
    np.testing.assert_allclose(img[0, 0], [0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(img[0, 1], [1, 1, 1], atol=1e-6)


def palette_image() -> Image.Image:
    """A 'P' image with index 0 red, 1 blue, 2 green."""
    pil = Image.new("P", (3, 1))
    pil.putpalette([255, 0, 0, 0, 0, 255, 0, 255, 0] + [0] * (253 * 3))
    pil.putdata([0, 1, 2])
    return pil


@pytest.mark.parametrize("ext", ["png", "gif", "bmp"])
def test_palette_colours_preserved(tmp_path: pathlib.Path, ext: str) -> None:
    palette_image().save(tmp_path / f"p.{ext}")
    img = load_image(tmp_path / f"p.{ext}")
    assert_rgb(img, (1, 3))
    np.testing.assert_allclose(img[0], [[1, 0, 0], [0, 0, 1], [0, 1, 0]], atol=1e-6)


@pytest.mark.parametrize("ext", ["png", "gif"])
def test_palette_transparency_becomes_white(tmp_path: pathlib.Path, ext: str) -> None:
    palette_image().save(tmp_path / f"t.{ext}", transparency=1)
    img = load_image(tmp_path / f"t.{ext}")
    np.testing.assert_allclose(img[0], [[1, 0, 0], [1, 1, 1], [0, 1, 0]], atol=1e-6)


def test_greyscale_l(tmp_path: pathlib.Path) -> None:
    Image.new("L", (3, 2), 51).save(tmp_path / "l.png")
    img = load_image(tmp_path / "l.png")
    assert_rgb(img, (2, 3))
    np.testing.assert_allclose(img, 51 / 255, atol=1e-6)


def test_bilevel_mode_1(tmp_path: pathlib.Path) -> None:
    pil = Image.new("1", (2, 1), 0)
    pil.putpixel((1, 0), 1)
    pil.save(tmp_path / "b.png")
    img = load_image(tmp_path / "b.png")
    np.testing.assert_allclose(img[0], [[0, 0, 0], [1, 1, 1]], atol=1e-6)


@pytest.mark.parametrize("ext", ["jpg", "tif"])
def test_cmyk_cyan(tmp_path: pathlib.Path, ext: str) -> None:
    Image.new("CMYK", (8, 8), (255, 0, 0, 0)).save(tmp_path / f"c.{ext}")
    img = load_image(tmp_path / f"c.{ext}")
    assert_rgb(img, (8, 8))
    np.testing.assert_allclose(img[4, 4], [0, 1, 1], atol=0.03)


def test_cmyk_with_broken_icc_profile_falls_back() -> None:
    pil = Image.new("CMYK", (2, 2), (255, 0, 0, 0))
    pil.info["icc_profile"] = b"not a profile"
    np.testing.assert_allclose(load_image(pil)[0, 0], [0, 1, 1], atol=1e-6)


def test_ycbcr_pil_image() -> None:
    pil = Image.new("RGB", (2, 2), (200, 100, 50)).convert("YCbCr")
    img = load_image(pil)
    assert_rgb(img, (2, 2))
    np.testing.assert_allclose(img[0, 0], np.array([200, 100, 50]) / 255, atol=0.02)


def test_lab_pil_image_colour_managed() -> None:
    to_lab = ImageCms.buildTransform(
        ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), "RGB", "LAB"
    )
    lab = ImageCms.applyTransform(Image.new("RGB", (2, 2), (200, 100, 50)), to_lab)
    assert lab.mode == "LAB"
    np.testing.assert_allclose(load_image(lab)[1, 1], np.array([200, 100, 50]) / 255, atol=0.03)


def test_exif_orientation_applied(tmp_path: pathlib.Path) -> None:
    arr = np.zeros((20, 40, 3), dtype=np.uint8)
    arr[:] = BLUE
    arr[:10, :10] = RED  # top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    Image.fromarray(arr).save(tmp_path / "o.jpg", exif=exif, quality=95)
    img = load_image(tmp_path / "o.jpg")
    assert_rgb(img, (40, 20))
    np.testing.assert_allclose(img[3, 16], [1, 0, 0], atol=0.1)  # now top-right
    np.testing.assert_allclose(img[3, 3], [0, 0, 1], atol=0.1)


def test_animated_gif_first_frame(tmp_path: pathlib.Path) -> None:
    frames = [Image.new("RGB", (4, 4), c) for c in (RED, BLUE)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    with Image.open(tmp_path / "anim.gif") as check:
        assert check.n_frames == 2
    np.testing.assert_allclose(load_image(tmp_path / "anim.gif")[2, 2], [1, 0, 0], atol=1e-6)


def test_pil_image_input_untouched() -> None:
    pil = Image.new("RGBA", (3, 2), (0, 0, 0, 0))
    img = load_image(pil)
    assert_rgb(img, (2, 3))
    np.testing.assert_allclose(img, 1.0)
    assert pil.mode == "RGBA"


# ----------------------------------------------------------------------------
# Unreadable files
# ----------------------------------------------------------------------------


def test_missing_file(tmp_path: pathlib.Path) -> None:
    with pytest.raises(NSTError) as exc:
        load_image(tmp_path / "nope.png")
    assert_one_line_error(exc, "nope.png")
    assert "does not exist" in str(exc.value)


def test_directory(tmp_path: pathlib.Path) -> None:
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(NSTError) as exc:
        load_image(tmp_path / "dir.png")
    assert_one_line_error(exc, "dir.png")
    assert "directory" in str(exc.value)


def test_zero_byte_file(tmp_path: pathlib.Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(NSTError) as exc:
        load_image(tmp_path / "empty.png")
    assert_one_line_error(exc, "empty.png")
    assert "empty" in str(exc.value)


def test_text_file_named_png(tmp_path: pathlib.Path) -> None:
    (tmp_path / "notes.png").write_text("this is not\nan image\n")
    with pytest.raises(NSTError) as exc:
        load_image(tmp_path / "notes.png")
    assert_one_line_error(exc, "notes.png")
    assert "not a recognised image" in str(exc.value)


@pytest.mark.parametrize("fmt,ext", [("JPEG", "jpg"), ("PNG", "png")])
def test_truncated_image(tmp_path: pathlib.Path, fmt: str, ext: str) -> None:
    buf = io.BytesIO()
    noise_image().save(buf, format=fmt)
    data = buf.getvalue()
    (tmp_path / f"cut.{ext}").write_bytes(data[: len(data) // 2])
    with pytest.raises(NSTError) as exc:
        load_image(tmp_path / f"cut.{ext}")
    assert_one_line_error(exc, f"cut.{ext}")
    assert "truncated or corrupt" in str(exc.value)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads all")
def test_unreadable_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "secret.png"
    Image.new("RGB", (2, 2)).save(path)
    path.chmod(0)
    try:
        with pytest.raises(NSTError) as exc:
            load_image(path)
    finally:
        path.chmod(0o644)
    assert_one_line_error(exc, "secret.png")
    assert "permission denied" in str(exc.value)


def test_permission_error_from_open(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "locked.png"
    Image.new("RGB", (2, 2)).save(path)

    def deny(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(images.Image, "open", deny)
    with pytest.raises(NSTError) as exc:
        load_image(path)
    assert_one_line_error(exc, "locked.png")
    assert "permission denied" in str(exc.value)


def test_decompression_bomb_guard(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Image.new("RGB", (20, 20)).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)
    with pytest.raises(NSTError) as exc:
        load_image(tmp_path / "bomb.png")
    assert_one_line_error(exc, "bomb.png")
    assert "too large" in str(exc.value)


def test_unsupported_source_type() -> None:
    with pytest.raises(NSTError, match="int"):
        load_image(42)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------
# Arrays
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arr,expected",
    [
        (np.full((2, 3, 3), 51, dtype=np.uint8), 0.2),
        (np.full((2, 3, 3), 40000, dtype=np.uint16), 40000 / 65535),
        (np.full((2, 3, 3), 0.3, dtype=np.float32), 0.3),
        (np.full((2, 3, 3), 0.3, dtype=np.float64), 0.3),
        (np.full((2, 3, 3), 0.5, dtype=np.float16), 0.5),
        (np.full((2, 3), 0.3, dtype=np.float32), 0.3),
        (np.full((2, 3, 1), 51, dtype=np.uint8), 0.2),
        (jnp.full((2, 3, 3), 0.3, dtype=jnp.float32), 0.3),
        (jnp.full((2, 3, 3), 0.5, dtype=jnp.bfloat16), 0.5),
    ],
)
def test_array_inputs(arr: np.ndarray, expected: float) -> None:
    img = load_image(arr)
    assert_rgb(img, (2, 3))
    np.testing.assert_allclose(img, expected, atol=1e-6)


def test_array_rgba_composited() -> None:
    arr = np.zeros((1, 2, 4), dtype=np.uint8)
    arr[0, 1] = (0, 255, 0, 255)
    img = load_image(arr)
    np.testing.assert_allclose(img[0], [[1, 1, 1], [0, 1, 0]], atol=1e-6)


def test_array_colours_kept() -> None:
    arr = np.random.default_rng(1).random((4, 5, 3)).astype(np.float32)
    np.testing.assert_array_equal(load_image(arr), arr)


@pytest.mark.parametrize(
    "arr,match",
    [
        (np.zeros((2, 3, 3), dtype=np.int32), "dtype"),
        (np.zeros((2, 3, 3), dtype=bool), "dtype"),
        (np.zeros((2, 3, 2), dtype=np.uint8), "shape"),
        (np.zeros((2, 3, 3, 1), dtype=np.uint8), "shape"),
        (np.zeros((6,), dtype=np.uint8), "shape"),
        (np.zeros((0, 3, 3), dtype=np.uint8), "shape"),
        (np.full((2, 3, 3), 1.5, dtype=np.float32), r"\[0, 1\]"),
        (np.full((2, 3, 3), -0.1, dtype=np.float32), r"\[0, 1\]"),
        (np.full((2, 3, 3), np.nan, dtype=np.float32), "NaN"),
        (np.full((2, 3, 3), np.inf, dtype=np.float32), "NaN"),
    ],
)
def test_bad_arrays(arr: np.ndarray, match: str) -> None:
    with pytest.raises(NSTError, match=match):
        load_image(arr)


# ----------------------------------------------------------------------------
# Resizing
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "h,w,size,expected",
    [(20, 40, 10, (5, 10)), (40, 20, 10, (10, 5)), (30, 30, 7, (7, 7)), (1, 1000, 10, (1, 10))],
)
def test_fit_long_side(h: int, w: int, size: int, expected: tuple[int, int]) -> None:
    assert fit_long_side(h, w, size) == expected


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_fit_long_side_rejects_bad_size(bad: object) -> None:
    with pytest.raises(NSTError):
        fit_long_side(10, 10, bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("w,h,size,expected", [(40, 20, 10, (5, 10)), (20, 40, 10, (10, 5))])
def test_load_with_size(tmp_path: pathlib.Path, w: int, h: int, size: int, expected: tuple) -> None:
    Image.new("RGB", (w, h), (200, 100, 50)).save(tmp_path / "s.png")
    img = load_image(tmp_path / "s.png", size=size)
    assert_rgb(img, expected)
    colour = np.array([200, 100, 50]) / 255
    np.testing.assert_allclose(img, np.broadcast_to(colour, img.shape), atol=1e-3)


def test_load_with_size_upscales() -> None:
    img = load_image(np.zeros((3, 4, 3), dtype=np.uint8), size=40)
    assert_rgb(img, (30, 40))


def test_load_rejects_bad_size() -> None:
    with pytest.raises(NSTError, match="size"):
        load_image(np.zeros((3, 4, 3), dtype=np.uint8), size=0)


def test_resize_clipped_and_antialiased() -> None:
    checker = (np.indices((64, 64)).sum(axis=0) % 2).astype(np.float32)
    img = np.repeat(checker[..., None], 3, axis=2)
    small = resize(img, 8, 8)
    assert_rgb(small, (8, 8))
    np.testing.assert_allclose(small, 0.5, atol=0.05)  # averaged, not aliased
    big = resize(img[:4, :4], 17, 17)
    assert_rgb(big, (17, 17))


# ----------------------------------------------------------------------------
# Conversions and saving
# ----------------------------------------------------------------------------


def test_to_uint8_rounds_and_clips() -> None:
    img = np.array([[[0.0, 0.5 / 255 + 1e-4, 1.0], [-0.2, 1.3, 127.6 / 255]]], dtype=np.float32)
    np.testing.assert_array_equal(to_uint8(img), [[[0, 1, 255], [0, 255, 128]]])
    assert to_uint8(img).dtype == np.uint8


def test_to_pil_is_rgb() -> None:
    pil = to_pil(jnp.full((2, 3, 3), 1.0))
    assert pil.mode == "RGB" and pil.size == (3, 2)


def test_save_png_round_trip(tmp_path: pathlib.Path) -> None:
    img = np.random.default_rng(2).random((6, 7, 3)).astype(np.float32)
    out = save_image(img, tmp_path / "out.png")
    assert out == tmp_path / "out.png"
    np.testing.assert_allclose(load_image(out), img, atol=0.5 / 255 + 1e-6)


@pytest.mark.parametrize("ext", ["jpg", "jpeg", "webp", "bmp", "tif", "tiff", "PNG"])
def test_save_formats(tmp_path: pathlib.Path, ext: str) -> None:
    img = jnp.full((8, 6, 3), 0.5)
    out = save_image(img, tmp_path / f"out.{ext}")
    loaded = load_image(out)
    assert_rgb(loaded, (8, 6))
    np.testing.assert_allclose(loaded, 0.5, atol=0.02)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"out.{ext}"]


def test_save_file_mode_follows_umask(tmp_path: pathlib.Path) -> None:
    out = save_image(np.zeros((2, 2, 3)), tmp_path / "m.png")
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


def test_save_missing_directory(tmp_path: pathlib.Path) -> None:
    with pytest.raises(NSTError, match="output directory .* does not exist"):
        save_image(np.zeros((2, 2, 3)), tmp_path / "missing" / "out.png")


def test_save_unknown_extension(tmp_path: pathlib.Path) -> None:
    with pytest.raises(NSTError) as exc:
        save_image(np.zeros((2, 2, 3)), tmp_path / "out.xyz")
    assert_one_line_error(exc, "out.xyz")
    for ext in ("png", "jpg", "webp", "bmp", "tif"):
        assert ext in str(exc.value)
    assert list(tmp_path.iterdir()) == []


def test_save_rejects_bad_shape(tmp_path: pathlib.Path) -> None:
    with pytest.raises(NSTError, match="shape"):
        save_image(np.zeros((2, 2)), tmp_path / "out.png")


def failing_save(error: BaseException):
    """A replacement for Image.save that writes some bytes and then fails."""

    def save(self: Image.Image, fp, *args, **kwargs) -> None:
        fp.write(b"\x89PNG partial data")
        raise error

    return save


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), RuntimeError("boom")])
def test_failed_write_leaves_nothing(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    monkeypatch.setattr(Image.Image, "save", failing_save(error))
    expected = NSTError if isinstance(error, OSError) else RuntimeError
    with pytest.raises(expected):
        save_image(np.zeros((4, 4, 3)), tmp_path / "out.png")
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_existing_file(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.png"
    save_image(np.ones((4, 4, 3)), target)
    before = target.read_bytes()
    monkeypatch.setattr(Image.Image, "save", failing_save(OSError(28, "No space left")))
    with pytest.raises(NSTError, match="out.png"):
        save_image(np.zeros((4, 4, 3)), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_failed_replace_removes_temp(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def bad_replace(src: str, dst: str) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(images.os, "replace", bad_replace)
    with pytest.raises(NSTError, match="Permission denied"):
        save_image(np.zeros((4, 4, 3)), tmp_path / "out.png")
    assert list(tmp_path.iterdir()) == []


def full_disk_after(limit: int):
    """An os.write that writes until ``limit`` bytes were written in all, then fails with ENOSPC."""
    real, written = os.write, [0]

    def write(fd: int, data) -> int:
        room = limit - written[0]
        if room <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = real(fd, bytes(data[:room]))
        written[0] += n
        return n

    return write


def enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("where", ["write:0", "write:1", "write:100", "write:3000", "fsync", "chmod", "replace"])
@pytest.mark.parametrize("existing", [False, True])
def test_full_disk_leaves_no_partial_file(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, where: str, existing: bool
) -> None:
    """ENOSPC at any point of the write, the fsync or the rename: an error line, no temp file, the old output intact."""
    target = tmp_path / "out.png"
    if existing:
        save_image(np.ones((4, 4, 3)), target)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    name, _, limit = where.partition(":")
    monkeypatch.setattr(os, name, full_disk_after(int(limit)) if name == "write" else enospc)
    noise = np.random.default_rng(0).random((64, 64, 3))  # ~12 KB of PNG: several write calls at small limits
    with pytest.raises(NSTError, match="cannot write image .*out.png.*No space left on device"):
        save_image(noise, target)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.mark.parametrize("length", [200, 250, 255])
def test_long_output_names_are_written(tmp_path: pathlib.Path, length: int) -> None:
    """A legal name of any length fits: the temp name never grows past the filesystem's limit."""
    name = "é" * ((length - 4) // 2) + "x" * ((length - 4) % 2) + ".png"
    assert len(name.encode()) == length
    check_writable_output(tmp_path / name)
    save_image(np.zeros((4, 4, 3)), tmp_path / name)
    assert [p.name for p in tmp_path.iterdir()] == [name]
    with pytest.raises(NSTError, match="longer than the filesystem allows"):
        check_writable_output(tmp_path / ("y" * 256 + ".png"))


def test_unwritable_output_location_is_refused_before_work(tmp_path: pathlib.Path) -> None:
    with pytest.raises(NSTError, match="cannot write to output directory '/proc'"):
        check_writable_output("/proc/x.png")


def test_check_writable_output(tmp_path: pathlib.Path) -> None:
    assert check_writable_output(str(tmp_path / "ok.jpg")) == tmp_path / "ok.jpg"
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(NSTError, match="does not exist"):
        check_writable_output(tmp_path / "no" / "ok.jpg")
    with pytest.raises(NSTError, match="unknown extension"):
        check_writable_output(tmp_path / "ok.gif")
    (tmp_path / "d.png").mkdir()
    with pytest.raises(NSTError, match="is a directory"):
        check_writable_output(tmp_path / "d.png")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NSTError, match="not a directory"):
        check_writable_output(tmp_path / "file" / "ok.png")


# ----------------------------------------------------------------------------
# Samples
# ----------------------------------------------------------------------------


def test_samples_load() -> None:
    from jax_nst.samples import CONTENT, STYLE

    assert max(load_image(CONTENT).shape[:2]) == 512
    assert_rgb(load_image(STYLE), (512, 512))


def test_the_same_picture_in_any_format_or_array_type_gives_the_same_size(tmp_path):
    """A reduced decode (JPEG draft, box reduction) must not round the short side its own way."""
    rng = np.random.default_rng(0)
    rgb = (rng.random((683, 1024, 3)) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    Image.fromarray(rgb).save(tmp_path / "a.jpg", quality=95)
    Image.fromarray(rgb).convert("P").save(tmp_path / "a.gif")
    Image.fromarray((rng.random((683, 1024)) * 65535).astype(np.uint16)).save(tmp_path / "g16.png")
    turned = Image.fromarray(np.ascontiguousarray(rgb.transpose(1, 0, 2)[::-1]))  # stored turned, EXIF turns it back
    exif = Image.Exif()
    exif[0x0112] = 6
    turned.save(tmp_path / "turned.jpg", exif=exif, quality=95)
    sources = [tmp_path / n for n in ("a.png", "a.jpg", "a.gif", "g16.png", "turned.jpg")] + [rgb, rgb / 255.0]
    for size in (100, 300, 341, 512, 700):
        shapes = {images.load_image(images.load_image(s, at_least=size), size).shape for s in sources}
        assert shapes == {(*images.fit_long_side(683, 1024, size), 3)}, size
