"""The memory module of MNAD: read (Eqs. 1-2), update (Eqs. 3-5), losses (Eqs. 10-13)
and the feature distance of the score (Eq. 15).

Notation (MNAD.md section 3; the same names everywhere in mnad_lite):

============== =========== ======================================================
name           symbol      shape
============== =========== ======================================================
queries        q_t^k       [N, C]   L2-normalised rows, N = B*H*W query vectors
items          p_m         [M, C]   L2-normalised rows, M = num_items, C = feat_dim
similarity     p_m . q^k   [N, M]
read_weights   w^{k,m}     [N, M]   softmax over items (Eq. 1)
update_weights v^{k,m}     [N, M]   softmax over queries (Eq. 3)
nearest        p           [N]      each query's nearest item (Eq. 11)
second         n           [N]      each query's second-nearest item (Eq. 13)
============== =========== ======================================================

Each equation is one function of ``(queries, items)``; :class:`Memory` calls them on a
feature map ``[B, C, H, W]``. They recompute the similarities rather than share them (the
memory is about 0.1 % of a training step). Items are not learned by backpropagation
(MNAD.md section 2): they change only through :func:`update`, and every function here
treats them as a constant (detached).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mnad_lite.errors import MNADError
from mnad_lite.forms import WEIGHT_NORMS, Form, WeightNorm, check_form

NORM_EPS = 1e-12  # F.normalize's default


def similarity(queries: Tensor, items: Tensor) -> Tensor:
    """``p_m . q^k`` of every query with every item: ``[N, C] x [M, C] -> [N, M]``."""
    if queries.ndim != 2 or items.ndim != 2 or queries.shape[1] != items.shape[1]:
        raise MNADError(
            "queries [N, C] and items [M, C] must be matrices that share C: got queries "
            f"{tuple(queries.shape)} and items {tuple(items.shape)}"
        )
    return queries @ items.detach().t()


def init_items(num_items: int, feat_dim: int, generator: torch.Generator | None = None) -> Tensor:
    """Initial items: L2-normalised uniform random vectors ``[M, C]`` (authors' code)."""
    return F.normalize(torch.rand(num_items, feat_dim, generator=generator), dim=1)


def flatten_queries(query_map: Tensor) -> Tensor:
    """A query map ``[B, C, h, w]`` as query vectors ``[N, C]``, N = B*h*w (frame-major)."""
    if query_map.ndim != 4:
        raise MNADError(f"a query map must be [B, C, h, w], got {tuple(query_map.shape)}")
    return query_map.permute(0, 2, 3, 1).reshape(-1, query_map.shape[1])


# --- read: Eqs. 1-2 -----------------------------------------------------------------------
def read_weights(
    queries: Tensor, items: Tensor, temperature: float = 1.0, gradient: bool = False
) -> Tensor:
    """Eq. 1: ``w^{k,m} = softmax_m(p_m . q^k / τ)``, ``[N, M]``.

    τ = 1 and detached, as in the authors' code; τ < 1 (a sharper read) and ``gradient``
    (the loss reaches the queries through w) are options beyond the paper.
    """
    weights = F.softmax(similarity(queries, items) / temperature, dim=1)
    return weights if gradient else weights.detach()


def read_items(weights: Tensor, items: Tensor) -> Tensor:
    """Eq. 2: ``p̂^k = sum_m w^{k,m} p_m``: read weights ``[N, M]`` -> read items ``[N, C]``."""
    return weights @ items.detach()


def read(
    queries: Tensor, items: Tensor, temperature: float = 1.0, gradient: bool = False
) -> Tensor:
    """Memory read, Eqs. 1-2: ``p̂^k = sum_m softmax_m(p_m . q^k / τ) p_m``, ``[N, C]``; the
    decoder receives ``concat(q, p̂)``. Options: :func:`read_weights`."""
    return read_items(read_weights(queries, items, temperature, gradient), items)


# --- update: Eqs. 3-5 ---------------------------------------------------------------------
def nearest_items(queries: Tensor, items: Tensor) -> Tensor:
    """Eq. 11: ``p = argmax_m w^{k,m}``, each query's nearest item ``[N]``.

    The softmax is monotonic, so this is the argmax of the similarities; ties go to the
    lowest item index.
    """
    return similarity(queries.detach(), items).argmax(dim=1)


def second_nearest_items(queries: Tensor, items: Tensor) -> Tensor:
    """Eq. 13: ``n = argmax_{m != p} w^{k,m}``, each query's second-nearest item ``[N]``."""
    sim = similarity(queries.detach(), items)
    return sim.scatter(1, sim.argmax(dim=1, keepdim=True), float("-inf")).argmax(dim=1)


def update_weights(queries: Tensor, items: Tensor) -> Tensor:
    """Eq. 3: ``v^{k,m}``, each item's softmax over the queries, ``[N, M]`` (no gradient)."""
    return F.softmax(similarity(queries.detach(), items), dim=0)


def update(queries: Tensor, items: Tensor, weight_norm: WeightNorm = "all") -> Tensor:
    """Memory update, Eqs. 3-5: ``p_m <- f(p_m + sum_{k in U^m} v'^{k,m} q^k)``.

    ``U^m`` are the queries whose nearest item is m (Eq. 4); ``v' = v / max v`` (Eq. 5),
    the max over all queries (``weight_norm="all"``, authors' code, the default) or over
    ``U^m`` (``"assigned"``, Eq. 5 as printed); f is L2 normalisation. Items that no query
    selects keep their direction (they are only re-normalised, as in the authors' code).
    Unit queries ``[N, C]`` and items ``[M, C]`` -> the updated items ``[M, C]``, detached.
    """
    if weight_norm not in WEIGHT_NORMS:
        raise MNADError(f"weight_norm must be one of {WEIGHT_NORMS}, got {weight_norm!r}")
    queries, items = queries.detach(), items.detach()
    v = update_weights(queries, items)  # Eq. 3   [N, M]
    assigned = F.one_hot(nearest_items(queries, items), items.shape[0]).to(v.dtype)  # U^m
    peak = (v if weight_norm == "all" else v * assigned).amax(dim=0)  # [M]
    scaled = v / peak.clamp_min(torch.finfo(v.dtype).tiny)  # Eq. 5: v'
    return F.normalize(items + (scaled * assigned).t() @ queries, dim=1)  # Eq. 4


# --- losses and distance: Eqs. 10-13, 15 --------------------------------------------------
def query_distance(queries: Tensor, items: Tensor, form: Form = "code") -> Tensor:
    """Each query's distance to its nearest item p (Eq. 11), the term of Eqs. 10 and 15,
    ``[N]``: ``||q^k - p_p||^2 / C`` (``"code"``, the authors' mean squared error) or
    ``||q^k - p_p||_2`` (``"paper"``, as printed). Gradients reach the queries only."""
    check_form("form", form)
    nearest = items.detach()[nearest_items(queries, items)]  # p_p   [N, C]
    if form == "code":
        return F.mse_loss(queries, nearest, reduction="none").mean(dim=1)
    return torch.linalg.vector_norm(queries - nearest, dim=1)


def compactness_loss(queries: Tensor, items: Tensor, form: Form = "code") -> Tensor:
    """Feature compactness loss, Eq. 10, a scalar: :func:`query_distance` averaged over the
    queries (``"code"``: ``mean((q^k - p_p)^2)``; ``"paper"``: mean ``||q^k - p_p||_2``)."""
    return query_distance(queries, items, form).mean()


def _triplets(queries: Tensor, items: Tensor) -> tuple[Tensor, Tensor]:
    if items.shape[0] < 2:
        raise MNADError(f"separateness needs at least 2 items, got items {tuple(items.shape)}")
    items = items.detach()
    return items[nearest_items(queries, items)], items[second_nearest_items(queries, items)]


def separateness_loss(queries: Tensor, items: Tensor, margin: float = 1.0) -> Tensor:
    """Feature separateness loss, Eqs. 12-13: ``mean_k [||q^k - p_p|| - ||q^k - p_n|| + α]_+``,
    the triplet margin loss (:func:`F.triplet_margin_loss`) of each query with its nearest
    item p (Eq. 11) and second-nearest n (Eq. 13). Needs M >= 2. Scalar."""
    positive, negative = _triplets(queries, items)
    return F.triplet_margin_loss(queries, positive, negative, margin=margin)


def separateness_hinge(queries: Tensor, items: Tensor, margin: float = 1.0) -> Tensor:
    """Eq. 12 per query, before ``[.]_+``: ``||q - p_p|| - ||q - p_n|| + α``, ``[N]``;
    zero or below, the hinge is off. Its clamped mean is :func:`separateness_loss`."""
    positive, negative = _triplets(queries, items)
    return F.pairwise_distance(queries, positive) - F.pairwise_distance(queries, negative) + margin


def feature_distance(
    queries: Tensor, items: Tensor, batch_size: int = 1, form: Form = "code"
) -> Tensor:
    """Per-frame feature distance D, Eq. 15: ``D = (1/K) sum_k ||q^k - p_p||``, ``[B]``, for
    queries ``[B*K, C]`` (``batch_size`` frames of K queries, in order). ``"code"`` (the
    authors' scoring): the frame's own compactness loss; ``"paper"``: the mean L2 distance."""
    return query_distance(queries.detach(), items, form).reshape(batch_size, -1).mean(dim=1)


def distance_map(query_map: Tensor, items: Tensor, form: Form = "code") -> Tensor:
    """Eq. 15 per query, where in the frame D comes from: ``[B, C, h, w] -> [B, h, w]``,
    :func:`query_distance` of each cell's unit query, so ``.mean((1, 2))`` is D per frame."""
    b, _, h, w = query_map.shape
    return query_distance(flatten_queries(query_map.detach()), items, form).reshape(b, h, w)


# --- what the memory is doing -------------------------------------------------------------
#: An item counts as used when it is the nearest of at least this share of the queries.
USED_SHARE = 0.01


@torch.no_grad()
def diagnostics(
    queries: Tensor, items: Tensor, weights: Tensor, margin: float | None = 1.0
) -> dict[str, Tensor]:
    """Sums over the queries of a pass, cheap to accumulate over an epoch (no sync).

    ``nearest_count`` ``[M]``: queries whose nearest item is m (Eq. 11); ``cos_sum``: sum
    of cos(q, p_p) (unit vectors); ``max_read_sum``: sum of max_m w^{k,m} (Eq. 1);
    ``hinge_active_sum``: queries whose Eq. 12 hinge (margin α = ``margin``; None: no
    hinge, as with one item) is > 0; ``queries``: N. See :func:`summarize_diagnostics`.
    """
    queries, weights, n = queries.detach(), weights.detach(), queries.new_tensor(len(queries))
    nearest = nearest_items(queries, items)
    hinge = separateness_hinge(queries, items, margin) if margin is not None else n.new_zeros(1)
    return {
        "nearest_count": torch.bincount(nearest, minlength=items.shape[0]).to(torch.float64),
        "cos_sum": (queries * items[nearest]).sum().double(),
        "max_read_sum": weights.amax(dim=1).sum().double(),
        "hinge_active_sum": (hinge > 0).sum().double(),
        "queries": n.double(),
    }


def accumulate_diagnostics(
    total: dict[str, Tensor] | None, part: dict[str, Tensor]
) -> dict[str, Tensor]:
    """Add the diagnostic sums of one pass (``MemoryOutput.diagnostics``) to ``total``."""
    return {k: v.detach().clone() if total is None else total[k] + v for k, v in part.items()}


def summarize_diagnostics(total: dict[str, Tensor]) -> dict[str, float]:
    """What the memory is doing, from accumulated sums (one epoch, or a test pass).

    - ``items_used``: items that are the nearest (Eq. 11) of at least 1 % of the queries;
    - ``usage_entropy``: entropy (nats) of the share of queries per nearest item
      (log M when all M items are used evenly, 0 when one item takes every query);
    - ``cos_nearest``: mean cos(q, p_p); near 1 means the queries have collapsed onto
      their items (the compactness loss is then near 0);
    - ``max_read_weight``: mean of max_m w^{k,m} (1/M: a flat read; 1: a hard read);
    - ``hinge_active``: share of queries whose separateness hinge (Eq. 12) is active.
    """
    n = max(float(total["queries"]), 1.0)
    share = (total["nearest_count"] / n).cpu()
    nz = share[share > 0]
    return {
        "items_used": int((share >= USED_SHARE).sum()),
        "usage_entropy": float(-(nz * nz.log()).sum()),
        "cos_nearest": float(total["cos_sum"]) / n,
        "max_read_weight": float(total["max_read_sum"]) / n,
        "hinge_active": float(total["hinge_active_sum"]) / n,
    }


# --- the module ---------------------------------------------------------------------------
def _autocast_type(x: Tensor) -> str:
    return x.device.type if x.device.type in ("cuda", "mps", "xpu") else "cpu"


def _memory_dtype(*dtypes: torch.dtype) -> torch.dtype:
    # The memory computes in float32 (bfloat16/float16 queries under autocast included),
    # or in float64 when the queries or the items are float64 (a model in double).
    return torch.float64 if torch.float64 in dtypes else torch.float32


@dataclass
class MemoryOutput:
    """What :class:`Memory` returns for a query map ``[B, C, H, W]``: the unit queries q
    ``[B, C, H, W]``; the read weights w (Eq. 1) ``[B, H*W, M]``; the items p this pass read
    (before its update) ``[M, C]``; the losses L_compact (Eq. 10) and L_separate (Eq. 12,
    0 when M < 2); the distance D (Eq. 15) ``[B]``; the :func:`diagnostics`; and, built on
    first access, the decoder input ``features = concat(q, p̂)`` ``[B, 2C, H, W]`` (Eq. 2).
    """

    queries: Tensor
    read_weights: Tensor
    items: Tensor
    compactness: Tensor
    separateness: Tensor
    distance: Tensor
    diagnostics: dict[str, Tensor] = field(default_factory=dict)

    @cached_property
    def features(self) -> Tensor:
        b, c, h, w = self.queries.shape
        with torch.autocast(_autocast_type(self.queries), enabled=False):  # the memory's dtype
            read = read_items(self.read_weights.reshape(b * h * w, -1), self.items)  # [N, C]
            return torch.cat([self.queries, read.reshape(b, h, w, c).permute(0, 3, 1, 2)], dim=1)


class Memory(nn.Module):
    """MNAD's memory for feature maps: normalise, read, losses, and (in training) update.

    Args:
        num_items: M, the number of items (10 in the paper).
        feat_dim: C, the query/item dimension (512 in the paper).
        weight_norm: ``"all"`` (authors' code) or ``"assigned"`` (paper text) for Eq. 5.
        margin: α of Eq. 12.
        loss_form: ``"code"`` (mean squared error) or ``"paper"`` (L2 norm) for Eq. 10.
        generator: optional RNG for the initial items.
        distance_form: the same choice as ``loss_form`` for the distance D of Eq. 15.
        read_temperature, read_gradient: the read's options (:func:`read_weights`).

    The items are the buffer ``items`` ``[M, C]`` (saved, never given gradients).
    ``forward(x, update=None)`` updates them when ``update`` is true, or by default in
    training mode, and computes in float32 whatever the autocast (float64 in a double
    model). With several processes, ``gather_queries`` gathers every process's queries
    (rank order) for the update, so all apply one update on the global batch.
    """

    items: Tensor
    gather_queries: Callable[[Tensor], Tensor] | None = None

    def __init__(
        self,
        num_items: int = 10,
        feat_dim: int = 512,
        weight_norm: WeightNorm = "all",
        margin: float = 1.0,
        loss_form: Form = "code",
        generator: torch.Generator | None = None,
        distance_form: Form = "code",
        read_temperature: float = 1.0,
        read_gradient: bool = False,
    ) -> None:
        super().__init__()
        if num_items < 1 or feat_dim < 1 or not read_temperature > 0:
            raise MNADError(
                "num_items and feat_dim must be >= 1 and read_temperature > 0, got "
                f"{num_items}, {feat_dim}, {read_temperature}"
            )
        if weight_norm not in WEIGHT_NORMS:
            raise MNADError(f"weight_norm must be one of {WEIGHT_NORMS}, got {weight_norm!r}")
        check_form("loss_form", loss_form)
        check_form("distance_form", distance_form)
        self.num_items, self.feat_dim, self.margin = num_items, feat_dim, margin
        self.weight_norm: WeightNorm = weight_norm
        self.loss_form, self.distance_form = loss_form, distance_form
        self.read_temperature, self.read_gradient = float(read_temperature), bool(read_gradient)
        self.register_buffer("items", init_items(num_items, feat_dim, generator))

    def normalize_queries(self, x: Tensor) -> Tensor:
        """The unit query map ``[B, C, H, W]`` (``benchmarks/fused.py`` overrides it)."""
        return F.normalize(x, dim=1, eps=NORM_EPS)

    def extra_repr(self) -> str:
        options = ("num_items", "feat_dim", "weight_norm", "loss_form", "read_temperature")
        return ", ".join(f"{k}={getattr(self, k)}" for k in options)

    def forward(self, x: Tensor, update: bool | None = None) -> MemoryOutput:
        """Read (and maybe update) with the query map ``x`` ``[B, C, H, W]``."""
        if x.ndim != 4 or x.shape[1] != self.feat_dim:
            raise MNADError(
                f"Memory expects a query map [B, {self.feat_dim}, H, W], got {tuple(x.shape)}"
            )
        b, _, h, w = x.shape
        dtype = _memory_dtype(x.dtype, self.items.dtype)
        with torch.autocast(_autocast_type(x), enabled=False):  # float32 (or float64)
            qmap = self.normalize_queries(x.to(dtype))  # L2, every query
            queries = flatten_queries(qmap)  # [N, C], N = B*H*W
            items = self.items.detach().to(dtype, copy=True)  # the update writes self.items
            weights = read_weights(queries, items, self.read_temperature, self.read_gradient)
            compactness = compactness_loss(queries, items, self.loss_form)  # Eq. 10
            separate = self.num_items > 1  # Eq. 12 needs two items
            zero = queries.new_zeros(())
            separateness = separateness_loss(queries, items, self.margin) if separate else zero
            distance = feature_distance(queries, items, b, self.distance_form)  # Eq. 15   [B]
            sums = diagnostics(queries, items, weights, self.margin if separate else None)
            if self.training if update is None else update:
                if self.gather_queries is not None:  # every process's queries, rank order
                    queries = self.gather_queries(queries.detach())  # [W*N, C]
                self.update_with(queries)  # Eqs. 3-5
        return MemoryOutput(
            qmap, weights.reshape(b, h * w, -1), items, compactness, separateness, distance, sums
        )

    @torch.no_grad()
    def update_with(self, queries: Tensor) -> None:
        """Apply Eqs. 3-5 with given normalised ``queries`` ``[N, C]`` (test-time update)."""
        dtype = _memory_dtype(queries.dtype, self.items.dtype)
        self.items.copy_(update(queries.to(dtype), self.items.to(dtype), self.weight_norm))
