"""The sparsity report shared by :mod:`sparsefit.nn` and :mod:`sparsefit.keras`
(framework-free: plain rows of numbers)."""

from __future__ import annotations

COLUMNS = ("layer", "type", "params", "zeros", "zero_frac", "near_zero", "near_zero_frac",
           "dead_out", "dead_in", "penalty")


class SparsityReport:
    """The result of :func:`sparsity_report`: ``rows`` (one dict per layer) and ``total``.

    ``str(report)`` is a text table, :meth:`to_dict` a plain dict, :meth:`to_dataframe` a
    pandas DataFrame (pandas must be installed).
    """

    def __init__(self, rows, total, tol):
        self.rows = rows
        self.total = total
        self.tol = tol

    def to_dict(self):
        return {"layers": [dict(r) for r in self.rows], "total": dict(self.total),
                "tol": self.tol}

    def to_dataframe(self):
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError("to_dataframe needs pandas: pip install pandas") from None
        return pd.DataFrame([*self.rows, self.total], columns=list(COLUMNS)).set_index("layer")

    def __str__(self):
        def fmt(v, key):
            if v is None:
                return "-"
            if key.endswith("_frac"):
                return f"{100 * v:.1f}%"
            if key == "penalty":
                return f"{v:.4g}"
            return str(v)
        head = [c.replace("_frac", " %") for c in COLUMNS]
        body = [[fmt(r[c], c) for c in COLUMNS] for r in [*self.rows, self.total]]
        widths = [max(len(x) for x in col) for col in zip(head, *body)]
        lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths))]
        lines += ["  ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip() for r in body]
        lines.insert(len(lines) - 1, "-" * len(lines[0]))
        return "\n".join(lines) + f"\n(near zero: |w| < {self.tol:g})"

    __repr__ = __str__
