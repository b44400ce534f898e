"""Shared checks of the HTML reports (demo, compare, fit): structure, links, figures, and
the page rendered in headless Chromium (skipped with a reason when it is missing)."""

from __future__ import annotations

import base64
import html
import re
import shutil
import subprocess


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def summary_text(page):
    """The summary's paragraphs as plain text (unescaped)."""
    m = re.search(r"<section id='summary'[^>]*>(.*?)</section>", page, re.S)
    assert m, "the report has no summary section"
    paras = re.findall(r"<p>(.*?)</p>", m.group(1), re.S)
    return [html.unescape(p) for p in paras]


def check_structure(out_dir, filename, *, command):
    """Summary and contents first, every in-page link resolves, provenance, figures.

    Returns the page and its summary paragraphs.
    """
    page = (out_dir / filename).read_text()
    assert "<script" not in page.lower()
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", page)  # self-contained
    # the summary and the table of contents come before the first section
    first = page.index("<section id='s1'")
    assert page.index("id='summary'") < page.index("<nav id='contents'") < first
    paras = summary_text(page)
    assert 2 <= len(paras) <= 3 and all(len(p) > 40 for p in paras)
    ids = set(re.findall(r"id='([^']+)'", page))
    links = re.findall(r"href='#([^']+)'", page)
    assert "summary" in links and "s1" in links
    sections = re.findall(r"<section id='(s\d+)'", page)
    assert set(sections) <= set(links)  # every section is in the contents
    missing = [a for a in links if a not in ids]
    assert not missing, f"links to nothing: {missing}"
    prov = re.search(r"<p class='provenance' id='provenance'>(.*?)</p>", page, re.S)
    assert prov, "the report does not say what made it"
    text = html.unescape(prov.group(1))
    from sparsefit import __version__

    assert command in text and f"sparsefit {__version__}" in text
    assert re.search(r"it took \d+\.\d s", text)
    images = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    assert images
    for data in images:
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(list(out_dir.glob("*.png"))) >= len(images)
    return page, paras


_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# a copy with a probe script (the reports have none) reports what the browser made of it:
# images loaded, the summary and contents shown, links whose target exists, and any element
# wider than the page (text that overflows)
_PROBE = """<script>window.addEventListener('load',function(){
var im=document.images,ok=0;for(var i=0;i<im.length;i++){
if(im[i].complete&&im[i].naturalWidth>0)ok++;}
var a=document.querySelectorAll("a[href^='#']"),bad=0;for(var j=0;j<a.length;j++){
if(!document.getElementById(a[j].getAttribute('href').slice(1)))bad++;}
var s=document.getElementById('summary'),n=document.getElementById('contents');
var w=document.body.clientWidth,wide=0,els=document.body.querySelectorAll('p,pre,figure,h1,h2,li');
for(var k=0;k<els.length;k++){if(els[k].getBoundingClientRect().right>w+24)wide++;}
document.body.setAttribute('data-probe','images '+ok+'/'+im.length+' links-bad '+bad+
' summary '+(s&&s.offsetHeight>0?1:0)+' contents '+(n&&n.offsetHeight>0?1:0)+' wide '+wide);
});</script>"""


def check_in_chromium(out_dir, filename, tmp_path):
    """Render the report in headless Chromium: every figure loads, the summary and the
    contents show, every link resolves, nothing is wider than the page; a screenshot is
    not blank."""
    browser = chromium()
    flags = _FLAGS + [f"--user-data-dir={tmp_path / 'profile'}"]
    page = (out_dir / filename).read_text()
    n_images = len(re.findall(r"<img ", page))
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", _PROBE + "</body>"))
    dom = subprocess.run([browser, *flags, "--window-size=1200,2400",
                          "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=180)
    m = re.search(r'data-probe="([^"]*)"', dom.stdout)
    assert m, dom.stderr[-2000:]
    assert m.group(1) == (f"images {n_images}/{n_images} links-bad 0 summary 1 contents 1 "
                          "wide 0"), m.group(1)
    shot = tmp_path / "shot.png"
    subprocess.run([browser, *flags, "--window-size=1200,2400", f"--screenshot={shot}",
                    (out_dir / filename).as_uri()], capture_output=True, timeout=180)
    from matplotlib.image import imread

    pixels = imread(str(shot))
    assert pixels.shape[0] > 1000 and pixels.std() > 0.05  # not a blank page
    shot.unlink()
