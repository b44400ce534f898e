"""The sparsity report shared by :mod:`sparsefit.nn` and :mod:`sparsefit.keras`
(framework-free: plain rows of numbers)."""

from __future__ import annotations

COLUMNS = ("layer", "type", "params", "zeros", "zero_frac", "near_zero", "near_zero_frac",
           "dead_out", "dead_in", "penalty")


def layer_row(layer, type_name, params, zeros, near_zero, dead_out, dead_in, penalty):
    """One row of the report (fractions derived from the counts)."""
    return {"layer": layer, "type": type_name, "params": params, "zeros": zeros,
            "zero_frac": zeros / params if params else 0.0, "near_zero": near_zero,
            "near_zero_frac": near_zero / params if params else 0.0, "dead_out": dead_out,
            "dead_in": dead_in, "penalty": penalty}


class SparsityReport:
    """The result of :func:`sparsity_report`: ``rows`` (one dict per layer) and ``total``.

    ``str(report)`` is a text table, :meth:`to_dict` a plain dict, :meth:`to_dataframe` a
    pandas DataFrame (pandas must be installed).
    """

    def __init__(self, rows, total, tol):
        self.rows = rows
        self.total = total
        self.tol = tol

    @classmethod
    def from_rows(cls, rows, tol):
        """The report of ``rows`` (from :func:`layer_row`) with their totals."""
        def tot(key):
            vals = [r[key] for r in rows if r[key] is not None]
            return sum(vals) if vals else None
        total = layer_row("total", "", tot("params") or 0, tot("zeros") or 0,
                          tot("near_zero") or 0, tot("dead_out"), tot("dead_in"),
                          tot("penalty"))
        return cls(rows, total, float(tol))

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
