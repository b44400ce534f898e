"""Datafits: the smooth loss part ``F(w, b) = sum_i s_i f_i(x_i w + b)`` of a problem.

Each datafit gives its value, gradient, per-coordinate Lipschitz constants (dense and
sparse CSC ``X``) and the dual objective that the duality gap needs.
"""

from ._base import BaseDatafit
from .logistic import Logistic
from .multinomial import Multinomial
from .quadratic import Quadratic

__all__ = ["BaseDatafit", "Logistic", "Multinomial", "Quadratic"]
