"""The training objective: Eq. 8 and its reconstruction term, Eq. 9.

``L = L_rec + λ_c L_compact + λ_s L_separate`` (Eq. 8). The memory terms (Eqs. 10-13)
are computed by :class:`mnad_lite.memory.Memory` during the forward pass and carried in
:class:`mnad_lite.model.ModelOutput`; this module adds the reconstruction term and
weights them.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from mnad_lite.forms import Form, check_form
from mnad_lite.model import ModelOutput


def reconstruction_loss(prediction: Tensor, target: Tensor, form: Form = "code") -> Tensor:
    """Eq. 9, ``L_rec = ||Î_t - I_t||_2`` for Î, I ``[B, C, H, W]``, a scalar: the mean
    squared error over every element (``"code"``, the default) or the L2 norm of each
    frame's error averaged over the batch (``"paper"``)."""
    check_form("form", form)
    if form == "code":
        return F.mse_loss(prediction, target)
    return (prediction - target).flatten(1).norm(dim=1).mean()


def total_loss(
    out: ModelOutput,
    target: Tensor,
    lambda_compact: float = 0.1,
    lambda_separate: float = 0.1,
    form: Form = "code",
) -> dict[str, Tensor]:
    """Eq. 8 and its terms, ``{"loss", "rec", "compact", "separate"}`` (scalars), from the
    model's output (Î and the memory's losses) and the target I ``[B, C, H, W]``. λ_c and
    λ_s are 0.1 for prediction in the authors' code, 0.01 for reconstruction; ``form`` is
    Eq. 9's (the memory's ``loss_form`` sets Eq. 10's)."""
    rec = reconstruction_loss(out.prediction.float(), target.float(), form)
    compact, separate = out.compactness, out.separateness
    loss = rec + lambda_compact * compact + lambda_separate * separate
    return {"loss": loss, "rec": rec, "compact": compact, "separate": separate}
