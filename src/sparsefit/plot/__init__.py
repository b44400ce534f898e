"""Figures that show what L1 does. Each function takes plain data and returns a
:class:`matplotlib.figure.Figure` (never shown; save it or embed it in a report).

matplotlib is imported here only, never by the core.
"""

from __future__ import annotations

import numpy as np

ZERO_COLOUR = "#111111"  # exact zeros get their own colour in the weight pictures
# a user's string (a column name) is shown as written: never parsed as mathtext ("$\foo$"
# would fail at drawing) nor handed to LaTeX
USER_TEXT = {"parse_math": False, "usetex": False}


def _figure(*args, **kwargs):
    # the object-oriented API: no pyplot state, safe in threads and without a display
    from matplotlib.figure import Figure

    return Figure(*args, **kwargs)


def path_labels(coefs, feature_names=None, top=8):
    """Which traces of a path get a label: the ``top`` largest, by max |coefficient|.

    Returns
    -------
    labelled, unlabelled : lists of feature indices
        ``labelled`` in decreasing order of max |coefficient|; ``unlabelled`` holds the other
        features that are non-zero somewhere on the path (in the same order). Features that
        stay zero on the whole path are in neither.

    Examples
    --------
    >>> import numpy as np
    >>> path_labels(np.array([[0.0, 0.1, 3.0, 0.0], [0.0, 0.2, -5.0, 0.0]]), top=1)
    ([2], [1])
    """
    coefs = np.asarray(coefs, dtype=float)
    size = np.max(np.abs(coefs), axis=0) if coefs.size else np.zeros(coefs.shape[-1])
    order = [int(j) for j in np.argsort(-size, kind="stable") if size[j] > 0]
    return order[:top], order[top:]


def _spread(values, gap, lo, hi):
    """Label heights at least ``gap`` apart, as close to ``values`` as the order allows."""
    order = np.argsort(values)
    pos = np.asarray(values, dtype=float)[order].copy()
    for i in range(1, len(pos)):
        pos[i] = max(pos[i], pos[i - 1] + gap)
    overflow = pos[-1] - hi if len(pos) else 0
    if overflow > 0:
        pos -= overflow
        for i in range(len(pos) - 2, -1, -1):
            pos[i] = min(pos[i], pos[i + 1] - gap)
    pos = np.maximum(pos, lo - gap) if len(pos) else pos
    out = np.empty_like(pos)
    out[order] = pos
    return out


def plot_path(alphas, coefs, feature_names=None, *, alpha_min=None, alpha_1se=None,
              title="Lasso regularization path", top=8, groups=None):
    """Coefficient traces against alpha (log scale, decreasing to the right).

    The ``top`` largest traces are labelled at the right end, spread apart so that their
    labels never overlap (a thin line leads from each to its trace); :func:`path_labels`
    says which, so a report can list the others.

    Parameters
    ----------
    alphas : array of shape (n_alphas,)
    coefs : array of shape (n_alphas, n_features)
    feature_names : list of str, optional
        Shown as written (``$`` is not mathtext).
    alpha_min, alpha_1se : float, optional
        Marked with vertical lines.
    title : str
    top : int, default=8
        How many traces are labelled.
    groups : list of str, optional
        The group of each feature (a grouped penalty): each trace is coloured by its group,
        with the groups in the legend.

    Examples
    --------
    >>> import numpy as np
    >>> fig = plot_path(np.array([1.0, 0.1]), np.array([[0.0, 0.0], [0.5, -0.2]]), ["a", "b"])
    >>> len(fig.axes)
    1
    >>> fig = plot_path(np.array([1.0, 0.1]), np.array([[0.0, 0.0], [0.5, -0.2]]), ["a", "b"],
    ...                 groups=["g", "g"])
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()][-1]
    'group g (2 features)'
    """
    alphas = np.asarray(alphas)
    coefs = np.asarray(coefs)
    fig = _figure(figsize=(8.5, 4.8))
    ax = fig.add_axes((0.09, 0.11, 0.68, 0.8))
    names = feature_names or [f"x{j}" for j in range(coefs.shape[1])]
    colours = {}
    if groups is not None:
        from matplotlib import colormaps

        cmap = colormaps["tab10" if len(set(groups)) <= 10 else "tab20"]
        for g in groups:
            colours.setdefault(g, cmap(len(colours) % cmap.N))
    lines = []
    for j in range(coefs.shape[1]):
        colour = colours[groups[j]] if groups is not None else None
        (line,) = ax.plot(alphas, coefs[:, j], lw=1.5, color=colour)
        lines.append(line)
    ax.set_xscale("log")
    ax.invert_xaxis()
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel("alpha (log scale)")
    ax.set_ylabel("coefficient")
    ax.set_title(title)
    labelled, _ = path_labels(coefs, names, top)
    if labelled:
        lo, hi = ax.get_ylim()
        height_pt = ax.get_position().height * fig.get_figheight() * 72
        gap = (hi - lo) * 10.5 / height_pt  # one 8-point line with spacing
        ends = coefs[-1, labelled]
        ys = _spread(ends, gap, lo, hi)
        for j, y_end, y_text in zip(labelled, ends, ys):
            ax.annotate(names[j], xy=(alphas[-1], y_end), xycoords="data",
                        xytext=(1.02, y_text), textcoords=("axes fraction", "data"),
                        fontsize=8, color=lines[j].get_color(), va="center",
                        annotation_clip=False,
                        arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "0.6"},
                        **USER_TEXT)
    _mark_alphas(ax, alpha_min, alpha_1se)
    if groups is not None:
        from matplotlib.lines import Line2D

        handles = ax.get_legend().legend_handles if ax.get_legend() else []
        texts = ([t.get_text() for t in ax.get_legend().get_texts()]
                 if ax.get_legend() else [])
        counts = {g: list(groups).count(g) for g in colours}
        for g, c in colours.items():
            handles.append(Line2D([], [], color=c, lw=2))
            texts.append(f"group {g} ({counts[g]} feature{'s' * (counts[g] > 1)})")
        ax.legend(handles, texts, fontsize=7, loc="best", ncol=1 + len(texts) // 12)
    return fig


def _mark_alphas(ax, alpha_min, alpha_1se):
    if alpha_min is not None:
        ax.axvline(alpha_min, color="C3", ls="--", lw=1, label=f"alpha_min = {alpha_min:.3g}")
    if alpha_1se is not None:
        ax.axvline(alpha_1se, color="C2", ls=":", lw=1.5, label=f"alpha_1se = {alpha_1se:.3g}")
    if alpha_min is not None or alpha_1se is not None:
        ax.legend(fontsize=8, loc="best")


def plot_cv_curve(alphas, mean, std_error, *, alpha_min=None, alpha_1se=None,
                  ylabel="CV mean squared error", title="Cross-validation curve"):
    """Mean CV error per alpha with one-standard-error bars, alpha_min and alpha_1se marked.

    Examples
    --------
    >>> import numpy as np
    >>> fig = plot_cv_curve(np.array([1.0, 0.1]), np.array([2.0, 1.0]), np.array([0.1, 0.1]))
    >>> fig.axes[0].get_ylabel()
    'CV mean squared error'
    """
    fig = _figure(figsize=(7, 4))
    ax = fig.add_subplot()
    ax.errorbar(alphas, mean, yerr=std_error, fmt="o-", ms=3, lw=1, capsize=2, color="C0",
                ecolor="0.6")
    ax.set_xscale("log")
    ax.invert_xaxis()
    _mark_alphas(ax, alpha_min, alpha_1se)
    ax.set_xlabel("alpha (log scale)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_loss_curves(histories, *, title="Training and validation loss"):
    """One panel per training method: training and validation loss per epoch.

    Parameters
    ----------
    histories : dict of name -> {"loss": [...], "val_loss": [...]}

    Examples
    --------
    >>> fig = plot_loss_curves({"none": {"loss": [1, 0.5], "val_loss": [1.1, 0.6]}})
    >>> len(fig.axes)
    1
    """
    n = len(histories)
    fig = _figure(figsize=(3.2 * n, 3.2))
    axes = [fig.add_subplot(1, n, i + 1) for i in range(n)]
    for ax, (name, h) in zip(axes, histories.items()):
        epochs = np.arange(1, len(h["loss"]) + 1)
        ax.plot(epochs, h["loss"], label="training")
        if h.get("val_loss") is not None:
            ax.plot(epochs, h["val_loss"], label="validation")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("loss")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _default_axis_labels(n_layers):
    rows = ["input"] + [f"unit of layer {j}" for j in range(1, n_layers)]
    return [(rows[j], f"unit of layer {j + 1}") for j in range(n_layers)]


def weight_norm(arrays, linthresh=None):
    """One colour scale for weight pictures compared side by side.

    Symmetric about zero and logarithmic beyond ``linthresh`` (default: 1/1000 of the
    largest |w| over all ``arrays``), so that a weight of 1e-12 is drawn near white while
    0.5 is saturated, in every panel alike.

    Examples
    --------
    >>> import numpy as np
    >>> norm = weight_norm([np.array([0.5, -1e-12]), np.array([1e-12])])
    >>> float(norm(0.5)), round(float(norm(1e-12)), 6)
    (1.0, 0.5)
    """
    from matplotlib.colors import SymLogNorm

    vmax = max((float(np.max(np.abs(a))) for a in arrays if np.size(a)), default=0.0)
    vmax = vmax or 1.0
    lt = linthresh if linthresh is not None else vmax * 1e-3
    return SymLogNorm(linthresh=lt, linscale=0.25, vmin=-vmax, vmax=vmax, base=10)


def _tidy_bar(bar):
    """Short tick labels on a weight colour bar (``0.24``, ``-2.4e-03``), no minor ticks."""
    from matplotlib.ticker import FuncFormatter

    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: "0" if v == 0 else f"{v:.2g}"))
    bar.ax.minorticks_off()


def _norm_ticks(norm):
    """Colour-bar ticks of :func:`weight_norm`: 0 and +-vmax / 10^k down to the linear
    range (the default ticks crowd and overlap around zero)."""
    vmax = float(norm.vmax)
    mags = [vmax * 10.0 ** -k for k in range(4) if vmax * 10.0 ** -k >= norm.linthresh * 0.99]
    return sorted([-m for m in mags] + [0.0] + mags)


def plot_weight_heatmaps(kernels, *, title="Weights (exact zeros in black)", axis_labels=None,
                         linthresh=None):
    """Side-by-side pictures of each layer's kernel, one row per method, one colour scale.

    Kernels are in Keras' layout, ``(inputs, units)``: rows are the inputs of the layer,
    columns its units. Every panel shares one symmetric logarithmic colour scale
    (:func:`weight_norm`), so equal colours mean equal weights across methods and layers;
    exact zeros are painted in their own colour (``ZERO_COLOUR``), so "near zero" and
    "exactly zero" cannot be confused.

    Parameters
    ----------
    kernels : dict of method name -> list of 2-D arrays (one per layer, ``(in, out)``)
    title : str
    axis_labels : list of (row label, column label), optional
        One per layer; default ``("input", "unit of layer 1")``, ``("unit of layer 1",
        "unit of layer 2")``, ...
    linthresh : float, optional
        Where the colour scale turns logarithmic (see :func:`weight_norm`).

    Examples
    --------
    >>> import numpy as np
    >>> fig = plot_weight_heatmaps({"L1": [np.array([[0.0, 1.0], [-1.0, 0.5]])]})
    >>> fig.axes[0].get_ylabel(), fig.axes[0].get_xlabel()
    ('input (2)', 'unit of layer 1 (2)')
    """
    from matplotlib import colormaps
    from matplotlib.ticker import MaxNLocator

    methods = list(kernels)
    n_layers = max(len(v) for v in kernels.values())
    labels = axis_labels or _default_axis_labels(n_layers)
    arrays = [np.asarray(w, dtype=float) for m in methods for w in kernels[m]]
    norm = weight_norm(arrays, linthresh)
    fig = _figure(figsize=(3.2 * n_layers + 1.2, 2.7 * len(methods) + 0.6),
                  layout="constrained")
    cmap = colormaps["coolwarm"].with_extremes(bad=ZERO_COLOUR)
    axes, img = [], None
    for i, m in enumerate(methods):
        for j, w in enumerate(kernels[m]):
            ax = fig.add_subplot(len(methods), n_layers, i * n_layers + j + 1)
            axes.append(ax)
            w = np.asarray(w, dtype=float)
            if w.ndim == 1:
                w = w[:, None]
            img = ax.imshow(np.ma.masked_where(w == 0, w), cmap=cmap, norm=norm,
                            aspect="auto", interpolation="nearest")
            zeros = 100.0 * np.mean(w == 0)
            ax.set_title(f"{m} - layer {j + 1} {w.shape[0]}x{w.shape[1]}\n"
                         f"{zeros:.1f}% exact zeros", fontsize=9, **USER_TEXT)
            ax.set_ylabel(f"{labels[j][0]} ({w.shape[0]})", fontsize=8)
            ax.set_xlabel(f"{labels[j][1]} ({w.shape[1]})", fontsize=8)
            for axis in (ax.xaxis, ax.yaxis):
                axis.set_major_locator(MaxNLocator(nbins=5, integer=True))
            ax.tick_params(labelsize=7)
    if img is not None:
        bar = fig.colorbar(img, ax=axes, shrink=0.9, aspect=40, ticks=_norm_ticks(norm))
        _tidy_bar(bar)
        bar.set_label("weight (one scale for all panels; symmetric log; black = exactly 0)",
                      fontsize=8)
        bar.ax.tick_params(labelsize=7)
    fig.suptitle(title)
    return fig


def plot_input_images(weights, shape, *, names=None, title="Weights as images",
                      columns=10, linthresh=None):
    """Each row of ``weights`` drawn as an image of the input (e.g. the 8x8 digits).

    One symmetric colour scale for all images (:func:`weight_norm`); exact zeros (pixels
    the model does not read) in ``ZERO_COLOUR``.

    Parameters
    ----------
    weights : array of shape (n_images, prod(shape))
        For a classifier, one row per class; for a first layer, one row per unit.
    shape : (int, int)
    names : list of str, optional
        A title per image.
    title : str
    columns : int
        Images per row of the figure.
    linthresh : float, optional

    Examples
    --------
    >>> import numpy as np
    >>> fig = plot_input_images(np.eye(3, 64), (8, 8), names=["a", "b", "c"])
    >>> fig.axes[0].get_title()
    'a'
    """
    from matplotlib import colormaps

    weights = np.atleast_2d(np.asarray(weights, dtype=float))
    n = weights.shape[0]
    cols = min(columns, n)
    rows = -(-n // cols)
    fig = _figure(figsize=(1.5 * cols + 1.2, 1.6 * rows + 0.7), layout="constrained")
    cmap = colormaps["coolwarm"].with_extremes(bad=ZERO_COLOUR)
    norm = weight_norm([weights], linthresh)
    axes, img = [], None
    for k in range(n):
        ax = fig.add_subplot(rows, cols, k + 1)
        axes.append(ax)
        w = weights[k].reshape(shape)
        img = ax.imshow(np.ma.masked_where(w == 0, w), cmap=cmap, norm=norm,
                        interpolation="nearest")
        ax.set_title(names[k] if names is not None else f"{k}", fontsize=8, **USER_TEXT)
        ax.set_xticks([])
        ax.set_yticks([])
    bar = fig.colorbar(img, ax=axes, shrink=0.9, ticks=_norm_ticks(norm))
    _tidy_bar(bar)
    bar.set_label("coefficient (black = exactly 0)", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    fig.suptitle(title)
    return fig


def plot_weight_histogram(weights, *, title="|w| on a log scale"):
    """Histogram of ``|w|`` (log scale) per method; exact zeros counted in their own bar.

    A log axis cannot show zero, so the exact zeros are a separate bar at the left: that
    bar is what the proximal step fills and the penalty in the loss leaves empty.

    Parameters
    ----------
    weights : dict of method name -> array of weights (any shape)

    Examples
    --------
    >>> import numpy as np
    >>> fig = plot_weight_histogram({"L1": np.array([0.0, 1e-4, 0.1])})
    >>> len(fig.axes)
    2
    """
    fig = _figure(figsize=(8, 3.6))
    ax0 = fig.add_subplot(1, 5, 1)
    ax = fig.add_subplot(1, 5, (2, 5))
    flat = {m: np.abs(np.asarray(w, dtype=float)).ravel() for m, w in weights.items()}
    nonzero = np.concatenate([v[v > 0] for v in flat.values()] or [np.ones(1)])
    lo = max(float(nonzero.min()), 1e-12) if nonzero.size else 1e-8
    hi = float(nonzero.max()) if nonzero.size else 1.0
    bins = np.logspace(np.log10(lo), np.log10(hi) + 1e-9, 50)
    for k, (m, v) in enumerate(flat.items()):
        ax0.bar(k, 100.0 * np.mean(v == 0), color=f"C{k}", label=m)
        ax.hist(v[v > 0], bins=bins, histtype="step", lw=1.5, color=f"C{k}",
                label=f"{m} ({100.0 * np.mean(v == 0):.1f}% exact 0)")
    ax0.set_xticks(range(len(flat)))
    ax0.set_xticklabels(list(flat), rotation=45, fontsize=8)
    ax0.set_ylabel("% exactly zero")
    ax.set_xscale("log")
    ax.set_xlabel("|w| (non-zero weights)")
    ax.set_ylabel("count")
    ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _constrained_minimizer(center, hess, radius, ball):
    """Minimize a convex quadratic over the boundary of an L1 or L2 ball (fine grid)."""
    t = np.linspace(0, 2 * np.pi, 20001)
    if ball == "l1":
        c, s = np.cos(t), np.sin(t)
        pts = radius * np.stack([c, s], 1) / (np.abs(c) + np.abs(s))[:, None]
    else:
        pts = radius * np.stack([np.cos(t), np.sin(t)], 1)
    d = pts - center
    f = 0.5 * np.einsum("ij,jk,ik->i", d, hess, d)
    k = int(np.argmin(f))
    return pts[k], f[k]


def plot_geometry(*, center=(2.0, 0.5), radius=1.0):
    """Why L1 gives zeros: loss contours touch the L1 diamond at a corner, the L2 circle not.

    The loss is an elliptic quadratic centred at ``center`` (the unpenalized solution);
    the constrained solution is where the smallest contour touches the ball. The second
    panel draws the prox functions: soft-thresholding (L1) is exactly zero on
    ``[-t, t]``; L2 shrinkage only scales.

    Examples
    --------
    >>> fig = plot_geometry()
    >>> len(fig.axes)
    2
    """
    center = np.asarray(center, dtype=float)
    hess = np.array([[1.0, 0.3], [0.3, 1.5]])
    fig = _figure(figsize=(10, 4.4))
    ax = fig.add_subplot(1, 2, 1)
    g = np.linspace(-2, 3, 300)
    xx, yy = np.meshgrid(g, g)
    d = np.stack([xx - center[0], yy - center[1]], -1)
    ff = 0.5 * np.einsum("...j,jk,...k->...", d, hess, d)
    diamond = radius * np.array([[1, 0], [0, 1], [-1, 0], [0, -1], [1, 0]])
    ax.fill(diamond[:, 0], diamond[:, 1], color="C0", alpha=0.25, label="L1 ball |w1|+|w2| <= t")
    circ = np.linspace(0, 2 * np.pi, 200)
    ax.plot(radius * np.cos(circ), radius * np.sin(circ), color="C1", lw=2,
            label="L2 ball w1²+w2² <= t²")
    for ball, colour in (("l1", "C0"), ("l2", "C1")):
        p, fval = _constrained_minimizer(center, hess, radius, ball)
        ax.contour(xx, yy, ff, levels=[fval], colors=colour, linewidths=1, linestyles="--")
        ax.plot(*p, "o", color=colour, ms=7)
        ax.annotate(f"{ball.upper()}: ({p[0]:.2f}, {p[1]:.2f})", p, xytext=(8, -14 if
                    ball == "l1" else 8), textcoords="offset points", fontsize=9, color=colour)
    ax.contour(xx, yy, ff, levels=8, colors="0.7", linewidths=0.5)
    ax.plot(*center, "k+", ms=10)
    ax.annotate("least squares", center, xytext=(5, 5), textcoords="offset points", fontsize=9)
    ax.axhline(0, color="k", lw=0.5)
    ax.axvline(0, color="k", lw=0.5)
    ax.set_aspect("equal")
    ax.set_xlim(-2, 3)
    ax.set_ylim(-2, 2.5)
    ax.set_title("The L1 corner lies on an axis: w2 = 0 exactly")
    ax.legend(fontsize=8, loc="lower left")

    from ..penalties import L1, L2

    ax = fig.add_subplot(1, 2, 2)
    v = np.linspace(-3, 3, 601)
    ax.plot(v, v, color="0.6", lw=1, ls=":", label="identity (no penalty)")
    ax.plot(v, L1(1.0).prox(v, 1.0), color="C0", lw=2, label="L1: soft-thresholding, t = 1")
    ax.plot(v, L2(0.5).prox(v, 1.0), color="C1", lw=2, label="L2: shrinkage v / 2")
    ax.axvspan(-1, 1, color="C0", alpha=0.1)
    ax.set_xlabel("v")
    ax.set_ylabel("prox(v)")
    ax.set_title("Prox functions: exactly zero on [-t, t] for L1")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_compressed_sensing(x_true, x_l1, x_ls, *, title=None):
    """The true sparse signal against its L1 and least-squares reconstructions.

    Examples
    --------
    >>> import numpy as np
    >>> fig = plot_compressed_sensing(np.eye(5)[0], np.eye(5)[0], np.full(5, 0.2))
    >>> len(fig.axes)
    2
    """
    fig = _figure(figsize=(9, 4.8))
    idx = np.arange(len(x_true))
    for k, (est, name, colour) in enumerate(((x_l1, "L1 minimization", "C0"),
                                             (x_ls, "least squares (min norm)", "C3"))):
        ax = fig.add_subplot(2, 1, k + 1)
        ax.vlines(idx, 0, x_true, color="0.5", lw=3, label="true signal")
        ax.plot(idx, est, "o", ms=3, color=colour, label=name)
        err = np.linalg.norm(est - x_true) / max(np.linalg.norm(x_true), 1e-300)
        ax.set_title(f"{name}: relative error {err:.2e}", fontsize=10)
        ax.legend(fontsize=8, loc="upper right")
    fig.suptitle(title or "Compressed sensing: a sparse signal from fewer measurements "
                 "than its length")
    fig.tight_layout()
    return fig


def plot_fitted_lines(x, y, fits, *, outliers=None, title="Fitted lines"):
    """Data points (outliers marked) and one fitted curve per method.

    Parameters
    ----------
    x, y : arrays of shape (n,)
    fits : dict of name -> (x_grid, y_grid)

    Examples
    --------
    >>> import numpy as np
    >>> fig = plot_fitted_lines(np.arange(3), np.arange(3), {"L1": (np.arange(3), np.arange(3))})
    >>> len(fig.axes)
    1
    """
    fig = _figure(figsize=(6.5, 4.2))
    ax = fig.add_subplot()
    x = np.ravel(x)
    y = np.ravel(y)
    mask = np.zeros(x.size, bool) if outliers is None else np.asarray(outliers, bool)
    ax.plot(x[~mask], y[~mask], "o", color="0.5", ms=4, label="data")
    if mask.any():
        ax.plot(x[mask], y[mask], "x", color="k", ms=7, label="outliers")
    for k, (name, (gx, gy)) in enumerate(fits.items()):
        ax.plot(np.ravel(gx), np.ravel(gy), lw=2, color=f"C{k}", label=name)
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_runs(x, y, runs, *, outliers=None, line=None, title="Fitted functions"):
    """A grid of small panels: one row per method, one column per run.

    Each panel shows the data (outliers marked), the run's fitted function and the error
    given for it; every panel has the same axes.

    Parameters
    ----------
    x, y : arrays of shape (n,)
    runs : dict of method name -> list of (x_grid, y_grid, panel label)
    outliers : boolean array of shape (n,), optional
    line : (x_grid, y_grid), optional
        The noise-free function, drawn thin in every panel.
    title : str

    Examples
    --------
    >>> import numpy as np
    >>> g = np.linspace(0, 1, 5)
    >>> fig = plot_runs(g, g, {"L1": [(g, g, "error 0.0"), (g, 0 * g, "error 2.5")]})
    >>> [ax.get_title() for ax in fig.axes]
    ['L1: run 1\\nerror 0.0', 'L1: run 2\\nerror 2.5']
    """
    x = np.ravel(x)
    y = np.ravel(y)
    mask = np.zeros(x.size, bool) if outliers is None else np.asarray(outliers, bool)
    methods = list(runs)
    n_cols = max(len(v) for v in runs.values())
    fig = _figure(figsize=(2.3 * n_cols + 0.6, 2.1 * len(methods) + 0.6),
                  layout="constrained")
    first = None
    for i, m in enumerate(methods):
        for j, (gx, gy, label) in enumerate(runs[m]):
            ax = fig.add_subplot(len(methods), n_cols, i * n_cols + j + 1, sharex=first,
                                 sharey=first)
            first = first or ax
            ax.plot(x[~mask], y[~mask], "o", color="0.55", ms=2.5)
            if mask.any():
                ax.plot(x[mask], y[mask], "x", color="k", ms=4)
            if line is not None:
                ax.plot(np.ravel(line[0]), np.ravel(line[1]), color="0.3", lw=0.8, ls=":")
            ax.plot(np.ravel(gx), np.ravel(gy), color=f"C{i}", lw=1.8)
            ax.set_title(f"{m}: run {j + 1}\n{label}", fontsize=8, **USER_TEXT)
            ax.tick_params(labelsize=7)
            if j == 0:
                ax.set_ylabel("y", fontsize=8)
            if i == len(methods) - 1:
                ax.set_xlabel("x", fontsize=8)
    fig.suptitle(title)
    return fig


def plot_sparsity_path(sparsity, score, lambdas=None, *, metric="validation accuracy",
                       reference=None, title="Accuracy against sparsity (proximal L1)"):
    """Score against the fraction of exact zeros, one point per strength.

    Parameters
    ----------
    sparsity, score : array of shape (n,)
        As in :class:`sparsefit.nn.SparsityPath` (fractions; the x axis shows percent).
    lambdas : array of shape (n,), optional
        Each point is labelled with its strength.
    metric : str
        The y-axis label.
    reference : float, optional
        A horizontal line, e.g. the unregularized model's score.

    Examples
    --------
    >>> fig = plot_sparsity_path([0.1, 0.6, 0.9], [0.97, 0.96, 0.9], [1e-4, 1e-3, 1e-2])
    >>> len(fig.axes)
    1
    """
    sparsity = 100 * np.asarray(sparsity, dtype=float)
    score = np.asarray(score, dtype=float)
    fig = _figure(figsize=(6, 4))
    ax = fig.add_subplot()
    ax.plot(sparsity, score, "o-", lw=1.5)
    if lambdas is not None:
        for s, a, lam in zip(sparsity, score, np.asarray(lambdas, dtype=float)):
            ax.annotate(f"{lam:.2g}", (s, a), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
    if reference is not None:
        ax.axhline(reference, color="0.5", ls="--", lw=1, label="unregularized")
        ax.legend(loc="lower left", fontsize=8)
    ax.set_xlabel("exact zeros in the regularized weights (%)")
    ax.set_ylabel(metric)
    ax.set_xlim(0, 100)
    ax.set_title(title)
    fig.tight_layout()
    return fig
