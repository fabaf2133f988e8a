"""Interactive pictures for the course notebooks 02 (memory), 03 (losses) and 05 (evaluation).

Every picture has three parts, so that what a slider changes can be tested without a
browser:

- a **pure function** that computes what the picture shows and returns plain arrays
  (:func:`memory_assignment`, :func:`toy_losses`);
- a **plot function** that draws such a result with matplotlib and returns the figure
  (:func:`plot_memory_assignment`, :func:`plot_toy_losses`);
- a thin **widget builder** that wires sliders to the two
  (:func:`memory_widget`, :func:`toy_widget`), returning an ``ipywidgets.interactive``
  whose ``.result`` holds the latest pure result.

Without a front end (CI, a web page) a notebook calls the pure and plot functions once
with the default values, so a static picture is always there; ipywidgets is imported only
by the builders (it is an optional dependency, ``pip install mnad_lite[notebooks]``).

The computations use the package (:mod:`mnad_lite.memory`, :func:`mnad_lite.losses.total_loss`);
nothing here re-implements an equation.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from mnad_lite.errors import MNADError
from mnad_lite.losses import total_loss
from mnad_lite.memory import (
    WEIGHT_NORMS,
    Memory,
    feature_distance,
    flatten_queries,
    init_items,
    nearest_items,
    update,
)
from mnad_lite.model import ModelOutput

__all__ = [
    "WithPicture",
    "item_distances",
    "memory_assignment",
    "memory_widget",
    "nearest_items",
    "pca_2d",
    "score_choices",
    "score_widget",
    "plot_memory_assignment",
    "plot_score_choices",
    "plot_toy_circle",
    "plot_toy_losses",
    "toy_losses",
    "toy_widget",
    "with_picture",
]


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run tiny tensor work on one thread (on a busy 2-core machine, 10x faster)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def item_distances(items: Tensor) -> Tensor:
    """Pairwise L2 distances of the items ``[M, C] -> [M, M]``, ``inf`` on the diagonal."""
    d = torch.cdist(items.double(), items.double())
    return d.fill_diagonal_(math.inf)


def pca_2d(points: np.ndarray) -> np.ndarray:
    """Project ``[..., C]`` points on the two principal axes of all of them: ``[..., 2]``.

    Signs are fixed (the largest coordinate of each axis is positive) so that the same
    points always give the same picture. C = 1 gives a zero second coordinate.
    """
    flat = points.reshape(-1, points.shape[-1]).astype(np.float64)
    centred = flat - flat.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:2]
    signs = np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])
    proj = centred @ (axes * signs[:, None]).T
    if proj.shape[1] < 2:
        proj = np.concatenate([proj, np.zeros_like(proj)], axis=1)
    return proj.reshape(*points.shape[:-1], 2).astype(np.float32)


# --- 02: which item each query picks, and items drifting under the update -----------------


def memory_assignment(
    query_maps: Tensor,
    num_items: int = 10,
    weight_norm: str = "all",
    steps: int = 12,
    seed: int = 0,
) -> dict[str, Any]:
    """The memory of a query map sequence: assignments, item usage, item trajectories.

    Starting from ``init_items(num_items, C)`` (seeded), the items are updated
    ``steps`` times with :func:`mnad_lite.memory.update` (Eqs. 3-5), step s using the
    queries of frame ``s % T``, as training does with each batch.

    Args:
        query_maps: raw encoder outputs of T frames, ``[T, C, h, w]``; every query vector
            is L2-normalised here, as :class:`mnad_lite.memory.Memory` does.
        num_items: M.
        weight_norm: ``"all"`` (authors' code) or ``"assigned"`` (Eq. 5 as printed).
        steps: number of updates.
        seed: seed of the initial items.

    Returns:
        A dict of numpy arrays: ``assignment_start`` and ``assignment`` (int64
        ``[h, w]``: the nearest item, Eq. 11, of every query of frame 0 with the
        initial and with the final items), ``usage_start`` and ``usage`` (int64 ``[M]``:
        how many queries of all T frames pick each item), ``trajectory`` (float32
        ``[steps + 1, M, C]``: the items after each update), ``pca`` (float32
        ``[steps + 1, M, 2]``: the trajectory on its two principal axes), ``moved``
        (float32 ``[M]``: L2 distance between each item's first and last position),
        and ints ``distinct`` (items picked by at least one query at the end) and
        ``num_items``.
    """
    if query_maps.ndim != 4:
        raise MNADError(f"query_maps must be [T, C, h, w], got {tuple(query_maps.shape)}")
    if weight_norm not in WEIGHT_NORMS:
        raise MNADError(f"weight_norm must be one of {WEIGHT_NORMS}, got {weight_norm!r}")
    if num_items < 1 or steps < 0:
        raise MNADError(f"need num_items >= 1 and steps >= 0, got {num_items}, {steps}")
    t_frames, c, h, w = query_maps.shape
    with one_thread(), torch.no_grad():
        # [T, C, h, w] -> [T, h*w, C], every query vector L2-normalised
        queries = F.normalize(query_maps.detach().float().cpu(), dim=1)
        queries = queries.flatten(2).transpose(1, 2).contiguous()
        generator = torch.Generator().manual_seed(seed)
        items = init_items(num_items, c, generator)  # [M, C]
        trajectory = [items]
        for s in range(steps):
            items = update(queries[s % t_frames], items, weight_norm)  # Eqs. 3-5
            trajectory.append(items)
        return _assignment_summary(queries, trajectory, h, w)


def _assignment_summary(queries: Tensor, trajectory: list[Tensor], h: int, w: int) -> dict:
    """What :func:`memory_assignment` returns, from the normalised queries ``[T, h*w, C]``
    and the items after each update."""
    num_items, c = trajectory[0].shape
    every = queries.reshape(-1, c)  # [T*h*w, C]

    def usage(it: Tensor) -> np.ndarray:
        return torch.bincount(nearest_items(every, it), minlength=num_items).numpy()

    traj = torch.stack(trajectory).numpy()  # [steps + 1, M, C]
    final_usage = usage(trajectory[-1])
    return {
        "assignment_start": nearest_items(queries[0], trajectory[0]).reshape(h, w).numpy(),
        "assignment": nearest_items(queries[0], trajectory[-1]).reshape(h, w).numpy(),
        "usage_start": usage(trajectory[0]),
        "usage": final_usage,
        "trajectory": traj,
        "pca": pca_2d(traj),
        "moved": np.linalg.norm(traj[-1] - traj[0], axis=1).astype(np.float32),
        "distinct": int((final_usage > 0).sum()),
        "num_items": num_items,
    }


def _item_colors(num_items: int) -> list:
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if num_items <= 10 else "tab20"]
    return [cmap(m % cmap.N) for m in range(num_items)]


def plot_memory_assignment(
    result: dict[str, Any], title: str = "", frame: Any = None, figsize=None
):
    """Assignment before and after the updates, item usage, item trajectories.

    ``frame`` (optional, ``[H, W]`` gray, e.g. the last input frame of frame 0) is shown
    first, so the assignment map can be compared with the scene.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    m = result["num_items"]
    colors = _item_colors(m)
    cmap = ListedColormap(colors)
    steps = result["trajectory"].shape[0] - 1
    panels = 4 if frame is None else 5
    fig, axes = plt.subplots(1, panels, figsize=figsize or (3 * panels, 2.8))
    if frame is not None:
        axes[0].imshow(np.asarray(frame), cmap="gray")
        axes[0].set_title("the frame (clip 0)", fontsize=9)
        axes[0].set_xticks([])
        axes[0].set_yticks([])
        axes = axes[1:]
    for ax, key, name in (
        (axes[0], "assignment_start", "initial items"),
        (axes[1], "assignment", f"after {steps} updates"),
    ):
        ax.imshow(result[key], cmap=cmap, vmin=-0.5, vmax=m - 0.5, interpolation="nearest")
        ax.set_title(f"nearest item per query\n({name})", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    x = np.arange(m)
    axes[2].bar(x - 0.2, result["usage_start"], 0.4, color="lightgray", label="initial")
    axes[2].bar(x + 0.2, result["usage"], 0.4, color=colors, label=f"after {steps}")
    axes[2].set_title(f"item usage ({result['distinct']} of {m} used)", fontsize=9)
    axes[2].set_xlabel("item m", fontsize=8)
    axes[2].legend(fontsize=7)
    pca = result["pca"]
    for i in range(m):
        axes[3].plot(pca[:, i, 0], pca[:, i, 1], "-", color=colors[i], lw=1)
        axes[3].plot(pca[0, i, 0], pca[0, i, 1], "o", color=colors[i], ms=3)
        axes[3].plot(pca[-1, i, 0], pca[-1, i, 1], "x", color=colors[i], ms=6)
    axes[3].set_title("items drifting (PCA; o start, x end)", fontsize=9)
    for ax in axes[2:]:
        ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _show(fig) -> None:
    """Display a figure inside the widget's output area and release it."""
    import matplotlib.pyplot as plt
    from IPython.display import display

    display(fig)
    plt.close(fig)


def memory_widget(
    query_maps: Tensor,
    steps: int = 12,
    seed: int = 0,
    frame: Any = None,
    show: bool = True,
    num_items: int = 10,
):
    """Sliders over num_items M (starting at ``num_items``), weight_norm and the number of
    updates.

    Returns an ``ipywidgets.interactive``; its ``.result`` is the latest
    :func:`memory_assignment` dict. ``frame`` is passed to
    :func:`plot_memory_assignment`; ``show=False`` skips drawing (for tests).
    """
    import ipywidgets as widgets

    def draw(num_items: int, weight_norm: str, steps: int) -> dict[str, Any]:
        result = memory_assignment(query_maps, num_items, weight_norm, steps, seed)
        if show:
            title = f"M = {num_items}, weight_norm = {weight_norm}"
            _show(plot_memory_assignment(result, title, frame))
        return result

    return widgets.interactive(
        draw,
        num_items=widgets.IntSlider(value=num_items, min=1, max=20, description="M (items)"),
        weight_norm=widgets.Dropdown(options=list(WEIGHT_NORMS), value="all"),
        steps=widgets.IntSlider(value=steps, min=0, max=60, description="updates"),
    )


# --- 03: the memory losses on the unit circle ------------------------------------------------


def _used_min_distance(queries: Tensor, items: Tensor) -> Tensor:
    """Smallest distance between two items that some query picks (Eq. 11); nan if < 2."""
    used = torch.unique(nearest_items(queries, items))
    if len(used) < 2:
        return torch.tensor(math.nan, dtype=torch.float64)
    return item_distances(items[used]).min()


def toy_anchors(num_queries: int = 48, clusters: int = 3, spread: float = 0.35, seed: int = 0):
    """Toy "encoder outputs": ``[N, 2]`` unit vectors around ``clusters`` normal patterns.

    The clusters' angles are evenly spaced with a random offset; each query's angle is its
    cluster's plus Gaussian noise of std ``spread`` radians.
    """
    g = torch.Generator().manual_seed(seed)
    offset = float(torch.rand(1, generator=g)) * 2 * math.pi
    centres = offset + torch.arange(clusters) * 2 * math.pi / clusters
    angles = centres[torch.arange(num_queries) % clusters]
    angles = angles + spread * torch.randn(num_queries, generator=g)
    return torch.stack([angles.cos(), angles.sin()], dim=1)


def _toy_descent(
    anchors: Tensor,
    raw: Tensor,
    memory: Memory,
    lambdas: tuple[float, float],
    steps: int,
    lr: float,
) -> tuple[Tensor, Tensor, dict[str, list[float]]]:
    """``steps`` of Adam on Eq. 8 for the free queries ``raw`` (the memory updates its
    items after each step): queries ``[S+1, N, 2]``, items ``[S+1, M, 2]``, the terms."""
    optimizer = torch.optim.Adam([raw], lr=lr)
    queries, items = [F.normalize(anchors, dim=1)], [memory.items.clone()]
    terms: dict[str, list[float]] = {"loss": [], "rec": [], "compact": [], "separate": []}
    for _ in range(steps):
        mem = memory(raw.t().reshape(1, 2, 1, len(anchors)))  # [B=1, C=2, 1, N]; updates
        q = flatten_queries(mem.queries)  # normalised queries [N, 2]
        out = ModelOutput(prediction=q, queries=mem.queries, memory=mem)
        loss = total_loss(out, anchors, *lambdas)  # Eq. 8
        optimizer.zero_grad()
        loss["loss"].backward()
        optimizer.step()
        for key, value in loss.items():
            terms[key].append(float(value.detach()))
        queries.append(F.normalize(raw.detach(), dim=1))
        items.append(memory.items.clone())
    return torch.stack(queries), torch.stack(items), terms


def toy_losses(
    lambda_compact: float = 0.1,
    lambda_separate: float = 0.1,
    steps: int = 100,
    seed: int = 0,
    num_items: int = 6,
    num_queries: int = 48,
    clusters: int = 3,
    lr: float = 0.05,
    weight_norm: str = "all",
    margin: float = 1.0,
) -> dict[str, Any]:
    """Eq. 8 in two dimensions: queries trained by gradient descent, items by the update.

    ``num_queries`` free 2-D vectors start at :func:`toy_anchors` (the "normal patterns")
    and Adam minimises :func:`mnad_lite.losses.total_loss` (Eq. 8), with ``L_rec`` the
    mean squared distance of the queries to their anchors (what the decoder needs). A
    :class:`mnad_lite.memory.Memory` with ``feat_dim = 2`` normalises the queries onto the
    unit circle, computes the two memory losses (``margin`` is α of Eq. 12) and, after
    each step, updates its items (Eqs. 3-5, ``weight_norm`` as in
    :func:`mnad_lite.memory.update`); items never get gradients.

    Returns numpy arrays: ``anchors`` ``[N, 2]``; ``queries`` ``[S+1, N, 2]`` and ``items``
    ``[S+1, M, 2]`` (before each step and at the end); ``loss``, ``rec``, ``compact``,
    ``separate`` ``[S]`` (Eq. 8's terms); ``item_min_distance`` ``[S+1]`` (closest two
    picked items; nan below two), ``query_item_distance`` ``[S+1]`` (mean query to
    nearest item); ``nearest`` ``[N]``; and ``lambda_compact``, ``lambda_separate``,
    ``num_items``.
    """
    if num_items < 2:
        raise MNADError(f"the separateness loss needs num_items >= 2, got {num_items}")
    with one_thread():
        anchors = toy_anchors(num_queries, clusters, seed=seed)  # [N, 2]
        raw = anchors.clone().requires_grad_(True)  # the "encoder output", trained
        memory = Memory(
            num_items,
            2,
            weight_norm=weight_norm,
            margin=margin,
            generator=torch.Generator().manual_seed(seed),
        ).train()
        lambdas = (float(lambda_compact), float(lambda_separate))
        q_all, p_all, terms = _toy_descent(anchors, raw, memory, lambdas, steps, lr)
        nearest = nearest_items(q_all[-1], p_all[-1])  # Eq. 11
        near_d = torch.stack(
            [feature_distance(q, p, form="paper")[0] for q, p in zip(q_all, p_all, strict=True)]
        )
        min_d = torch.stack([_used_min_distance(q, p) for q, p in zip(q_all, p_all, strict=True)])
    return {
        "anchors": anchors.numpy(),
        "queries": q_all.numpy(),
        "items": p_all.numpy(),
        **{k: np.asarray(v, dtype=np.float32) for k, v in terms.items()},
        "item_min_distance": min_d.float().numpy(),
        "query_item_distance": near_d.numpy(),
        "nearest": nearest.numpy(),
        "lambda_compact": float(lambda_compact),
        "lambda_separate": float(lambda_separate),
        "num_items": num_items,
    }


def plot_toy_circle(result: dict[str, Any], ax: Any, title: str | None = None) -> None:
    """The unit circle of a :func:`toy_losses` result on one axis.

    Gray: the anchors (drawn at radius 1.12); dots: the final queries, coloured by their
    nearest item; lines: the item paths (drawn at radius 0.8, o start, * end).
    """
    m = result["num_items"]
    colors = _item_colors(m)
    t = np.linspace(0, 2 * np.pi, 200)
    ax.plot(np.cos(t), np.sin(t), color="0.85", lw=1)
    a, q, p = result["anchors"], result["queries"][-1], result["items"]
    ax.scatter(a[:, 0] * 1.12, a[:, 1] * 1.12, s=5, color="0.6")
    ax.scatter(q[:, 0], q[:, 1], s=10, c=[colors[i] for i in result["nearest"]])
    for i in range(m):
        ax.plot(p[:, i, 0] * 0.8, p[:, i, 1] * 0.8, "-", color=colors[i], lw=1)
        ax.plot(p[0, i, 0] * 0.8, p[0, i, 1] * 0.8, "o", color=colors[i], ms=3)
        ax.plot(p[-1, i, 0] * 0.8, p[-1, i, 1] * 0.8, "*", color=colors[i], ms=9, mec="k", mew=0.5)
    ax.set_aspect("equal")
    ax.set_xlim(-1.25, 1.25)
    ax.set_ylim(-1.25, 1.25)
    ax.set_xticks([])
    ax.set_yticks([])
    if title is None:
        title = f"λ_c = {result['lambda_compact']:g}, λ_s = {result['lambda_separate']:g}"
    ax.set_title(title, fontsize=9)


def plot_toy_losses(result: dict[str, Any], figsize=(11, 3.3)):
    """Three panels: the circle (:func:`plot_toy_circle`), the loss terms, the distances."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=figsize, gridspec_kw={"width_ratios": [1, 1, 1]})
    plot_toy_circle(result, axes[0], "gray: anchors, dots: queries,\nlines: item paths (o → *)")
    steps = np.arange(len(result["loss"]))
    for key, style in (("rec", "-"), ("compact", "--"), ("separate", ":")):
        axes[1].plot(steps, np.maximum(result[key], 1e-6), style, label=key)
    axes[1].set_yscale("log")
    axes[1].set_title("terms of Eq. 8", fontsize=9)
    axes[1].set_xlabel("step", fontsize=8)
    axes[1].legend(fontsize=7)
    steps1 = np.arange(len(result["item_min_distance"]))
    axes[2].plot(steps1, result["item_min_distance"], label="closest two used items")
    axes[2].plot(steps1, result["query_item_distance"], label="query to nearest item (mean)")
    axes[2].set_ylim(0, None)
    axes[2].set_title("distances", fontsize=9)
    axes[2].set_xlabel("step", fontsize=8)
    axes[2].legend(fontsize=7)
    for ax in axes[1:]:
        ax.tick_params(labelsize=7)
    fig.suptitle(
        f"λ_c = {result['lambda_compact']:g}, λ_s = {result['lambda_separate']:g}, "
        f"M = {result['num_items']}",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def toy_widget(
    steps: int = 100,
    seed: int = 0,
    show: bool = True,
    lambda_compact: float = 0.1,
    lambda_separate: float = 0.1,
):
    """Sliders over λ_c, λ_s (starting at the given values) and the number of items of the
    toy of :func:`toy_losses`.

    Returns an ``ipywidgets.interactive``; its ``.result`` is the latest
    :func:`toy_losses` dict. ``show=False`` skips drawing (for tests).
    """
    import ipywidgets as widgets

    def draw(lambda_compact: float, lambda_separate: float, num_items: int) -> dict[str, Any]:
        result = toy_losses(lambda_compact, lambda_separate, steps, seed, num_items)
        if show:
            _show(plot_toy_losses(result))
        return result

    def slider(name: str, value: float) -> Any:
        return widgets.FloatSlider(value=value, min=0.0, max=2.0, step=0.05, description=name)

    return widgets.interactive(
        draw,
        lambda_compact=slider("λ_c", lambda_compact),
        lambda_separate=slider("λ_s", lambda_separate),
        num_items=widgets.IntSlider(value=6, min=2, max=12, description="M (items)"),
    )


# --- 05: λ (Eq. 16) and γ (Eq. 7) from stored per-frame scores -------------------------------


def score_choices(
    psnr: np.ndarray,
    distance: np.ndarray,
    regular: np.ndarray,
    labels: np.ndarray,
    video_ids: np.ndarray,
    lambda_score: float = 0.6,
    gamma: float = 0.01,
) -> dict[str, Any]:
    """What λ and γ change, recomputed from stored per-frame values (no model, no rescoring).

    ``psnr`` P_t (Eq. 14), ``distance`` D_t (Eq. 15) and ``regular`` ε_t (Eqs. 6-7) are the
    ``[N]`` arrays of :class:`mnad_lite.engine.inference.FrameScores`, with ``labels`` and
    ``video_ids``. The frame AUC (paper protocol) is exact for any λ, since S_t (Eq. 16)
    only mixes P_t and D_t. For γ this shows which frames *would* update the memory
    (ε_t < γ) given the stored ε_t; a real re-run with that γ would also change the items
    after each update, and so the D_t and ε_t of later frames.

    Returns:
        ``lambdas`` ``[21]`` and ``aucs`` ``[21]`` (AUC in % over λ = 0, 0.05 ... 1);
        ``auc`` (at ``lambda_score``); ``would_update`` bool ``[N]``; ``updates_normal``,
        ``updates_anomalous`` (counts); ``lambda_score``, ``gamma``; ``regular``, ``labels``.
    """
    from mnad_lite.metrics import frame_auc
    from mnad_lite.scoring import anomaly_score

    labels = np.asarray(labels)

    def auc(lam: float) -> float:
        return 100 * frame_auc(anomaly_score(psnr, distance, video_ids, float(lam)), labels)

    lambdas = np.round(np.linspace(0, 1, 21), 2)
    would = np.asarray(regular) < gamma
    return {
        "lambdas": lambdas,
        "aucs": np.array([auc(lam) for lam in lambdas]),
        "auc": auc(lambda_score),
        "would_update": would,
        "updates_normal": int((would & (labels == 0)).sum()),
        "updates_anomalous": int((would & (labels == 1)).sum()),
        "lambda_score": float(lambda_score),
        "gamma": float(gamma),
        "regular": np.asarray(regular),
        "labels": labels,
    }


def plot_score_choices(result: dict[str, Any], reference_gamma: float | None = None):
    """Two panels: the AUC over λ (the chosen λ marked), and the ε_t of normal and
    anomalous test frames against γ (``reference_gamma``, e.g. the one chosen on training
    videos, dotted)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.0))
    ax = axes[0]
    ax.plot(result["lambdas"], result["aucs"], "-o", ms=3, color="0.4")
    ax.plot([result["lambda_score"]], [result["auc"]], "o", ms=9, color="tab:red")
    ax.set(xlabel="λ (Eq. 16): weight of the PSNR term", ylabel="frame AUC, paper protocol (%)")
    ax.set_title(f"λ = {result['lambda_score']:g}: AUC {result['auc']:.2f} %", fontsize=9)
    ax = axes[1]
    reg, lab = result["regular"], result["labels"]
    bins = np.geomspace(max(reg.min(), 1e-6), reg.max(), 40)
    ax.hist(reg[lab == 0], bins=bins, alpha=0.6, label="normal test frames")
    ax.hist(reg[lab == 1], bins=bins, alpha=0.6, label="anomalous test frames")
    ax.axvline(result["gamma"], color="k", ls="--", label=f"γ = {result['gamma']:.4g}")
    if reference_gamma is not None:
        ax.axvline(
            reference_gamma,
            color="tab:green",
            ls=":",
            label=f"from training: {reference_gamma:.4g}",
        )
    ax.set(xscale="log", xlabel="regular score ε_t (Eqs. 6-7)", ylabel="frames")
    ax.set_title(
        f"would update: {result['updates_normal']} normal, "
        f"{result['updates_anomalous']} anomalous frames",
        fontsize=9,
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def score_widget(
    scores: Any,
    lambda_score: float = 0.6,
    gamma: float = 0.01,
    reference_gamma: float | None = None,
    show: bool = True,
):
    """Sliders over λ (Eq. 16) and log10 γ (Eq. 7) on stored ``FrameScores``.

    Returns an ``ipywidgets.interactive``; its ``.result`` is the latest
    :func:`score_choices` dict. ``show=False`` skips drawing (for tests).
    """
    import ipywidgets as widgets

    def draw(lambda_score: float, log10_gamma: float) -> dict[str, Any]:
        result = score_choices(
            scores.psnr,
            scores.distance,
            scores.regular,
            scores.labels,
            scores.video_ids,
            lambda_score,
            10.0**log10_gamma,
        )
        if show:
            _show(plot_score_choices(result, reference_gamma))
        return result

    return widgets.interactive(
        draw,
        lambda_score=widgets.FloatSlider(
            value=lambda_score, min=0.0, max=1.0, step=0.05, description="λ"
        ),
        log10_gamma=widgets.FloatSlider(
            value=round(math.log10(gamma), 2), min=-4.0, max=-0.5, step=0.05, description="log10 γ"
        ),
    )


class WithPicture:
    """A widget that carries a static picture of its default setting.

    Displayed, it offers both the widget view and an ``image/png``: a live front end
    shows the widget; a static one (GitHub, the course site, after
    ``scripts/clean_notebooks.py`` removed the widget view) shows the picture.
    """

    def __init__(self, widget: Any, fig: Any) -> None:
        import base64
        import io

        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
        plt.close(fig)
        self.widget = widget
        self.png = base64.b64encode(buf.getvalue()).decode()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = self.widget._repr_mimebundle_() or {}
        if isinstance(bundle, tuple):
            bundle = bundle[0]
        bundle = dict(bundle)
        bundle["text/plain"] = "(interactive widget; the picture shows its default setting)"
        bundle["image/png"] = self.png
        return bundle


def with_picture(widget: Any, fig: Any) -> WithPicture:
    """``widget`` with a static ``fig`` of its default setting (see :class:`WithPicture`)."""
    return WithPicture(widget, fig)
