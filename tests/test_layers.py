"""The package reads as layers: the core a learner reads, and beside it the tools it never
imports (``mnad_lite/__init__.py`` and ``docs/architecture.md`` draw the same picture).

Layers, bottom to top:

0. ``errors``, ``forms``, ``files``
1. the method (``memory``, ``model``, ``losses``, ``scoring``, ``metrics``) and ``data``
2. ``engine``: configuration, checkpoints, training, inference, the paper's evaluation
3. beside the core: ``research``, ``alerts``, ``course`` (each may use the core and
   ``alerts``; ``research`` and ``course`` may use each other's public results)
4. ``cli``, ``__main__``

The core is layers 0-2: it never imports layer 3 or 4. Imports inside functions count
(they are how the command line avoids torch), relative imports count, and so does a name
imported from the package root (``from mnad_lite import train`` is the engine's train).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mnad_lite"
LAYERS = {
    "errors": 0,
    "forms": 0,
    "files": 0,
    "memory": 1,
    "model": 1,
    "losses": 1,
    "scoring": 1,
    "metrics": 1,
    "data": 1,
    "engine": 2,
    "research": 3,
    "alerts": 3,
    "course": 3,
    "cli": 4,
    "__main__": 4,
}
CORE = {name for name, layer in LAYERS.items() if layer <= 2}
#: Within layer 1, the method modules' own order (a module may import those before it).
METHOD_ORDER = ["memory", "model", "losses", "scoring", "metrics"]
#: Names the package root re-exports lazily, and the module each comes from.
ROOT_NAMES = {"errors": "mnad_lite.errors"}


def root_names() -> dict[str, str]:
    """``mnad_lite.<name>`` -> the module that defines it (the root's ``_LAZY`` table)."""
    import mnad_lite

    return {**ROOT_NAMES, **mnad_lite._LAZY}


def top(module: str) -> str:
    """``mnad_lite.engine.train`` -> ``engine``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def absolute(path: Path, node: ast.ImportFrom, package_dir: Path = PACKAGE) -> str:
    """The absolute module of ``from ..x import y`` written in ``path``."""
    package = path.relative_to(package_dir.parent).with_suffix("").parts[:-1]  # its package
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ((node.module,) if node.module else ()))


def imports_of(path: Path, package_dir: Path = PACKAGE) -> set[str]:
    """Every ``mnad_lite`` module ``path`` imports, at any depth, relative imports resolved
    and root names (``from mnad_lite import train``) mapped to their defining module."""
    tree = ast.parse(path.read_text())
    names = root_names()
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = absolute(path, node, package_dir) if node.level else node.module or ""
            if module == "mnad_lite":
                for alias in node.names:
                    found.add(names.get(alias.name, f"mnad_lite.{alias.name}"))
            elif module.startswith("mnad_lite."):
                found.add(module)
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
        if me in CORE:
            assert other in CORE, f"the core's {path.name} imports {target} (beside the core)"
        if me in METHOD_ORDER and other in METHOD_ORDER:
            assert METHOD_ORDER.index(other) <= METHOD_ORDER.index(me), (
                f"{me} imports {other}, which comes after it in the method layer"
            )
        if {me, other} & {"data"} and {me, other} & set(METHOD_ORDER):
            pytest.fail(f"{me} imports {other}: the method and the data are side by side")


def test_the_root_exports_only_the_core():
    for name, module in root_names().items():
        assert top(module) in CORE, f"mnad_lite.{name} comes from {module}, beside the core"


@pytest.mark.parametrize(
    ("where", "source", "expected"),
    [
        (
            "memory.py",
            "def f():\n    from mnad_lite.engine.config import preset\n",
            "engine.config",
        ),
        ("memory.py", "from .engine import train\n", "engine"),
        ("memory.py", "from mnad_lite import train\n", "engine.train"),
        ("engine/train.py", "from ..alerts import watch\n", "alerts"),
        ("engine/train.py", "from .config import Config\n", "engine.config"),
    ],
)
def test_the_checker_sees_every_import_form(tmp_path: Path, where: str, source: str, expected: str):
    path = tmp_path / "mnad_lite" / where  # a module at that place in a copy of the tree
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    assert imports_of(path, tmp_path / "mnad_lite") == {f"mnad_lite.{expected}"}


#: What the path a learner follows (generate -> train -> evaluate) may load, in lines.
CORE_BUDGET = 4_000
CORE_FILE_LINES = 400
FUNCTION_LINES = 60

#: generate -> train -> evaluate on a tiny synthetic dataset, in a fresh process; prints
#: the package modules it loaded as JSON (module -> file).
CORE_PATH = """
import contextlib, io, json, sys, tempfile
from pathlib import Path
import mnad_lite
from mnad_lite.data import generate
from mnad_lite.engine.config import preset
root = Path(tempfile.mkdtemp())
generate(root / "data", preset="quick")
config = preset("quick", epochs=1, max_steps=2, size=(32, 48), device="cpu")
with contextlib.redirect_stderr(io.StringIO()):
    mnad_lite.train(config, root / "data", root / "run", progress=False)
    mnad_lite.evaluate(root / "run", root / "data", device="cpu", progress=False)
loaded = {k: m.__file__ for k, m in sys.modules.items() if k.split(".")[0] == "mnad_lite"}
print(json.dumps(loaded))
"""


@pytest.fixture(scope="module")
def core_path_modules() -> dict[str, str]:
    out = subprocess.run(
        [sys.executable, "-c", CORE_PATH], capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_core_path_loads_no_tool_beside_it(core_path_modules: dict[str, str]):
    beside = sorted(m for m in core_path_modules if LAYERS.get(top(m), 0) > 2)
    assert beside == [], f"generate -> train -> evaluate loaded {beside}"


def test_the_core_path_fits_its_line_budget(core_path_modules: dict[str, str]):
    """What a learner reads to follow generate -> train -> evaluate stays small: the
    benchmarks' formats, portable CPU runs and several processes load only when used."""
    lines = {m: len(Path(f).read_text().splitlines()) for m, f in core_path_modules.items()}
    shown = ", ".join(f"{m} {n}" for m, n in sorted(lines.items(), key=lambda kv: -kv[1]))
    assert sum(lines.values()) <= CORE_BUDGET, f"{sum(lines.values())} lines: {shown}"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_functions_stay_short_and_core_files_too(path: Path):
    text = path.read_text()
    if LAYERS[path.relative_to(PACKAGE).parts[0].removesuffix(".py")] <= 2:
        assert len(text.splitlines()) <= CORE_FILE_LINES, f"{path.name}: over {CORE_FILE_LINES}"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            assert length <= FUNCTION_LINES, f"{path.name}: {node.name} has {length} lines"


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
