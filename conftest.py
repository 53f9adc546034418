"""Root pytest configuration: notebooks (collected by nbval) run in their quick mode."""

import os

# The parameters cell of every lesson reads TLCOURSE_QUICK; the kernels nbval starts inherit it.
os.environ.setdefault("TLCOURSE_QUICK", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
