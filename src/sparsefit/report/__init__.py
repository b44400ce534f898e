"""A single self-contained HTML report: figures embedded as PNG data, no external files.

Every user string (titles, column names, cell values) is HTML-escaped, and the page loads
no script or stylesheet from anywhere: it can be opened offline and is inert.
"""

from __future__ import annotations

import base64
import html
import io
import os
from dataclasses import dataclass, field

from .._atomic import write_bytes

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1100px; color: #222; line-height: 1.45; padding: 0 1rem; }
h1 { border-bottom: 2px solid #333; padding-bottom: .3rem; }
h2 { margin-top: 2.2rem; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .9rem; }
th, td { border: 1px solid #ccc; padding: .25rem .6rem; text-align: right; }
th { background: #f2f2f2; } td:first-child, th:first-child { text-align: left; }
figure { margin: 1rem 0; } img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .85rem; color: #555; }
pre { background: #f6f6f6; padding: .6rem; overflow-x: auto; font-size: .85rem; }
.note { color: #555; font-size: .9rem; }
"""


@dataclass
class Section:
    """One section of the report: a title, paragraphs, tables and figures, in that order.

    ``paragraphs`` are plain text (escaped); ``tables`` are lists of dicts (one per row,
    same keys); ``figures`` are ``(name, matplotlib Figure, caption)``; ``preformatted``
    is plain text shown as is (escaped).
    """

    title: str
    paragraphs: list = field(default_factory=list)
    tables: list = field(default_factory=list)
    figures: list = field(default_factory=list)
    preformatted: str | None = None


def _cell(v):
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def table_html(rows):
    """An HTML table (escaped) from a list of dicts sharing their keys.

    Examples
    --------
    >>> table_html([{"name": "<b>", "value": 0.5}])
    '<table><tr><th>name</th><th>value</th></tr><tr><td>&lt;b&gt;</td><td>0.5</td></tr></table>'
    """
    if not rows:
        return ""
    keys = list(rows[0])
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in keys)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(r.get(k, '')))}</td>"
                                    for k in keys) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def table_text(rows):
    """The same table as aligned plain text, for the terminal.

    Examples
    --------
    >>> print(table_text([{"a": 1, "b": "xy"}]))
    a  b
    1  xy
    """
    if not rows:
        return ""
    keys = list(rows[0])
    cells = [[str(k) for k in keys]] + [[_cell(r.get(k, "")) for k in keys] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(keys))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()
                     for row in cells)


def _png(fig, dpi=100):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def write_report(sections, out_dir, *, title="sparsefit report", filename="report.html",
                 dpi=100, footer=None):
    """Write ``filename`` (self-contained HTML) and one PNG per figure into ``out_dir``.

    Each file is written atomically (a reader never sees half a report). Each command
    passes its own ``filename``, so one command's report never replaces another's.

    Parameters
    ----------
    sections : list of Section
    out_dir : str or path
        Created if missing.
    title : str
    filename : str
    dpi : int
    footer : str, optional
        Plain text at the end (e.g. the command line and versions).

    Returns
    -------
    path : str
        The HTML file.

    Examples
    --------
    >>> import tempfile
    >>> from sparsefit.report import Section, write_report
    >>> d = tempfile.mkdtemp()
    >>> path = write_report([Section("Hello", ["1 < 2"])], d)
    >>> "1 &lt; 2" in open(path).read()
    True
    """
    os.makedirs(out_dir, exist_ok=True)
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
             f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
             f"<h1>{html.escape(title)}</h1>"]
    used = set()
    for sec in sections:
        parts.append(f"<section><h2>{html.escape(sec.title)}</h2>")
        parts += [f"<p>{html.escape(p)}</p>" for p in sec.paragraphs]
        if sec.preformatted:
            parts.append(f"<pre>{html.escape(sec.preformatted)}</pre>")
        parts += [table_html(t) for t in sec.tables]
        for name, fig, caption in sec.figures:
            stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "figure"
            while stem in used:
                stem += "_"
            used.add(stem)
            data = _png(fig, dpi)
            write_bytes(os.path.join(out_dir, f"{stem}.png"), data)
            b64 = base64.b64encode(data).decode("ascii")
            parts.append(f"<figure><img alt='{html.escape(caption or name, quote=True)}' "
                         f"src='data:image/png;base64,{b64}'>"
                         f"<figcaption>{html.escape(caption or '')}</figcaption></figure>")
        parts.append("</section>")
    if footer:
        parts.append(f"<p class='note'>{html.escape(footer)}</p>")
    parts.append("</body></html>")
    path = os.path.join(out_dir, filename)
    write_bytes(path, "".join(parts).encode("utf-8"))
    return path
