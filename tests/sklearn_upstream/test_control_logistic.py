"""scikit-learn's own test_logistic.py, from the installed package,
run with scikit-learn's own classes: the control run.

How the harness works: tests/sklearn_upstream/__init__.py.
"""

from ._harness import namespace

globals().update(namespace("test_logistic.py", "control"))
