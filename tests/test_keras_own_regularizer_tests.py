"""Keras' own regularizers_test.py, from the installed keras package, run with the sparsefit
classes substituted for Keras' (its ``from keras.src import regularizers`` rewritten to a
namespace holding ``sparsefit.keras``'s L1, L2, L1L2 and get; assertions untouched).

A control run with Keras' own module proves the harness counts what it should, and a run
with a deliberately wrong L1 proves it can fail."""

import types
import unittest
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from sparsefit import keras as sfk

SOURCE = Path(keras.__file__).parent / "src" / "regularizers" / "regularizers_test.py"
IMPORT = "from keras.src import regularizers\n"


def run_keras_tests(regularizers):
    """Run every TestCase of Keras' file with ``regularizers`` in place of its module."""
    if not SOURCE.is_file():  # pragma: no cover - depends on the installed wheel
        pytest.skip(f"keras {keras.__version__} does not ship {SOURCE.name}")
    code = SOURCE.read_text()
    assert code.count(IMPORT) == 1, "Keras' test file changed how it imports regularizers"
    namespace = {"__name__": "keras_regularizers_test", "__substitute__": regularizers}
    exec(compile(code.replace(IMPORT, "regularizers = __substitute__\n"), str(SOURCE),
                 "exec"), namespace)
    loader = unittest.TestLoader()
    suite = unittest.TestSuite(
        loader.loadTestsFromTestCase(obj) for obj in namespace.values()
        if isinstance(obj, type) and issubclass(obj, unittest.TestCase))
    result = unittest.TestResult()
    suite.run(result)
    return result


def _problems(result):
    return [f"{test.id()}: {trace.splitlines()[-1]}"
            for test, trace in result.failures + result.errors]


def ours():
    return types.SimpleNamespace(
        L1=sfk.L1, L2=sfk.L2, L1L2=sfk.L1L2, get=sfk.get,
        # sparsefit has no orthogonal regularizer; sfk.get resolves its name to Keras'
        OrthogonalRegularizer=keras.regularizers.OrthogonalRegularizer)


def test_keras_own_tests_pass_with_the_sparsefit_classes():
    result = run_keras_tests(ours())
    assert _problems(result) == []
    assert result.testsRun == 33 and not result.skipped


def test_control_keras_own_classes_pass_the_same_tests():
    from keras.src import regularizers

    result = run_keras_tests(regularizers)
    assert _problems(result) == []
    assert result.testsRun == 33


def test_the_harness_fails_a_wrong_l1():
    class WrongL1(sfk.L1):
        def __call__(self, x):
            return 2.0 * super().__call__(x)

    broken = ours()
    broken.L1 = WrongL1
    result = run_keras_tests(broken)
    failed = {test.id().rsplit(".", 1)[-1] for test, _ in result.failures + result.errors}
    assert {"test_l1", "test_l1l2_only_l1"} <= failed
    assert np.isclose(float(WrongL1(0.5)(np.ones(2))), 2.0)
