"""Root pytest configuration: settings that must hold before any module is imported."""

import os

# Keras 3 on the torch backend (no TensorFlow here); set before keras is first imported.
os.environ.setdefault("KERAS_BACKEND", "torch")
# Plots render off-screen.
os.environ.setdefault("MPLBACKEND", "Agg")
