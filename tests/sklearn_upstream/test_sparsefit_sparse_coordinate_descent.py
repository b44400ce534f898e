"""scikit-learn's own test_sparse_coordinate_descent.py, from the installed package,
run with sparsefit's estimators substituted.

How the harness works: tests/sklearn_upstream/__init__.py.
"""

from ._harness import namespace

globals().update(namespace("test_sparse_coordinate_descent.py", "sparsefit"))
