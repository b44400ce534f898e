"""Datafits: the smooth loss part ``F(w, b) = sum_i s_i f_i(x_i w + b)`` of a problem.

Each datafit gives its value, gradient, per-coordinate Lipschitz constants (dense and
sparse CSC ``X``) and the dual objective that the duality gap needs. The per-sample pieces
(``_value_u``, ``_raw_grad``) take NumPy arrays or torch tensors, so FISTA binds the same
datafit to torch data (:class:`BoundDatafit`).
"""

from ._base import BaseDatafit
from ._bound import BoundDatafit
from .logistic import Logistic
from .multinomial import Multinomial
from .multitask import MultiTaskQuadratic
from .quadratic import Quadratic

__all__ = ["BaseDatafit", "BoundDatafit", "Logistic", "Multinomial", "MultiTaskQuadratic",
           "Quadratic", "registry"]

# Every datafit class: the tests' tables are checked against it, so a new class without its
# rows fails a test.
_CLASSES = {cls.__name__: cls for cls in (Quadratic, Logistic, Multinomial,
                                           MultiTaskQuadratic)}


def registry():
    """``{class name: class}`` of every datafit of :mod:`sparsefit.datafits`."""
    return dict(_CLASSES)
