"""The rendered course (``make site``, scripts/build_site.py): pages, links, pictures, maths.

The site is built once into a temporary folder from the committed notebooks, then read
back with an HTML parser: every page exists, every picture and link resolves, the
chapters link to each other in order, widget outputs are replaced, and every page with
equations loads MathJax (bundled, so the site works offline).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

pytest.importorskip("nbconvert", reason="nbconvert (installed with jupyterlab) builds the site")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def load_builder():
    spec = importlib.util.spec_from_file_location("build_site", ROOT / "scripts" / "build_site.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


build_site = load_builder()


class Page(HTMLParser):
    """The tags of one page that matter here: links, pictures, scripts, ids."""

    def __init__(self, path: Path):
        super().__init__()
        self.path = path
        self.links: list[dict] = []  # <a href>, with rel
        self.images: list[str] = []
        self.scripts: list[str] = []  # <script src>
        self.stylesheets: list[str] = []
        self.ids: set[str] = set()
        self.text = path.read_text(encoding="utf-8")
        self.feed(self.text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and "href" in a:
            self.links.append(a)
        elif tag == "img":
            self.images.append(a.get("src", ""))
        elif tag == "script" and a.get("src"):
            self.scripts.append(a["src"])
        elif tag == "link" and a.get("href"):
            self.stylesheets.append(a["href"])


def is_remote(url: str) -> bool:
    return urlsplit(url).scheme in ("http", "https") or url.startswith("//")


def local_target(page: Page, url: str) -> Path:
    return page.path.parent / unquote(urlsplit(url).path)


def markdown_has_maths(nb_path: Path) -> bool:
    """``$...$`` or ``$$...$$`` in a markdown cell, code spans and blocks left out."""
    for cell in json.loads(nb_path.read_text())["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        text = "".join(cell["source"])
        text = re.sub(r"```.*?```", "", text, flags=re.S)
        text = re.sub(r"`[^`\n]*`", "", text)
        if re.search(r"\$[^$\s][^$]*\$", text):
            return True
    return False


def png_outputs(nb_path: Path) -> int:
    return sum(
        "image/png" in out.get("data", {})
        for cell in json.loads(nb_path.read_text())["cells"]
        for out in cell.get("outputs", [])
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Page]:
    """The built site: page name -> parsed page."""
    out = tmp_path_factory.mktemp("site") / "site"
    pages = build_site.build_site(out, quiet=True)
    return {p.relative_to(out).as_posix(): Page(p) for p in pages}


@pytest.fixture(scope="module")
def chapters() -> list[str]:
    return [p.stem + ".html" for p in NOTEBOOKS]


DOCS = sorted((ROOT / "docs").rglob("*.md"))


def test_the_course_has_eight_notebooks():
    assert len(NOTEBOOKS) == 8, [p.name for p in NOTEBOOKS]


def test_every_page_exists(site, chapters):
    docs = {f"docs/{p.relative_to(ROOT / 'docs').with_suffix('.html').as_posix()}" for p in DOCS}
    assert set(site) == {"index.html", *chapters, *docs}
    for page in site.values():
        assert page.path.is_file() and page.path.stat().st_size > 1000, page.path


def test_landing_page_lists_every_chapter_in_order_with_its_picture(site, chapters):
    index = site["index.html"]
    chapter_links = [a["href"] for a in index.links if a["href"] in chapters]
    assert list(dict.fromkeys(chapter_links)) == chapters
    pictures = [src for src in index.images if src.startswith("pictures/")]
    assert pictures == [f"pictures/{Path(c).stem}.png" for c in chapters]
    for nb_path in NOTEBOOKS:
        title = json.loads(nb_path.read_text())["cells"][0]["source"][0].strip("# \n")
        assert title in index.text, f"{nb_path.stem}: title {title!r} not on the landing page"


def test_the_landing_page_shows_the_course_map_and_the_documentation(site):
    from mnad_lite.course.outline import course_map

    index = site["index.html"]
    assert "The course map" in index.text and "first run" in index.text
    table = index.text[index.text.index("The course map") : index.text.index("Documentation")]
    for nb_path in NOTEBOOKS:  # a row per notebook, linking its chapter, with its times
        assert f'href="{nb_path.stem}.html"' in table, nb_path.stem
    assert table.count("<tr>") == len(NOTEBOOKS) + 1
    assert course_map(ROOT).splitlines()[-1].split(":")[-1].strip() in index.text
    docs = {a["href"] for a in index.links if a["href"].startswith("docs/")}
    assert {"docs/results.html", "docs/architecture.html", "docs/course.html"} <= docs


def test_every_image_resolves(site):
    for name, page in site.items():
        if not name.startswith("docs/"):
            assert page.images or name == "index.html", f"{name} shows no picture"
        for src in page.images:
            if src.startswith("data:"):
                header, _, payload = src.partition(",")
                assert header.endswith(";base64"), f"{name}: {header}"
                data = base64.b64decode(payload, validate=True)
                assert data[:4] in (b"\x89PNG", b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xe1"), name
            else:
                assert not is_remote(src), f"{name}: remote picture {src}"
                target = local_target(page, src)
                assert target.is_file() and target.stat().st_size > 0, f"{name}: {src}"


def test_every_stored_picture_is_on_its_page(site):
    for nb_path in NOTEBOOKS:
        page = site[nb_path.stem + ".html"]
        shown = sum(src.startswith("data:image/png") for src in page.images)
        assert shown >= png_outputs(nb_path), f"{nb_path.stem}: {shown} < {png_outputs(nb_path)}"


def test_every_link_resolves(site):
    for name, page in site.items():
        for a in page.links:
            href = a["href"]
            if is_remote(href) or href.startswith("mailto:"):
                continue
            parts = urlsplit(href)
            target = local_target(page, href) if parts.path else page.path
            assert target.is_file(), f"{name}: link {href} -> missing {target}"
            key = target.resolve().relative_to(
                page.path.parents[len(Path(name).parts) - 1].resolve()
            )
            key = key.as_posix()
            if parts.fragment and key in site:  # a browser tries both forms
                ids = site[key].ids
                assert {parts.fragment, unquote(parts.fragment)} & ids, f"{name}: {href}"


def test_chapters_link_previous_next_and_contents(site, chapters):
    for i, name in enumerate(chapters):
        rels: dict[str, set[str]] = {}
        for a in site[name].links:
            if a.get("rel"):
                rels.setdefault(a["rel"], set()).add(a["href"])
        assert rels.get("contents") == {"index.html"}, name
        assert rels.get("prev") == ({chapters[i - 1]} if i > 0 else None), name
        assert rels.get("next") == ({chapters[i + 1]} if i + 1 < len(chapters) else None), name


def test_pages_with_equations_load_mathjax(site):
    with_maths = [p for p in NOTEBOOKS if markdown_has_maths(p)]
    assert len(with_maths) >= 3, "the maths detector found too few notebooks with equations"
    for nb_path in with_maths:
        page = site[nb_path.stem + ".html"]
        mathjax = [s for s in page.scripts if "MathJax.js" in s]
        assert mathjax, f"{page.path.name} has equations but no MathJax"
        for src in mathjax:
            if not is_remote(src):
                assert local_target(page, src).is_file(), f"{page.path.name}: {src}"
        assert "$$" in page.text or re.search(r"\$[^$\s][^$<]*\$", page.text), "maths lost"


def test_site_needs_no_internet_for_scripts_and_styles(site):
    pytest.importorskip(
        "jupyter_server_mathjax",
        reason="jupyter-server-mathjax absent: the site loads MathJax from a CDN",
    )
    for name, page in site.items():
        remote = [u for u in page.scripts + page.stylesheets if is_remote(u)]
        assert not remote, f"{name} loads {remote}"


def test_widget_outputs_become_a_picture_or_a_note(site):
    for nb_path in NOTEBOOKS:
        nb = json.loads(nb_path.read_text())
        widget_cells = [
            c
            for c in nb["cells"]
            if c["cell_type"] == "code" and any(map(build_site.is_widget_output, c["outputs"]))
        ]
        expected_notes = sum(
            not any("image/png" in o.get("data", {}) for o in c["outputs"]) for c in widget_cells
        )
        page = site[nb_path.stem + ".html"]
        assert "interactive(children=" not in page.text, nb_path.stem
        notes = page.text.count(f'<p class="widget-note">{build_site.WIDGET_NOTE}</p>')
        assert notes == expected_notes, f"{nb_path.stem}: {notes} notes, {expected_notes} expected"
    # each widget cell stores a PNG of its default setting beside the widget (no text stand-in)
    stored = (ROOT / "notebooks" / "02_memory.ipynb").read_text()
    assert "interactive(children=" not in stored
    assert "the picture shows its default setting" in stored


def test_replace_widget_outputs_keeps_pictures_and_notes_the_rest():
    nbformat = pytest.importorskip("nbformat")
    png = base64.b64encode(b"\x89PNG fake").decode()
    text = "interactive(children=(IntSlider(value=1),))"
    cells = [nbformat.v4.new_code_cell("w()"), nbformat.v4.new_code_cell("v()")]
    cells[0].outputs = [
        nbformat.v4.new_output("display_data", data={"image/png": png}),
        nbformat.v4.new_output("execute_result", data={"text/plain": text}, execution_count=1),
    ]
    cells[1].outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={
                "application/vnd.jupyter.widget-view+json": {"model_id": "x"},
                "text/plain": "VBox(children=(...))",
            },
        )
    ]
    plain = nbformat.v4.new_code_cell("1")
    plain.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "1"})]
    nb = nbformat.v4.new_notebook(cells=[*cells, plain])
    assert build_site.replace_widget_outputs(nb) == 2
    assert [list(o["data"]) for o in nb.cells[0].outputs] == [["image/png"]]
    assert nb.cells[1].outputs[0]["data"]["text/plain"] == build_site.WIDGET_NOTE
    assert nb.cells[2].outputs[0]["data"]["text/plain"] == "1"


def test_build_refuses_a_folder_it_did_not_build(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit, match="not empty"):
        build_site.build_site(tmp_path, quiet=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"
