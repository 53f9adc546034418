"""Tests for ``tlcourse.viz``: what each plot draws, read back from the matplotlib artists."""

from __future__ import annotations

import types

import matplotlib

matplotlib.use("Agg")

import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.container import BarContainer  # noqa: E402

from tlcourse import viz  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _legend_labels(ax) -> list[str]:
    legend = ax.get_legend()
    assert legend is not None
    return [t.get_text() for t in legend.get_texts()]


def _bars(ax) -> BarContainer:
    (bars,) = [c for c in ax.containers if isinstance(c, BarContainer)]
    return bars


def _same_color(a, b) -> bool:
    return mcolors.same_color(a, b)


# --------------------------------------------------------------------------------------
# confusion_matrix / plot_confusion
# --------------------------------------------------------------------------------------


def test_confusion_matrix_counts():
    y_true = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    y_pred = [0, 1, 0, 1, 2, 2, 2, 0, 2]
    expected = np.array(
        [
            [2, 1, 0],  # true 0: two right, one called 1
            [0, 1, 1],  # true 1
            [1, 0, 3],  # true 2
        ]
    )
    matrix = viz.confusion_matrix(y_true, y_pred, 3)
    np.testing.assert_array_equal(matrix, expected)
    assert matrix.sum() == len(y_true)
    assert np.issubdtype(matrix.dtype, np.integer)


def test_confusion_matrix_counts_repeats_and_unused_classes():
    # np.add.at must count repeated (true, pred) pairs, not overwrite them
    matrix = viz.confusion_matrix(np.array([1, 1, 1, 1]), np.array([1, 1, 1, 0]), 4)
    assert matrix[1, 1] == 3 and matrix[1, 0] == 1
    assert matrix.shape == (4, 4) and matrix.sum() == 4


def test_plot_confusion_cell_texts_equal_counts():
    y_true = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    y_pred = [0, 1, 0, 1, 2, 2, 2, 0, 2]
    names = ["ant", "bee", "wasp"]
    fig = viz.plot_confusion(y_true, y_pred, names)
    ax = fig.axes[0]
    matrix = viz.confusion_matrix(y_true, y_pred, 3)

    cells = {}
    for text in ax.texts:
        x, y = text.get_position()
        cells[(int(round(y)), int(round(x)))] = text.get_text()  # row = y = true, column = x = predicted
    assert len(cells) == 9
    for (i, j), count in np.ndenumerate(matrix):
        assert cells[(i, j)] == str(count), (i, j)
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    assert ax.get_xlabel() == "predicted" and ax.get_ylabel() == "true"
    np.testing.assert_array_equal(ax.images[0].get_array(), matrix)


# --------------------------------------------------------------------------------------
# plot_history
# --------------------------------------------------------------------------------------

HISTORY = {
    "loss": [1.0, 0.7, 0.5],
    "accuracy": [0.5, 0.7, 0.8],
    "val_loss": [0.9, 0.8, 0.7],
    "val_accuracy": [0.55, 0.65, 0.75],
}


def test_plot_history_single_dict():
    fig = viz.plot_history(HISTORY)
    ax = fig.axes[0]
    assert len(ax.lines) == 2
    train, val = ax.lines
    np.testing.assert_array_equal(train.get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(train.get_ydata(), HISTORY["accuracy"])
    np.testing.assert_array_equal(val.get_ydata(), HISTORY["val_accuracy"])
    assert train.get_linestyle() == "--" and val.get_linestyle() == "-"
    assert _legend_labels(ax) == ["train", "validation"]
    assert ax.get_ylabel() == "accuracy"


def test_plot_history_other_metric_and_history_object():
    keras_like = types.SimpleNamespace(history=HISTORY)  # a Keras History / FitResult has .history
    fig = viz.plot_history(keras_like, metric="loss")
    ax = fig.axes[0]
    assert len(ax.lines) == 2
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), HISTORY["loss"])
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), HISTORY["val_loss"])
    assert ax.get_ylabel() == "loss"


def test_plot_history_several_runs():
    no_val = {"loss": [1.0, 0.5], "accuracy": [0.4, 0.6]}
    runs = {
        "frozen": HISTORY,
        "fine-tuned": types.SimpleNamespace(history={**HISTORY, "accuracy": [0.6, 0.8, 0.9]}),
        "scratch": no_val,
    }
    fig = viz.plot_history(runs)
    ax = fig.axes[0]
    assert len(ax.lines) == 5  # 2 + 2 + 1 (no validation curve for "scratch")
    assert _legend_labels(ax) == [
        "frozen train",
        "frozen validation",
        "fine-tuned train",
        "fine-tuned validation",
        "scratch train",
    ]
    # one colour per run, shared by its train and validation lines
    colors = [line.get_color() for line in ax.lines]
    assert colors[0] == colors[1] and colors[2] == colors[3]
    assert len({colors[0], colors[2], colors[4]}) == 3
    np.testing.assert_array_equal(ax.lines[2].get_ydata(), [0.6, 0.8, 0.9])


def test_plot_history_draws_on_given_axes():
    fig, (left, right) = plt.subplots(1, 2)
    returned = viz.plot_history(HISTORY, ax=right)
    assert returned is fig
    assert len(right.lines) == 2 and len(left.lines) == 0


# --------------------------------------------------------------------------------------
# plot_comparison
# --------------------------------------------------------------------------------------


def test_plot_comparison_writes_values():
    values = {"frozen": 0.8312, "fine-tuned": 0.9, "scratch": 0.554}
    fig = viz.plot_comparison(values)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["0.83", "0.90", "0.55"]
    bars = ax.patches
    assert len(bars) == 3
    np.testing.assert_allclose([b.get_height() for b in bars], list(values.values()))
    for text, bar in zip(ax.texts, bars):  # each value sits on top of its bar
        x, y = text.xy
        assert x == pytest.approx(bar.get_x() + bar.get_width() / 2)
        assert y == pytest.approx(bar.get_height())
    assert _bars(ax).errorbar is None  # no error bars unless asked
    assert ax.get_ylim()[1] >= max(values.values())
    assert ax.get_ylabel() == "validation accuracy"


def test_plot_comparison_format_and_error_bars():
    values = {"a": 0.5, "b": 0.75}
    errors = {"a": 0.05, "b": 0.1}
    fig = viz.plot_comparison(values, errors=errors, fmt="{:.1%}", ylabel="acc")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["50.0%", "75.0%"]
    errorbar = _bars(ax).errorbar
    assert errorbar is not None
    _, _, (vertical,) = errorbar.lines
    segments = vertical.get_segments()
    assert len(segments) == 2
    for segment, name in zip(segments, values):
        ys = sorted(segment[:, 1])
        assert ys == pytest.approx([values[name] - errors[name], values[name] + errors[name]])
    assert ax.get_ylabel() == "acc"


def test_plot_comparison_missing_error_is_zero():
    fig = viz.plot_comparison({"a": 0.5, "b": 0.6}, errors={"b": 0.2})
    (seg_a, seg_b) = _bars(fig.axes[0]).errorbar.lines[2][0].get_segments()
    assert sorted(seg_a[:, 1]) == pytest.approx([0.5, 0.5])
    assert sorted(seg_b[:, 1]) == pytest.approx([0.4, 0.8])


# --------------------------------------------------------------------------------------
# show_images
# --------------------------------------------------------------------------------------


def _images(n, size=8):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(n, size, size, 3)).astype(np.uint8)


def test_show_images_title_colours():
    labels = [0, 1, 1, 0]
    predicted = [0, 0, 1, 1]  # right, wrong, right, wrong
    fig = viz.show_images(_images(4), labels=labels, class_names=["ant", "bee"], predicted=predicted, ncols=4)
    axes = fig.axes
    assert len(axes) == 4
    colors = [ax.title.get_color() for ax in axes]
    assert _same_color(colors[0], "green")
    assert _same_color(colors[1], "red")
    assert _same_color(colors[2], "green")
    assert _same_color(colors[3], "red")
    assert axes[1].get_title() == "bee\n→ ant"
    assert axes[0].get_title() == "ant\n→ ant"


def test_show_images_without_prediction_is_black_and_grid_has_blanks():
    fig = viz.show_images(_images(5), labels=[3, 1, 4, 1, 5], ncols=3)
    axes = fig.axes
    assert len(axes) == 6  # 2 rows of 3
    drawn = [ax for ax in axes if ax.images]
    assert len(drawn) == 5
    assert [ax.get_title() for ax in drawn] == ["3", "1", "4", "1", "5"]
    assert all(_same_color(ax.title.get_color(), "black") for ax in drawn)
    np.testing.assert_array_equal(drawn[0].images[0].get_array(), _images(5)[0])


def test_show_images_float_images_and_overlays():
    images = _images(2).astype(np.float32)
    overlays = np.random.default_rng(1).random((2, 8, 8))
    fig = viz.show_images(images, overlays=overlays)
    for k, ax in enumerate(fig.axes):
        assert len(ax.images) == 2  # the image and the heat-map on top
        assert ax.images[0].get_array().dtype == np.uint8
        np.testing.assert_array_equal(ax.images[0].get_array(), images[k].astype(np.uint8))


# --------------------------------------------------------------------------------------
# plot_filters
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3, 3, 3), (3, 3, 1, 8), (3, 3, 4, 8), (3, 3, 8, 3), (1, 3, 3, 3, 3)])
def test_plot_filters_rejects_wrong_shapes(shape):
    with pytest.raises(ValueError, match="kh, kw, 3, n"):
        viz.plot_filters(np.zeros(shape))


@pytest.mark.parametrize(("n", "ncols", "n_axes"), [(5, 8, 8), (8, 8, 8), (12, 4, 12), (10, 4, 12)])
def test_plot_filters_draws_n_images(n, ncols, n_axes):
    kernel = np.random.default_rng(n).normal(size=(3, 3, 3, n))
    fig = viz.plot_filters(kernel, ncols=ncols, title="first layer")
    assert len(fig.axes) == n_axes
    with_image = [ax for ax in fig.axes if ax.images]
    assert len(with_image) == n
    for k, ax in enumerate(with_image):
        shown = np.asarray(ax.images[0].get_array())
        assert shown.shape == (3, 3, 3)
        assert shown.min() == pytest.approx(0) and shown.max() == pytest.approx(1)  # rescaled to 0..1
        f = kernel[..., k]
        np.testing.assert_allclose(shown, (f - f.min()) / np.ptp(f))
    assert fig._suptitle is not None and fig._suptitle.get_text() == "first layer"


def test_plot_filters_constant_filter_does_not_divide_by_zero():
    kernel = np.ones((3, 3, 3, 2))
    kernel[..., 1] = np.arange(27).reshape(3, 3, 3)
    fig = viz.plot_filters(kernel, ncols=2)
    shown = np.asarray(fig.axes[0].images[0].get_array())
    assert np.isfinite(shown).all() and (shown == 0).all()


# --------------------------------------------------------------------------------------
# plot_curve
# --------------------------------------------------------------------------------------


def test_plot_curve_one_line_per_series():
    x = [5, 10, 20, 50]
    ys = {"frozen": [0.6, 0.7, 0.8, 0.85], "fine-tuned": [0.5, 0.7, 0.85, 0.92], "scratch": [0.3, 0.35, 0.4, 0.5]}
    fig = viz.plot_curve(x, ys, "images per class", "accuracy")
    ax = fig.axes[0]
    assert len(ax.lines) == 3
    for line, (label, y) in zip(ax.lines, ys.items()):
        assert line.get_label() == label
        np.testing.assert_array_equal(line.get_xdata(), x)
        np.testing.assert_allclose(line.get_ydata(), y)
    assert _legend_labels(ax) == list(ys)
    assert not [c for c in ax.collections if isinstance(c, PolyCollection)]  # no bands without errors
    assert ax.get_xscale() == "linear"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("images per class", "accuracy")


def test_plot_curve_error_bands_and_log_axis():
    x = [1, 10, 100]
    ys = {"a": [0.1, 0.5, 0.9], "b": [0.2, 0.4, 0.6]}
    fig = viz.plot_curve(x, ys, "n", "acc", errors={"a": [0.05, 0.05, 0.05]}, logx=True)
    ax = fig.axes[0]
    assert len(ax.lines) == 2
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 1  # only "a" has errors
    ys_of_band = np.concatenate([p.vertices[:, 1] for p in bands[0].get_paths()])
    assert ys_of_band.min() == pytest.approx(0.05) and ys_of_band.max() == pytest.approx(0.95)
    assert ax.get_xscale() == "log"


def test_show_table_displays_one_markdown_table(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    viz.show_table(["strategy", "accuracy"], [["head", "0.80"], ["some", "0.84"]])
    (table,) = shown
    assert table.data.splitlines() == ["| strategy | accuracy |", "|---|---|", "| head | 0.80 |", "| some | 0.84 |"]
