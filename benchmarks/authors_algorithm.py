"""The authors' memory algorithm and network style, re-implemented from MNAD.md section 4.

This is the baseline the benchmarks time mnad_lite against. It is written from the
description in MNAD.md (sections 2-4), not copied from the authors' repository,
and it reproduces their *algorithm*, including what makes it slow:

* the memory works on the query map permuted to ``[B, H, W, C]``;
* the item/query similarity and both softmaxes (over items, Eq. 1; over queries, Eq. 3)
  are recomputed for each of the three uses: read, losses, update;
* the losses gather the nearest and second-nearest items (``topk`` over the read
  weights) as ``[N, C]`` tensors and apply ``nn.MSELoss`` (Eq. 10, code form) and
  ``nn.TripletMarginLoss(margin=1)`` (Eq. 12);
* the read concatenates ``(q, p̂)`` on the last dimension of ``[B, H, W, C]`` and permutes
  back, so the decoder receives a ``[B, 2C, H, W]`` view with channels-last strides;
* the update (Eqs. 3-5, Eq. 5 with the max over **all** queries) loops over the items in
  Python, finds each item's queries with ``nonzero`` and is computed with autograd
  recording, then detached;
* the items are a tensor passed in and returned (``m_items``), not a module buffer;
* the network runs in the default NCHW memory format.

Everything here is equal in value to mnad_lite's vectorised code with the authors'
settings (Eq. 5 over all queries, the code's forms of Eqs. 10 and 12, no position
channels; the benchmarks and ``tests/benchmarks`` assert it); only the amount of work
differs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mnad_lite.model import MNAD, Decoder, Encoder


def authors_score(query: Tensor, items: Tensor) -> tuple[Tensor, Tensor]:
    """Similarity of ``query`` ``[B, H, W, C]`` with ``items`` ``[M, C]``, both softmaxes.

    Returns ``(over_queries, over_items)``, each ``[N, M]`` with N = B*H*W: the update
    weights v (Eq. 3, softmax over the N queries) and the read weights w (Eq. 1).
    """
    b, h, w, c = query.shape
    score = torch.matmul(query.reshape(b, h * w, c), items.t()).reshape(b * h * w, -1)
    return F.softmax(score, dim=0), F.softmax(score, dim=1)


def authors_read(query: Tensor, items: Tensor) -> Tensor:
    """Eqs. 1-2 and the concatenation: ``[B, H, W, C]`` -> ``[B, 2C, H, W]`` (a permuted view)."""
    b, h, w, c = query.shape
    _, over_items = authors_score(query, items)
    flat = query.reshape(b * h * w, c)
    read = torch.matmul(over_items.detach(), items)  # p̂, [N, C]
    return torch.cat((flat, read), dim=1).reshape(b, h, w, 2 * c).permute(0, 3, 1, 2)


def authors_losses(query: Tensor, items: Tensor) -> tuple[Tensor, Tensor]:
    """Eqs. 10-13 with torch's losses: ``(compactness, separateness)``."""
    b, h, w, c = query.shape
    _, over_items = authors_score(query, items)
    flat = query.reshape(b * h * w, c)
    _, top2 = torch.topk(over_items, 2, dim=1)  # Eq. 11 and Eq. 13
    pos, neg = items[top2[:, 0]], items[top2[:, 1]]  # [N, C] each
    compactness = nn.MSELoss()(flat, pos.detach())
    separateness = nn.TripletMarginLoss(margin=1.0)(flat, pos.detach(), neg.detach())
    return compactness, separateness


def authors_update(query: Tensor, items: Tensor) -> Tensor:
    """Eqs. 3-5 with a Python loop over the items; returns the new items, detached."""
    b, h, w, c = query.shape
    over_queries, over_items = authors_score(query, items)
    flat = query.reshape(b * h * w, c)
    _, nearest = torch.topk(over_items, 1, dim=1)  # [N, 1]
    delta = torch.zeros_like(items)
    for m in range(items.shape[0]):
        idx = torch.nonzero(nearest.squeeze(1) == m)  # U^m, [n_m, 1]
        if idx.shape[0] != 0:
            weight = over_queries[idx, m] / torch.max(over_queries[:, m])  # Eq. 5 (all)
            delta[m] = torch.sum(weight * flat[idx].squeeze(1), dim=0)
    return F.normalize(delta + items, dim=1).detach()  # Eq. 4


@dataclass
class AuthorsMemoryOutput:
    """``features`` ``[B, 2C, H, W]``, the two losses, and the updated items ``[M, C]``."""

    features: Tensor
    compactness: Tensor
    separateness: Tensor
    items: Tensor


def authors_memory(x: Tensor, items: Tensor, train: bool = True) -> AuthorsMemoryOutput:
    """One pass of the authors' memory on a raw query map ``x`` ``[B, C, H, W]``."""
    query = F.normalize(x, dim=1).permute(0, 2, 3, 1)  # [B, H, W, C]
    features = authors_read(query, items)
    new_items = authors_update(query, items) if train else items
    compactness, separateness = authors_losses(query, items)
    return AuthorsMemoryOutput(features, compactness, separateness, new_items)


class AuthorsMNAD(nn.Module):
    """The same network as :class:`mnad_lite.model.MNAD` (same modules and parameter
    names), run the authors' way: NCHW, the memory above, items passed in and returned.

    ``forward(x, items, train) -> (prediction, AuthorsMemoryOutput)``.
    """

    def __init__(self, reference: MNAD) -> None:
        super().__init__()
        if reference.memory is None:
            raise ValueError("the authors' network has a memory")
        memory = reference.memory
        if reference.position != "none":
            raise ValueError(f"the authors' network has no position={reference.position!r}")
        if (memory.weight_norm, memory.loss_form, memory.margin) != ("all", "code", 1.0):
            raise ValueError("the authors' algorithm is Eq. 5 over all queries, the code form")
        self.method = reference.method
        self.encoder = Encoder(reference.input_channels, reference.width)
        self.decoder = Decoder(
            2 * reference.feat_dim,
            reference.in_channels,
            reference.width,
            skips=reference.method == "pred",
        )
        own = self.state_dict()
        own.update({k: v for k, v in reference.state_dict().items() if k in own})
        self.load_state_dict(own)  # same weights as the reference

    def forward(
        self, x: Tensor, items: Tensor, train: bool = True
    ) -> tuple[Tensor, AuthorsMemoryOutput]:
        z, skips = self.encoder(x)
        mem = authors_memory(z, items, train)
        prediction = self.decoder(mem.features, skips if self.method == "pred" else None)
        return prediction, mem


def authors_loss(
    prediction: Tensor,
    target: Tensor,
    mem: AuthorsMemoryOutput,
    lambda_compact: float,
    lambda_separate: float,
) -> Tensor:
    """Eq. 8 in the authors' form: MSE + λ_c L_compact + λ_s L_separate."""
    rec = torch.mean(nn.MSELoss(reduction="none")(prediction, target))
    return rec + lambda_compact * mem.compactness + lambda_separate * mem.separateness
