"""Generate a class-folder data set full of bad and odd files, with the expected outcome of each.

Everything is made on the fly (no binaries in git). ``build_corpus(root)`` returns
``{relative path: "used" | "skipped"}``; a few entries exist only where the platform
allows them (symlinks, a FIFO).
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

USED, SKIPPED = "used", "skipped"


def _noise(w: int, h: int, seed: int) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def _jpeg_bytes(img: Image.Image, **kwargs) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", **kwargs)
    return buffer.getvalue()


def exif_rotated_jpeg() -> bytes:
    """60x30 stored image, left half red, right half blue, EXIF orientation 6 (rotate 90 CW to view)."""
    array = np.zeros((30, 60, 3), np.uint8)
    array[:, :30] = (255, 0, 0)
    array[:, 30:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    return _jpeg_bytes(Image.fromarray(array), exif=exif.tobytes(), quality=95)


def huge_png_header() -> bytes:
    """A valid PNG signature and IHDR claiming 100000 x 100000 pixels: a decompression bomb."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def build_corpus(root: Path, huge: bool = True) -> dict[str, str]:
    """Write the corpus under ``root/ants`` and ``root/bees``; return expected outcomes."""
    ants, bees = root / "ants", root / "bees"
    for d in (ants, bees):
        d.mkdir(parents=True, exist_ok=True)
    expected: dict[str, str] = {}

    def put(
        rel: str,
        data: bytes | None = None,
        image: Image.Image | None = None,
        fmt: str | None = None,
        outcome: str = USED,
        **save,
    ):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if image is not None:
            image.save(path, format=fmt, **save)
        else:
            path.write_bytes(data or b"")
        expected[rel] = outcome
        return path

    # ---- good or odd but decodable: used
    for i in range(4):
        put(f"ants/good_{i}.jpg", image=_noise(80, 60, i), fmt="JPEG")
        put(f"bees/good_{i}.jpg", image=_noise(80, 60, 10 + i), fmt="JPEG")
    put("ants/cmyk.jpg", image=_noise(50, 40, 20).convert("CMYK"), fmt="JPEG")
    deep = (np.random.default_rng(21).integers(0, 65535, (40, 50))).astype(np.uint16)
    put("ants/deep16.png", image=Image.fromarray(deep), fmt="PNG")
    put("ants/rgba.png", image=_noise(50, 40, 22).convert("RGBA"), fmt="PNG")
    put("ants/palette.png", image=_noise(50, 40, 23).convert("P"), fmt="PNG")
    transparent = _noise(50, 40, 24).convert("P")
    put("ants/palette_transparent.png", image=transparent, fmt="PNG", transparency=0)
    put("ants/grey.jpg", image=_noise(50, 40, 25).convert("L"), fmt="JPEG")
    put("ants/grey_alpha.png", image=_noise(50, 40, 26).convert("LA"), fmt="PNG")
    frames = [_noise(40, 40, 30 + k).convert("P") for k in range(3)]
    put("bees/animated.gif", image=frames[0], fmt="GIF", save_all=True, append_images=frames[1:], duration=100)
    put("bees/one_pixel.png", image=_noise(1, 1, 27), fmt="PNG")
    put("bees/exif_rotated.jpg", data=exif_rotated_jpeg())
    put("bees/UPPER.JPG", image=_noise(50, 40, 28), fmt="JPEG")
    put("bees/odd.jfif", image=_noise(50, 40, 29), fmt="JPEG")
    put("bees/no_extension", image=_noise(50, 40, 31), fmt="PNG")
    put("bees/wrong_extension.txt", image=_noise(50, 40, 32), fmt="JPEG")
    put("bees/abeille_été_蜂.png", image=_noise(50, 40, 33), fmt="PNG")
    put("bees/my bee photo.png", image=_noise(50, 40, 34), fmt="PNG")
    put("bees/webp.webp", image=_noise(50, 40, 35), fmt="WEBP")
    put("bees/bitmap.bmp", image=_noise(50, 40, 36), fmt="BMP")
    put("bees/nested/deeper.png", image=_noise(50, 40, 37), fmt="PNG")
    if huge:
        put("ants/huge_12000.jpg", image=Image.new("RGB", (12000, 12000), (120, 80, 40)), fmt="JPEG", quality=50)

    # ---- not usable: skipped with a reason
    truncated = _jpeg_bytes(_noise(120, 90, 40))
    put("ants/truncated.jpg", data=truncated[: len(truncated) // 3], outcome=SKIPPED)
    put("ants/zero_bytes.jpg", data=b"", outcome=SKIPPED)
    put("ants/text_renamed.jpg", data=b"just some notes, not a photo\n" * 10, outcome=SKIPPED)
    put("ants/page_saved_as.png", data=b"<!DOCTYPE html><html><body>404</body></html>", outcome=SKIPPED)
    put("bees/vector.svg", data=b'<svg xmlns="http://www.w3.org/2000/svg"><circle r="4"/></svg>', outcome=SKIPPED)
    good_png = io.BytesIO()
    _noise(60, 60, 41).save(good_png, format="PNG")
    damaged = bytearray(good_png.getvalue())
    damaged[len(damaged) // 2 : len(damaged) // 2 + 64] = b"\x00" * 64
    put("bees/damaged.png", data=bytes(damaged), outcome=SKIPPED)
    put("bees/gif_header_only.gif", data=b"GIF89a" + os.urandom(20), outcome=SKIPPED)
    put("bees/bomb.png", data=huge_png_header(), outcome=SKIPPED)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("a.txt", "zip")
    put("bees/archive_renamed.png", data=archive.getvalue(), outcome=SKIPPED)
    put("ants/.hidden_photo.jpg", image=_noise(50, 40, 42), fmt="JPEG", outcome=SKIPPED)
    put("bees/.DS_Store", data=b"\x00\x00\x00\x01Bud1", outcome=SKIPPED)
    put("ants/unreadable.jpg", image=_noise(50, 40, 43), fmt="JPEG", outcome=SKIPPED).chmod(0)
    (root / "ants" / ".ipynb_checkpoints").mkdir()  # hidden folders are not entered at all
    (root / "ants" / ".ipynb_checkpoints" / "copy.jpg").write_bytes(_jpeg_bytes(_noise(20, 20, 44)))

    # ---- links and special files
    try:
        os.symlink("loop.jpg", ants / "loop.jpg")
        expected["ants/loop.jpg"] = SKIPPED
        os.symlink("does_not_exist.jpg", ants / "dangling.jpg")
        expected["ants/dangling.jpg"] = SKIPPED
        os.symlink(ants / "good_0.jpg", bees / "link_to_good.jpg")
        expected["bees/link_to_good.jpg"] = USED
        os.symlink(root, bees / "folder_loop")  # a directory symlink to the root: not followed
    except OSError:
        pass
    if hasattr(os, "mkfifo"):
        os.mkfifo(bees / "pipe.jpg")
        expected["bees/pipe.jpg"] = SKIPPED
    return expected
