"""Image I/O: reading, validating, resizing, colour conversion and atomic writes.

Images inside the library are float32 arrays of shape (H, W, 3), RGB, in [0, 1].
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import pathlib
import tempfile
import warnings
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Union

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from jax_nst.errors import NSTError

if TYPE_CHECKING:
    import jax

PathLike = Union[str, "os.PathLike[str]"]
ImageSource = Union[PathLike, Image.Image, np.ndarray, "jax.Array"]

SAVE_FORMATS: dict[str, str] = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
_SAVE_OPTIONS: dict[str, dict[str, Any]] = {
    "JPEG": {"quality": 95},
    "WEBP": {"quality": 95},
}
_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA", "P"}
_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I"}


# ----------------------------------------------------------------------------
# Geometry and resizing
# ----------------------------------------------------------------------------


def _check_positive(name: str, value: Any) -> int:
    """Return `value` as an int, raising NSTError unless it is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise NSTError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def fit_long_side(height: int, width: int, size: int) -> tuple[int, int]:
    """Return the (h, w) with the long side equal to `size`, keeping the aspect ratio."""
    height = _check_positive("height", height)
    width = _check_positive("width", width)
    size = _check_positive("size", size)
    if height >= width:
        return size, max(1, round(width * size / height))
    return max(1, round(height * size / width)), size


def resize_channel(channel: np.ndarray, height: int, width: int) -> np.ndarray:
    """Lanczos-resize one float channel through PIL's 32-bit float mode."""
    plane = Image.fromarray(np.ascontiguousarray(channel, dtype=np.float32))
    return np.asarray(plane.resize((width, height), Image.Resampling.LANCZOS))


def resize(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Antialiased (Lanczos) resize of an (H, W, 3) float image, clipped to [0, 1]."""
    height = _check_positive("height", height)
    width = _check_positive("width", width)
    img = np.asarray(img, dtype=np.float32)
    if img.ndim != 3:
        raise NSTError(f"resize expects an (H, W, C) image, got shape {img.shape}")
    if img.shape[:2] == (height, width):
        return img.copy()
    planes = [resize_channel(img[..., c], height, width) for c in range(img.shape[2])]
    return np.clip(np.stack(planes, axis=-1), 0.0, 1.0).astype(np.float32)


# ----------------------------------------------------------------------------
# Arrays
# ----------------------------------------------------------------------------


def _float_dtype(dtype: np.dtype) -> bool:
    """Tell whether `dtype` is a floating type, including bfloat16 and friends."""
    return np.issubdtype(dtype, np.floating) or dtype.name.startswith(("bfloat", "float"))


def _scale_array(arr: np.ndarray) -> np.ndarray:
    """Convert a uint8, uint16 or float [0, 1] array to float32 in [0, 1]."""
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / 65535.0
    if not _float_dtype(arr.dtype):
        raise NSTError(
            f"image array has unsupported dtype {arr.dtype} "
            "(expected uint8, uint16 or float in [0, 1])"
        )
    out = arr.astype(np.float32)
    if not np.all(np.isfinite(out)):
        raise NSTError("image array contains NaN or infinite values")
    if out.size and (out.min() < 0.0 or out.max() > 1.0):
        raise NSTError(
            f"float image array must be in [0, 1], got values in "
            f"[{float(out.min()):.4g}, {float(out.max()):.4g}]"
        )
    return out


def _composite_on_white(rgba: np.ndarray) -> np.ndarray:
    """Composite an (H, W, 4) float RGBA image onto a white background."""
    alpha = rgba[..., 3:4]
    return rgba[..., :3] * alpha + (1.0 - alpha)


def _to_rgb_channels(img: np.ndarray) -> np.ndarray:
    """Turn an (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) float image into RGB."""
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[2] == 1:
        return np.repeat(img, 3, axis=2)
    if img.shape[2] == 4:
        return _composite_on_white(img)
    return img


def _check_array_shape(arr: np.ndarray) -> None:
    """Raise NSTError unless `arr` is (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)."""
    ok_rank = arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (1, 3, 4))
    if not ok_rank or 0 in arr.shape[:2]:
        raise NSTError(
            f"image array has shape {arr.shape}; expected (H, W), (H, W, 1), "
            "(H, W, 3) or (H, W, 4) with H, W >= 1"
        )


def _array_to_rgb(arr: Any) -> np.ndarray:
    """Validate a numpy/jax array and convert it to float32 RGB in [0, 1]."""
    arr = np.asarray(arr)
    _check_array_shape(arr)
    rgb = _to_rgb_channels(_scale_array(arr))
    return np.ascontiguousarray(np.clip(rgb, 0.0, 1.0), dtype=np.float32)


# ----------------------------------------------------------------------------
# PIL images
# ----------------------------------------------------------------------------


def _exif_upright(im: Image.Image) -> Image.Image:
    """Apply the EXIF orientation tag; a broken tag leaves the image as it is."""
    try:
        return ImageOps.exif_transpose(im) or im
    except Exception:  # noqa: BLE001 - a bad EXIF block must not block loading
        return im


def _icc_to_srgb(im: Image.Image, mode: str) -> Image.Image | None:
    """Convert `im` to sRGB with its embedded ICC profile, or None if that fails."""
    icc = im.info.get("icc_profile")
    if not icc:
        return None
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        dst = ImageCms.createProfile("sRGB")
        return ImageCms.profileToProfile(im, src, dst, outputMode=mode)
    except Exception:  # noqa: BLE001 - fall back to PIL's plain conversion
        return None


def _lab_to_rgb(im: Image.Image) -> Image.Image:
    """Convert a PIL 'LAB' image to sRGB through a colour-managed transform."""
    lab = ImageCms.createProfile("LAB")
    srgb = ImageCms.createProfile("sRGB")
    transform = ImageCms.buildTransform(lab, srgb, "LAB", "RGB")
    return ImageCms.applyTransform(im, transform)


def _pil_float(im: Image.Image) -> np.ndarray:
    """Read an 'F' image as [0, 1]: values above 1 are taken as a 0-255 scale."""
    arr = np.nan_to_num(np.asarray(im, dtype=np.float32), nan=0.0, posinf=1.0)
    if arr.size and arr.max() > 1.0:
        arr = arr / 255.0
    return np.clip(arr, 0.0, 1.0)


def _pil_to_array(im: Image.Image) -> np.ndarray:
    """Convert a loaded PIL image of any supported mode to float (H, W, C) in [0, 1]."""
    mode = im.mode
    if mode in _SIXTEEN_BIT_MODES:
        return np.clip(np.asarray(im, dtype=np.float32) / 65535.0, 0.0, 1.0)
    if mode == "F":
        return _pil_float(im)
    if mode in ("L", "1"):
        return np.asarray(im.convert("L"), dtype=np.float32) / 255.0
    if mode in _ALPHA_MODES:
        return np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
    if mode == "CMYK":
        im = _icc_to_srgb(im, "RGB") or im.convert("RGB")
    elif mode == "LAB":
        im = _lab_to_rgb(im)
    return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def _pil_to_rgb(im: Image.Image) -> np.ndarray:
    """Convert a loaded PIL image to upright float32 RGB in [0, 1]."""
    rgb = _to_rgb_channels(_pil_to_array(_exif_upright(im)))
    return np.ascontiguousarray(np.clip(rgb, 0.0, 1.0), dtype=np.float32)


def _image_label(im: Image.Image) -> str:
    """Name a PIL image for messages: its file name when it has one."""
    return getattr(im, "filename", "") or "<PIL image>"


def _draft(im: Image.Image, size: int | None) -> None:
    """Let a JPEG decoder scale by 1/2, 1/4 or 1/8 while keeping the long side >= ``size``."""
    if size is not None and im.format == "JPEG":
        w, h = im.size
        scale = size / max(w, h)
        im.draft(im.mode, (max(1, int(w * scale)), max(1, int(h * scale))))


def _reduced(im: Image.Image, size: int | None) -> Image.Image:
    """Box-average ``im`` by the largest integer factor that keeps its long side >= ``size``."""
    factor = 1 if size is None else max(im.size) // size
    if factor < 2:
        return im
    try:
        small = im.reduce(factor)
    except ValueError:  # a mode PIL cannot reduce (P, 1, I;16): decode at full size
        return im
    small.info = dict(im.info)
    return small


def _decode_pil(im: Image.Image, label: str, size: int | None = None) -> np.ndarray:
    """Decode the first frame of an opened PIL image, mapping failures to NSTError.

    With ``size``, the image is decoded (JPEG) or box-reduced (others) to a long side of at least
    ``size`` before it becomes float, so memory follows the target size, not the file's; a reduced image is then
    resized to exactly ``fit_long_side`` of the file's own size, so that its shape is the one any other format or an
    array of the same picture gives (a reduction by an integer factor rounds the short side its own way).
    """
    try:
        im.seek(0)
        original = im.size
        _draft(im, size)
        im.load()
    except Image.DecompressionBombError:
        raise _read_error(label, "image is too large (decompression bomb guard)") from None
    except Exception:  # noqa: BLE001 - any decoder failure means a bad file
        raise _read_error(label, "file is truncated or corrupt") from None
    try:
        reduced = _reduced(im, size)
        rgb = _pil_to_rgb(_exif_upright(reduced))
    except Exception:  # noqa: BLE001 - a mode PIL cannot convert
        raise _read_error(label, f"unsupported image mode '{im.mode}'") from None
    if size is None or reduced.size == original:
        return rgb
    w, h = original if rgb.shape[:2] == reduced.size[::-1] else original[::-1]  # EXIF may have turned it
    return resize(rgb, *fit_long_side(h, w, size))


# ----------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------


def _one_line(text: str) -> str:
    """Collapse whitespace so a message fits on one line."""
    return " ".join(str(text).split())


def _read_error(label: Any, reason: str) -> NSTError:
    """Build the NSTError for an image file that cannot be read."""
    return NSTError(_one_line(f"cannot read image '{label}': {reason}"))


def _check_readable_file(path: pathlib.Path) -> None:
    """Raise NSTError if `path` is missing, a broken or looping link, a directory or empty."""
    try:
        st = path.stat()
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise _read_error(path, "symbolic link loop") from None
        if path.is_symlink():
            raise _read_error(path, f"broken symbolic link (to '{os.readlink(path)}')") from None
        if err.errno == errno.ENOENT:
            raise _read_error(path, "file does not exist") from None
        raise _read_error(path, err.strerror or str(err)) from None
    if path.is_dir():
        raise _read_error(path, "it is a directory, not a file")
    if st.st_size == 0:
        raise _read_error(path, "file is empty")


def _open_failure(path: pathlib.Path, err: BaseException) -> NSTError:
    """Map an exception from opening `path` to an NSTError."""
    if isinstance(err, Image.DecompressionBombError):
        return _read_error(path, "image is too large (decompression bomb guard)")
    if isinstance(err, PermissionError):
        return _read_error(path, "permission denied")
    if isinstance(err, UnidentifiedImageError):
        return _read_error(path, "not a recognised image file")
    if isinstance(err, OSError) and err.strerror:
        return _read_error(path, err.strerror)
    return _read_error(path, "file is truncated or corrupt")


def _load_path(path: pathlib.Path, size: int | None = None) -> np.ndarray:
    """Read the image file at `path` as float32 RGB in [0, 1] (long side >= ``size`` when given).

    PIL's decompression-bomb warning is silenced: its error (twice the limit) still refuses a file.
    """
    _check_readable_file(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im = Image.open(path)
        except Exception as err:  # noqa: BLE001 - mapped to a one-line user error
            raise _open_failure(path, err) from None
        with im:
            return _decode_pil(im, str(path), size)


def _load_any(src: ImageSource, size: int | None = None) -> np.ndarray:
    """Dispatch on the kind of `src` and return float32 RGB in [0, 1]; files are decoded near ``size``."""
    if isinstance(src, Image.Image):
        return _decode_pil(src, _image_label(src))
    if isinstance(src, (str, os.PathLike)):
        return _load_path(pathlib.Path(src), size)
    if hasattr(src, "shape") and hasattr(src, "dtype"):
        return _array_to_rgb(src)
    raise NSTError(
        f"cannot load an image from a {type(src).__name__}; "
        "expected a path, PIL image or array"
    )


def load_image(src: ImageSource, size: int | None = None, *, at_least: int | None = None) -> np.ndarray:
    """Load a path, PIL image or array as float32 (H, W, 3) RGB in [0, 1].

    If `size` is given the long side is resized to `size`, keeping the aspect ratio. A file is
    decoded only as large as needed: ``at_least`` (default `size`) is the smallest long side to decode
    to; the result is not resized further when only ``at_least`` is given.
    """
    if size is not None:
        size = _check_positive("size", size)
    if at_least is not None:
        at_least = _check_positive("at_least", at_least)
    img = _load_any(src, at_least or size)
    if size is None:
        return img
    return resize(img, *fit_long_side(img.shape[0], img.shape[1], size))


# ----------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------


def _as_rgb_float(img: Any) -> np.ndarray:
    """Validate an (H, W, 3) image for output and return it as finite float32."""
    arr = np.asarray(img)
    if arr.ndim != 3 or arr.shape[2] != 3 or 0 in arr.shape[:2]:
        raise NSTError(f"expected an (H, W, 3) image, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    arr = arr.astype(np.float32)
    if not np.all(np.isfinite(arr)):
        raise NSTError("image contains NaN or infinite values")
    return arr


def to_uint8(img: Any) -> np.ndarray:
    """Convert an (H, W, 3) float image in [0, 1] to uint8 (rounded and clipped)."""
    arr = _as_rgb_float(img)
    return np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8)


def to_pil(img: Any) -> Image.Image:
    """Convert an (H, W, 3) float image in [0, 1] to an RGB PIL image."""
    return Image.fromarray(to_uint8(img)).convert("RGB")


def _save_format(path: pathlib.Path) -> str:
    """Return the PIL format name for the extension of `path`, or raise NSTError."""
    fmt = SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        allowed = ", ".join(sorted({ext.lstrip(".") for ext in SAVE_FORMATS}))
        raise NSTError(
            f"cannot write image '{path}': unknown extension "
            f"'{path.suffix or '(none)'}' (use one of: {allowed})"
        )
    return fmt


TEMP_SUFFIX = ".part"
"""Temporary files of :func:`save_image` are ``.NAME-PREFIX.HASH-RANDOM.part`` beside the output."""
_NAME_BYTES = 160
"""Bytes of the output name kept in its temp name: the temp name stays under 255 bytes for any output name."""


def temp_prefix(name: str) -> str:
    """The start of every temp file name of output ``name``: a readable part and 8 hex of its SHA-1."""
    readable = name.encode("utf-8", "surrogateescape")[:_NAME_BYTES].decode("utf-8", "ignore")
    tag = hashlib.sha1(name.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f".{readable}.{tag}-"


def temp_files(folder: PathLike, names: Iterable[str]) -> dict[str, list[pathlib.Path]]:
    """{output name: its temp files in ``folder``} for the outputs ``names``: what a killed :func:`save_image` left."""
    by_prefix = {temp_prefix(name): name for name in names}
    found: dict[str, list[pathlib.Path]] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            head, sep, _ = entry.name.rpartition("-")
            name = by_prefix.get(head + sep) if entry.name.endswith(TEMP_SUFFIX) else None
            if name is not None and entry.is_file():
                found.setdefault(name, []).append(pathlib.Path(entry.path))
    return found


def _name_max(folder: pathlib.Path) -> int:
    """The longest file name (bytes) ``folder``'s filesystem allows."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def check_writable_output(path: PathLike) -> pathlib.Path:
    """Check that an image can be written at `path`: folder, extension, name length, and a real probe file."""
    path = pathlib.Path(path)
    parent = path.parent
    if not parent.exists():
        raise NSTError(f"output directory '{parent}' does not exist")
    if not parent.is_dir():
        raise NSTError(f"output directory '{parent}' is not a directory")
    if len(os.fsencode(path.name)) > _name_max(parent):
        raise NSTError(f"output name '{path.name[:40]}…' is longer than the filesystem allows ({_name_max(parent)} bytes)")
    if path.is_dir():
        raise NSTError(f"output path '{path}' is a directory")
    _save_format(path)
    try:
        fd, probe = tempfile.mkstemp(dir=parent, prefix=temp_prefix(path.name), suffix=TEMP_SUFFIX)
    except OSError as err:
        raise NSTError(_one_line(f"cannot write to output directory '{parent}': {err.strerror or err}")) from None
    os.close(fd)
    _remove_quietly(probe)
    return path


def file_mode(path: pathlib.Path) -> int:
    """Permission bits for the output: the existing file's, else 0o666 minus umask."""
    if path.exists():
        return path.stat().st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def encode(img: Any, fmt: str) -> bytes:
    """The file bytes of an (H, W, 3) image in PIL format ``fmt``."""
    buffer = io.BytesIO()
    to_pil(img).save(buffer, format=fmt, **_SAVE_OPTIONS.get(fmt, {}))
    return buffer.getvalue()


@contextlib.contextmanager
def replacing(path: PathLike, what: str = "image", mode: int | None = None) -> Iterator[pathlib.Path]:
    """The one way files are written: a temp file beside ``path`` for the block to write; when the block ends it is
    fsync-ed and renamed onto ``path``, so ``path`` is whole or untouched.

    Any failure (a full disk in the write, the fsync or the rename; an interrupt) removes the temp file and leaves
    an existing ``path`` as it was; OSError becomes the one line "cannot write ``what`` 'path': reason".
    """
    path, tmp = pathlib.Path(path), None
    try:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path.name), suffix=TEMP_SUFFIX)
        os.close(fd)
        tmp = pathlib.Path(name)
        yield tmp
        _sync_file(tmp)
        os.chmod(tmp, file_mode(path) if mode is None else mode)
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            _remove_quietly(tmp)
        if isinstance(err, OSError):
            raise _write_error(path, err, what) from None
        raise
    _sync_folder(path.parent)


def write_atomic(data: bytes, path: PathLike, mode: int | None = None, what: str = "image") -> pathlib.Path:
    """Put ``data`` at ``path`` completely or not at all (:func:`replacing`; ``what`` names it in an error)."""
    with replacing(path, what, mode=mode) as tmp:
        fd = os.open(tmp, os.O_WRONLY)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
    return pathlib.Path(path)


def _write_all(fd: int, data: bytes) -> None:
    """os.write until every byte is written (a short write is retried, an error raised)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _sync_file(path: pathlib.Path) -> None:
    """fsync a written file, so the rename that follows never exposes unwritten blocks."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_folder(folder: pathlib.Path) -> None:
    """fsync a folder so a rename in it survives a power cut (where the platform allows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_quietly(name: str) -> None:
    """Delete a file if it exists, ignoring errors."""
    try:
        os.unlink(name)
    except OSError:
        pass


def _write_error(path: pathlib.Path, err: OSError, what: str = "image") -> NSTError:
    """Build the NSTError for a file that could not be written."""
    reason = err.strerror or str(err) or type(err).__name__
    return NSTError(_one_line(f"cannot write {what} '{path}': {reason}"))


def save_image(img: Any, path: PathLike) -> pathlib.Path:
    """Write an (H, W, 3) float image atomically; the format follows the extension."""
    path = pathlib.Path(path)
    if not path.parent.is_dir():
        check_writable_output(path)  # the one-line reason
    fmt = _save_format(path)
    try:
        data = encode(img, fmt)
    except OSError as err:  # an encoder failure
        raise _write_error(path, err) from None
    return write_atomic(data, path)
