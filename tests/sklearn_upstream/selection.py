"""Which of scikit-learn's tests the harness runs, and which it skips as not applicable.

Keys are upstream test ids, ``<file>::<test name>`` as pytest names them when it runs the
file inside scikit-learn (``test_coordinate_descent.py::test_lasso_cv``,
``test_sparse_coordinate_descent.py::test_lasso_zero[csc_matrix]``). A key without ``[``
covers every parametrization of the test; a key with ``[...]`` is that one id exactly.
"""

import os

#: The upstream files, from ``sklearn/linear_model/tests/`` of the installed scikit-learn.
UPSTREAM_FILES = (
    "test_coordinate_descent.py",
    "test_sparse_coordinate_descent.py",
    "test_logistic.py",
)

#: test_logistic.py is mostly about scikit-learn's L2 solvers (lbfgs, newton-*, sag), its
#: array API support and its callbacks; issue 15 takes only its L1 and elastic-net tests: the
#: tests below, each of which fits an L1 or elastic-net logistic model (l1_ratio > 0,
#: penalty="l1" or "elasticnet") through LogisticRegression / LogisticRegressionCV. Every
#: other test of the file is not collected at all. A test whose parametrization also covers
#: l1_ratio=0 is taken whole (l1_ratio=0 is the L2 end of the elastic-net family the drop-in
#: must cover, and scikit-learn's default).
LOGISTIC_L1_TESTS = (
    "test_elasticnet_l1_ratio_err_helpful",     # penalty="elasticnet" without l1_ratio
    "test_sample_and_class_weight_equivalence_liblinear",  # l1_ratio=1, class_weight
    "test_logreg_l1",                           # L1, two solvers, dense and sparse
    "test_logistic_regression_cv_refit",        # CV refit, l1_ratio in (1, 0)
    "test_saga_vs_liblinear",                   # l1_ratio in (0, 1)
    "test_elastic_net_coeffs",                  # enet vs l1 vs l2 coefficients
    "test_elastic_net_l1_l2_equivalence",       # penalty="elasticnet" at l1_ratio 0 and 1
    "test_elastic_net_vs_l1_l2",                # grid search over l1_ratio
    "test_LogisticRegression_elastic_net_objective",
    "test_LogisticRegressionCV_GridSearchCV_elastic_net",
    "test_LogisticRegressionCV_no_refit",       # l1_ratios grid, refit=False
    "test_LogisticRegressionCV_elasticnet_attribute_shapes",
    "test_l1_ratio_non_elasticnet",             # penalty="l1" with l1_ratio: warning
    "test_elastic_net_versus_sgd",
    "test_logistic_regression_path_coefs_multinomial",  # L1 path (private: NOT_APPLICABLE)
    "test_logisticregression_liblinear_sample_weight",  # l1_ratio=1 among its cases
    "test_scores_attribute_layout_elasticnet",
    "test_liblinear_not_stuck",                 # l1_ratio=1 near l1_min_c
    "test_lr_penalty_l1ratio_incompatible",     # penalty="l1" with l1_ratio=0: warning
)

#: Tests of scikit-learn's internals only: skipped (in the sparsefit and the control run),
#: each with its reason. Nothing that tests a public name the issue asks for belongs here.
NOT_APPLICABLE = {
    "test_coordinate_descent.py::test_set_order_dense":
        "private helper sklearn.linear_model._coordinate_descent._set_order",
    "test_coordinate_descent.py::test_set_order_sparse":
        "private helper sklearn.linear_model._coordinate_descent._set_order",
    "test_coordinate_descent.py::test_cython_solver_equivalence":
        "scikit-learn's Cython kernels (sklearn.linear_model._cd_fast) called directly",
    "test_coordinate_descent.py::test_lassoCV_does_not_set_precompute":
        "monkeypatches the private module global sklearn.linear_model._coordinate_descent"
        ".Lasso through which scikit-learn's LassoCV builds its final model; sparsefit's "
        "LassoCV never looks that name up, so the test cannot observe it",
    "test_logistic.py::test_logistic_regression_path_coefs_multinomial":
        "private helper sklearn.linear_model._logistic._logistic_regression_path",
}

#: The control run (scikit-learn's own classes) proves the harness. Both runs together took
#: well over the suite's ~90 s share on the 2 shared cores (control about 70 s wall, sparsefit
#: 2 min of CPU, 7 min wall under the load of five helpers, numba compilation of the first
#: fits included), so the control runs the first parametrization of each applicable test; set
#: this to False (or run with ``SPARSEFIT_UPSTREAM_FULL_CONTROL=1``) for every one.
CONTROL_ONE_PARAMETRIZATION_ONLY = os.environ.get("SPARSEFIT_UPSTREAM_FULL_CONTROL") != "1"
