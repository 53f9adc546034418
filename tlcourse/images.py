"""Decode one image (a file, or the bytes of an upload) into a fixed-size RGB array, or say why not.

Students bring folders with anything in them: CMYK JPEGs, 16-bit PNGs, palette images
with transparency, rotated phone photos, HTML saved as ``.png``, placeholders from dead
links. Decoding goes through Pillow, which reads all of these; every file either becomes
an RGB ``uint8`` array or a short reason, and nothing raises.
"""

from __future__ import annotations

import hashlib
import io
import stat
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Files that decode fine but are not photos: placeholders left by dead image links.
KNOWN_PLACEHOLDERS = {
    # train/ants/imageNotFound.gif of the ants/bees set
    "6b4966252973c581b521f804453c6a0649ea6a2ce7e3e5c7deeb7d80623de231": (
        "placeholder 'image not found' graphic, not a photo"
    ),
}


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB: transparency onto white, 16/32-bit scaled to 8-bit."""
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        a = np.asarray(im, dtype=np.float64)
        top = a.max() if a.max() > 255 else 255.0
        im = Image.fromarray(np.clip(a * (255.0 / top), 0, 255).astype(np.uint8), "L")
    if im.mode == "P" and "transparency" in im.info or im.mode in ("PA", "LA", "La", "RGBa"):
        im = im.convert("RGBA")
    if im.mode == "RGBA":
        background = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, im)
    return im.convert("RGB")


def fit_square(im: Image.Image, size: int, crop_fraction: float = 1.0) -> Image.Image:
    """Resize the shorter side to ``size / crop_fraction`` and crop the centre ``size`` square."""
    w, h = im.size
    scale = size / (crop_fraction * min(w, h))
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    im = im.resize((nw, nh), Image.Resampling.BICUBIC, reducing_gap=3.0)
    left, top = (nw - size) // 2, (nh - size) // 2
    return im.crop((left, top, left + size, top + size))


def decode_image(source: str | Path | bytes, size: int, crop_fraction: float = 1.0) -> tuple[np.ndarray | None, str]:
    """Return ``(array, "")`` with an RGB uint8 ``size x size`` image, or ``(None, reason)``.

    ``source`` is a path or the encoded bytes of a file (an upload): both go through the same
    decoding (EXIF rotation, CMYK, 16-bit, transparency, placeholders, damaged files).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        raw = bytes(source)
    else:
        path = Path(source)
        if path.name.startswith("."):
            return None, "hidden file (name starts with '.'): not used"
        try:
            if not stat.S_ISREG(path.stat().st_mode):  # never read a pipe or a device: it could block forever
                return None, "not a regular file (a pipe, socket or device)"
            raw = path.read_bytes()
        except OSError as err:
            return None, f"cannot read file ({err.strerror or err})"
    if not raw:
        return None, "empty file (0 bytes)"
    if hashlib.sha256(raw).hexdigest() in KNOWN_PLACEHOLDERS:
        return None, KNOWN_PLACEHOLDERS[hashlib.sha256(raw).hexdigest()]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw)) as im:
                im.draft("RGB", (size, size))  # JPEG: decode at a reduced scale, far less memory
                im = ImageOps.exif_transpose(im)
                im = to_rgb(im)
                return np.asarray(fit_square(im, size, crop_fraction), dtype=np.uint8), ""
    except UnidentifiedImageError:
        return None, "not an image Pillow can read (wrong extension or not an image)"
    except Image.DecompressionBombError as err:
        return None, f"image too large to decode safely ({err})"
    except (OSError, ValueError, SyntaxError) as err:
        return None, f"damaged image ({err})"
