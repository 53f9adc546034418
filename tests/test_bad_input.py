"""A corpus of 30+ bad or odd files: every decodable one used (RGB, upright), every other one
skipped and reported by name with its reason, training finishes. Zero crashes."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from badcorpus import USED, build_corpus, exif_rotated_jpeg

from tlcourse.images import decode_image

LOADER = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from tlcourse.datasets import load_dataset
    from tlcourse.catalogue import Recipe
    from tlcourse.experiments import train_recipe
    data = load_dataset(sys.argv[1], 64, val_fraction=0.25, verbose=False)
    used = data.train.paths + data.val.paths
    images = np.concatenate([data.train.images, data.val.images])
    run = train_recipe(data, Recipe("scratch", head_epochs=1), progress=False).run
    print(json.dumps({
        "used": used,
        "skipped": {s.path: s.reason for s in data.skipped},
        "shape": list(images.shape[1:]),
        "dtype": str(images.dtype),
        "trained_epochs": len(run.history["loss"]),
        "val_accuracy": run.val.accuracy,
    }))
    """
)


def _without_file_permission_override():
    """As root every file is readable; drop the capabilities that make it so (util-linux setpriv)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if not setpriv:
        pytest.fail("running as root without util-linux `setpriv`: cannot make a file unreadable for this test")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus") / "photos"
    expected = build_corpus(root)
    cache = tmp_path_factory.mktemp("cache")
    result = subprocess.run(
        _without_file_permission_override() + [sys.executable, "-c", LOADER, str(root)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TLCOURSE_CACHE": str(cache)},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return root, expected, json.loads(result.stdout.strip().splitlines()[-1])


def test_the_corpus_has_at_least_thirty_bad_or_odd_files(corpus):
    _, expected, _ = corpus
    odd = [p for p in expected if "good_" not in p]
    assert len(odd) >= 30, len(odd)


def test_every_decodable_file_is_used_and_every_other_one_skipped_with_a_reason(corpus):
    root, expected, outcome = corpus
    used = {os.path.relpath(p, root) for p in outcome["used"]}
    skipped = {os.path.relpath(p, root): reason for p, reason in outcome["skipped"].items()}
    for rel, want in expected.items():
        if want == USED:
            assert rel in used, f"{rel} should be used; skipped because: {skipped.get(rel)}"
        else:
            assert rel in skipped and skipped[rel], f"{rel} should be skipped with a reason"
    assert not any(".ipynb_checkpoints" in p for p in used | set(skipped))  # hidden folders not entered


def test_reasons_say_what_is_wrong(corpus):
    root, _, outcome = corpus
    reasons = {os.path.relpath(p, root): r for p, r in outcome["skipped"].items()}
    assert "0 bytes" in reasons["ants/zero_bytes.jpg"]
    assert "hidden" in reasons["ants/.hidden_photo.jpg"]
    assert "Permission denied" in reasons["ants/unreadable.jpg"]
    assert "too large" in reasons["bees/bomb.png"]
    assert "not an image" in reasons["ants/text_renamed.jpg"]
    if "bees/pipe.jpg" in reasons:
        assert "not a regular file" in reasons["bees/pipe.jpg"]
    if "ants/loop.jpg" in reasons:
        assert "cannot read" in reasons["ants/loop.jpg"]


def test_images_come_out_rgb_and_training_finishes(corpus):
    _, _, outcome = corpus
    assert outcome["shape"] == [64, 64, 3] and outcome["dtype"] == "uint8"
    assert outcome["trained_epochs"] == 1 and 0.0 <= outcome["val_accuracy"] <= 1.0


def test_exif_orientation_is_applied(tmp_path):
    path = tmp_path / "rotated.jpg"
    path.write_bytes(exif_rotated_jpeg())
    image, reason = decode_image(path, 30)
    assert reason == ""
    # stored: left red, right blue; rotated 90 degrees clockwise for display: top red, bottom blue
    top, bottom = image[:10].mean(axis=(0, 1)), image[-10:].mean(axis=(0, 1))
    assert top[0] > 200 and top[2] < 60 and bottom[2] > 200 and bottom[0] < 60


def test_an_upload_decodes_exactly_like_the_same_file(tmp_path):
    """Bytes (a widget's upload) and a path take one decoder: the same rotation, crop and pixels."""
    raw = exif_rotated_jpeg()
    (tmp_path / "rotated.jpg").write_bytes(raw)
    from_file, _ = decode_image(tmp_path / "rotated.jpg", 30, 0.875)
    from_bytes, reason = decode_image(raw, 30, 0.875)
    assert reason == "" and np.array_equal(from_file, from_bytes)
    assert decode_image(b"<html>not an image</html>", 30)[0] is None


def test_sixteen_bit_png_keeps_its_contrast(tmp_path):
    from PIL import Image

    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (64, 1))
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    image, _ = decode_image(tmp_path / "ramp.png", 64)
    assert image[:, 0].mean() < 10 and image[:, -1].mean() > 245  # scaled, not clipped to white


def test_a_12000_pixel_jpeg_decodes_in_bounded_memory(tmp_path):
    from PIL import Image

    path = tmp_path / "huge.jpg"
    Image.new("RGB", (12000, 12000), (10, 200, 30)).save(path, quality=50)
    code = (
        "import re\nfrom tlcourse.images import decode_image\n"
        f"img, reason = decode_image({str(path)!r}, 160)\n"
        "peak = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
        "print(img.shape, reason, peak)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    shape, peak_kb = result.stdout.split(")")[0] + ")", int(result.stdout.split()[-1])
    assert shape == "(160, 160, 3)"
    assert peak_kb < 300_000, f"peak memory {peak_kb / 1024:.0f} MB: the full 432 MB image was decoded"
