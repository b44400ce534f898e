# ruff: noqa: E501
"""The applicable upstream tests sparsefit fails today: each runs as ``xfail(strict=True)``
(``strict=False`` for the "borderline" category, measured at the test's own tolerance).

One line per upstream test id: ``"<file>::<test id>": (category, why)``. When a change makes
a test pass it XPASSes, which fails the suite: delete its line. The goal is an empty dict.
``why`` names the first thing that fails, with the measured numbers; "then ..." is what fails
next once that is fixed. Regenerated against scikit-learn 1.9.1 after the issue-15 estimator
work, and again after the MultiTask classes were merged (their tests now run; the two
``test_sparse_dense_descent_paths[...-2-enet_path]`` entries are theirs).

What remains (2 of the 22 of 2026-11-30's first run) is solve accuracy, not a missing
feature: a warm start that saves no epochs on one problem (``n_iter_`` counts coordinate-
descent epochs, as scikit-learn's does), and the Gram and X routes at the default ``tol``.
The first comes from Anderson extrapolation (without it: 262 epochs cold, 240 warm). The
second is the solve's error at the default ``tol`` (~3e-3 relative in coef_[0] against a
tight solve; scikit-learn's is 7e-3 there, but its two routes run the same arithmetic, so
its test sees rounding only). Making the X route's inner solve the Gram route's step for
step (active sweeps, the same gap checks) gave the same epochs and working sets, and the
iterates agreed to 1e-15 for four outer iterations, then parted by 5e-6 within one inner
solve; the cause is not pinned down (a 1e-3 regularization of Anderson's system did not
remove it and tripled the epochs), so that change was not kept.
Three entries went on 2026-11-30 (second session): ``copy_X=False`` now centers a dense X
in place as scikit-learn does, and a small sparse X that is at least half full is read as
dense (the multi-task path's dense and sparse X then share their arithmetic). Earlier:
``dual_gap_`` became scikit-learn's ``P - D``, ``tol=1e-9`` asks for a small violation too,
and small sparse X takes the dense one's Gram route: 17 entries went. Run ``pytest
tests/sklearn_upstream -k sparsefit --runxfail`` to see every failure in full.
"""

CATEGORIES = (
    "missing name",       # sparsefit.linear_model lacks the class or function
    "missing parameter",  # a scikit-learn parameter or value is refused
    "shape",              # an attribute, input or output shape differs
    "message",            # an error or warning text (or type) differs
    "numerical",          # a number differs beyond the test's tolerance
    "borderline",         # measured at the test's own tolerance: non-strict xfail
    "crash",              # an unexpected exception inside sparsefit
    "hang",               # the test ran past the harness timeout
)

KNOWN_FAILURES = {
    "test_coordinate_descent.py::test_elasticnet_precompute_gram_weighted_samples": ("numerical", "at the default tol (relative gap 1e-6) the Gram route and the X route stop at different points: coef_[0] 1.28308 (precompute=gram, gap 4.3e-8) vs 1.27874 (precompute=False, gap 1.8e-7), 3.4e-3 relative, rtol 1e-7 asked; at tol=1e-10 both give 1.284134 (path/solve accuracy, coordinator's solver work)"),
    "test_coordinate_descent.py::test_warm_start_convergence_with_regularizer_decrement": ("numerical", "n_iter_ counts coordinate-descent epochs now (scikit-learn's meaning): 28 at alpha 1e-5 and 18 at 1e-4 pass the first assert, but the fit at 1e-5 warm-started from the 1e-4 solution takes 32 > 28 (scikit-learn: 584, 171, 561). With Anderson extrapolation the cold start converges as fast as the warm one, whose error lies along the slow direction of these correlated features; without it (anderson=0 in solve) 262 cold vs 240 warm. Solver dynamics, not the count"),
}
