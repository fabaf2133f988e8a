"""The package reads as layers: every module imports only its own layer or the ones below.

Layers, bottom to top (``mnad_lite/__init__.py`` draws the same list):

0. ``errors``, ``forms``
1. the method (``memory``, ``model``, ``losses``, ``scoring``, ``metrics``,
   ``localization``) and ``data``
2. ``engine``
3. ``report``
4. ``pipeline``
5. ``cli``, ``course``

Imports inside functions count too (they are how the command line avoids torch).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mnad_lite"
LAYERS = {
    "errors": 0,
    "forms": 0,
    "memory": 1,
    "model": 1,
    "losses": 1,
    "scoring": 1,
    "metrics": 1,
    "localization": 1,
    "data": 1,
    "engine": 2,
    "report": 3,
    "pipeline": 4,
    "cli": 5,
    "course": 5,
    "__main__": 5,
}
#: Within layer 1, the method modules' own order (a module may import those before it).
METHOD_ORDER = ["memory", "model", "losses", "scoring", "metrics", "localization"]


def top(module: str) -> str:
    """``mnad_lite.engine.train`` -> ``engine``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "mnad_lite":  # from mnad_lite import errors, ...
                found |= {f"mnad_lite.{a.name}" for a in node.names}
            elif node.module.startswith("mnad_lite."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("mnad_lite.")}
    return found


def modules() -> list[Path]:
    return sorted(
        p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE
    )


def test_every_module_has_a_layer():
    names = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in modules()}
    assert names <= set(LAYERS), f"modules without a layer: {sorted(names - set(LAYERS))}"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_import_goes_up(path: Path):
    me = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    for target in imports_of(path):
        other = top(target)
        if other in ("__init__", "__version__"):
            continue  # the package root only re-exports names, lazily
        assert LAYERS[other] <= LAYERS[me], f"{path.name} (layer {me}) imports {target}"
        if me in METHOD_ORDER and other in METHOD_ORDER:
            assert METHOD_ORDER.index(other) <= METHOD_ORDER.index(me), (
                f"{me} imports {other}, which comes after it in the method layer"
            )
        if {me, other} & {"data"} and {me, other} & set(METHOD_ORDER):
            pytest.fail(f"{me} imports {other}: the method and the data are side by side")


def test_the_checker_sees_a_back_edge(tmp_path: Path):
    bad = tmp_path / "memory.py"
    bad.write_text("def f():\n    from mnad_lite.engine.config import preset\n")
    assert imports_of(bad) == {"mnad_lite.engine.config"}
    assert LAYERS[top("mnad_lite.engine.config")] > LAYERS["memory"]


@pytest.mark.parametrize("argv", [["--help"], ["data", "info", "--help"], ["train", "--help"]])
def test_command_line_starts_without_torch(argv: list[str]):
    code = (
        "import sys\n"
        "from mnad_lite.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"
