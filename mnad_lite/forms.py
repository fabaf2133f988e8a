"""The two forms of an equation: the authors' code (default) and the paper's text.

Where the authors' code computes an equation differently from its printed form (MNAD.md
section 4), mnad_lite implements both, once, behind a ``form`` argument:

====================  ====================================  ==============================
where                 ``"code"`` (default)                  ``"paper"``
====================  ====================================  ==============================
Eq. 5  update         max of v over all queries             max of v over U_t^m
Eq. 6  regular score  squared error of every element        per-pixel L2 norm
Eq. 9  L_rec          mean squared error                    ||Î_t - I_t||_2 per frame
Eq. 10 L_compact      mean squared distance                 mean ||q - p_p||_2
Eq. 14 PSNR           peak 1 on [0, 1] frames               peak max(Î_t)
Eq. 15 D              mean squared distance                 mean ||q - p_p||_2
====================  ====================================  ==============================

(Eq. 5 names its two forms ``"all"`` and ``"assigned"``: see :mod:`mnad_lite.memory`.)
"""

from __future__ import annotations

from typing import Literal

from mnad_lite.errors import MNADError

Form = Literal["code", "paper"]
FORMS: tuple[str, ...] = ("code", "paper")
#: Eq. 5's two forms: divide v by its max over all queries (code) or over U_t^m (paper).
WeightNorm = Literal["all", "assigned"]
WEIGHT_NORMS: tuple[str, ...] = ("all", "assigned")


def check_form(what: str, form: str) -> None:
    """Raise a one-line error unless ``form`` is ``"code"`` or ``"paper"``."""
    if form not in FORMS:
        raise MNADError(f"{what} must be one of {FORMS}, got {form!r}")
