"""Honest lesson-2 work as short notebooks: answers only, no lesson cells, so a grading test runs in seconds.

The red-team suite builds its attacks around these answers; the grader's own tests use them
where the lesson's heavy cells (feature extraction, training) would only cost time.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from tlcourse.manifest import by_number

LESSON = by_number(2).name
PREAMBLE = "import numpy as np\nimport keras\nfrom tlcourse.checks import check"
KINDS = 'kinds = {"A": "inductive", "B": "transductive", "C": "inductive", "D": "transductive"}'
TRANSFERRED = 'transferred = {"A": "parameters", "E": "instances", "F": "relational"}'
ANSWER_21 = f'{KINDS}\n{TRANSFERRED}\ncheck("2.1", kinds=kinds, transferred=transferred)'
ANSWER_22 = """
def swap_head(classifier, num_classes, cut_at):
    classifier.trainable = False
    kept = classifier.get_layer(cut_at).output
    return keras.Model(classifier.input, keras.layers.Dense(num_classes, activation="softmax")(kept))
check("2.2", swap_head=swap_head)"""
CENTROID = """
def nearest_centroid(train_x, train_y, x):
    train_x, train_y, x = np.asarray(train_x, float), np.asarray(train_y), np.asarray(x, float)
    labels = np.unique(train_y)
    centroids = np.stack([train_x[train_y == label].mean(axis=0) for label in labels])
    return labels[np.argmin(((x[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)]"""
ANSWER_23 = CENTROID + '\ncheck("2.3", nearest_centroid=nearest_centroid)'
FRACTION = """
def trainable_fraction(model):
    size = lambda ws: sum(int(np.prod(w.shape)) for w in ws)
    return size(model.trainable_weights) / size(model.weights)"""
ANSWER_24 = FRACTION + '\ncheck("2.4", trainable_fraction=trainable_fraction)'
HONEST = [ANSWER_21, ANSWER_22, ANSWER_23, ANSWER_24]
# Two answers that need no Keras, for tests of the grader's mechanics (resume, a cluster, hidden tests):
# the kernel imports no TensorFlow and the judge builds no model, so a notebook grades in about 2 s.
LIGHT_PREAMBLE = "import numpy as np\nfrom tlcourse.checks import check"
LIGHT = [ANSWER_21, ANSWER_23]
FULL = {"2.1": 4, "2.2": 4, "2.3": 3, "2.4": 3}


def write_notebook(path: Path, cells: list[str]) -> None:
    """A notebook of one code cell per source, with a Python kernelspec."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
