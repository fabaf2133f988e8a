"""scripts/rebaseline.py: recorded values written into the notebooks' expect(...) calls."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "rebaseline.py"
spec = importlib.util.spec_from_file_location("rebaseline", SCRIPT)
rebaseline = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rebaseline)

SOURCE = """# NBVAL_CHECK_OUTPUT
expect("γ from training", g, full=0.03, quick=0.02, rel=0.02)
expect("AUCs (%), λ = 0.6", [a, b], full=[72.9, 81.4],
       quick=[79.7, 54.4], tol=1.0, unit="points")
expect(f"{name}: x", v, full=1, quick=2)
expect("a comprehension", v, full=1, quick=[E[n] for n in names])
"""


def test_recorded_values_replace_failing_arguments_only():
    records = {
        ("γ from training", "quick"): 0.0201,  # passes (2 %): unchanged
        ("AUCs (%), λ = 0.6", "quick"): [72.03, 58.981234567],  # fails: replaced
        ("a comprehension", "quick"): [3],
    }
    new, changed = rebaseline.rebaseline_source(SOURCE, records)
    assert "quick=0.02, rel=0.02)" in new  # non-ASCII names before the argument are fine
    assert "quick=[72.03, 58.98123457], tol=1.0" in new  # 10 digits: 1e-6 tolerances
    assert "quick=[E[n] for n in names]" in new  # an expression is left for a person
    assert changed[0] == "AUCs (%), λ = 0.6 [quick]"
    assert any("NOT CHANGED, name not a literal" in c for c in changed)
    assert any(c.startswith("a comprehension [quick]: NOT CHANGED") for c in changed)
    compile(new, "cell", "exec")  # still Python
