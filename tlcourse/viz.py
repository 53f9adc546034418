"""Plots the lessons show: curves, comparisons, confusion matrices, images, filters.

Each function draws on a matplotlib Axes (a new figure if none is given) and returns the
Figure, so a notebook can show it and a script can save it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np


def _axes(ax, figsize=(6, 4)):
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize)
    return fig, ax


def _history_dict(history) -> dict[str, list[float]]:
    """Accept a FitResult, a Keras History or a plain dict."""
    if hasattr(history, "history"):
        history = history.history
    return dict(history)


def _is_one_history(mapping: Mapping) -> bool:
    """A metric -> per-epoch values dict (rather than a dict of runs)."""
    return all(isinstance(v, (list, tuple, np.ndarray)) for v in mapping.values())


def plot_history(histories: Mapping[str, object] | object, metric: str = "accuracy", ax=None):
    """Training (dashed) and validation (solid) ``metric`` per epoch, one colour per run."""
    if not isinstance(histories, Mapping) or _is_one_history(histories):
        histories = {"": histories}
    fig, ax = _axes(ax)
    for i, (label, history) in enumerate(histories.items()):
        h = _history_dict(history)
        color = f"C{i}"
        epochs = np.arange(1, len(h[metric]) + 1)
        ax.plot(epochs, h[metric], "--", color=color, alpha=0.6, label=f"{label} train".strip())
        if f"val_{metric}" in h:
            ax.plot(epochs, h[f"val_{metric}"], "-o", ms=3, color=color, label=f"{label} validation".strip())
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_comparison(
    values: Mapping[str, float],
    errors: Mapping[str, float] | None = None,
    ylabel: str = "validation accuracy",
    ax=None,
    fmt: str = "{:.2f}",
):
    """Bars with their values written on top (and error bars, e.g. sd over seeds)."""
    fig, ax = _axes(ax)
    names = list(values)
    heights = [values[n] for n in names]
    yerr = [errors.get(n, 0) for n in names] if errors else None
    bars = ax.bar(names, heights, yerr=yerr, capsize=4, color=[f"C{i}" for i in range(len(names))])
    for bar, h in zip(bars, heights):
        ax.annotate(
            fmt.format(h),
            (bar.get_x() + bar.get_width() / 2, h),
            ha="center",
            va="bottom",
            xytext=(0, 3),
            textcoords="offset points",
        )
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, max(heights + [1e-9]) * 1.15)
    ax.tick_params(axis="x", labelrotation=15)
    return fig


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], num_classes: int) -> np.ndarray:
    """Counts: row = true class, column = predicted class."""
    matrix = np.zeros((num_classes, num_classes), int)
    np.add.at(matrix, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return matrix


def plot_confusion(y_true, y_pred, class_names: Sequence[str], ax=None):
    """Confusion matrix with counts in the cells."""
    matrix = confusion_matrix(y_true, y_pred, len(class_names))
    fig, ax = _axes(ax, figsize=(4, 4))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center", color="white" if count > matrix.max() / 2 else "black")
    ax.set_xticks(range(len(class_names)), class_names, rotation=30)
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    return fig


def show_images(
    images, labels=None, class_names=None, predicted=None, ncols: int = 8, size: float = 1.6, overlays=None
):
    """A grid of images titled with the true label, and the prediction (red when wrong)."""
    images = np.asarray(images)
    n = len(images)
    nrows = max(1, int(np.ceil(n / ncols)))
    fig, axes = plt.subplots(nrows, min(ncols, n), figsize=(size * min(ncols, n), size * nrows + 0.3), squeeze=False)
    name = (lambda i: class_names[i]) if class_names is not None else str
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= n:
            continue
        ax.imshow(images[k].astype(np.uint8) if images[k].dtype != np.uint8 else images[k])
        if overlays is not None:
            ax.imshow(overlays[k], cmap="jet", alpha=0.45)
        title = name(int(labels[k])) if labels is not None else ""
        color = "black"
        if predicted is not None:
            title = f"{title}\n→ {name(int(predicted[k]))}" if title else name(int(predicted[k]))
            color = "green" if labels is None or int(predicted[k]) == int(labels[k]) else "red"
        ax.set_title(title, fontsize=8, color=color)
    fig.tight_layout()
    return fig


def plot_filters(kernel: np.ndarray, ncols: int = 8, title: str | None = None):
    """First-layer filters (kernel shaped kh, kw, 3, n) as small RGB images, each rescaled to 0..1."""
    kernel = np.asarray(kernel)
    if kernel.ndim != 4 or kernel.shape[2] != 3:
        raise ValueError(f"expected a first-layer kernel shaped (kh, kw, 3, n), got {kernel.shape}")
    n = kernel.shape[-1]
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * 0.8, nrows * 0.8 + (0.3 if title else 0)))
    for k, ax in enumerate(np.atleast_1d(axes).flat):
        ax.axis("off")
        if k < n:
            f = kernel[..., k]
            ax.imshow((f - f.min()) / (np.ptp(f) or 1.0), interpolation="nearest")
    if title:
        fig.suptitle(title)
    return fig


def plot_curve(x, ys: Mapping[str, Sequence[float]], xlabel: str, ylabel: str, errors=None, ax=None, logx=False):
    """Lines of ``ys`` against ``x`` (e.g. accuracy against images per class), with error bands."""
    fig, ax = _axes(ax)
    for i, (label, y) in enumerate(ys.items()):
        y = np.asarray(y, float)
        ax.plot(x, y, "-o", color=f"C{i}", label=label)
        if errors and label in errors:
            e = np.asarray(errors[label], float)
            ax.fill_between(x, y - e, y + e, color=f"C{i}", alpha=0.2)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def _rgb(image) -> np.ndarray:
    """One RGB image as float32 (height, width, 3); a grey image is repeated over the channels."""
    array = np.asarray(image)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"expected one RGB image shaped (height, width, 3), got shape {array.shape}")
    return array.astype(np.float32)


def overlay(image, heatmap, alpha: float = 0.45, cmap: str = "jet") -> np.ndarray:
    """The image with a heatmap (e.g. Grad-CAM's) blended on top in colour, as RGB uint8 of the image's size."""
    import matplotlib

    pixels = _rgb(image)
    heat = np.asarray(heatmap, dtype=np.float32)
    if heat.shape != pixels.shape[:2]:
        from PIL import Image

        heat = np.asarray(Image.fromarray(heat).resize(pixels.shape[1::-1], Image.Resampling.BILINEAR))
    colours = matplotlib.colormaps[cmap](np.clip(heat, 0, 1))[..., :3] * 255.0
    return np.clip((1 - alpha) * pixels + alpha * colours, 0, 255).astype(np.uint8)


def plot_gradcam(
    images: Sequence, heatmaps: Sequence, titles: Sequence[str] | None = None, size: float = 2.6, alpha: float = 0.45
):
    """Each image above its heatmap overlay, one column per image; returns the Figure."""
    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(size * n, size * 2 + 0.4), squeeze=False)
    for k in range(n):
        axes[0, k].imshow(_rgb(images[k]).astype(np.uint8))
        axes[1, k].imshow(overlay(images[k], heatmaps[k], alpha))
        if titles is not None:
            axes[0, k].set_title(titles[k], fontsize=9)
        for ax in axes[:, k]:
            ax.axis("off")
    axes[0, 0].text(-0.08, 0.5, "image", transform=axes[0, 0].transAxes, rotation=90, va="center", ha="right")
    axes[1, 0].text(-0.08, 0.5, "Grad-CAM", transform=axes[1, 0].transAxes, rotation=90, va="center", ha="right")
    fig.tight_layout()
    return fig


def show_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Rows as a Markdown table in the notebook (cells formatted by the caller: the lesson chooses the digits)."""
    from IPython.display import Markdown, display

    lines = ["| " + " | ".join(str(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    display(Markdown("\n".join(lines)))
