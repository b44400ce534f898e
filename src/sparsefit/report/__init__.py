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
       max-width: 1100px; color: #222; line-height: 1.45; padding: 0 1rem;
       overflow-wrap: break-word; }
h1 { border-bottom: 2px solid #333; padding-bottom: .3rem; margin-bottom: .4rem; }
h2 { margin-top: 2.2rem; border-bottom: 1px solid #ccc; }
.table-wrap { max-width: 100%; overflow-x: auto; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .9rem; }
th, td { border: 1px solid #ccc; padding: .25rem .6rem; text-align: right; }
th { background: #f2f2f2; } td:first-child, th:first-child { text-align: left; }
figure { margin: 1rem 0; } img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .85rem; color: #555; }
pre, code { font-size: .85rem; white-space: pre-wrap; overflow-wrap: anywhere; }
pre { background: #f6f6f6; padding: .6rem; max-width: 100%; overflow-x: auto; }
.note, .provenance { color: #555; font-size: .9rem; }
.summary { background: #f3f7fb; border-left: 4px solid #3a6ea5; padding: .2rem 1rem;
           margin-top: 1rem; }
.summary h2 { margin-top: .6rem; border: none; }
nav#contents ul { margin: .2rem 0; list-style: none; padding-left: 1rem; }
nav#contents h2 { margin-top: 1.2rem; }
"""


@dataclass
class Section:
    """One section of the report: a title, paragraphs, tables and figures, in that order.

    ``paragraphs`` are plain text (escaped); ``tables`` are lists of dicts (one per row,
    same keys); ``figures`` are ``(name, matplotlib Figure, caption)``; ``preformatted``
    is plain text shown as is (escaped). ``after`` are paragraphs shown after the
    figures (e.g. what a figure leaves unlabelled). The report numbers the sections and
    links each from its table of contents.
    """

    title: str
    paragraphs: list = field(default_factory=list)
    tables: list = field(default_factory=list)
    figures: list = field(default_factory=list)
    preformatted: str | None = None
    after: list = field(default_factory=list)


@dataclass
class Provenance:
    """What made a report: the command with every option, the version, the time it took.

    ``seconds`` is filled in by :func:`write_report` from ``started`` (a
    :func:`time.perf_counter` value) after the figures are rendered, so the time counts
    everything but writing the file.
    """

    command: str
    started: float | None = None
    seconds: float | None = None

    def text(self):
        from .. import __version__

        took = "" if self.seconds is None else f"; it took {self.seconds:.1f} s"
        return f"Made by: {self.command} (sparsefit {__version__}){took}."


def section_id(index):
    """The anchor of section ``index`` (1-based): ``"s1"``, ``"s2"``, ..."""
    return f"s{index}"


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
                 dpi=100, footer=None, summary=None, provenance=None):
    """Write ``filename`` (self-contained HTML) and one PNG per figure into ``out_dir``.

    The page opens with the title, what made it (``provenance``), the ``summary`` and a
    table of contents linking every section (numbered in order). Each file is written
    atomically (a reader never sees half a report). Each command passes its own
    ``filename``, so one command's report never replaces another's.

    Parameters
    ----------
    sections : list of Section
    out_dir : str or path
        Created if missing.
    title : str
    filename : str
    dpi : int
    footer : str, optional
        Plain text at the end.
    summary : list of str, optional
        The answer in a few sentences, computed from the results (plain text, escaped).
    provenance : Provenance, optional
        The command and options, version and duration, shown under the title.

    Returns
    -------
    path : str
        The HTML file.

    Examples
    --------
    >>> import tempfile
    >>> from sparsefit.report import Section, write_report
    >>> d = tempfile.mkdtemp()
    >>> path = write_report([Section("Hello", ["1 < 2"])], d, summary=["All good."])
    >>> page = open(path).read()
    >>> "1 &lt; 2" in page, "<a href='#s1'>1. Hello</a>" in page, "id='summary'" in page
    (True, True, True)
    """
    import time

    os.makedirs(out_dir, exist_ok=True)
    body, used, written = [], set(), []
    for index, sec in enumerate(sections, 1):
        body.append(f"<section id='{section_id(index)}'><h2>{index}. "
                    f"{html.escape(sec.title)}</h2>")
        body += [f"<p>{html.escape(p)}</p>" for p in sec.paragraphs]
        if sec.preformatted:
            body.append(f"<pre>{html.escape(sec.preformatted)}</pre>")
        body += [f"<div class='table-wrap'>{table_html(t)}</div>" for t in sec.tables if t]
        for name, fig, caption in sec.figures:
            stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "figure"
            while stem in used:
                stem += "_"
            used.add(stem)
            data = _png(fig, dpi)
            written.append((os.path.join(out_dir, f"{stem}.png"), data))
            b64 = base64.b64encode(data).decode("ascii")
            body.append(f"<figure id='fig-{stem}'><img alt='"
                        f"{html.escape(caption or name, quote=True)}' "
                        f"src='data:image/png;base64,{b64}'>"
                        f"<figcaption>{html.escape(caption or '')}</figcaption></figure>")
        body += [f"<p class='note'>{html.escape(p)}</p>" for p in sec.after]
        body.append("</section>")
    head = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{html.escape(title)}</h1>"]
    if provenance is not None:
        if provenance.started is not None:
            provenance.seconds = time.perf_counter() - provenance.started
        head.append(f"<p class='provenance' id='provenance'>"
                    f"{html.escape(provenance.text())}</p>")
    links = []
    if summary:
        head.append("<section id='summary' class='summary'><h2>Summary</h2>"
                    + "".join(f"<p>{html.escape(p)}</p>" for p in summary) + "</section>")
        links.append("<li><a href='#summary'>Summary</a></li>")
    links += [f"<li><a href='#{section_id(i)}'>{i}. {html.escape(sec.title)}</a></li>"
              for i, sec in enumerate(sections, 1)]
    head.append("<nav id='contents'><h2>Contents</h2><ul>" + "".join(links) + "</ul></nav>")
    tail = [f"<p class='note'>{html.escape(footer)}</p>"] if footer else []
    for png_path, data in written:
        write_bytes(png_path, data)
    path = os.path.join(out_dir, filename)
    page = "".join(head + body + tail) + "</body></html>"
    write_bytes(path, page.encode("utf-8"))
    return path
