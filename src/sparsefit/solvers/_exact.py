r"""The exact step on a settled support, for penalties quadratic on each orthant (L1,
weighted L1, elastic net, and those in a box).

Coordinate descent reaches the support and the signs of a lasso or elastic-net solution
long before it reaches the solution: on an ill-conditioned support, the last digits cost
most of the epochs, and two routes to the same optimum (covariance form or not, sparse or
dense ``X``) stop at different points of the tolerance ball. Once the zero coordinates
satisfy their optimality conditions, the problem restricted to the support ``S`` with the
current signs ``s`` is a quadratic, minimized by one linear solve:

.. math::

    \Big(\sum_i sw_i \tilde x_{iS} \tilde x_{iS}^\top + \mathrm{diag}(\beta_S)\Big)\,
    \delta = \tilde X_S^\top (sw \odot r) - a_S \odot s - \beta_S \odot w_S,

with :math:`\tilde X` the columns centered by their weighted means when an intercept is
fitted, ``r`` the residual, ``a`` the L1 strengths and ``beta`` the curvatures of the
penalty (:math:`a_j |w_j| + \beta_j w_j^2 / 2`). When :math:`w_S + \delta` keeps every sign
(and stays inside the box), it is the minimizer over all ``w`` supported on ``S``; the
outer iteration's optimality check on every coordinate and its duality gap then certify
it, or the working sets go on from it. Otherwise the step stops where the first
coordinate reaches zero (the restricted objective still decreases along it), pins it there
and solves again, as a primal active-set method does; once a step is whole, a pinned
coordinate whose condition fails is freed on the side its gradient points to, one at a
time. Zero coordinates that violate their condition enter ``S`` on that side too. Either
way the step is kept only when the objective does not increase.

The coordinate-descent state (:class:`~.cd.QuadraticCD`) takes the step during the outer
loop once no zero coordinate violates its condition more than the support does, and at
convergence (``polish``: the outer loop checks the moved point again, so what a solve
returns is certified at the point returned). The group-norm penalties (the multi-task
rows, group lasso, sparse group lasso, group elastic net; with ``positive=True`` too) are
smooth on their support but not quadratic: :func:`group_active_set` runs Newton's method
there (:func:`group_newton`)
inside an active-set method on the groups (:func:`row_sparse_minimizer` for the rows).
Both are skipped when the system costs more than ``max(EXACT_MIN_BUDGET, 2 passes over
X)`` (:func:`exact_budget`: ``EXACT_TIGHT_FACTOR`` times that at ``tol <=
EXACT_TIGHT_TOL``); their memory is ``|S|^2`` and blocks of ``X``'s rows, never a copy of
``X``.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from ..penalties.box import BoxSpec, PositiveGroupSpec
from ..penalties.group import GroupL1L2Spec, GroupL1Spec, SparseGroupL1Spec
from ..penalties.scaled import ScaledGroupSpec, ScaledSpec
from ..penalties.separable import L1L2Spec, L1Spec, L2Spec

#: An exact step is tried when forming and factoring its system costs at most this many
#: multiply-adds, or two passes over ``X`` when that is more.
EXACT_MIN_BUDGET = 2 ** 22
#: At ``tol`` at most this, the exact step at convergence (on the settled support) may
#: cost ``EXACT_TIGHT_FACTOR`` times more: who asks for so small a gap wants the
#: coefficients to many digits, which a gap bounds only through its square root, and
#: coordinate descent reaches them slowly on the ill-conditioned supports where the step
#: costs most. Measured on ``benchmarks/bench_path_accuracy.py`` (ElasticNetCV, 200 x
#: 1000, supports of 250 on 160 rows): at tol 1e-6 and 1e-7 every point became exact
#: (mse_path_ within 3e-11 of the reference, 1e-3 before) for 1.5-2x the time; at 1e-5 a
#: larger budget cost 3.5x and gained one digit (the supports are not settled there
#: yet). 10, not 100: on 500 x 5000 (ElasticNetCV, 2 ratios, 3 folds, tol 1e-7) both
#: made every point checked exact (0.078 off before), in 5.4 s against 15 s (3 s before).
EXACT_TIGHT_TOL = 1e-6
EXACT_TIGHT_FACTOR = 10.0
#: Tries per solve whose step was not exact (signs changed, or the system singular).
MAX_INEXACT = 4
#: Changes of the active set in one step (a coordinate pinned at zero or its bound, or
#: freed again): every one costs a new factorization of the system.
MAX_PIVOTS = 8


def exact_budget(base, tol=None):
    """The multiply-adds an exact step may cost: ``max(EXACT_MIN_BUDGET, base)``
    (``base``: two passes over the data), times ``EXACT_TIGHT_FACTOR`` at ``tol <=
    EXACT_TIGHT_TOL`` (``tol`` None: a step during the outer loop, never the larger
    budget).

    Examples
    --------
    >>> exact_budget(10 ** 8, 1e-4) == 10 ** 8, exact_budget(0, 1e-7) == 10 * 2 ** 22
    (True, True)
    """
    budget = max(float(EXACT_MIN_BUDGET), float(base))
    return budget * EXACT_TIGHT_FACTOR if tol is not None and tol <= EXACT_TIGHT_TOL \
        else budget


def row_step_cost(k, T):
    """The multiply-adds of the multi-task exact step on ``k`` rows of ``T`` tasks, to
    weigh against :func:`exact_budget`: ten Newton iterations, each a ``k x k``
    factorization and inverse with its Woodbury system (:func:`row_newton_direction`) and
    a few products with the ``(kT)^2`` Hessian.

    Examples
    --------
    >>> row_step_cost(100, 4) == 10 * (2 * 100 ** 3 + 3 * 400 ** 2)
    True
    """
    return 10 * (2 * k ** 3 + 3 * (k * T) ** 2)


def orthant_pieces(spec, cols, ridge=False):
    """``(a, beta, lower, upper)`` of the penalty on the coordinates ``cols``:
    ``a_j |w_j| + beta_j w_j^2 / 2`` inside ``[lower_j, upper_j]``; None for a penalty not
    of that form (``L2`` too unless ``ridge``: the least-squares solvers leave it to
    their own route)."""
    lower = upper = None
    if isinstance(spec, BoxSpec):
        lower, upper = _entries(spec.lower, cols), _entries(spec.upper, cols)
        spec = spec.inner
    factors = 1.0
    if isinstance(spec, ScaledSpec):  # penalty_factor
        factors = np.asarray(spec.factors)[cols]
        spec = spec.inner
    if isinstance(spec, L1Spec):
        a = spec.l1 * _weights(spec.weights, cols) * factors
        beta = np.zeros(cols.size)
    elif isinstance(spec, L1L2Spec):
        wj = _weights(spec.weights, cols) * factors
        a, beta = spec.l1 * wj, 2.0 * spec.l2 * wj
    elif ridge and isinstance(spec, L2Spec):
        beta = 2.0 * spec.l2 * _weights(spec.weights, cols) * factors
        a = np.zeros(cols.size)
    else:
        return None
    if lower is None:
        lower, upper = np.full(cols.size, -np.inf), np.full(cols.size, np.inf)
    return a, beta, lower, upper


def takes_exact_step(spec):
    """Whether :func:`orthant_pieces` applies to the compiled penalty ``spec``."""
    return orthant_pieces(spec, np.zeros(0, dtype=np.int64)) is not None


def _weights(weights, cols):
    return np.ones(cols.size) if weights.shape[0] == 0 else np.asarray(weights)[cols]


def _entries(bound, cols):
    bound = np.asarray(bound, dtype=np.float64)
    return np.full(cols.size, bound[0]) if bound.size == 1 else bound[cols]


def exact_direction(H, grad):
    """``-H^{-1} grad`` by Cholesky, or None when ``H`` is not numerically positive
    definite (a support with more features than rows and no ridge, or collinear columns)."""
    try:
        factor = scipy.linalg.cho_factor(H, lower=False, check_finite=False)
    except np.linalg.LinAlgError:
        return None
    d = np.diag(factor[0])
    if d.min(initial=np.inf) <= 1e-7 * d.max(initial=0.0):  # condition number above 1e14
        return None
    return -scipy.linalg.cho_solve(factor, grad, check_finite=False)


def row_newton_direction(HX, W, c, beta, G):
    r"""The Newton direction of the multi-task objective on its non-zero rows, ``-H^{-1}
    g`` for

    .. math:: H = (H_X + \mathrm{diag}(c + \beta)) \otimes I_T
              - \sum_j c_j\, (e_j e_j^\top) \otimes (u_j u_j^\top), \qquad
              c_j = \frac{a_j}{\|W_j\|}, \quad u_j = \frac{W_j}{\|W_j\|}

    (the data's Hessian on the rows, the ridge, and the row norms' curvature, which
    vanishes along each row), by the Woodbury identity: ``A = H_X + diag(c + beta)`` is
    factored once (``k^3/3`` for ``k`` rows, against ``(kT)^3/3`` for ``H``), and the
    ``k`` rank-one corrections solve a ``k x k`` system for ``s_j = u_j . d_j``:

    .. math:: (I - (A^{-1} \circ U U^\top)\,\mathrm{diag}(c))\, s = (u_j \cdot
              (A^{-1} G)_j)_j, \qquad D = A^{-1} (G + \mathrm{diag}(c\, s)\, U).

    ``W``, ``G`` of shape ``(k, T)``; returns ``-D`` flat, or None when ``H`` is not
    numerically positive definite (as :func:`exact_direction`; checked by the residual).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> B = rng.standard_normal((6, 3)); HX = B @ B.T + np.eye(6)
    >>> W, G = rng.standard_normal((6, 2)), rng.standard_normal((6, 2))
    >>> c, beta = rng.uniform(0.1, 1.0, 6), np.full(6, 0.2)
    >>> U = W / np.linalg.norm(W, axis=1)[:, None]
    >>> H = np.kron(HX + np.diag(c + beta), np.eye(2))
    >>> for j in range(6):
    ...     H[2 * j:2 * j + 2, 2 * j:2 * j + 2] -= c[j] * np.outer(U[j], U[j])
    >>> bool(np.allclose(row_newton_direction(HX, W, c, beta, G),
    ...                  -np.linalg.solve(H, G.ravel())))
    True
    """
    A = HX + np.diag(c + beta)
    try:
        factor = scipy.linalg.cho_factor(A, lower=False, check_finite=False)
    except np.linalg.LinAlgError:
        return None
    d = np.diag(factor[0])
    if d.min(initial=np.inf) <= 1e-7 * d.max(initial=0.0):
        return None
    nrm = np.linalg.norm(W, axis=1)
    U = np.where((c > 0)[:, None], W / np.where(nrm > 0, nrm, 1.0)[:, None], 0.0)
    Z = scipy.linalg.cho_solve(factor, G, check_finite=False)
    Ainv = scipy.linalg.cho_solve(factor, np.eye(A.shape[0]), check_finite=False)
    K = (Ainv * (U @ U.T)) * c
    try:
        s = np.linalg.solve(np.eye(K.shape[0]) - K, np.einsum("ij,ij->i", U, Z))
    except np.linalg.LinAlgError:
        return None
    D = Z + Ainv @ ((c * s)[:, None] * U)
    # H D against G: a direction with a large residual is a singular system's
    HD = A @ D - (c * np.einsum("ij,ij->i", U, D))[:, None] * U
    if not np.all(np.isfinite(D)) or (np.abs(HD - G).max(initial=0.0)
                                      > 1e-8 * np.abs(G).max(initial=0.0)):
        return None
    return -D.ravel()


def clip_to_orthant(w, delta, a, lower, upper, signs=None):
    """``(w_new, hit)``: ``w + t delta`` for the largest ``t`` in ``[0, 1]`` keeping the
    point in the orthant ``signs`` (default: that of ``w``; the coordinates with ``a > 0``
    do not cross zero, and one at zero leaves it on its sign's side only) and
    inside ``[lower, upper]``, the coordinates that reach their limit set exactly on it
    (zero or the bound) and flagged in ``hit``; no flag when that is the whole step."""
    new = w + delta
    signs = np.sign(w) if signs is None else signs
    cross = (a > 0) & ((np.sign(new) != signs) | (new == 0))
    out = (new <= lower) | (new >= upper)
    if not (np.any(cross) or np.any(out)):
        return new, np.zeros(w.size, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        to_zero = np.where(cross, -w / delta, np.inf)
        to_bound = np.where(out, np.where(new <= lower, lower - w, upper - w) / delta, np.inf)
    t = float(min(1.0, to_zero.min(), to_bound.min()))
    new = w + t * delta
    hit_zero = to_zero <= t * (1.0 + 1e-12)
    hit_bound = to_bound <= t * (1.0 + 1e-12)
    new[hit_bound] = np.clip(new[hit_bound], lower[hit_bound], upper[hit_bound])
    new[hit_zero] = 0.0
    return new, hit_zero | hit_bound


def restricted_minimizer(H, grad, w, a, lower, upper, max_pivots=MAX_PIVOTS, free=None,
                         signs=None, singular=False):
    """Minimize the quadratic model ``grad . d + d.T H d / 2`` of the objective around
    ``w`` over the coordinates ``S`` of ``w`` and the box, as a primal active-set method
    does: a Newton step on the free coordinates in the orthant ``signs`` (default: that
    of ``w``; a coordinate at zero enters on its sign's side), stopped where the first
    coordinate reaches zero or its bound, that coordinate pinned there; once a step is
    whole, the pinned coordinates whose optimality condition fails on the model are
    freed again (at zero, on the side their gradient points to). At most ``max_pivots``
    such changes.

    Returns ``(w_new, exact)``: ``exact`` when the last step was whole and every pinned
    coordinate satisfies its condition (``w_new`` is then the minimizer of the objective
    over the points supported on ``S``, the coordinates not ``free`` that satisfy their
    condition held where they are); ``w_new`` None when the first system is singular.
    The model is the objective itself: the penalty's L1 part is linear on each orthant,
    which the steps never leave, and it is re-linearized when a coordinate changes side.

    With ``singular``, a singular system is no reason to stop (:func:`null_space_step`):
    where the model is flat the step is the smallest one to its minimum, and where it
    falls linearly (an L1 term along a direction the data do not see) the step follows
    it until a coordinate reaches zero, which is pinned.
    """
    return _active_set(H, grad, w, a, lower, upper, max_pivots, free, signs, singular)[:2]


def null_space_step(H, g, cur, a, lower, upper, signs, noise):
    """The step of the model ``g . d + d.T H d / 2`` for a singular ``H`` (eigenvalues
    at most ``1e-12`` of the largest): the smallest step to its minimum on ``H``'s range,
    plus, when ``g`` has a part ``g_0`` above ``noise`` in the null space (where the model
    falls linearly), a long step along ``-g_0``, twice what takes the first coordinate
    with ``a > 0`` moving towards zero, or towards a bound, there (so that
    :func:`clip_to_orthant` stops at it). None when the model falls without end along
    ``-g_0``: no coordinate meets zero or a bound. ``g_0`` is the null-space part of the
    L1 term ``a * signs`` alone: the loss's gradient lies in its Hessian's range, so its
    own null-space part is rounding (followed, it moved two duplicated unpenalized
    columns to +-2.8e7 where the optimum is -0.188 each)."""
    d, g0 = _range_and_null(H, g, fall=a * signs)
    if np.abs(g0).max(initial=0.0) <= noise:
        return _flat_centered(H, cur, d, a, lower, upper)
    at = cur + d
    with np.errstate(divide="ignore", invalid="ignore"):
        towards = (a > 0) & (signs * g0 > 0)  # moving along -g0 brings |w| down
        reach = np.where(towards, np.abs(at / g0), np.inf)
        reach = np.minimum(reach, np.where(g0 > 0, (at - lower) / g0,
                                           np.where(g0 < 0, (at - upper) / g0, np.inf)))
    s = float(reach.min(initial=np.inf))
    if not np.isfinite(s):
        return None
    return _flat_centered(H, cur, d - 2.0 * max(s, 0.0) * g0, a, lower, upper)


def _flat_centered(H, cur, step, a, lower, upper):
    """``step`` with the point ``cur + step`` moved to the smallest norm along the
    directions where the objective is flat: those of ``H``'s null space on the
    coordinates with no L1 weight and no bound (duplicated unpenalized columns, say: the
    loss does not see them, the penalty neither). A fall step left them where it
    happened to put them: two duplicated unpenalized columns ended at +-2.4e8, each
    -0.188 at the smallest norm, the predictions 1e-6 off by cancellation."""
    flat = (a == 0) & np.isinf(lower) & np.isinf(upper)
    if not flat.any():
        return step
    idx = np.flatnonzero(flat)
    Hff = H[np.ix_(idx, idx)]
    lam, Q = np.linalg.eigh(Hff)
    Z = Q[:, lam <= 1e-12 * max(float(np.abs(np.diag(H)).max(initial=0.0)), 0.0)]
    if not Z.shape[1]:
        return step
    new = cur + step
    new[idx] -= Z @ (Z.T @ new[idx])
    return new - cur


def _range_and_null(H, g, ref=None, fall=None):
    """``(d, g0)`` for a symmetric ``H`` by its eigenvalues: ``d = -H^+ g`` on the range
    (eigenvalues above ``1e-12`` of ``ref``, default the largest) and ``g0`` the part of
    ``g`` (or of ``fall``, when given) in the null space, along which the model
    ``g . d + d.T H d / 2`` is linear."""
    lam, Q = np.linalg.eigh(H)
    ref = max(float(lam.max(initial=0.0)), 0.0) if ref is None else ref
    null = lam <= 1e-12 * ref
    rng, nul = Q[:, ~null], Q[:, null]
    return -rng @ ((rng.T @ g) / lam[~null]), nul @ (nul.T @ (g if fall is None else fall))


def _active_set(H, grad, w, a, lower, upper, max_pivots, free, signs, singular=False):
    """:func:`restricted_minimizer`, returning also how many linear systems it solved."""
    cur = w.copy()
    signs = np.sign(w).astype(np.float64) if signs is None else signs.astype(np.float64)
    free = np.ones(w.size, dtype=bool) if free is None else free.copy()
    n_free = int(free.sum())
    smooth = grad - a * signs  # the gradient of the smooth part at w
    # (the gradient's rounding: a condition failing by less is not a reason to pivot)
    noise = 1e-12 * float(np.abs(grad).max(initial=0.0) + np.abs(a).max(initial=0.0))
    solves = 0
    for _ in range(max_pivots + 1):
        idx = np.flatnonzero(free)
        if idx.size:
            solves += 1
            g = smooth[idx] + a[idx] * signs[idx] + H[idx] @ (cur - w)
            Hff = H[np.ix_(idx, idx)]
            delta = exact_direction(Hff, g)
            if delta is None and singular:
                delta = null_space_step(Hff, g, cur[idx], a[idx], lower[idx], upper[idx],
                                        signs[idx], noise)
            if delta is None:
                return (None if idx.size == n_free else cur), False, solves
            cur[idx], hit = clip_to_orthant(cur[idx], delta, a[idx], lower[idx],
                                            upper[idx], signs[idx])
            if hit.any():
                free[idx[hit]] = False
                continue
        # a whole step: the pinned coordinates' conditions, on the smooth part's gradient
        gs = smooth + H @ (cur - w)
        pinned = np.flatnonzero(~free)
        fails = _pin_violations(pinned, cur, gs, a, lower, upper)
        if fails.max(initial=0.0) <= noise:
            return cur, True, solves
        j = pinned[np.argmax(fails)]  # one at a time, the worst first
        if cur[j] == 0:
            signs[j] = -np.sign(gs[j])
        free[j] = True
    return cur, False, solves


def _pin_violations(pinned, cur, gs, a, lower, upper):
    """How much the pinned coordinates (at zero or a bound) fail their optimality
    condition, for ``gs`` the smooth part's gradient and ``a`` the L1 strengths: at zero,
    ``|gs| - a`` towards a side the box allows; at a bound, the derivative pointing inside
    the box; 0 where it holds."""
    c, g, aj = cur[pinned], gs[pinned], a[pinned]
    lo, hi = lower[pinned], upper[pinned]
    zero = c == 0
    down = np.where(zero & (lo < 0), g - aj, 0.0)  # decreasing from zero lowers it
    up = np.where(zero & (hi > 0), -g - aj, 0.0)   # increasing from zero does
    d = g + aj * np.sign(c)  # the derivative at a non-zero bound
    inside = np.where(~zero & (c <= lo), -d, 0.0) + np.where(~zero & (c >= hi), d, 0.0)
    return np.maximum.reduce([down, up, inside, np.zeros(c.size)])


def row_pieces(spec, n_rows, T, rows):
    """``(a, beta)`` of a penalty on the rows of a ``(n_rows, T)`` coefficient matrix,
    ``a_j ||W_j|| + beta_j ||W_j||^2 / 2`` (``GroupL1`` / ``GroupL1L2`` whose groups are
    the rows: the multi-task penalties), for the rows ``rows``; None for another penalty."""
    factors = 1.0
    if isinstance(spec, ScaledGroupSpec):  # penalty_factor
        factors = np.asarray(spec.factors)[rows]
        spec = spec.inner
    if not isinstance(spec, (GroupL1Spec, GroupL1L2Spec)):
        return None
    if not (np.array_equal(spec.grp_ptr, np.arange(0, n_rows * T + 1, T))
            and np.array_equal(spec.grp_idx, np.arange(n_rows * T))):
        return None
    wts = np.asarray(spec.weights)[rows] * factors
    if isinstance(spec, GroupL1Spec):
        return spec.alpha * wts, np.zeros(rows.size)
    return spec.l1 * wts, float(spec.l2) * np.ones(rows.size) * factors


def row_candidate(spec, W, Q):
    """``(S, a, beta)`` for the multi-task exact step: the non-zero rows of ``W`` (shape
    ``(p, T)``) and the zero rows that violate their condition (``||Q_j|| > a_j``, ``Q =
    X'(sw R)`` or ``C - G W``), with :func:`row_pieces` on them; None for another
    penalty, a zero ``W``, or conditions that hold to rounding already."""
    p, T = W.shape
    nonzero = np.any(W != 0, axis=1)
    every = row_pieces(spec, p, T, np.arange(p))
    if every is None or not nonzero.any():
        return None
    qn = np.linalg.norm(Q, axis=1)
    S = np.flatnonzero(nonzero | (qn > every[0] * (1.0 + 1e-12)))
    return S, every[0][S], every[1][S]


def row_sparse_minimizer(HX, Q0, V0, a, beta, max_iter=30, max_pivots=MAX_PIVOTS):
    r"""Minimize, over ``V`` of shape ``(k, T)``,

    .. math:: -\langle Q_0, V - V_0\rangle + \tfrac12 \mathrm{tr}\big((V - V_0)^\top H_X
              (V - V_0)\big) + \sum_j a_j \|V_j\| + \tfrac{\beta_j}{2} \|V_j\|^2

    (the multi-task objective on the support, ``Q_0 = \tilde X_S^\top (sw \odot R)`` at
    ``V_0``): :func:`group_active_set` with the rows as groups and the Hessian ``H_X kron
    I_T``. Returns ``(V, exact)``; the caller checks the objective on the data and every
    row's optimality condition."""
    k, T = V0.shape
    w, exact = group_active_set(np.kron(HX, np.eye(T)), Q0.ravel(), V0.ravel(),
                                np.repeat(np.arange(k), T), np.asarray(a, dtype=np.float64),
                                np.zeros(k * T), np.repeat(beta, T), max_iter, max_pivots,
                                rows=T)
    return w.reshape(k, T), exact


def _soft(v, a1, pos):
    """``v`` soft-thresholded at ``a1`` coordinate-wise, its negative part dropped where
    ``pos`` (a coordinate held non-negative)."""
    st = np.sign(v) * np.maximum(np.abs(v) - a1, 0.0)
    return np.where(pos, np.maximum(st, 0.0), st)


def _soft_norms(v, a1, gid, n_groups, pos=False):
    """Per group, the norm of :func:`_soft` of ``v`` (what a group at zero is held
    against: its condition is ``norm <= ag``)."""
    st = _soft(v, a1, pos)
    return np.sqrt(np.bincount(gid, weights=st * st, minlength=n_groups))


def group_active_set(H, q0, w0, gid, ag, a1, beta, max_iter=30, max_pivots=MAX_PIVOTS,
                     rows=None, pos=None):
    """Minimize the model of :func:`group_newton` (``wref = w0``) over every coordinate,
    as an active-set method on the groups: a zero group whose condition fails at ``w0``
    (``||soft(q0_g, a1)|| > ag_g``) enters at its block soft-threshold step, the other
    zero groups stay out; Newton's method runs on the groups kept (the coordinates of
    ``a1 > 0`` at zero held there, and one that reaches zero pinned there); a group it
    drives towards zero (its Newton step crosses the origin) leaves, held at zero; once
    Newton's method ends exact, the worst group out or pinned coordinate whose condition
    fails enters again, one at a time (at most ``max_pivots`` of them; what leaves only
    shrinks the set solved). Returns ``(w, exact)``: ``exact`` when the kept groups' gradient
    vanished to rounding and every group out satisfies its condition; otherwise the
    best point seen (never worse than ``w0`` on this model). ``rows``: ``T`` when ``H``
    is ``kron(H_X, I_T)`` and the groups are consecutive blocks of ``T`` coordinates with
    no L1 part (the multi-task rows; :func:`group_newton` then solves its systems by
    :func:`row_newton_direction`). ``pos``: the coordinates held non-negative
    (``positive=True``), each on its side of zero as an L1 coordinate is (a group's
    condition at zero and a pinned coordinate's then take the gradient's positive part)."""
    n_groups = ag.size
    w = np.array(w0, dtype=np.float64)
    d_h = np.diag(H)
    pos = np.zeros(w.size, dtype=bool) if pos is None else np.asarray(pos, dtype=bool)
    sided = (a1 > 0) | pos  # held at zero once there, and leaving it on one side only

    def enter(g, v):
        c = np.flatnonzero(gid == g)
        st = _soft(v[c], a1[c], pos[c])
        nst = float(np.linalg.norm(st))
        w[c] = st * (1.0 - ag[g] / nst) / np.maximum(d_h[c] + beta[c], 1e-300)

    norms0 = np.sqrt(np.bincount(gid, weights=w * w, minlength=n_groups))
    keep = (norms0 > 0) | (ag == 0)
    noise = 1e-12 * float(np.abs(q0).max(initial=0.0) + np.abs(ag).max(initial=0.0))
    for g in np.flatnonzero(~keep & (_soft_norms(q0, a1, gid, n_groups, pos) - ag > noise)):
        enter(g, q0)
        keep[g] = True
    enters = 0
    free_sign = np.zeros(w.size)
    # (a group or coordinate leaving shrinks the set solved: at most w.size of them)
    for _ in range(max_pivots + w.size + 1):
        # the coordinates solved: those of the kept groups, but an L1 coordinate at zero
        # (unless it was just freed: it leaves zero on the side of free_sign)
        idx = np.flatnonzero(keep[gid] & ((w != 0) | ~sided | (free_sign != 0)))
        if idx.size:
            groups, lgid = np.unique(gid[idx], return_inverse=True)
            # the model on them, the other coordinates held where they are
            q = q0[idx] - H[idx] @ (w - w0) + H[np.ix_(idx, idx)] @ (w[idx] - w0[idx])
            sides = np.where(w[idx] != 0, np.sign(w[idx]), free_sign[idx])
            wk, exact, heading = group_newton(H[np.ix_(idx, idx)], q, w[idx], w0[idx],
                                              lgid.astype(np.int64), ag[groups], a1[idx],
                                              beta[idx], max_iter, signs=sides, rows=rows,
                                              pos=pos[idx])
            pinned_now = np.any((wk == 0) & (sides != 0) & sided[idx])
            free_sign[:] = 0.0
            w[idx] = wk
            # a kept group whose coordinates all reached zero is out (it enters again by
            # its group condition, at its block soft-threshold step)
            keep &= (np.bincount(gid, weights=np.abs(w), minlength=n_groups) > 0) | (ag == 0)
            heading = groups[heading]
            if pinned_now and not exact:
                continue  # an L1 coordinate reached zero: solve again without it
        else:
            exact, heading = True, np.zeros(0, dtype=np.int64)
        grad = q0 - H @ (w - w0)  # - the smooth part's gradient, every coordinate
        if exact:
            out = np.flatnonzero(~keep)
            fails = _soft_norms(grad, a1, gid, n_groups, pos)[out] - ag[out]
            # an L1 coordinate held at zero in a kept group: |gradient| <= a1 (its
            # positive part for a non-negative one)
            pinned = np.flatnonzero(keep[gid] & (w == 0) & sided)
            pin_fails = np.where(pos[pinned], grad[pinned], np.abs(grad[pinned])) - a1[pinned]
            if max(fails.max(initial=0.0), pin_fails.max(initial=0.0)) <= noise:
                return w, True
            enters += 1
            if enters > max_pivots:
                return w, False
            if fails.max(initial=0.0) >= pin_fails.max(initial=0.0):
                g = out[np.argmax(fails)]
                enter(g, grad)
                keep[g] = True
            else:  # it leaves zero on the side its gradient points to
                j = pinned[np.argmax(pin_fails)]
                free_sign[j] = np.sign(grad[j])
            continue
        drop = heading
        if not drop.size:  # the groups optimal at zero given the others
            kept = np.flatnonzero(keep & (ag > 0))
            own = grad.copy()  # the correlation that leaves the group out
            if rows is not None:  # each row's block of H is H_X[j, j] times I_T
                own += d_h * w
            for g in kept if rows is None else ():
                c = np.flatnonzero(gid == g)
                own[c] = grad[c] + H[np.ix_(c, c)] @ w[c]
            drop = kept[_soft_norms(own, a1, gid, n_groups, pos)[kept] <= ag[kept]]
        if not drop.size:
            return w, False
        w[np.isin(gid, drop)] = 0.0
        keep[drop] = False
    return w, False


def group_newton(H, q0, w0, wref, gid, ag, a1, beta, max_iter=30, signs=None, rows=None,
                 pos=None):
    r"""Minimize, over ``w`` near ``w0`` (the coordinates of ``a1 > 0`` on the side of zero
    they are on, no group of ``ag > 0`` at zero, where the objective is smooth),

    .. math:: -q_0^\top (w - w_{ref}) + \tfrac12 (w - w_{ref})^\top H (w - w_{ref})
              + \sum_g a_g \|w_g\| + \sum_j a_{1j} |w_j| + \tfrac{\beta_j}{2} w_j^2

    (``gid[j]`` the group of coordinate ``j``, -1 for none) by Newton's method with
    backtracking: quadratic convergence where a first-order method crawls. Returns ``(w,
    exact, heading)``: ``exact`` when the gradient vanished to rounding, or the step was
    below the rounding of ``w``; otherwise (a group heading to zero, a coordinate to the
    other side, a singular system) the best point seen, never worse than ``w0`` on this
    model, and ``heading`` the groups whose last Newton step crossed the origin (where
    the norm is not smooth: an active-set method holds them at zero). ``signs``: the
    side of zero of each coordinate (default: that of ``w0``; an L1 coordinate at zero
    leaves it on its sign's side only). ``rows``, ``pos``: see :func:`group_active_set`
    (a non-negative coordinate is held on its side of zero as an L1 one)."""
    signs = np.sign(w0) if signs is None else signs
    sided = (a1 > 0) if pos is None else (a1 > 0) | np.asarray(pos, dtype=bool)
    grouped = gid >= 0
    gid_g = gid[grouped]
    active = ag > 0
    none = np.zeros(0, dtype=np.int64)

    def norms(w):
        return np.sqrt(np.bincount(gid_g, weights=w[grouped] ** 2, minlength=ag.size))

    def value(w):
        d = w - wref
        return (-float(q0 @ d) + 0.5 * float(d @ (H @ d)) + float(ag @ norms(w))
                + float(a1 @ np.abs(w)) + 0.5 * float(beta @ (w * w)))

    w, f = w0.copy(), value(w0)
    scale = float(np.abs(q0).max(initial=0.0) + np.abs(ag).max(initial=0.0)
                  + np.abs(a1).max(initial=0.0)) or 1.0
    heading = none
    for _ in range(max_iter):
        nrm = norms(w)
        if np.any(nrm[active] <= 1e-12 * nrm.max(initial=0.0)):
            return w, False, np.flatnonzero(active & (nrm <= 1e-12 * nrm.max(initial=0.0)))
        inv = np.where(active, ag / np.where(nrm > 0, nrm, 1.0), 0.0)  # a_g / ||w_g||
        coef = np.zeros(w.size)
        coef[grouped] = inv[gid_g]
        grad = -q0 + H @ (w - wref) + coef * w + a1 * signs + beta * w
        if np.abs(grad).max(initial=0.0) <= 1e-13 * scale:
            return w, True, none
        if rows is not None:
            step = row_newton_direction(H[::rows, ::rows], w.reshape(-1, rows), inv,
                                        beta[::rows], grad.reshape(-1, rows))
        else:
            Hn = _group_hessian(H, coef, beta, inv, w, nrm, gid, active)
            step = exact_direction(Hn, grad)
        if step is None:
            if rows is not None:
                Hn = _group_hessian(H, coef, beta, inv, w, nrm, gid, active)
            step = _singular_group_step(Hn, grad, w, gid_g, grouped, active, nrm,
                                        1e-13 * scale,
                                        float(np.abs(np.diag(H) + beta).max(initial=0.0)))
        if step is None:
            return w, False, none
        if np.abs(step).max() <= 1e-13 * np.abs(w).max():
            return w + step, True, none  # the Newton step is at the rounding of w: converged
        # the groups whose whole step crosses the origin (w_g . (w_g + d_g) <= 0)
        cross = np.bincount(gid_g, weights=(w * (w + step))[grouped], minlength=ag.size)
        heading = np.flatnonzero(active & (cross <= 0))
        if heading.size:
            # the norm is not smooth at the origin: a line search along a step through
            # it crawls (it took 30 iterations of steps of 1e-7 to 1e-4 on a multi-task
            # support with 3 rows of 155 leaving); the active set holds them at zero
            return w, False, heading
        # an L1 coordinate whose whole step changes sign: the step stops where the first
        # one reaches zero (the orthant's face), which is pinned there
        flip = sided & (np.sign(w + step) != signs)
        with np.errstate(divide="ignore", invalid="ignore"):
            to_zero = np.where(flip, -w / step, np.inf)
        t_face = float(min(1.0, to_zero.min(initial=np.inf)))
        slope = float(grad @ step)
        # the objective's rounding: a step whose decrease is below it is judged by the
        # gradient, which the next iteration checks (near the optimum the value cannot
        # guide a search; a whole step is then Newton's quadratic convergence)
        noise = 1e-13 * (abs(f) + float(np.abs(q0 * (w - wref)).sum())
                         + float(ag @ nrm) + float(a1 @ np.abs(w)))
        t = t_face
        while True:
            cand = w + t * step
            if t == t_face < 1.0:
                cand[flip & (to_zero <= t_face * (1.0 + 1e-12))] = 0.0
            if not np.any(sided & (cand != 0) & (np.sign(cand) != signs)):
                fc = value(cand)
                if fc <= f + 1e-4 * t * slope + noise:
                    break
            t *= 0.5
            if t < 1e-10:
                return w, False, heading
        w, f = cand, fc
        if np.any(sided & (w == 0)):
            return w, False, none  # at a face: the active set holds the zeros
    return w, False, heading


def _group_hessian(H, coef, beta, inv, w, nrm, gid, active):
    """The Hessian of :func:`group_newton`'s objective at ``w``: ``H``, the ridge, and
    each group norm's curvature ``a_g (I - u_g u_g') / ||w_g||`` (``u_g = w_g/||w_g||``)."""
    Hn = H + np.diag(coef + beta)
    for g in np.flatnonzero(active):
        idx = np.flatnonzero(gid == g)
        Hn[np.ix_(idx, idx)] -= inv[g] * np.outer(w[idx], w[idx]) / (nrm[g] * nrm[g])
    return Hn


def _singular_group_step(Hn, grad, w, gid_g, grouped, active, nrm, noise, ref):
    """:func:`group_newton`'s step when Cholesky finds its system ``Hn`` singular (more
    rows on the support than the data see), or only ill-conditioned (a group just entered
    with a tiny norm curves ``a_g / ||w_g||`` across its radius): the smallest step to the
    model's minimum on ``Hn``'s range (the eigenvalues above ``1e-12`` of ``ref``, the
    scale of the data's curvature, not of the norms'), plus, when the gradient has a
    part ``g_0`` above ``noise`` in the null space (along which the objective falls
    linearly: the groups' norms are linear along their radii), a step along ``-g_0``
    twice what takes the first group to the origin there, so that the active set drops
    it. None when no group heads there."""
    d, g0 = _range_and_null(Hn, grad, ref)
    if np.abs(g0).max(initial=0.0) <= noise:
        return d
    inward = np.bincount(gid_g, weights=(w * g0)[grouped], minlength=nrm.size)
    heads = active & (inward > 0)
    if not heads.any():
        return None
    return d - 2.0 * float((nrm[heads] ** 2 / inward[heads]).min()) * g0


def group_pieces(spec, n):
    """``(gid, ag, a1, beta, pos)`` of a group penalty on ``n`` coordinates, ``sum_g ag_g
    ||w_g|| + sum_j a1_j |w_j| + beta_j w_j^2 / 2`` (``gid[j]`` the group of coordinate
    ``j``; ``pos[j]``: ``w_j >= 0`` is a constraint): ``GroupL1``, ``GroupL1L2``,
    ``SparseGroupL1``, each scaled by a ``penalty_factor`` and held non-negative by
    ``positive=True``; None for another penalty, or groups that overlap or leave a
    coordinate out."""
    factors, positive = None, False
    while isinstance(spec, (ScaledGroupSpec, PositiveGroupSpec)):
        if isinstance(spec, PositiveGroupSpec):
            positive = True
        else:
            factors = np.asarray(spec.factors, dtype=np.float64)
        spec = spec.inner
    if not isinstance(spec, (GroupL1Spec, GroupL1L2Spec, SparseGroupL1Spec)):
        return None
    ptr, idx = np.asarray(spec.grp_ptr), np.asarray(spec.grp_idx)
    if idx.size != n or np.bincount(idx, minlength=n).max(initial=0) != 1:
        return None
    n_groups = ptr.size - 1
    gid = np.empty(n, dtype=np.int64)
    gid[idx] = np.repeat(np.arange(n_groups), np.diff(ptr))
    wts = np.asarray(spec.weights, dtype=np.float64)
    if isinstance(spec, GroupL1Spec):
        ag, l1, l2 = spec.alpha * wts, 0.0, 0.0
    elif isinstance(spec, GroupL1L2Spec):
        ag, l1, l2 = spec.l1 * wts, 0.0, float(spec.l2)
    else:
        ag, l1, l2 = spec.alpha * (1.0 - spec.tau) * wts, spec.alpha * spec.tau, 0.0
    f = np.ones(n_groups) if factors is None else factors
    return gid, ag * f, l1 * f[gid], l2 * f[gid], np.full(n, positive)


class GroupCandidate:
    """The coordinates a group penalty's exact step works on (:func:`group_newton`): the
    non-zero ones, and those whose penalty is smooth at zero there (``a1 = 0`` in a
    non-zero or unpenalized group, and no ``positive`` constraint); the others are held
    at zero, and the outer iteration's check certifies their conditions after the step."""

    def __init__(self, pieces, w):
        gid, ag, a1, beta, pos = pieces
        live = np.bincount(gid, weights=(w != 0).astype(np.float64),
                           minlength=ag.size) > 0
        smooth = (a1 == 0) & ~pos & (live | (ag == 0))[gid]
        self.S = S = np.flatnonzero((w != 0) | smooth)
        self.wS = w[S]
        groups, self.gid = np.unique(gid[S], return_inverse=True)
        self.ag, self.a1, self.beta, self.pos = ag[groups], a1[S], beta[S], pos[S]

    def minimize(self, H, v):
        """``(w_S, exact)`` for ``H`` the datafit's Hessian on ``S`` and ``v = -`` its
        gradient at ``w``."""
        return group_active_set(H, v[self.S], self.wS, self.gid.astype(np.int64), self.ag,
                                self.a1, self.beta, pos=self.pos)


def _row_blocks(store, S):
    """The dense blocks ``(rows, X[rows][:, S])`` of the support columns, a few rows at a
    time (a dense ``X``), or the whole support as one CSC matrix (a sparse ``X``: only its
    non-zeros are copied)."""
    if store.dense:
        X = store.data.reshape((store.n, store.p), order="F")
        # a block holds 1/64 of X (between 512 and 262,144 entries): a few of them are
        # all the step copies
        entries = min(max(store.n * store.p // 64, 2 ** 9), 2 ** 18)
        step = max(1, entries // max(S.size, 1))
        for r0 in range(0, store.n, step):
            yield slice(r0, min(r0 + step, store.n)), X[r0:r0 + step][:, S]
    else:
        Xs = sp.csc_matrix((store.data, store.indices, store.indptr),
                           shape=(store.n, store.p))
        yield slice(0, store.n), Xs[:, S]


def support_moments(store, S, sw, centered):
    """``(H, xm)``: the weighted Gram matrix ``sum_i sw_i (x_iS - xm)(x_iS - xm)^T`` of
    the support columns and their weighted means ``xm`` (zero when not ``centered``),
    computed by blocks of rows (memory: ``|S|^2`` and a few blocks of 1/64 of ``X``).
    ``H`` is None when centering would keep fewer than half of a diagonal entry's digits
    (a column whose mean dwarfs its spread)."""
    k = S.size
    H = np.zeros((k, k))
    s = np.zeros(k)
    for rows, B in _row_blocks(store, S):
        w = sw[rows]
        if sp.issparse(B):
            Bw = B.multiply(w[:, None]).tocsc()
            H += (B.T @ Bw).toarray()
            s += np.asarray(Bw.sum(axis=0)).ravel()
        else:
            Bw = B * np.sqrt(w)[:, None]
            H += Bw.T @ Bw
            s += w @ B
    S_w = float(sw.sum())
    if not centered or S_w <= 0:
        return H, np.zeros(k)
    xm = s / S_w
    Hc = H - S_w * np.outer(xm, xm)
    if np.any(np.diag(Hc) < 1e-8 * np.diag(H)):
        return None, xm  # centering would lose more than half the digits (see center_gram)
    return Hc, xm


def support_product(store, S, D):
    """``X[:, S] @ D`` (``D`` of shape ``(|S|,)`` or ``(|S|, T)``), by blocks of rows."""
    out = np.zeros((store.n,) + D.shape[1:])
    for rows, B in _row_blocks(store, S):
        out[rows] = B @ D
    return out


class Candidate:
    """The support an exact step works on: ``S`` (the non-zero coordinates and those
    violating their optimality condition), the orthant ``signs`` (a violator enters on
    the side ``v = -gradient`` points to), the penalty's pieces there, the ``free``
    coordinates (a coordinate at a bound stays there unless it violates its condition),
    and ``key``, what identifies the try (a solver does not repeat one)."""

    def __init__(self, spec, w, scores, v):
        viol = scores > 1e-13 * float(np.abs(v).max(initial=0.0))
        self.S = S = np.flatnonzero((w != 0) | viol)
        self.wS = wS = w[S]
        self.signs = np.where(wS != 0, np.sign(wS), np.sign(v[S]))
        self.key = (S.tobytes(), np.signbit(self.signs).tobytes())
        self.a, self.beta, self.lower, self.upper = orthant_pieces(spec, S)
        self.free = ((wS > self.lower) & (wS < self.upper)) | viol[S]

    def gradient(self, v):
        """The objective's gradient on ``S`` at ``w`` (``v = -`` the datafit's)."""
        return -v[self.S] + self.a * self.signs + self.beta * self.wS

    def minimize(self, H, v):
        """:func:`restricted_minimizer` with the Hessian ``H`` of the datafit on ``S``
        (the penalty's curvature added here, in place): ``(w_S, exact)``."""
        H[np.diag_indices(self.S.size)] += self.beta
        new, exact, self.solves = _active_set(H, self.gradient(v), self.wS, self.a,
                                              self.lower, self.upper, MAX_PIVOTS, self.free,
                                              self.signs)
        return new, exact
