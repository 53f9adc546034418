"""Mixed precision on a GPU, behind one switch: ``TLCOURSE_MIXED_PRECISION=1``.

``make course GPU=1`` / ``make test GPU=1`` set it. Keras then computes in float16 and keeps its
variables in float32 (``mixed_float16``); the classifiers' last layer stays float32 so that the
softmax and the loss are computed in full precision (the Keras mixed-precision guide's advice).
On a CPU float16 is slower, not faster: without the switch nothing changes (float32). The feature
cache keys on the model's config, which names the policy, so features of the two never mix.
Not run here (no GPU on the course's machines): see README, "GPU".
"""

from __future__ import annotations

import os

SWITCH = "TLCOURSE_MIXED_PRECISION"


def configure() -> str:
    """Set Keras' global dtype policy from the switch (before any layer is built); its name."""
    import keras

    if os.environ.get(SWITCH) == "1" and keras.mixed_precision.global_policy().name != "mixed_float16":
        keras.mixed_precision.set_global_policy("mixed_float16")
    return keras.mixed_precision.global_policy().name
