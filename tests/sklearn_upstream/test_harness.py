"""The harness itself: the substitution binds what it says, the rewrite keeps scikit-learn's
source lines, and both lists name real tests."""

from __future__ import annotations

import inspect

import pytest
import sklearn.linear_model

from ._harness import (
    IMPLEMENTATIONS,
    SUBSTITUTED,
    NotInSparsefit,
    _stand_in,
    is_stand_in,
    load,
    lookup,
    targets,
)
from .conftest import listed_ids_seen
from .known_failures import CATEGORIES, KNOWN_FAILURES
from .selection import LOGISTIC_L1_TESTS, NOT_APPLICABLE, UPSTREAM_FILES


@pytest.mark.parametrize("filename", UPSTREAM_FILES)
@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_substituted_names_are_bound_to_the_run_s_objects(filename, impl):
    mod = load(filename, impl)
    assert mod.__substituted__, "the rewrite found no import to substitute"
    for name in mod.__substituted__:
        obj = getattr(mod, name)
        if impl == "control":
            assert obj is getattr(sklearn.linear_model, name)
        else:
            assert obj is not getattr(sklearn.linear_model, name)
            assert is_stand_in(obj) or obj.__module__.startswith("sparsefit"), (name, obj)


def test_every_substituted_name_is_imported_by_some_upstream_file():
    imported = set().union(*(load(f, "control").__substituted__ for f in UPSTREAM_FILES))
    assert imported == set(SUBSTITUTED)


def test_names_scikit_learn_keeps_are_still_its_own():
    mod = load("test_coordinate_descent.py", "sparsefit")
    assert mod.Ridge is sklearn.linear_model.Ridge
    assert mod.LassoLarsCV is sklearn.linear_model.LassoLarsCV
    assert mod.lars_path is sklearn.linear_model.lars_path


@pytest.mark.parametrize("name", ["MultiTaskLasso", "lasso_path"])
def test_a_stand_in_refuses_to_run_and_is_not_a_common_error(name):
    obj = _stand_in(name)
    assert obj.__name__ == name  # parametrize ids stay scikit-learn's
    with pytest.raises(NotInSparsefit, match=f"has no '{name}'"):
        obj(alpha=1.0)
    # a pytest.raises(ValueError / TypeError) around a call must not pass because of it
    assert not issubclass(NotInSparsefit, (ValueError, TypeError, RuntimeError))


def test_missing_sparsefit_names_get_stand_ins():
    import sparsefit.linear_model as sf

    for name, obj in targets("sparsefit").items():
        assert (obj is getattr(sf, name)) if hasattr(sf, name) else is_stand_in(obj)


@pytest.mark.parametrize("filename", UPSTREAM_FILES)
def test_the_rewrite_keeps_scikit_learn_s_source_lines(filename):
    mod = load(filename, "sparsefit")
    tests = [v for k, v in vars(mod).items() if k.startswith("test_") and callable(v)]
    assert tests
    for func in tests:
        # a test wrapped by a decorator (config_context(...) is a ContextDecorator) is read
        # through its __wrapped__, as pytest does
        func = inspect.unwrap(func)
        # the compiled code's line numbers find the function's own text in the file
        lines, _ = inspect.getsourcelines(func)
        assert any(line.lstrip().startswith(f"def {func.__name__}(") for line in lines)
        assert inspect.getsourcefile(func) == mod.__file__


def test_lists_are_well_formed():
    assert not set(NOT_APPLICABLE) & set(KNOWN_FAILURES)
    for key, entry in KNOWN_FAILURES.items():
        assert key.split("::")[0] in UPSTREAM_FILES, key
        category, why = entry
        assert category in CATEGORIES and why, key
    for key, reason in NOT_APPLICABLE.items():
        assert key.split("::")[0] in UPSTREAM_FILES and reason, key
    assert len(set(LOGISTIC_L1_TESTS)) == len(LOGISTIC_L1_TESTS)


def test_every_listed_id_names_a_collected_test(request):
    """A key that matches nothing (a typo, a test scikit-learn renamed) is reported here."""
    if any("::" in str(arg) for arg in request.config.args):
        pytest.skip("only part of the upstream tests was collected")
    seen = listed_ids_seen(request.config)
    for impl, table in (("sparsefit", KNOWN_FAILURES), ("sparsefit", NOT_APPLICABLE),
                        ("control", NOT_APPLICABLE)):
        ids = seen.get(impl, set())
        files = {uid.split("::")[0] for uid in ids}
        if not files:
            continue
        unmatched = [key for key in table if key.split("::")[0] in files
                     and not any(lookup({key: None}, uid)[0] for uid in ids)]
        assert not unmatched, f"{impl} run: no collected test matches {unmatched}"
    if not seen:
        pytest.skip("no upstream test collected in this session")
