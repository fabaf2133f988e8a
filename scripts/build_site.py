"""Build the course as a static web site: the notebooks with their stored outputs, the
course map and the documentation pages (``docs/*.md``).

    python scripts/build_site.py                  # -> build/site/index.html
    python scripts/build_site.py --out /tmp/site  # elsewhere

Nothing is executed: each notebook is rendered as committed, by nbconvert's HTML exporter
(JupyterLab's look), with

- a landing page ``index.html``: the course map (:mod:`mnad_lite.course.outline`: what
  each notebook teaches, what to read first, its measured times), the documentation
  pages, then the chapters, each with its picture (``docs/notebooks/NN_topic.png``) and
  the one-line summary under its title;
- every Markdown page of ``docs/`` as ``docs/<page>.html`` (links between pages and to the
  notebooks rewritten to the site's pages; the other files of ``docs/`` copied beside);
- previous / next / contents links at the top and bottom of every chapter;
- widget outputs (``interactive(children=...`` as text on a page) replaced: the cell's
  stored picture stays if it has one, else a note says to open the notebook in JupyterLab;
- MathJax 2.7 copied next to the pages from the ``jupyter-server-mathjax`` package, so
  equations render offline. Without that package the pages load MathJax from a CDN (and
  the build says so).

The output folder is rebuilt from scratch; a non-empty folder that this script did not
build is refused.
"""

from __future__ import annotations

import argparse
import copy
import html
import posixpath
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from jinja2 import DictLoader
from nbconvert import HTMLExporter
from nbconvert.filters import markdown2html

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
DOCS = ROOT / "docs"
PICTURES = ROOT / "docs" / "notebooks"
CHAPTER_GLOB = "[0-9][0-9]_*.ipynb"
MARKER = ".mnad-site"  # marks a folder this script built, so a rebuild may clear it
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# text/plain of a widget output: "interactive(children=(...", "VBox(children=...", or the
# placeholder scripts/clean_notebooks.py leaves.
WIDGET_TEXT = re.compile(r"^(?:[A-Za-z_]\w*\(children=|\(an interactive widget)")
WIDGET_NOTE = "interactive widget: open the notebook in JupyterLab to use it"
MATHJAX_DIR = "mathjax"
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"  # the configs jupyter-server-mathjax ships
MATHJAX_CDN = (
    "https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.7/MathJax.js?config=TeX-AMS_CHTML-full,Safe"
)

CSS = """
.site-nav { display: flex; gap: 1.5em; justify-content: space-between; align-items: center;
  max-width: 1100px; margin: 0.5em auto; padding: 0.6em 1em; font: 15px/1.4 sans-serif;
  background: #f3f5f8; border: 1px solid #dde3ea; border-radius: 6px; }
.site-nav a { color: #1a5fb4; text-decoration: none; }
.site-nav a:hover { text-decoration: underline; }
.site-nav .nav-side { flex: 1; }
.site-nav .nav-next { text-align: right; }
.site-nav .nav-home { text-align: center; font-weight: bold; }
/* MathJax's hidden MathML copy (for screen readers) asks for TeX fonts this copy lacks */
.MJX_Assistive_MathML [mathvariant] { font-family: inherit !important; }
.widget-note { font-style: italic; color: #555; border-left: 3px solid #8ab4f8;
  padding: 0.3em 0.8em; background: #f6f9fe; }
"""

# The chapter page: JupyterLab's template, no require.js from a CDN (no output here needs
# it), the navigation above and below, MathJax with the fonts the bundled copy ships.
CHAPTER_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{% block extra_css %}<style type="text/css">{{ resources.site_css }}</style>{% endblock %}
{%- block html_head_js_mathjax -%}
{%- if resources.site_mathjax_fonts -%}
<script type="text/x-mathjax-config">
MathJax.Hub.Config({
  "HTML-CSS": {availableFonts: [], webFont: "STIX-Web", imageFont: null}
});
</script>
{%- endif -%}
{{ super() }}
{%- endblock html_head_js_mathjax -%}
{%- block body_header -%}{{ super() }}{{ resources.site_nav }}{%- endblock body_header -%}
{% block body_footer %}{{ resources.site_nav }}{{ super() }}{% endblock body_footer %}
"""

INDEX_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>mnad_lite: the MNAD course</title>
<style type="text/css">
body {{ font: 16px/1.5 sans-serif; color: #222; max-width: 1000px; margin: 2em auto;
  padding: 0 1em; }}
h1 {{ margin-bottom: 0.2em; }}
.lead {{ color: #444; }}
.chapter {{ display: grid; grid-template-columns: minmax(0, 2fr) minmax(0, 3fr); gap: 1.5em;
  align-items: start; padding: 1.2em 0; border-top: 1px solid #dde3ea; }}
.chapter h2 {{ margin: 0 0 0.4em 0; font-size: 1.2em; }}
.chapter h2 a {{ color: #1a5fb4; text-decoration: none; }}
.chapter p {{ margin: 0; color: #444; }}
.chapter img {{ display: block; width: 100%; max-height: 260px; object-fit: contain;
  object-position: left top; }}
@media (max-width: 720px) {{ .chapter {{ grid-template-columns: 1fr; }} }}
code {{ background: #f3f5f8; padding: 0 0.25em; border-radius: 3px; }}
</style>
{mathjax}
</head>
<body>
<h1>mnad_lite: MNAD, explained in code that runs</h1>
<p class="lead">A course on <b>MNAD</b>, "Learning Memory-guided Normality for Anomaly
Detection" (Park, Noh and Ham, CVPR 2020), in numbered chapters. These pages show the
notebooks with the outputs of a full run; to change and rerun them, and to use the
widgets, open them in JupyterLab: <code>.venv/bin/jupyter lab notebooks/</code>.</p>
<h2>The course map</h2>
{course_map}
<h2>Documentation</h2>
<ul>
{docs}
</ul>
<h2>The chapters</h2>
{chapters}
</body>
</html>
"""

DOC_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{title}</title>
<style type="text/css">
body {{ font: 16px/1.5 sans-serif; color: #222; max-width: 1000px; margin: 2em auto;
  padding: 0 1em; }}
code {{ background: #f3f5f8; padding: 0 0.25em; border-radius: 3px; }}
pre {{ background: #f3f5f8; padding: 0.6em; overflow-x: auto; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
td, th {{ border: 1px solid #dde3ea; padding: 0.2em 0.5em; }}
</style>
</head>
<body>
<p><a href="{home}" rel="contents">mnad_lite: the course and its documentation</a></p>
{body}
</body>
</html>
"""

INDEX_MATHJAX = """<script type="text/x-mathjax-config">
MathJax.Hub.Config({{tex2jax: {{inlineMath: [["$", "$"], ["\\\\(", "\\\\)"]]}}}});
</script>
<script src="{url}"></script>"""

CARD_TEMPLATE = """<section class="chapter" id="{stem}">
<div class="text"><h2><a href="{href}">{title}</a></h2>
{summary}</div>
<div class="picture">{picture}</div>
</section>"""


@dataclass
class Chapter:
    """One notebook of the course and where its page goes."""

    path: Path
    title: str
    summary: str  # markdown, the italic line under the title

    @property
    def stem(self) -> str:
        return self.path.stem

    @property
    def page(self) -> str:
        return f"{self.stem}.html"


def read_chapter(path: Path) -> Chapter:
    """Title (the first ``# `` heading) and summary (the ``*...*`` paragraph below it)."""
    nb = nbformat.read(path, as_version=4)
    first = next((c.source for c in nb.cells if c.cell_type == "markdown"), "")
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", first) if p.strip()]
    title = next((p[2:] for p in paragraphs if p.startswith("# ")), path.stem)
    summary = next((p[1:-1] for p in paragraphs if re.fullmatch(r"\*[^*].*[^*]\*", p)), "")
    return Chapter(path, title, summary)


def is_widget_output(output: dict) -> bool:
    """True for the output of a widget (a view, or its text stand-in)."""
    data = output.get("data", {})
    if WIDGET_VIEW in data:
        return True
    text = data.get("text/plain", "")
    text = "".join(text) if isinstance(text, list) else text
    return bool(WIDGET_TEXT.match(text))


def replace_widget_outputs(nb: nbformat.NotebookNode) -> int:
    """Drop widget outputs; a cell left without a picture gets a note. Returns the count."""
    replaced = 0
    for cell in nb.cells:
        if cell.cell_type != "code" or not any(map(is_widget_output, cell.outputs)):
            continue
        replaced += 1
        cell.outputs = [o for o in cell.outputs if not is_widget_output(o)]
        if not any("image/png" in o.get("data", {}) for o in cell.outputs):
            note = nbformat.v4.new_output(
                "display_data",
                data={
                    "text/html": f'<p class="widget-note">{WIDGET_NOTE}</p>',
                    "text/plain": WIDGET_NOTE,
                },
            )
            cell.outputs.append(note)
    nb.metadata.pop("widgets", None)
    return replaced


def nav_html(chapters: list[Chapter], i: int) -> str:
    """Previous / contents / next links of chapter ``i``."""

    def link(j: int, rel: str, arrow_left: bool) -> str:
        if not 0 <= j < len(chapters):
            return ""
        text = html.escape(chapters[j].title.split(":")[0])
        text = f"&larr; {text}" if arrow_left else f"{text} &rarr;"
        return f'<a rel="{rel}" href="{chapters[j].page}">{text}</a>'

    return (
        '<nav class="site-nav">'
        f'<span class="nav-side nav-prev">{link(i - 1, "prev", True)}</span>'
        '<span class="nav-side nav-home"><a rel="contents" href="index.html">'
        "Course contents</a></span>"
        f'<span class="nav-side nav-next">{link(i + 1, "next", False)}</span>'
        "</nav>"
    )


def chapter_links_to_html(page: str, stems: set[str]) -> str:
    """Links between notebooks (``02_memory.ipynb#x``) point to their pages instead; links to
    ``../docs/*.md`` to the rendered pages, and to ``../README.md`` to the landing page."""

    def swap(m: re.Match) -> str:
        stem = m.group(2)
        return f"{m.group(1)}{stem}.html{m.group(3) or ''}" if stem in stems else m.group(0)

    page = re.sub(r'(href=")(?:\./)?([\w-]+)\.ipynb(#[^"]*)?', swap, page)
    page = re.sub(r'href="\.\./docs/([\w/-]+)\.md(#[^"]*)?"', r'href="docs/\1.html\2"', page)
    return page.replace('href="../README.md"', 'href="index.html"')


def copy_mathjax(out: Path) -> bool:
    """Copy MathJax 2.7 from jupyter-server-mathjax next to the pages (English only)."""
    try:
        import jupyter_server_mathjax
    except ImportError:
        return False
    static = Path(jupyter_server_mathjax.__file__).parent / "static"

    def ignore(folder: str, names: list[str]) -> list[str]:
        return [n for n in names if n != "en"] if Path(folder).name == "localization" else []

    shutil.copytree(static, out / MATHJAX_DIR, ignore=ignore)
    return True


def prepare_out(out: Path) -> None:
    """Empty ``out`` if this script built it; refuse a non-empty folder it did not build."""
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise SystemExit(f"error: {out} is not empty and was not built by this script")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("built by scripts/build_site.py; rebuilt from scratch each time\n")


def doc_href(href: str, page: Path, stems: set[str]) -> str:
    """A link of the Markdown page ``page`` (relative to ``docs/``) on the site: ``x.md`` ->
    ``x.html``, a notebook -> its chapter page, ``../README.md`` -> the landing page."""
    if "://" in href or href.startswith(("#", "mailto:")):
        return href
    path, _, fragment = href.partition("#")
    target = posixpath.normpath(posixpath.join("docs", page.parent.as_posix(), path))
    if target == "README.md":
        target = "index.html"
    elif target.startswith("notebooks/") and Path(target).stem in stems:
        target = f"{Path(target).stem}.html"
    elif target.endswith(".md"):
        target = target[:-3] + ".html"
    up = "../" * len(page.parts)  # from the page back to the site's root
    return up + target + (f"#{fragment}" if fragment else "")


def render_docs(out: Path, docs: Path, stems: set[str]) -> list[Path]:
    """Every ``docs/**/*.md`` as ``out/docs/**/*.html``; the other files copied beside."""
    written = []
    for source in sorted(docs.rglob("*")):
        rel = source.relative_to(docs)
        target = out / "docs" / rel
        if source.is_dir():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.suffix != ".md":
            shutil.copy(source, target)
            continue
        text = source.read_text(encoding="utf-8")
        title = next((line[2:] for line in text.splitlines() if line.startswith("# ")), rel.stem)
        body = re.sub(
            r'href="([^"]+)"',
            lambda m, rel=rel: f'href="{doc_href(html.unescape(m.group(1)), rel, stems)}"',
            markdown2html(text),
        )
        page = target.with_suffix(".html")
        home = "../" * len(rel.parts) + "index.html"
        page.write_text(
            DOC_TEMPLATE.format(title=html.escape(title), home=home, body=body), encoding="utf-8"
        )
        written.append(page)
    return written


def build_site(
    out: Path, notebooks: Path = NOTEBOOKS, pictures: Path = PICTURES, quiet: bool = False
) -> list[Path]:
    """Render every ``NN_*.ipynb`` of ``notebooks`` and the landing page into ``out``.

    Returns the pages written, the landing page first.
    """
    paths = sorted(notebooks.glob(CHAPTER_GLOB))
    if not paths:
        raise SystemExit(f"error: no notebooks matching {CHAPTER_GLOB} in {notebooks}")
    chapters = [read_chapter(p) for p in paths]
    prepare_out(out)
    say = (lambda *a: None) if quiet else print

    local_mathjax = copy_mathjax(out)
    mathjax_url = (
        f"{MATHJAX_DIR}/MathJax.js?config={MATHJAX_CONFIG}" if local_mathjax else MATHJAX_CDN
    )
    if not local_mathjax:
        say("note: jupyter-server-mathjax is not installed: pages load MathJax from a CDN")

    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({"chapter.html.j2": CHAPTER_TEMPLATE})],
        template_file="chapter.html.j2",
        mathjax_url=mathjax_url,
    )
    stems = {c.stem for c in chapters}
    written = []
    for i, chapter in enumerate(chapters):
        nb = copy.deepcopy(nbformat.read(chapter.path, as_version=4))
        nb.metadata["title"] = chapter.title
        widgets = replace_widget_outputs(nb)
        resources = {
            "metadata": {"name": chapter.stem},
            "site_nav": nav_html(chapters, i),
            "site_css": CSS,
            "site_mathjax_fonts": local_mathjax,
        }
        body, _ = exporter.from_notebook_node(nb, resources=resources)
        target = out / chapter.page
        target.write_text(chapter_links_to_html(body, stems), encoding="utf-8")
        written.append(target)
        note = f", {widgets} widget output(s) replaced" if widgets else ""
        say(f"{target} ({len(body) // 1024} KiB{note})")

    pic_dir = out / "pictures"
    pic_dir.mkdir()
    cards = []
    for chapter in chapters:
        picture = ""
        source = pictures / f"{chapter.stem}.png"
        if source.is_file():
            shutil.copy(source, pic_dir / source.name)
            picture = (
                f'<a href="{chapter.page}"><img src="pictures/{source.name}" '
                f'alt="{html.escape(chapter.title)}" loading="lazy"></a>'
            )
        else:
            say(f"warning: no picture {source} for {chapter.stem}")
        cards.append(
            CARD_TEMPLATE.format(
                stem=chapter.stem,
                href=chapter.page,
                title=html.escape(chapter.title),
                summary=markdown2html(chapter.summary) if chapter.summary else "",
                picture=picture,
            )
        )
    docs = render_docs(out, DOCS, stems) if DOCS.is_dir() else []
    doc_items = "\n".join(
        f'<li><a href="{p.relative_to(out).as_posix()}">{html.escape(p.stem)}</a></li>'
        for p in docs
        if p.parent == out / "docs"
    )
    from mnad_lite.course.outline import course_map

    index = out / "index.html"
    has_maths = any("$" in c.summary for c in chapters)
    mathjax = INDEX_MATHJAX.format(url=mathjax_url) if has_maths else ""
    index.write_text(
        INDEX_TEMPLATE.format(
            chapters="\n".join(cards),
            mathjax=mathjax,
            course_map=markdown2html(course_map(ROOT, link="{stem}.html")),
            docs=doc_items,
        )
    )
    say(f"{index} ({len(chapters)} chapters, {len(docs)} documentation pages)")
    return [index, *written, *docs]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "site")
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOKS)
    parser.add_argument("--pictures", type=Path, default=PICTURES)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    pages = build_site(args.out, args.notebooks, args.pictures)
    print(f"built {len(pages)} pages in {time.perf_counter() - started:.1f} s: {pages[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
