"""sparsefit: L1 regularization that does what the textbook says.

Exact proximal operators (:mod:`sparsefit.penalties`), and on top of them sparse solvers,
scikit-learn estimators, proximal training of torch networks and physical shrinking.
Submodules are imported on first use, so ``import sparsefit`` stays light; heavy optional
parts (torch, keras, matplotlib) are imported only by the modules that need them.
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = {"penalties", "datafits", "solvers", "linear_model", "nn", "keras", "plot",
               "datasets", "experiments", "report", "cli", "io", "tabular"}
__all__ = sorted(_SUBMODULES) + ["__version__"]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return __all__
