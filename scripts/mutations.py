"""Do the notebooks' checks bite? Small changes to training must fail quick nbval.

    python scripts/mutations.py            # every mutation below, and the unchanged copy

For each mutation, a copy of the checkout (tracked and untracked files, no ``.venv``) gets
one edit to ``mnad_lite/engine/train.py``, and quick nbval runs over notebooks 04-07 with
an empty cache, importing the copy's package. The unchanged copy must pass; every mutation
must fail (and the failing cells are listed). Exit status 1 otherwise.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ADAM = "torch.optim.Adam(model.parameters(), lr=config.lr)"

#: name -> (text in train.py, its replacement); None: the unchanged copy.
MUTATIONS: dict[str, tuple[str, str] | None] = {
    "unchanged": None,
    "Adam betas (0.8, 0.99)": (ADAM, ADAM[:-1] + ", betas=(0.8, 0.99))"),
    "Adam eps 1e-6": (ADAM, ADAM[:-1] + ", eps=1e-6)"),
}
NOTEBOOKS = ["04_training", "05_evaluation", "06_experiments", "07_place"]


def copy_checkout(into: Path) -> Path:
    """The checkout's files (what git tracks or would add) copied under ``into``."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name in listed:
        if (ROOT / name).is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, into / name)
    return into


def run(name: str, edit: tuple[str, str] | None) -> tuple[bool, list[str]]:
    """(passed, failed cells) of quick nbval over :data:`NOTEBOOKS` in a mutated copy."""
    with tempfile.TemporaryDirectory(prefix="mnad-mutation-") as tmp:
        copy = copy_checkout(Path(tmp) / "repo")
        if edit is not None:
            path = copy / "mnad_lite" / "engine" / "train.py"
            text = path.read_text()
            if text.count(edit[0]) != 1:
                raise SystemExit(f"{name}: {edit[0]!r} is not in train.py once")
            path.write_text(text.replace(edit[0], edit[1]))
        env = {**os.environ, "MNAD_QUICK": "1", "MNAD_CACHE": str(Path(tmp) / "cache")}
        env["PYTHONPATH"] = str(copy)  # the copy's package, before the installed one
        imported = subprocess.run(
            [sys.executable, "-c", "import mnad_lite; print(mnad_lite.__file__)"],
            cwd=copy,
            env=env,
            capture_output=True,
            text=True,
        ).stdout.strip()
        if not imported.startswith(str(copy)):
            raise SystemExit(f"{name}: the copy's package is not the one imported ({imported})")
        notebooks = [f"notebooks/{n}.ipynb" for n in NOTEBOOKS]
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "--nbval-lax", "-p", "no:cacheprovider"]
            + notebooks,
            cwd=copy,
            env=env,
            capture_output=True,
            text=True,
        )
        failed = re.findall(r"^FAILED (\S+ \d+)", done.stdout, flags=re.M)
        return done.returncode == 0, failed


def main() -> int:
    ok = True
    for name, edit in MUTATIONS.items():
        passed, failed = run(name, edit)
        expected = edit is None
        verdict = "as it should" if passed == expected else "WRONG"
        print(f"{name:<24} quick nbval {'passed' if passed else 'failed'} ({verdict})")
        for cell in failed:
            print(f"    {cell}")
        ok &= passed == expected
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
