"""Top-k ImageNet classes for photos, with a pretrained classifier, offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tlcourse.backbones import DEFAULT_BACKBONE, Backbone, imagenet_class_names, load_backbone
from tlcourse.catalogue import backbone_info
from tlcourse.images import decode_image

CROP_FRACTION = 0.875  # ImageNet evaluation convention: resize, then keep the central 87.5 %


def load_classifier(name: str = DEFAULT_BACKBONE, image_size: int | None = None) -> Backbone:
    """The backbone with its 1000-class ImageNet head, at its native input size by default."""
    size = image_size or backbone_info(name).native_size
    return load_backbone(name, (size, size, 3), include_top=True)


def prepare(image: np.ndarray | str | Path, size: int) -> np.ndarray:
    """An RGB uint8 array of ``size`` x ``size``, centre-cropped the ImageNet way.

    Accepts a path or an array (H, W[, 3]); raises ValueError with the reason for an
    unusable file.
    """
    if isinstance(image, (str, Path)):
        array, reason = decode_image(image, size, CROP_FRACTION)
        if array is None:
            raise ValueError(f"{image}: {reason}")
        return array
    from PIL import Image

    from tlcourse.images import fit_square, to_rgb

    return np.asarray(fit_square(to_rgb(Image.fromarray(np.asarray(image))), size, CROP_FRACTION))


def top_k(probabilities: np.ndarray, k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` most probable ImageNet classes of one probability vector."""
    names = imagenet_class_names()
    best = np.argsort(probabilities)[::-1][:k]
    return [(names[i], float(probabilities[i])) for i in best]


def classify(classifier: Backbone, images: list[np.ndarray], k: int = 5) -> list[list[tuple[str, float]]]:
    """Top-k classes for RGB uint8 images already sized for the classifier."""
    model, preprocess = classifier
    batch = preprocess(np.stack(images).astype(np.float32))
    probabilities = model.predict(batch, verbose=0)
    return [top_k(p, k) for p in probabilities]
