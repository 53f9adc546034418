"""tlcourse: the helper library of a transfer-learning course (TensorFlow/Keras).

The lessons import what they share from here: data sets (``datasets``), pretrained
backbones (``backbones``), models (``models``), freezing by block (``freeze``),
training (``train``), plots (``viz``). Modules are imported on demand, so
``import tlcourse`` stays cheap.
"""

import os

# TensorFlow's C++ start-up chatter (CPU instruction sets, plugin registration) confuses
# students and buries real messages; keep warnings and errors.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
