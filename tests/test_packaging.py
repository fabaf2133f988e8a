"""Packaging: pyproject.toml, environment.yml, Makefile and README agree (issue 2, section 1)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
TORCH_PIN = "2.13.0"
CONDA_TO_PIP = {"pytorch": "torch", "opencv": "opencv-python"}


def pyproject():
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)


def req_name(spec):
    """'torch==2.13.0' -> 'torch'; 'pytorch=2.13.0' -> 'pytorch'; normalised (PEP 503)."""
    name = re.split(r"[\s=<>!~;\[]", spec.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def environment_entries():
    """(conda entries, pip entries) of environment.yml's dependencies, by a line parser."""
    conda, pip = [], []
    in_deps, in_pip, pip_indent = False, False, 0
    for raw in (ROOT / "environment.yml").read_text().splitlines():
        line = raw.split(" #", 1)[0].rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 0:
            in_deps, in_pip = line.startswith("dependencies:"), False
            continue
        if not in_deps:
            continue
        item = re.match(r"-\s*(.+)$", line.strip())
        if not item:
            continue
        value = item.group(1).strip().strip("'\"")
        if in_pip and indent > pip_indent:
            pip.append(value)
            continue
        in_pip = False
        if value == "pip:":
            in_pip, pip_indent = True, indent
        else:
            conda.append(value)
    return conda, pip


def test_environment_parser_sees_the_file():
    conda, pip = environment_entries()
    assert "pip" in conda and any(e.startswith("python") for e in conda)
    assert len(conda) >= 10


def test_environment_installs_the_package_editable():
    _, pip = environment_entries()
    assert "-e ." in pip


def test_environment_python_311():
    conda, _ = environment_entries()
    assert [e for e in conda if req_name(e) == "python"] == ["python=3.11"]


def test_environment_and_pyproject_name_the_same_packages():
    data = pyproject()["project"]
    py_names = {req_name(d) for d in data["dependencies"]}
    for extra in data.get("optional-dependencies", {}).values():
        py_names |= {req_name(d) for d in extra}

    conda, pip = environment_entries()
    env_names = set()
    for entry in conda:
        name = req_name(entry)
        if name not in ("python", "pip"):
            env_names.add(CONDA_TO_PIP.get(name, name))
    env_names |= {req_name(e) for e in pip if not e.startswith("-e")}

    assert env_names == py_names, (
        f"only in environment.yml: {sorted(env_names - py_names)}; "
        f"only in pyproject.toml: {sorted(py_names - env_names)}"
    )


def test_issue_lists_these_conda_packages():
    conda, _ = environment_entries()
    names = {req_name(e) for e in conda}
    wanted = {"pytorch", "jupyterlab", "ipywidgets", "matplotlib", "opencv", "scikit-learn"}
    assert wanted | {"nbval", "tqdm"} <= names


def test_torch_pinned_in_pyproject():
    deps = pyproject()["project"]["dependencies"]
    torch_specs = [d for d in deps if req_name(d) == "torch"]
    assert [re.sub(r"\s", "", d) for d in torch_specs] == [f"torch=={TORCH_PIN}"]


def test_torch_pinned_in_makefile():
    text = (ROOT / "Makefile").read_text()
    specs = re.findall(r"\btorch\s*([=<>!~]=?\s*[\w.+]+)?", text)
    assert f"torch=={TORCH_PIN}" in text
    assert specs and all(s.replace(" ", "") == f"=={TORCH_PIN}" for s in specs if s), specs


def test_torch_pinned_in_environment():
    conda, _ = environment_entries()
    assert [e for e in conda if req_name(e) == "pytorch"] == [f"pytorch={TORCH_PIN}"]
    assert not [e for e in conda if req_name(e) == "torch"]


def test_installed_torch_is_the_pinned_one():
    torch = pytest.importorskip("torch")
    assert torch.__version__.split("+")[0] == TORCH_PIN


def test_makefile_has_the_two_commands_and_a_local_venv():
    text = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([\w.-]+)\s*:(?!=)", text, flags=re.M))
    assert {"demo", "test"} <= targets
    assert re.search(r"^VENV\s*\??=\s*\.venv\s*$", text, flags=re.M)


def test_ci_runs_make_test():
    ci = ROOT / ".ci" / "run"
    assert ci.is_file()
    assert re.search(r"^\s*make test\s*$", ci.read_text(), flags=re.M)


def test_pyproject_basics():
    data = pyproject()
    assert data["project"]["name"] == "mnad_lite"
    assert data["project"]["scripts"]["mnad-lite"] == "mnad_lite.cli:main"
    assert data["tool"]["ruff"]["line-length"] == 100


def readme_commands(root: Path) -> list[str]:
    """The two commands README.md must name that it lacks; a missing README lacks both
    (it is the front page: its absence is the failure, never a reason to skip)."""
    readme = root / "README.md"
    text = readme.read_text() if readme.is_file() else ""
    return [cmd for cmd in ("make demo", "make test") if cmd not in text]


def test_readme_mentions_the_two_commands():
    assert readme_commands(ROOT) == []


def test_a_missing_readme_fails_the_check(tmp_path: Path):
    assert readme_commands(tmp_path) == ["make demo", "make test"]


def test_make_test_runs_the_notebooks_under_every_emulated_cpu():
    text = (ROOT / "Makefile").read_text()
    prerequisites = re.search(r"^test:(.*)$", text, flags=re.M).group(1).split()
    assert "test-cpus" in prerequisites and "unit" in prerequisites
    assert re.search(r"^test-cpus:.*\n\t\$\(PY\) scripts/emulate_cpus\.py$", text, flags=re.M)
    assert re.search(r"^check-course:", text, flags=re.M)
