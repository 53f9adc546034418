"""Image data sets as in-memory arrays and ``tf.data`` pipelines.

Sources: ``"hymenoptera"`` (ants vs bees, the PyTorch tutorial's set), ``"elpv"`` (solar
cells, PyPI ``elpv-dataset``), ``"fashion_mnist"`` (70,000 clothing images: Debian's
``dataset-fashion-mnist`` or Keras' copy) or any folder of class subfolders (with ``train/`` and
``val/`` inside, or split here by seed). Images are decoded and resized once, kept as
``uint8`` arrays and cached on disk (``tlcourse.cache``): at course scale (hundreds to a
few thousand images) that is faster than decoding JPEGs every epoch and makes every
later step deterministic. Files that are not usable images are skipped and reported.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
import warnings
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from tlcourse.cache import cache_dir, data_root, load_arrays, save_arrays
from tlcourse.errors import CourseError
from tlcourse.images import decode_image

HYMENOPTERA_URL = "https://download.pytorch.org/tutorial/hymenoptera_data.zip"
HYMENOPTERA_COUNTS = {"train": {"ants": 124, "bees": 121}, "val": {"ants": 70, "bees": 83}}
HYMENOPTERA_TREE_SHA256 = "c415c930edc58a3d84c6f6b2c058ca7ea03038a196f05330aa86b3249cf557b7"
ELPV_CLASSES = ["functional", "defective"]
FASHION_CLASSES = [
    "T-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
]
FASHION_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
FASHION_FOLDERS = (Path("/usr/share/datasets/fashion-mnist"), Path.home() / ".keras" / "datasets" / "fashion-mnist")
FASHION_EVAL_PER_CLASS = 500  # validation and test images per class drawn for Fashion-MNIST (5,000 each)
DECODE_VERSION = 2  # bump when decoding changes, so cached arrays are rebuilt


@dataclass(frozen=True)
class SkippedFile:
    """A file that was not used, and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class ImageSplit:
    """Images (N, H, W, 3) uint8, integer labels, and where each image came from."""

    images: np.ndarray
    labels: np.ndarray
    paths: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, index) -> ImageSplit:
        index = np.asarray(index, dtype=int)
        return ImageSplit(self.images[index], self.labels[index], [self.paths[i] for i in index])

    def class_counts(self, num_classes: int) -> list[int]:
        return np.bincount(self.labels, minlength=num_classes).tolist()


@dataclass
class ImageData:
    """A labelled image set split into train and validation, ready for Keras."""

    name: str
    class_names: list[str]
    train: ImageSplit
    val: ImageSplit
    image_size: int
    skipped: list[SkippedFile] = field(default_factory=list)
    test: ImageSplit | None = None  # held out from every choice (``with_test_split``)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.image_size, self.image_size, 3)

    def split(self, name: str) -> ImageSplit:
        if name == "test" and self.test is None:
            raise CourseError(f"{self.name} has no test split: make one with data.with_test_split()")
        if name not in ("train", "val", "test"):
            raise CourseError(f"unknown split {name!r}: use 'train', 'val' or 'test'")
        return {"train": self.train, "val": self.val, "test": self.test}[name]

    def with_test_split(self, fraction: float = 0.5, seed: int = 0) -> ImageData:
        """The same data with ``fraction`` of the validation images moved to a test split.

        Validation images are for choices (learning rate, epochs, strategy); the test images,
        never seen by a choice, are for the numbers you report. The training set is untouched
        (stratified, so both parts keep the class proportions; fixed by ``seed``).
        """
        if self.test is not None:
            raise CourseError(f"{self.name} already has a test split ({len(self.test)} images)")
        keep, test = stratified_split(self.val.labels, fraction, seed)
        return replace(self, val=self.val.take(keep), test=self.val.take(test))

    def with_fresh_test(self, seed: int = 0) -> ImageData:
        """A new test split drawn from the training images; the spent one joins the training set.

        A test split is *spent* once a choice looked at its scores (a recipe kept because it did better
        there): numbers on it are then optimistic. Training images were only trained on, never scored,
        so no choice has seen how a model does on them. This draws, per class, as many training images
        as the old test split has (fixed by ``seed``) and makes them the test split; the old test images
        take their place in training, so every split keeps its size and class counts. Validation is
        untouched.
        """
        if self.test is None:
            raise CourseError(f"{self.name} has no test split to replace: make one with data.with_test_split()")
        needed = self.test.class_counts(self.num_classes)
        have = self.train.class_counts(self.num_classes)
        for c, (n, available) in enumerate(zip(needed, have)):
            if n > available:
                raise CourseError(
                    f"a fresh test split needs {n} training images of class {self.class_names[c]!r}, "
                    f"there are {available}: call with_fresh_test() before per_class()"
                )
        test = _draw_per_class(self.train.labels, needed, seed)
        kept = self.train.take(np.setdiff1d(np.arange(len(self.train)), test))
        train = ImageSplit(
            np.concatenate([kept.images, self.test.images]),
            np.concatenate([kept.labels, self.test.labels]),
            kept.paths + list(self.test.paths),
        )
        return replace(self, train=train, test=self.train.take(test))

    def capped(self, n: int | None, splits: tuple[str, ...] = ("val", "test")) -> ImageData:
        """The same data with at most ``n`` images per class in each of ``splits`` (the first ones; None: as is).

        For short runs: fewer images to score, the same ones every time (``per_class`` draws training
        images at random instead).
        """
        if n is None:
            return self
        if n < 1:
            raise CourseError(f"images per class must be at least 1, got {n}")
        changes = {}
        for name in splits:
            if name == "test" and self.test is None:
                continue  # nothing held out to cap
            part = self.split(name)
            keep = [np.flatnonzero(part.labels == c)[:n] for c in range(self.num_classes)]
            changes[name] = part.take(np.sort(np.concatenate(keep)))
        return replace(self, **changes)

    def per_class(self, n: int, seed: int = 0) -> ImageData:
        """The same data with only ``n`` training images per class (chosen by ``seed``)."""
        counts = self.train.class_counts(self.num_classes)
        if n < 1:
            raise CourseError(f"images per class must be at least 1, got {n}")
        smallest = min(counts)
        if n > smallest:
            cls = self.class_names[counts.index(smallest)]
            raise CourseError(
                f"{n} images per class requested but class {cls!r} has only {smallest} training images: "
                f"use at most {smallest}"
            )
        return replace(self, train=self.train.take(_draw_per_class(self.train.labels, [n] * self.num_classes, seed)))

    def pipeline(
        self,
        split: str = "train",
        batch_size: int = 32,
        shuffle: bool | None = None,
        augment: bool = False,
        seed: int = 0,
    ):
        """A ``tf.data`` pipeline of (float32 pixels 0..255, int labels) batches.

        Shuffles the training split by default; ``augment`` adds random flips, small
        rotations and zooms, applied per batch. Prefetches so the model never waits.
        """
        import tensorflow as tf

        part = self.split(split)
        ds = tf.data.Dataset.from_tensor_slices((part.images, part.labels.astype("int32")))
        if split == "train" if shuffle is None else shuffle:
            ds = ds.shuffle(len(part), seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size).map(lambda x, y: (tf.cast(x, tf.float32), y))
        if augment:
            augmenter = augmentation(seed)
            ds = ds.map(lambda x, y: (augmenter(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
        return ds.prefetch(tf.data.AUTOTUNE)

    def summary(self) -> str:
        """Counts per class and split, and the skipped files, as readable text."""
        train = self.train.class_counts(self.num_classes)
        val = self.val.class_counts(self.num_classes)
        test = self.test.class_counts(self.num_classes) if self.test is not None else None
        held_out = f" / {len(self.test)} test" if test else ""
        lines = [f"{self.name}: {len(self.train)} train / {len(self.val)} val{held_out} images, {self.image_size} px"]
        for i, (c, t, v) in enumerate(zip(self.class_names, train, val)):
            lines.append(f"  {c:<20} train {t:>5}  val {v:>5}" + (f"  test {test[i]:>5}" if test else ""))
        lines += skipped_report(self.skipped)
        return "\n".join(lines)


def skipped_report(skipped: list[SkippedFile]) -> list[str]:
    if not skipped:
        return []
    return [f"  skipped {len(skipped)} file(s) that are not usable images:"] + [f"    {s}" for s in skipped]


def augmentation(seed: int = 0):
    """Random horizontal flip, small rotation and zoom: the usual augmentation for photos."""
    import keras

    return keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.RandomRotation(0.05, seed=seed + 1),
            keras.layers.RandomZoom(0.1, seed=seed + 2),
        ],
        name="augmentation",
    )


# --------------------------------------------------------------------------- loading


def load_dataset(
    source: str | os.PathLike = "hymenoptera",
    image_size: int = 160,
    per_class: int | None = None,
    seed: int = 0,
    val_fraction: float = 0.3,
    verbose: bool = True,
) -> ImageData:
    """Load ``source`` (a data set name or a folder) as ``ImageData``.

    ``per_class`` keeps that many training images per class (small-data experiments);
    ``val_fraction`` and ``seed`` decide the split where the source has none. Fashion-MNIST
    comes with its own test split: 500 images per class of its official test set as ``test``, and
    500 per class of its training set as ``val`` (``seed`` draws them).
    """
    if image_size < 8:
        raise CourseError(f"image size {image_size} px is too small: use at least 32")
    if str(source) == "elpv":
        data = _load_elpv(image_size, seed, val_fraction)
    elif str(source) == "fashion_mnist":  # 60,000 training images: resize only those asked for
        data = _load_fashion(image_size, per_class, seed)
        per_class = None
    else:
        folder = hymenoptera_path() if str(source) == "hymenoptera" else Path(source)
        data = load_folder(folder, image_size, seed, val_fraction, name=str(source))
    if per_class is not None:
        data = data.per_class(per_class, seed)
    if verbose:
        print(data.summary())
    return data


DATASET_NAMES = ("hymenoptera", "elpv", "fashion_mnist")


def load_folder(
    folder: Path, image_size: int, seed: int = 0, val_fraction: float = 0.3, name: str | None = None
) -> ImageData:
    """A folder of class subfolders, with ``train/`` and ``val/`` inside or split here by seed."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        hint = f"; known data sets: {', '.join(DATASET_NAMES)}" if os.sep not in str(folder) else ""
        raise CourseError(f"no such folder: {folder} (give a folder of class subfolders{hint})")
    name = name or folder.name
    if (folder / "train").is_dir() and (folder / "val").is_dir():
        train, skipped = _load_split(folder / "train", image_size)
        val, skipped_val = _load_split(folder / "val", image_size, class_names=train[0])
        return ImageData(name, train[0], train[1], val[1], image_size, skipped + skipped_val)
    (class_names, everything), skipped = _load_split(folder, image_size)
    train_idx, val_idx = stratified_split(everything.labels, val_fraction, seed)
    return ImageData(name, class_names, everything.take(train_idx), everything.take(val_idx), image_size, skipped)


def _draw_per_class(labels: np.ndarray, counts: list[int], seed: int) -> np.ndarray:
    """Sorted indices of ``counts[c]`` images of each class ``c``, drawn at random (fixed by ``seed``)."""
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:n] for c, n in enumerate(counts)]
    return np.sort(np.concatenate(chosen))


def stratified_split(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a train/val split with the same class proportions in both, fixed by ``seed``."""
    if not 0 < val_fraction < 1:
        raise CourseError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_val = max(1, round(len(idx) * val_fraction)) if len(idx) > 1 else 0
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def _class_folders(folder: Path) -> list[Path]:
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        found = f"only {classes[0].name!r}" if classes else "none"
        raise CourseError(
            f"{folder} needs at least two class subfolders (one folder of images per class); found {found}"
        )
    return classes


def _files_in(class_folder: Path) -> list[Path]:
    """Every file under a class folder, sorted; hidden and symlinked folders are not entered (no loops)."""
    files = []
    for root, dirs, names in os.walk(class_folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # .ipynb_checkpoints, .git, ...
        files.extend(Path(root) / n for n in sorted(names))
    return files


def _load_split(folder: Path, image_size: int, class_names: list[str] | None = None):
    """Decode every file of one split (through the cache); returns ((class names, split), skipped)."""
    classes = _class_folders(folder)
    names = [c.name for c in classes]
    if class_names is not None and names != class_names:
        raise CourseError(f"{folder} has classes {names} but the training split has {class_names}: make them match")
    files = [(f, label) for label, c in enumerate(classes) for f in _files_in(c)]
    for label, c in enumerate(classes):
        if not any(lab == label for _, lab in files):
            raise CourseError(f"class folder {c} is empty: add images to it or remove it")
    arrays = _decode_cached(folder, files, image_size)
    keep = arrays["ok"].astype(bool)
    skipped = [SkippedFile(str(f), str(r)) for (f, _), r, k in zip(files, arrays["reasons"], keep) if not k]
    paths = [str(f) for (f, _), k in zip(files, keep) if k]
    labels = np.array([lab for (_, lab), k in zip(files, keep) if k], dtype=np.int64)
    for label, c in enumerate(classes):
        if not np.any(labels == label):
            raise CourseError(f"class folder {c} has no usable image (all {len(skipped)} skipped): add images")
    split = ImageSplit(arrays["images"][keep], labels, paths)
    return (names, split), skipped


def _fingerprint(files: list[tuple[Path, int]], image_size: int) -> str:
    h = hashlib.sha256(f"v{DECODE_VERSION}|{image_size}".encode())
    for f, label in files:
        try:
            st = f.stat()
            h.update(f"{f.resolve()}|{label}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{f}|{label}|unreadable\n".encode())
    return h.hexdigest()[:24]


def _decode_cached(folder: Path, files, image_size: int) -> dict[str, np.ndarray]:
    path = cache_dir() / "decoded" / f"{folder.name}-{image_size}px-{_fingerprint(files, image_size)}.npz"
    arrays = load_arrays(path)
    if arrays is None:
        arrays = _decode_all([f for f, _ in files], image_size, desc=f"decoding {folder}")
        save_arrays(path, arrays)
    return arrays


def _decode_all(paths: list[Path], image_size: int, desc: str) -> dict[str, np.ndarray]:
    from tqdm.auto import tqdm

    images = np.zeros((len(paths), image_size, image_size, 3), np.uint8)
    ok = np.zeros(len(paths), bool)
    reasons = [""] * len(paths)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = pool.map(lambda p: decode_image(p, image_size), paths)
        for i, (array, reason) in enumerate(
            tqdm(results, total=len(paths), desc=desc, leave=False, disable=len(paths) < 50)
        ):
            if array is not None:
                images[i], ok[i] = array, True
            reasons[i] = reason
    return {"images": images, "ok": ok, "reasons": np.array(reasons, dtype=str)}


# --------------------------------------------------------------------------- named sets


def hymenoptera_path() -> Path:
    """The ants/bees folder: under the data root or the cache, else downloaded once."""
    for root in (data_root(), cache_dir() / "data"):
        candidate = root / "hymenoptera_data"
        if (candidate / "train").is_dir() and (candidate / "val").is_dir():
            return candidate
    return _download_hymenoptera(cache_dir() / "data")


def tree_digest(folder: Path) -> str:
    """sha256 over the sorted relative paths and contents of every file in ``folder``."""
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(f.relative_to(folder).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


def _download_hymenoptera(target_root: Path) -> Path:
    """Download, verify (counts per class) and unpack the ants/bees zip atomically."""
    target_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target_root) as tmp:
        archive = Path(tmp) / "hymenoptera_data.zip"
        print(f"downloading {HYMENOPTERA_URL} (45 MB) ...")
        try:
            with urllib.request.urlopen(HYMENOPTERA_URL, timeout=20) as response, open(archive, "wb") as out:
                shutil.copyfileobj(response, out)
        except OSError as err:  # includes timeouts
            raise CourseError(
                f"ants/bees data not found under {data_root()} and the download failed ({err}): "
                f"set TLCOURSE_DATA to a folder holding hymenoptera_data/, or connect and retry"
            ) from err
        try:
            with zipfile.ZipFile(archive) as z:
                z.extractall(tmp)
        except zipfile.BadZipFile as err:
            raise CourseError(f"the downloaded archive is damaged ({err}): run again to retry") from err
        unpacked = Path(tmp) / "hymenoptera_data"
        _verify_hymenoptera(unpacked)
        final = target_root / "hymenoptera_data"
        if not final.exists():
            os.replace(unpacked, final)
    return final


def _verify_hymenoptera(folder: Path) -> None:
    for split, classes in HYMENOPTERA_COUNTS.items():
        for cls, expected in classes.items():
            found = len([p for p in (folder / split / cls).glob("*") if p.is_file()])
            if found != expected:
                raise CourseError(
                    f"downloaded ants/bees data has {found} files in {split}/{cls}, expected {expected}: "
                    "the archive changed or is damaged; delete it and retry"
                )
    if tree_digest(folder) != HYMENOPTERA_TREE_SHA256:
        warnings.warn(
            "downloaded ants/bees files differ from the recorded checksum (datasets/hymenoptera.md); "
            "counts match, so they are used",
            stacklevel=3,
        )


def _load_elpv(image_size: int, seed: int, val_fraction: float) -> ImageData:
    """ELPV solar cells: defective when the annotated defect probability is >= 0.5."""
    path = cache_dir() / "decoded" / f"elpv-{image_size}px-v{DECODE_VERSION}.npz"
    arrays = load_arrays(path)
    if arrays is None:
        arrays = _decode_elpv(image_size)
        save_arrays(path, arrays)
    labels = arrays["labels"].astype(np.int64)
    everything = ImageSplit(arrays["images"], labels, [f"elpv:{i}" for i in range(len(labels))])
    train_idx, val_idx = stratified_split(labels, val_fraction, seed)
    return ImageData("elpv", ELPV_CLASSES, everything.take(train_idx), everything.take(val_idx), image_size)


def _decode_elpv(image_size: int) -> dict[str, np.ndarray]:
    try:
        from elpv_dataset.utils import load_dataset as load_elpv
    except ImportError as err:
        raise CourseError("the elpv data set needs the PyPI package elpv-dataset: pip install elpv-dataset") from err
    from tlcourse.images import fit_square

    grey, probability, _ = load_elpv()
    images = _grey_to_rgb(grey, lambda im: fit_square(im, image_size))
    return {"images": images, "labels": (np.asarray(probability) >= 0.5).astype(np.int64)}


def fashion_mnist_path(download: bool = True) -> Path | None:
    """The folder of Fashion-MNIST's four idx files: the data root, Debian's package, Keras' copy; else downloaded.

    Offline, Debian's ``dataset-fashion-mnist`` puts them in ``/usr/share/datasets/fashion-mnist``.
    ``download=False``: None where no copy is found (whether a lesson can run its section offline).
    """
    for folder in (data_root() / "fashion-mnist", *FASHION_FOLDERS):
        if all((folder / name).is_file() for pair in FASHION_FILES.values() for name in pair):
            return folder
    if not download:
        return None
    try:
        import keras

        keras.datasets.fashion_mnist.load_data()  # downloads into ~/.keras/datasets/fashion-mnist
    except Exception as err:  # no network: any of urllib's, Keras' or the file system's errors
        raise CourseError(
            "Fashion-MNIST not found (looked in "
            + ", ".join(str(f) for f in (data_root() / "fashion-mnist", *FASHION_FOLDERS))
            + f") and the download failed ({err}): install Debian's package (apt-get install dataset-fashion-mnist), "
            "or put its four .gz files in $TLCOURSE_DATA/fashion-mnist"
        ) from err
    return FASHION_FOLDERS[1]


def read_idx(path: Path) -> np.ndarray:
    """An idx file (MNIST's format: a magic number, the dimensions, then uint8 values), gzipped or not."""
    import gzip

    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise CourseError(f"cannot read {path}: {err} (a damaged download? delete it and load again)") from err
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] != 0x08:
        raise CourseError(f"{path} is not an idx file of unsigned bytes")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    body = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise CourseError(f"{path} holds {body.size} values, its header says {dims}: the file is damaged")
    return body.reshape(dims)


def _load_fashion(image_size: int, per_class: int | None, seed: int) -> ImageData:
    """Fashion-MNIST as ImageData: train and val from its training set, test from its test set."""
    folder = fashion_mnist_path()
    n_eval = FASHION_EVAL_PER_CLASS
    key = f"fashion-{image_size}px-{per_class or 'all'}-seed{seed}-eval{n_eval}-v{DECODE_VERSION}"
    path = cache_dir() / "decoded" / f"{key}.npz"
    arrays = load_arrays(path)
    if arrays is None:
        from PIL import Image

        arrays = {}
        rng = np.random.default_rng(seed)
        square = lambda im: im.resize((image_size, image_size), Image.BILINEAR)  # noqa: E731 (28 px: unchanged)
        for split, (images_file, labels_file) in FASHION_FILES.items():
            images, labels = read_idx(folder / images_file), read_idx(folder / labels_file).astype(np.int64)
            chosen = {}
            for c in range(len(FASHION_CLASSES)):
                idx = rng.permutation(np.flatnonzero(labels == c))
                if split == "test":
                    chosen.setdefault("test", []).append(idx[:n_eval])
                else:
                    rest = idx[n_eval:]
                    if per_class and per_class > len(rest):
                        raise CourseError(
                            f"{per_class} training images per class asked, but Fashion-MNIST has {len(rest)} of "
                            f"{FASHION_CLASSES[c]!r} besides its validation images: use at most {len(rest)}"
                        )
                    chosen.setdefault("val", []).append(idx[:n_eval])
                    chosen.setdefault("train", []).append(rest[:per_class] if per_class else rest)
            for name, parts in chosen.items():
                index = np.sort(np.concatenate(parts))
                arrays[f"{name}_images"] = _grey_to_rgb(images[index], square)
                arrays[f"{name}_labels"] = labels[index]
        save_arrays(path, arrays)
    splits = {
        name: ImageSplit(
            arrays[f"{name}_images"],
            arrays[f"{name}_labels"],
            [f"fashion_mnist:{name}:{i}" for i in range(len(arrays[f"{name}_labels"]))],
        )
        for name in ("train", "val", "test")
    }
    return ImageData("fashion_mnist", FASHION_CLASSES, splits["train"], splits["val"], image_size, test=splits["test"])


def _grey_to_rgb(images: np.ndarray, resize: Callable) -> np.ndarray:
    """Grey (N, H, W) uint8 images, each resized by ``resize`` (a PIL image in, one out), then its channel copied
    three times.

    Resized while grey: the same pixels as converting to RGB first and resizing that (tests/test_datasets.py),
    in half the time.
    """
    from PIL import Image

    resized = np.stack([np.asarray(resize(Image.fromarray(g))) for g in images])
    return np.repeat(resized[..., None], 3, axis=-1).astype(np.uint8)
