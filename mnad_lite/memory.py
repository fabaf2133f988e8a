"""The memory module of MNAD: read (Eqs. 1-2), update (Eqs. 3-5), memory losses (Eqs. 10-13).

Notation (MNAD.md section 3; the same names everywhere in mnad_lite):

============== =========== ======================================================
name           symbol      shape
============== =========== ======================================================
queries        q_t^k       [N, C]   L2-normalised rows, N = B*H*W query vectors
items          p_m         [M, C]   L2-normalised rows, M = num_items, C = feat_dim
similarity     p_m . q^k   [N, M]   computed once per forward pass
read_weights   w^{k,m}     [N, M]   softmax over items (Eq. 1)
update_weights v^{k,m}     [N, M]   softmax over queries (Eq. 3)
============== =========== ======================================================

The four public functions are pure and vectorised (no Python loop over queries, items
or the batch). :class:`Memory` wraps them for feature maps ``[B, C, H, W]`` and computes
the score matrix once per forward pass.

Items are not learned by backpropagation (MNAD.md section 2): they start as
L2-normalised uniform random vectors and change only through :func:`update`. Every
function here treats ``items`` as a constant (detached).
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


def _check(queries: Tensor, items: Tensor) -> None:
    if queries.ndim != 2:
        raise MNADError(f"queries must have shape [N, C], got {tuple(queries.shape)}")
    if items.ndim != 2:
        raise MNADError(f"items must have shape [M, C], got {tuple(items.shape)}")
    if queries.shape[1] != items.shape[1]:
        raise MNADError(
            f"queries [N, C] and items [M, C] must share C: got queries "
            f"{tuple(queries.shape)} and items {tuple(items.shape)}"
        )


def similarity(queries: Tensor, items: Tensor) -> Tensor:
    """Scores ``p_m . q_t^k`` of every query with every item: ``[N, C] x [M, C] -> [N, M]``."""
    _check(queries, items)
    return queries @ items.detach().t()


# --- the equations, written once on a precomputed geometry -------------------------------

TRIPLET_EPS = 1e-6  # torch's triplet margin loss adds this inside the norms


@dataclass
class _Geometry:
    """What the equations need about queries [N, C] and items [M, C], computed once."""

    similarity: Tensor  # p_m . q^k   [N, M]; carries the gradient to the queries
    nearest: Tensor  # Eq. 11: p = argmax_m w^{k,m}   [N]
    q_sq: Tensor  # ||q^k||^2   [N]
    q_sum: Tensor  # sum_c q^k_c   [N] (for the triplet loss's eps)
    p_sq: Tensor  # ||p_m||^2   [M]
    p_sum: Tensor  # sum_c p_m,c   [M]


def _geometry(queries: Tensor, items: Tensor, q_sq: Tensor | None = None) -> _Geometry:
    """``q_sq``: the squared query norms ``[N]`` when known (unit queries), else computed."""
    items = items.detach()
    sim = similarity(queries, items)  # the one similarity matrix   [N, M]
    return _Geometry(
        similarity=sim,
        # softmax is monotonic, so the argmax of w is that of the similarities; ties go to the
        # lowest item index
        nearest=sim.detach().argmax(dim=1),
        q_sq=queries.square().sum(1) if q_sq is None else q_sq,
        q_sum=queries.sum(1),
        p_sq=items.square().sum(1),
        p_sum=items.sum(1),
    )


def _read_weights(g: _Geometry, temperature: float = 1.0, gradient: bool = False) -> Tensor:
    # Eq. 1: w^{k,m} = softmax_m(similarity / τ)   [N, M]; τ = 1 and detached, as in the
    # authors' code. τ < 1 (a sharper read) and a gradient through w are beyond the paper.
    sim = g.similarity if temperature == 1.0 else g.similarity / temperature
    weights = F.softmax(sim, dim=1)
    return weights if gradient else weights.detach()


def _read(
    g: _Geometry, items: Tensor, temperature: float = 1.0, gradient: bool = False
) -> tuple[Tensor, Tensor]:
    read_weights = _read_weights(g, temperature, gradient)
    # Eq. 2: p̂^k = sum_m w^{k,m} p_m   [N, C]
    return read_weights @ items.detach(), read_weights


def _update_weights(sim: Tensor) -> Tensor:
    # Eq. 3: v^{k,m} = softmax over the queries k of p_m . q^k   [N, M]
    return F.softmax(sim, dim=0)


def _update(
    g: _Geometry, queries: Tensor, items: Tensor, weight_norm: WeightNorm = "all"
) -> Tensor:
    sim, queries, items = g.similarity.detach(), queries.detach(), items.detach()
    assigned = F.one_hot(g.nearest, items.shape[0]).to(sim.dtype)  # Eq. 4: U^m   [N, M]
    update_weights = _update_weights(sim)  # Eq. 3   [N, M]
    if weight_norm == "all":  # authors' code: max over all queries
        peak = update_weights.amax(dim=0)  # [M]
    elif weight_norm == "assigned":  # paper text, Eq. 5: max over U^m
        peak = (update_weights * assigned).amax(dim=0)  # [M], 0 where U^m is empty
    else:
        raise MNADError(f"weight_norm must be one of {WEIGHT_NORMS}, got {weight_norm!r}")
    scaled = update_weights / peak.clamp_min(torch.finfo(sim.dtype).tiny)  # Eq. 5: v'
    delta = (scaled * assigned).t() @ queries  # sum_{k in U^m} v'^{k,m} q^k   [M, C]
    return F.normalize(items + delta, dim=1)  # Eq. 4 with f = L2 normalisation


def _second(g: _Geometry) -> Tensor:
    # Eq. 13: n = argmax_{m != p} w^{k,m}.   [N]
    return g.similarity.detach().scatter(1, g.nearest[:, None], float("-inf")).argmax(dim=1)


def _sq_distance(g: _Geometry, idx: Tensor, feat_dim: int, eps: float = 0.0) -> Tensor:
    # ||q^k - p_idx(k) + eps||^2 from the score matrix, without gathering [N, C] items:
    # ||q||^2 + ||p||^2 - 2 p.q + 2 eps (sum q - sum p) + C eps^2.   [N]
    sq = g.q_sq + g.p_sq[idx] - 2 * g.similarity.gather(1, idx[:, None])[:, 0]
    if eps:
        sq = sq + 2 * eps * (g.q_sum - g.p_sum[idx]) + feat_dim * eps**2
    return sq.clamp_min(0)


def _nearest_term(sq_nearest: Tensor, feat_dim: int, form: Form = "code") -> Tensor:
    # The one formula behind Eq. 10 (training) and Eq. 15 (scoring), over the last axis
    # of ||q^k - p_p||^2 [..., K]: "code", the mean squared error (sum over C, mean over
    # the queries, / C); "paper", the mean L2 norm ||q^k - p_p||_2.   [...]
    if form == "code":
        return sq_nearest.mean(dim=-1) / feat_dim
    check_form("form", form)
    return sq_nearest.clamp_min(1e-12).sqrt().mean(dim=-1)


def _hinge(g: _Geometry, feat_dim: int, margin: float = 1.0) -> Tensor:
    # Eq. 12's hinge argument per query: ||q - p_p|| - ||q - p_n|| + alpha, with torch's
    # triplet-loss eps inside the norms, p from Eq. 11 and n from Eq. 13.   [N]
    d_pos = _sq_distance(g, g.nearest, feat_dim, TRIPLET_EPS).clamp_min(1e-12).sqrt()
    d_neg = _sq_distance(g, _second(g), feat_dim, TRIPLET_EPS).clamp_min(1e-12).sqrt()
    return d_pos - d_neg + margin


def _separateness(hinge: Tensor) -> Tensor:
    # Eq. 12: mean_k [ hinge ]_+ (the triplet margin loss, mean over the queries)
    return hinge.clamp_min(0).mean()


@torch.no_grad()
def _diagnostics(g: _Geometry, read_weights: Tensor, hinge: Tensor | None) -> dict[str, Tensor]:
    """Sums over the queries of a pass, cheap to accumulate over an epoch (no sync).

    ``nearest_count`` ``[M]``: queries whose nearest item is m (Eq. 11); ``cos_sum``:
    sum of cos(q, p_p) (queries and items are unit vectors, so it is the score);
    ``max_read_sum``: sum of max_m w^{k,m} (Eq. 1); ``hinge_active_sum``: queries whose
    Eq. 12 hinge is active (> 0); ``queries``: N. See :func:`summarize_diagnostics`.
    """
    n, m = g.similarity.shape
    return {
        "nearest_count": torch.bincount(g.nearest, minlength=m).to(torch.float64),
        "cos_sum": g.similarity.detach().gather(1, g.nearest[:, None]).sum().double(),
        "max_read_sum": read_weights.detach().amax(dim=1).sum().double(),
        "hinge_active_sum": (
            (hinge > 0).sum().double()
            if hinge is not None
            else g.similarity.new_zeros((), dtype=torch.float64)
        ),
        "queries": torch.tensor(float(n), dtype=torch.float64, device=g.similarity.device),
    }


def accumulate_diagnostics(
    total: dict[str, Tensor] | None, part: dict[str, Tensor]
) -> dict[str, Tensor]:
    """Add the diagnostic sums of one pass (``MemoryOutput.diagnostics``) to ``total``."""
    if total is None:
        return {k: v.detach().clone() for k, v in part.items()}
    return {k: total[k] + part[k] for k in total}


#: An item counts as used when it is the nearest of at least this share of the queries.
USED_SHARE = 0.01


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
    n = float(total["queries"])
    share = (total["nearest_count"] / max(n, 1.0)).cpu()
    nz = share[share > 0]
    return {
        "items_used": int((share >= USED_SHARE).sum()),
        "usage_entropy": float(-(nz * nz.log()).sum()),
        "cos_nearest": float(total["cos_sum"]) / max(n, 1.0),
        "max_read_weight": float(total["max_read_sum"]) / max(n, 1.0),
        "hinge_active": float(total["hinge_active_sum"]) / max(n, 1.0),
    }


NORM_EPS = 1e-12  # F.normalize's default


# --- public functional API --------------------------------------------------------------


def read(
    queries: Tensor, items: Tensor, temperature: float = 1.0, gradient: bool = False
) -> Tensor:
    """Memory read, Eqs. 1-2: ``p̂^k = sum_m softmax_m(p_m . q^k / τ) p_m``.

    Args:
        queries: q, ``[N, C]``, L2-normalised rows.
        items: p, ``[M, C]``, L2-normalised rows.
        temperature: τ (the paper: 1). Beyond the paper: τ < 1 sharpens the read.
        gradient: let the loss reach the queries through the read weights w (beyond the
            paper; the authors' code detaches w, so p̂ carries no gradient).

    Returns:
        The read items p̂, ``[N, C]``. The decoder receives ``concat(q, p̂)``.
    """
    return _read(_geometry(queries, items), items, temperature, gradient)[0]


def update(queries: Tensor, items: Tensor, weight_norm: WeightNorm = "all") -> Tensor:
    """Memory update, Eqs. 3-5: ``p_m <- f(p_m + sum_{k in U^m} v'^{k,m} q^k)``.

    ``v`` is the softmax over queries (Eq. 3); ``U^m`` are the queries whose nearest item
    is m. ``weight_norm="all"`` divides v by its max over all queries (authors' code, the
    default); ``"assigned"`` by its max over ``U^m`` (Eq. 5 as printed). Items that no
    query selects keep their direction (they are only re-normalised, as in the
    authors' code). f is L2 normalisation.

    Args:
        queries: q, ``[N, C]``, L2-normalised rows.
        items: p, ``[M, C]``, L2-normalised rows.

    Returns:
        The updated items, ``[M, C]``, detached from any graph.
    """
    return _update(_geometry(queries, items), queries, items, weight_norm)


def update_weights(queries: Tensor, items: Tensor) -> Tensor:
    """Eq. 3: ``v^{k,m}``, each item's softmax over the queries ``[N, M]`` (no gradient)."""
    _check(queries, items)
    return _update_weights(similarity(queries.detach(), items))


def separateness_hinge(queries: Tensor, items: Tensor, margin: float = 1.0) -> Tensor:
    """Eq. 12 per query, before ``[.]_+``: ``||q - p_p|| - ||q - p_n|| + α`` ``[N]``
    (p nearest, Eq. 11; n second nearest, Eq. 13); zero or below: the hinge is off."""
    _check(queries, items)
    return _hinge(_geometry(queries, items), queries.shape[1], margin)


def nearest_items(queries: Tensor, items: Tensor) -> Tensor:
    """Eq. 11: ``p = argmax_m w^{k,m}``, each query's nearest item: ``[N, C] x [M, C] -> [N]``.

    The softmax is monotonic, so this is the argmax of the similarities; ties go to the
    lowest item index.
    """
    return _geometry(queries.detach(), items).nearest


def flatten_queries(query_map: Tensor) -> Tensor:
    """A query map ``[B, C, h, w]`` as query vectors ``[N, C]``, N = B*h*w (frame-major)."""
    if query_map.ndim != 4:
        raise MNADError(f"a query map must be [B, C, h, w], got {tuple(query_map.shape)}")
    return query_map.permute(0, 2, 3, 1).reshape(-1, query_map.shape[1])


def compactness_loss(queries: Tensor, items: Tensor, form: Form = "code") -> Tensor:
    """Feature compactness loss, Eqs. 10-11, authors' form: ``mean((q^k - p_p)^2)``.

    ``p_p`` is each query's nearest item (Eq. 11). The mean runs over the N queries and
    C channels. Gradients reach the queries only. ``form="paper"`` gives Eq. 10 as
    printed, the L2 norm ``||q^k - p_p||_2``, averaged (not summed) over the queries so
    that lambda_compact keeps its scale.

    Args:
        queries: q, ``[N, C]``; items: p, ``[M, C]``; form: ``"code"`` or ``"paper"``.

    Returns:
        Scalar tensor.
    """
    g = _geometry(queries, items)
    return _nearest_term(_sq_distance(g, g.nearest, queries.shape[1]), queries.shape[1], form)


def separateness_loss(queries: Tensor, items: Tensor, margin: float = 1.0) -> Tensor:
    """Feature separateness loss, Eqs. 12-13: triplet margin with nearest and second-nearest items.

    ``mean_k [ ||q^k - p_p||_2 - ||q^k - p_n||_2 + margin ]_+`` with ``p`` the nearest
    (Eq. 11) and ``n`` the second-nearest item (Eq. 13). Needs M >= 2.

    Args:
        queries: q, ``[N, C]``; items: p, ``[M, C]``; margin: alpha (1 in the paper).

    Returns:
        Scalar tensor.
    """
    if items.shape[0] < 2:
        raise MNADError(f"separateness needs at least 2 items, got items {tuple(items.shape)}")
    return _separateness(_hinge(_geometry(queries, items), queries.shape[1], margin))


def feature_distance(
    queries: Tensor, items: Tensor, batch_size: int = 1, form: Form = "code"
) -> Tensor:
    """Per-frame feature distance D, Eq. 15: ``D = (1/K) sum_k ||q^k - p_p||_2``.

    ``form="code"`` (default, the authors' scoring): the mean *squared* distance of a
    frame's queries to their nearest items, i.e. the compactness loss of that frame
    alone (Eq. 10, same formula); ``form="paper"``: the mean L2 distance, as printed.
    ``queries`` ``[B*K, C]`` hold ``batch_size`` frames of K queries each, in order.

    Returns:
        ``[B]`` distances.
    """
    g = _geometry(queries.detach(), items)
    sq = _sq_distance(g, g.nearest, queries.shape[1])  # ||q^k - p_p||^2   [B*K]
    return _nearest_term(sq.reshape(batch_size, -1), queries.shape[1], form)


def distance_map(query_map: Tensor, items: Tensor, form: Form = "code") -> Tensor:
    """Eq. 15 per query: where in the frame D comes from, ``[B, C, h, w] -> [B, h, w]``.

    Entry (b, i, j) is the term of query q^k (k = the cell (i, j) of frame b) in Eq. 15's
    mean over k: ``||q^k - p_p||^2 / C`` with ``form="code"``, ``||q^k - p_p||_2`` with
    ``"paper"``, p_p the nearest item (Eq. 11). The same formula as :func:`feature_distance`
    (applied to one query at a time), so ``distance_map(...).mean((1, 2))`` is D of each
    frame. ``query_map`` holds the L2-normalised queries (``ModelOutput.queries``).
    """
    b, c, h, w = query_map.shape
    queries = flatten_queries(query_map.detach())  # [B*h*w, C], frame-major, row-major cells
    g = _geometry(queries, items)
    sq = _sq_distance(g, g.nearest, c)  # ||q^k - p_p||^2   [B*h*w]
    return _nearest_term(sq[:, None], c, form).reshape(b, h, w)  # one query per "frame"


def init_items(num_items: int, feat_dim: int, generator: torch.Generator | None = None) -> Tensor:
    """Initial items: L2-normalised uniform random vectors ``[M, C]`` (authors' code)."""
    return F.normalize(torch.rand(num_items, feat_dim, generator=generator), dim=1)


# --- the module ---------------------------------------------------------------------------


def _autocast_type(x: Tensor) -> str:
    return x.device.type if x.device.type in ("cuda", "mps", "xpu") else "cpu"


def _memory_dtype(*dtypes: torch.dtype) -> torch.dtype:
    # The memory computes in float32 (bfloat16/float16 queries under autocast included),
    # or in float64 when the queries or the items are float64 (a model in double).
    return torch.float64 if torch.float64 in dtypes else torch.float32


@dataclass
class MemoryOutput:
    """What :class:`Memory` returns for a query map ``[B, C, H, W]``.

    Attributes:
        queries: the L2-normalised query map q, ``[B, C, H, W]``.
        read_weights: w (Eq. 1), ``[B, H*W, M]``, detached (unless ``read_gradient``).
        items: the items p that this pass read, ``[M, C]`` (before its update), detached.
        compactness: L_compact (Eq. 10), scalar.
        separateness: L_separate (Eq. 12), scalar (0 when M < 2).
        distance: per-frame feature distance D (Eq. 15, in the memory's
            ``distance_form``), ``[B]``.
        diagnostics: sums over the queries of what the memory is doing (item usage,
            collapse, read sharpness, active hinges); see :func:`summarize_diagnostics`.
        features: the decoder input ``concat(q, p̂)``, ``[B, 2C, H, W]``, in the dtype of
            the queries, built from q, w and p on first access and kept.
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
            weights = self.read_weights.reshape(b * h * w, -1)  # w   [N, M]
            read = weights @ self.items  # Eq. 2: p̂^k = sum_m w^{k,m} p_m   [N, C]
            return torch.cat([self.queries, read.reshape(b, h, w, c).permute(0, 3, 1, 2)], dim=1)


class Memory(nn.Module):
    """MNAD's memory for feature maps: normalise, read, losses, and (in training) update.

    Args:
        num_items: M, the number of items (10 in the paper).
        feat_dim: C, the query/item dimension (512 in the paper).
        weight_norm: ``"all"`` (authors' code) or ``"assigned"`` (paper text) for Eq. 5.
        margin: alpha of Eq. 12.
        loss_form: ``"code"`` (mean squared error) or ``"paper"`` (L2 norm) for Eq. 10.
        distance_form: the same choice for the feature distance D of Eq. 15 (scoring).
        generator: optional RNG for the initial items.

    The items live in the buffer ``items`` ``[M, C]``: saved with the state_dict, never
    given gradients. ``forward(x, update=None)`` updates them when ``update`` is true,
    or by default when the module is in training mode. The memory computes in float32
    whatever the autocast, or in float64 for a model in double (``model.double()``).

    Several processes (data-parallel training): each sees its own queries, so updating
    with them alone would leave every process with different items. ``gather_queries``
    (None: one process) maps this process's detached queries ``[N, C]`` to every
    process's ``[W*N, C]``, concatenated in rank order (the engine sets it to an
    ``all_gather``); Eqs. 3-5 then run on that concatenation, so every process applies
    the same update and the items equal those of one process on the concatenated
    batch (Eq. 3's softmax runs over all W*N queries). The read and the losses
    (Eqs. 1-2, 10-13) use this process's queries with the items before the update.
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
        if num_items < 1 or feat_dim < 1:
            raise MNADError(f"num_items and feat_dim must be >= 1, got {num_items}, {feat_dim}")
        if not read_temperature > 0:
            raise MNADError(f"read_temperature must be > 0, got {read_temperature}")
        if weight_norm not in WEIGHT_NORMS:
            raise MNADError(f"weight_norm must be one of {WEIGHT_NORMS}, got {weight_norm!r}")
        check_form("loss_form", loss_form)
        check_form("distance_form", distance_form)
        self.num_items, self.feat_dim = num_items, feat_dim
        self.weight_norm: WeightNorm = weight_norm
        self.margin = margin
        self.loss_form: Form = loss_form
        self.distance_form: Form = distance_form
        self.read_temperature, self.read_gradient = float(read_temperature), bool(read_gradient)
        self.register_buffer("items", init_items(num_items, feat_dim, generator))

    def normalize_queries(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """The unit queries ``[B, C, H, W]`` and their squared norms ``[N]`` when known
        (None: computed where needed; ``benchmarks/fused.py`` knows them)."""
        return F.normalize(x, dim=1, eps=NORM_EPS), None

    def extra_repr(self) -> str:
        return (
            f"num_items={self.num_items}, feat_dim={self.feat_dim}, "
            f"weight_norm={self.weight_norm}, loss_form={self.loss_form}"
            + (f", read_temperature={self.read_temperature}" if self.read_temperature != 1 else "")
            + (", read_gradient=True" if self.read_gradient else "")
        )

    def forward(self, x: Tensor, update: bool | None = None) -> MemoryOutput:
        """Read (and maybe update) with the query map ``x`` ``[B, C, H, W]``."""
        if x.ndim != 4 or x.shape[1] != self.feat_dim:
            raise MNADError(
                f"Memory expects a query map [B, {self.feat_dim}, H, W], got {tuple(x.shape)}"
            )
        b, c, h, w = x.shape
        dtype = _memory_dtype(x.dtype, self.items.dtype)
        with torch.autocast(_autocast_type(x), enabled=False):  # float32 (or float64)
            qmap, q_sq = self.normalize_queries(x.to(dtype))  # L2, every query
            queries = flatten_queries(qmap)  # [N, C], N = B*H*W
            items = self.items.detach().to(dtype, copy=True)  # the update writes self.items
            g = _geometry(queries, items, q_sq)  # similarities [N, M] and norms, once per pass
            # Eq. 1   [N, M]; the read (Eq. 2) is lazy
            read_weights = _read_weights(g, self.read_temperature, self.read_gradient)
            sq_nearest = _sq_distance(g, g.nearest, c)  # ||q - p_p||^2   [N]
            compactness = _nearest_term(sq_nearest, c, self.loss_form)  # Eq. 10
            hinge = _hinge(g, c, self.margin) if self.num_items >= 2 else None
            if hinge is not None:
                separateness = _separateness(hinge)  # Eq. 12
            else:
                separateness = queries.new_zeros(())
            per_frame = sq_nearest.detach().reshape(b, -1)  # [B, K]
            distance = _nearest_term(per_frame, c, self.distance_form)  # Eq. 15   [B]
            diagnostics = _diagnostics(g, read_weights, hinge)
            if self.training if update is None else update:
                if self.gather_queries is not None:  # every process's queries, rank order
                    queries = self.gather_queries(queries.detach())  # [W*N, C]
                    g = _geometry(queries, items)
                self.items.copy_(_update(g, queries, items, self.weight_norm))  # Eqs. 3-5
        return MemoryOutput(
            queries=qmap,
            read_weights=read_weights.reshape(b, h * w, -1),
            items=items,
            compactness=compactness,
            separateness=separateness,
            distance=distance,
            diagnostics=diagnostics,
        )

    @torch.no_grad()
    def update_with(self, queries: Tensor) -> None:
        """Apply Eqs. 3-5 with given normalised ``queries`` ``[N, C]`` (test-time update)."""
        dtype = _memory_dtype(queries.dtype, self.items.dtype)
        self.items.copy_(update(queries.to(dtype), self.items.to(dtype), self.weight_norm))
