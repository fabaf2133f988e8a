"""Reproducibility checks for the course notebooks: ``expect(name, value, full=, quick=, tol=)``.

nbval compares the stored output of every ``# NBVAL_CHECK_OUTPUT`` cell with the output of
a fresh run. A number from a trained model cannot be printed there as it is: CI runs the
notebooks in QUICK mode (other data, other numbers). So a checked cell prints a *verdict*
instead of the number::

    expect("frame AUC (paper protocol)", auc_2_decimals, full=72.02, quick=61.3, tol=0.01,
           unit="points")
    # -> frame AUC (paper protocol): as expected (within 0.01 points)

The course trains in the portable CPU mode (:mod:`mnad_lite.engine.portable`), so a
trained number is the same bits on every x86-64 CPU and a tolerance only covers rounding:
the digits a value is rounded to, or 1e-6 relative for an unrounded float.

The expected value is picked by ``MNAD_QUICK`` (``quick`` when it is ``"1"``, else
``full``), the printed line is the same in both modes, and a value outside the tolerance
raises :class:`UnexpectedResult`, whose message gives the value, the expected value and
the tolerance. nbval then reports the cell as failed: a changed hyperparameter, a changed
equation or a broken data path shows up in CI as a failing cell.

``tol`` is absolute (in the value's unit); ``rel`` is relative to the expected value;
both may be given (the larger bound wins). ``tol=0`` asks for equality (counts,
parameter numbers, shapes).

Re-baselining after an intended change: run the notebook with
``MNAD_EXPECT_RECORD=/some/file.jsonl``. Every ``expect`` then appends
``{"name", "value", "mode"}`` to that file, prints its usual line and raises nothing;
copy the values into the ``full=`` / ``quick=`` arguments.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from mnad_lite.errors import MNADError


class UnexpectedResult(MNADError, AssertionError):
    """A notebook result outside its stated tolerance."""


def quick_mode() -> bool:
    """True when the notebooks run at CI size (``MNAD_QUICK=1``)."""
    return os.environ.get("MNAD_QUICK") == "1"


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _close(value: float, expected: float, tol: float, rel: float) -> bool:
    if math.isnan(expected):
        return math.isnan(value)
    bound = max(tol, rel * abs(expected))
    return abs(value - expected) <= bound + 1e-12 * max(1.0, abs(expected))


def expect(
    name: str,
    value: Any,
    full: Any,
    quick: Any,
    tol: float = 0.0,
    rel: float = 0.0,
    unit: str = "",
) -> None:
    """Check ``value`` against the expected value of the current mode; print one line.

    Args:
        name: what is checked, as the reader should see it.
        value: the result of the cell: a number, or a sequence of numbers (checked
            element by element), or anything else (compared with ``==``).
        full: the expected value in full mode (the notebook's stored run).
        quick: the expected value in QUICK mode (CI).
        tol: absolute tolerance, in ``unit``; ``0`` means exactly equal.
        rel: relative tolerance (fraction of the expected value).
        unit: shown in the printed tolerance ("points", "dB" ...).

    Prints ``<name>: as expected (<tolerance>)``, identical in both modes; returns
    nothing, so a notebook cell ending with ``expect`` shows that line only.

    Raises:
        UnexpectedResult: ``value`` is outside the tolerance; the message says by how much.
    """
    mode = "quick" if quick_mode() else "full"
    expected = quick if mode == "quick" else full
    line = f"{name}: as expected ({_describe(tol, rel, unit)})"
    record = os.environ.get("MNAD_EXPECT_RECORD")
    if record:
        with Path(record).open("a") as fh:
            fh.write(json.dumps({"name": name, "value": _plain(value), "mode": mode}) + "\n")
        print(line)
        return
    problem = _compare(value, expected, tol, rel)
    if problem is not None:
        raise UnexpectedResult(
            f"{name}: {problem} ({mode} mode, {_describe(tol, rel, unit)}). A changed "
            "configuration, equation or data path changes this result; if the change is "
            "intended, re-baseline with MNAD_EXPECT_RECORD (see mnad_lite.course.expect)."
        )
    print(line)


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _describe(tol: float, rel: float, unit: str) -> str:
    if tol == 0 and rel == 0:
        return "exactly"
    parts = []
    if tol:
        parts.append(f"{tol:g}{' ' + unit if unit else ''}")
    if rel:
        parts.append(f"{100 * rel:g} %")
    return "within " + " or ".join(parts)


def _compare(value: Any, expected: Any, tol: float, rel: float) -> str | None:
    """None if ``value`` matches ``expected``, else a sentence saying how it differs."""
    value, expected = _plain(value), _plain(expected)
    if expected is None:
        return f"got {value!r} but no expected value is stored for this mode"
    if isinstance(expected, (list, tuple)):
        if not isinstance(value, (list, tuple)) or len(value) != len(expected):
            return f"got {value!r}, expected {expected!r} (a different length)"
        for i, (v, e) in enumerate(zip(value, expected, strict=True)):
            problem = _compare(v, e, tol, rel)
            if problem is not None:
                return f"element {i}: {problem}"
        return None
    if isinstance(expected, bool) or not isinstance(expected, (int, float)):
        return None if value == expected else f"got {value!r}, expected {expected!r}"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return f"got {value!r}, expected the number {_fmt(expected)}"
    if _close(v, float(expected), tol, rel):
        return None
    return f"got {_fmt(v)}, expected {_fmt(expected)} (off by {_fmt(v - float(expected))})"
