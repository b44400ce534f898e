"""Root pytest configuration: settings that must hold before any module is imported."""

import os

# Keras 3 on the torch backend (no TensorFlow here); set before keras is first imported.
os.environ.setdefault("KERAS_BACKEND", "torch")
# Plots render off-screen.
os.environ.setdefault("MPLBACKEND", "Agg")


# Optional parts: without torch (or keras) their modules cannot be imported for doctests.
collect_ignore = []
try:
    import torch

    # 1 thread: on these 2-core machines small models train several times faster with 1
    # than with 2 threads fighting other work
    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - depends on the environment
    collect_ignore += ["src/sparsefit/nn", "src/sparsefit/experiments/l1_classifier.py",
                       "src/sparsefit/experiments/seed_line.py", "src/sparsefit/keras"]
try:
    import keras  # noqa: F401
except ImportError:  # pragma: no cover - depends on the environment
    collect_ignore += ["src/sparsefit/keras"]

# Hypothesis: `make test` (and so CI) runs the "ci" profile, the same examples on every run,
# so a red CI is reproducible and never a new random draw; a plain `pytest` explores new
# examples every run (how the subnormal-spread bug of top_free_units was found).
try:
    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
except ImportError:  # pragma: no cover - hypothesis is a dev extra
    pass
