"""Data sets: the real ones, any folder, splits, subsets, bad files and clear errors."""

import numpy as np
import pytest

from tlcourse.datasets import load_dataset, stratified_split
from tlcourse.errors import CourseError

from imagefiles import make_folder, write_image


def test_hymenoptera_has_the_tutorial_counts_and_skips_the_placeholder_gif(hymenoptera):
    assert hymenoptera.class_names == ["ants", "bees"]
    assert len(hymenoptera.train) == 244 and len(hymenoptera.val) == 153
    assert hymenoptera.train.class_counts(2) == [123, 121]
    assert [s.path.rsplit("/", 1)[-1] for s in hymenoptera.skipped] == ["imageNotFound.gif"]
    assert "placeholder" in hymenoptera.skipped[0].reason
    assert hymenoptera.train.images.shape == (244, 160, 160, 3)
    assert hymenoptera.train.images.dtype == np.uint8
    assert "imageNotFound.gif" in hymenoptera.summary()


def test_a_second_load_comes_from_the_cache_and_is_identical(hymenoptera):
    again = load_dataset("hymenoptera", 160, verbose=False)
    np.testing.assert_array_equal(again.train.images, hymenoptera.train.images)
    assert again.train.paths == hymenoptera.train.paths


def test_per_class_takes_n_per_class_reproducibly(hymenoptera):
    a = hymenoptera.per_class(10, seed=3)
    b = hymenoptera.per_class(10, seed=3)
    c = hymenoptera.per_class(10, seed=4)
    assert a.train.class_counts(2) == [10, 10]
    assert a.train.paths == b.train.paths and a.train.paths != c.train.paths
    assert len(a.val) == len(hymenoptera.val)


def test_per_class_larger_than_available_says_the_maximum(hymenoptera):
    with pytest.raises(CourseError, match="use at most 121"):
        hymenoptera.per_class(500)


def test_pipeline_batches_float_pixels_and_int_labels(hymenoptera):
    batch_x, batch_y = next(iter(hymenoptera.pipeline("train", batch_size=16, augment=True)))
    assert tuple(batch_x.shape) == (16, 160, 160, 3) and batch_x.dtype.name == "float32"
    assert batch_y.dtype.name == "int32"
    assert 0.0 <= float(batch_x.numpy().min()) and float(batch_x.numpy().max()) <= 255.0


def test_validation_pipeline_is_ordered_and_unaugmented(hymenoptera):
    xs = np.concatenate([x.numpy() for x, _ in hymenoptera.pipeline("val", batch_size=64)])
    np.testing.assert_array_equal(xs, hymenoptera.val.images.astype(np.float32))


def test_augmentation_changes_images(hymenoptera):
    plain = next(iter(hymenoptera.pipeline("train", 8, shuffle=False)))[0].numpy()
    augmented = next(iter(hymenoptera.pipeline("train", 8, shuffle=False, augment=True)))[0].numpy()
    assert not np.allclose(plain, augmented)


def test_folder_without_split_is_split_by_seed_with_class_proportions(tmp_path):
    root = make_folder(tmp_path / "pets", per_class=10)
    a = load_dataset(root, 32, seed=1, verbose=False)
    b = load_dataset(root, 32, seed=1, verbose=False)
    c = load_dataset(root, 32, seed=2, verbose=False)
    assert a.class_names == ["cats", "dogs"]
    assert a.train.class_counts(2) == [7, 7] and a.val.class_counts(2) == [3, 3]
    assert a.val.paths == b.val.paths and a.val.paths != c.val.paths
    assert not set(a.train.paths) & set(a.val.paths)


def test_folder_with_train_and_val_keeps_them(tmp_path):
    root = make_folder(tmp_path / "pets", per_class=3, split=True)
    data = load_dataset(root, 32, verbose=False)
    assert all("/train/" in p for p in data.train.paths) and all("/val/" in p for p in data.val.paths)


def test_bad_files_are_skipped_and_reported_by_name(tmp_path):
    root = make_folder(tmp_path / "pets", per_class=4)
    (root / "cats" / "notes.jpg").write_text("not an image")
    (root / "cats" / "empty.png").write_bytes(b"")
    good = write_image(root / "dogs" / "cut.jpg", 99, size=(64, 64), fmt="JPEG")
    good.write_bytes(good.read_bytes()[:200])
    data = load_dataset(root, 32, verbose=False)
    reasons = {s.path.rsplit("/", 1)[-1]: s.reason for s in data.skipped}
    assert set(reasons) == {"notes.jpg", "empty.png", "cut.jpg"}
    assert "0 bytes" in reasons["empty.png"]
    assert len(data.train) + len(data.val) == 8


def test_odd_but_valid_images_are_used_as_rgb(tmp_path):
    root = make_folder(tmp_path / "pets", per_class=3)
    write_image(root / "cats" / "grey.png", 1, mode="L")
    write_image(root / "cats" / "palette.gif", 2, mode="P")
    write_image(root / "dogs" / "cmyk.jpg", 3, mode="CMYK", fmt="JPEG")
    write_image(root / "dogs" / "alpha.png", 4, mode="RGBA")
    data = load_dataset(root, 32, verbose=False)
    assert data.skipped == []
    assert len(data.train) + len(data.val) == 10
    assert data.train.images.shape[1:] == (32, 32, 3)


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(CourseError, match="no such folder: .*nowhere"):
        load_dataset(tmp_path / "nowhere", verbose=False)


def test_unknown_dataset_name_lists_the_known_ones():
    with pytest.raises(CourseError, match="hymenoptera, elpv, fashion_mnist"):
        load_dataset("cifar10", verbose=False)


def test_single_class_is_refused(tmp_path):
    root = make_folder(tmp_path / "one", classes=("cats",))
    with pytest.raises(CourseError, match="at least two class subfolders"):
        load_dataset(root, verbose=False)


def test_empty_class_folder_is_named(tmp_path):
    root = make_folder(tmp_path / "pets")
    (root / "birds").mkdir()
    with pytest.raises(CourseError, match="birds is empty"):
        load_dataset(root, verbose=False)


def test_class_of_only_bad_files_is_named(tmp_path):
    root = make_folder(tmp_path / "pets")
    (root / "birds").mkdir()
    (root / "birds" / "x.jpg").write_text("nope")
    with pytest.raises(CourseError, match="birds has no usable image"):
        load_dataset(root, verbose=False)


def test_stratified_split_keeps_every_index_once():
    labels = np.array([0] * 10 + [1] * 5)
    train, val = stratified_split(labels, 0.2, seed=0)
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(15))
    assert np.bincount(labels[val]).tolist() == [2, 1]


def test_elpv_is_the_solar_cell_set_with_defective_at_p_half():
    data = load_dataset("elpv", 64, verbose=False)
    assert data.class_names == ["functional", "defective"]
    total = np.add(data.train.class_counts(2), data.val.class_counts(2)).tolist()
    assert total == [1803, 821]
    assert abs(len(data.val) / 2624 - 0.3) < 0.01
    assert data.train.images.shape[1:] == (64, 64, 3)


def test_solar_cells_resized_grey_have_the_pixels_of_resizing_them_in_rgb():
    from PIL import Image

    from tlcourse.datasets import _grey_to_rgb
    from tlcourse.images import fit_square

    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (4, 300, 300), dtype=np.uint8)
    grey[1] = np.linspace(0, 255, 300, dtype=np.uint8)  # smooth ramps and noise, like cells and their cracks
    for size in (64, 160, 299):
        want = np.stack([np.asarray(fit_square(Image.fromarray(g).convert("RGB"), size)) for g in grey])
        assert np.array_equal(_grey_to_rgb(grey, lambda im, size=size: fit_square(im, size)), want), size


def _write_idx(path, array: np.ndarray) -> None:
    import gzip

    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def fake_fashion(tmp_path, monkeypatch):
    """Fashion-MNIST's four files, small: image k of a split is filled with k (its identity), label k % 10."""
    import tlcourse.datasets as datasets

    folder = tmp_path / "data" / "fashion-mnist"
    folder.mkdir(parents=True)
    for split, n, offset in (("train", 120, 0), ("test", 60, 200)):
        images_file, labels_file = datasets.FASHION_FILES[split]
        _write_idx(folder / images_file, np.repeat(np.arange(offset, offset + n), 28 * 28).reshape(n, 28, 28))
        _write_idx(folder / labels_file, np.arange(n) % 10)
    monkeypatch.setenv("TLCOURSE_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(datasets, "FASHION_EVAL_PER_CLASS", 2)
    return folder


def test_fashion_mnist_splits_are_disjoint_balanced_and_its_test_is_its_own(fake_fashion):
    from tlcourse.datasets import fashion_mnist_path

    assert fashion_mnist_path(download=False) == fake_fashion
    data = load_dataset("fashion_mnist", 32, per_class=5, seed=3, verbose=False)
    ids = {name: data.split(name).images[:, 0, 0, 0].tolist() for name in ("train", "val", "test")}
    assert [data.split(n).class_counts(10) for n in ("train", "val", "test")] == [[5] * 10, [2] * 10, [2] * 10]
    assert not set(ids["train"]) & set(ids["val"]), "a validation image is also a training image"
    assert all(i < 120 for i in ids["train"] + ids["val"]) and all(i >= 200 for i in ids["test"])
    for name in ("train", "val", "test"):  # each image keeps its label (k % 10 for image k)
        split = data.split(name)
        offset = 200 if name == "test" else 0
        assert ((split.images[:, 0, 0, 0].astype(int) - offset) % 10 == split.labels).all()
    assert data.train.images.shape[1:] == (32, 32, 3) and data.num_classes == 10
    again = load_dataset("fashion_mnist", 32, per_class=5, seed=3, verbose=False)
    assert np.array_equal(again.train.images, data.train.images)
    bigger = load_dataset("fashion_mnist", 32, per_class=8, seed=3, verbose=False)
    assert set(ids["train"]) <= set(bigger.train.images[:, 0, 0, 0].tolist()), "a larger subset contains the smaller"
    assert bigger.val.images[:, 0, 0, 0].tolist() == ids["val"], "the validation images do not depend on per_class"


def test_capped_keeps_the_first_images_of_each_class_in_the_splits_named(fake_fashion):
    data = load_dataset("fashion_mnist", 32, per_class=5, verbose=False)
    small = data.capped(1)
    assert small.val.class_counts(10) == [1] * 10 and small.test.class_counts(10) == [1] * 10
    assert small.train is data.train, "the training split is not named: unchanged"
    first = [int(np.flatnonzero(data.val.labels == c)[0]) for c in range(10)]
    assert small.val.images[:, 0, 0, 0].tolist() == data.val.images[sorted(first), 0, 0, 0].tolist()
    assert data.capped(None) is data
    assert data.capped(1, splits=("train",)).train.class_counts(10) == [1] * 10
    with pytest.raises(CourseError, match="at least 1"):
        data.capped(0)


def test_fashion_mnist_asking_more_than_there_is_says_so(fake_fashion):
    with pytest.raises(CourseError, match="11 training images per class asked.*use at most 10"):
        load_dataset("fashion_mnist", 32, per_class=11, verbose=False)


def test_fashion_mnist_missing_offline_says_how_to_install_it(tmp_path, monkeypatch):
    import keras

    import tlcourse.datasets as datasets

    monkeypatch.setenv("TLCOURSE_DATA", str(tmp_path))
    monkeypatch.setattr(datasets, "FASHION_FOLDERS", (tmp_path / "nowhere", tmp_path / "keras"))

    def offline():
        raise OSError("Name or service not known")

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", offline)
    assert datasets.fashion_mnist_path(download=False) is None
    with pytest.raises(CourseError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion_mnist", 32, verbose=False)


@pytest.mark.parametrize(
    "raw", [b"", b"\x00\x00\x08", b"\x00\x00\x0d\x01\x00\x00\x00\x01\x00", b"\x00\x00\x08\x01\x00\x00\x00\x05ab"]
)
def test_a_damaged_idx_file_is_named(tmp_path, raw):
    from tlcourse.datasets import read_idx

    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(raw)
    with pytest.raises(CourseError, match="bad-idx1-ubyte"):
        read_idx(path)
