"""A study's summary: every finished run collected into ``summary.json``, ``.md`` and
``.png``, with mean, standard deviation and every seed's value of the evaluation choices,
the memory diagnostics, the per-kind AUCs and each variant's paired difference against the
reference (a bootstrap interval over test videos); the compact form that is committed
(``docs/studies/<name>-summary.json``) and its merge with a study folder that lost runs."""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from mnad_lite.errors import ConfigError, DataError
from mnad_lite.files import write_json, write_text_atomic
from mnad_lite.metrics import rank_auc
from mnad_lite.research.grids import StudySpec, run_dir, stored_spec
from mnad_lite.research.text import KIND_TERMS, markdown

#: The per-run numbers the summary reports (keys of eval.json), in order.
METRICS = ("frame_auc", "frame_auc_global", "frame_auc_macro", "psnr_auc", "distance_auc", "eer")

#: Memory diagnostics of the last training epoch (keys of log.jsonl).
DIAGNOSTICS = ("items_used", "usage_entropy", "cos_nearest", "max_read_weight", "hinge_active")

BOOTSTRAP = 2000  # resamples of the test videos

CONFIDENCE = 0.95


def _stats(values: list[float]) -> dict[str, Any]:
    arr = np.array([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if arr.size == 0:
        return {"mean": None, "std": None, "n": 0, "values": values}
    std = float(arr.std(ddof=1)) if arr.size > 1 else None
    return {"mean": float(arr.mean()), "std": std, "n": int(arr.size), "values": values}


def paired_bootstrap(
    variant_scores: list[dict[str, np.ndarray]],
    reference_scores: list[dict[str, np.ndarray]],
    resamples: int = BOOTSTRAP,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> dict[str, Any]:
    """Mean over seeds of AUC(variant) - AUC(reference), with a bootstrap interval.

    Each element of the lists is one seed's per-frame scores (``scores.csv`` columns
    video, frame, label, score), variant and reference paired by seed. The test videos
    are resampled with replacement (the same resample for every seed and both
    variants); a frame keeps its per-video normalised score. Resamples with one class
    only are dropped.
    """
    for v, r in zip(variant_scores, reference_scores, strict=True):
        if not (np.array_equal(v["video"], r["video"]) and np.array_equal(v["frame"], r["frame"])):
            raise ConfigError("paired runs scored different frames; cannot compare them")
    videos = np.unique(reference_scores[0]["video"])
    members = [[np.flatnonzero(r["video"] == name) for name in videos] for r in reference_scores]

    def diff(indices_per_seed: list[np.ndarray]) -> float | None:
        out = []
        for v, r, idx in zip(variant_scores, reference_scores, indices_per_seed, strict=True):
            labels = r["label"][idx]
            if labels.min() == labels.max():
                return None
            out.append(rank_auc(labels, v["score"][idx]) - rank_auc(labels, r["score"][idx]))
        return float(np.mean(out))

    point = diff([np.arange(len(r["label"])) for r in reference_scores])
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(resamples):
        pick = rng.integers(0, len(videos), len(videos))
        d = diff([np.concatenate([m[i] for i in pick]) for m in members])
        if d is not None:
            draws.append(d)
    lo, hi = np.quantile(draws, [(1 - confidence) / 2, (1 + confidence) / 2])
    return {
        "mean_diff": point,
        "ci": [float(lo), float(hi)],
        "confidence": confidence,
        "resamples": len(draws),
        "seeds": len(variant_scores),
    }


def _run_numbers(report: dict[str, Any], weights: Path) -> dict[str, Any]:
    """One finished run's numbers: the metrics of ``eval.json``, the training time and the
    last epoch's diagnostics (``weights/log.jsonl``), its probes, its per-kind AUCs."""
    log = [json.loads(x) for x in (weights / "log.jsonl").read_text().splitlines() if x]
    numbers = {
        **{k: report.get(k) for k in METRICS},
        "memory_updates": report.get("memory_updates"),
        "train_minutes": sum(e["seconds"] for e in log) / 60,
        "epochs": len(log),
        **{k: log[-1].get(k) for k in DIAGNOSTICS if log},
    }
    probe_path = weights / "probe.json"
    if probe_path.is_file():
        for cut, entry in json.loads(probe_path.read_text())["probes"].items():
            if cut != "base":
                numbers[f"probe_{cut}_auc_change"] = entry.get("auc_change")
                numbers[f"probe_{cut}_change_ratio"] = entry.get("change_ratio")
    numbers["per_kind"] = _per_kind_of(report)
    return numbers


def _variant_entry(spec: StudySpec, v: Any, per_seed: dict[int, dict[str, Any]]) -> dict:
    """A variant's summary: its definition, every run and the statistics over seeds."""
    seeds = sorted(per_seed)
    probe_keys = sorted({k for r in per_seed.values() for k in r if k.startswith("probe_")})
    keys = (*METRICS, "train_minutes", *DIAGNOSTICS, *probe_keys)
    return {
        "note": v.note,
        "beyond_paper": v.beyond_paper,
        "config": spec.config(v, seeds[0]).to_dict() | {"seed": None},
        "evaluate": v.evaluate,
        "weights_from": v.weights_from,
        "seeds": seeds,
        "runs": {str(s): per_seed[s] for s in seeds},
        **{k: _stats([per_seed[s].get(k) for s in seeds]) for k in keys},
        "per_kind": _per_kind_stats([per_seed[s]["per_kind"] for s in seeds]),
    }


def _versus_reference(
    variants: dict[str, Any], scores: dict[str, dict[int, dict]], reference: str
) -> None:
    """Add ``vs_reference`` to every variant: the paired bootstrap against the reference
    on their common seeds, each seed's difference and the reference runs paired."""
    ref = scores.get(reference, {})
    for name, entry in variants.items():
        mine = scores[name]
        common = sorted(set(mine) & set(ref))
        if name == reference or not common:
            continue
        vs = paired_bootstrap([mine[s] for s in common], [ref[s] for s in common])
        ref_auc = {str(s): variants[reference]["runs"][str(s)]["frame_auc"] for s in common}
        vs["per_seed"] = {
            str(s): entry["runs"][str(s)]["frame_auc"] - ref_auc[str(s)] for s in common
        }
        # the reference runs this pair used: a committed summary may list other runs of
        # the same seeds (see merge_compact's reruns)
        vs["reference_auc"] = ref_auc
        entry["vs_reference"] = vs


def read_scores_csv(path: str | Path) -> dict[str, np.ndarray]:
    """The columns of a run's ``scores.csv`` as arrays (``label`` -1 where unlabelled)."""
    from mnad_lite.engine.evaluation import SCORE_COLUMNS

    path = Path(path)
    try:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as err:
        raise DataError(f"{path}: cannot read the scores ({err.strerror})") from None
    if rows and not set(SCORE_COLUMNS) <= set(rows[0]):
        raise DataError(f"{path}: not a scores.csv (columns {sorted(rows[0])})")
    out: dict[str, np.ndarray] = {
        "video": np.array([r["video"] for r in rows], dtype=object),
        "frame": np.array([int(r["frame"]) for r in rows], dtype=np.int64),
        "label": np.array([int(r["label"]) if r["label"] else -1 for r in rows], np.int64),
        "memory_updated": np.array([int(r["memory_updated"]) for r in rows], dtype=bool),
    }
    for key in ("psnr", "feature_distance", "regular_score", "score", "score_global"):
        out[key] = np.array([float(r[key]) for r in rows], dtype=np.float64)
    if rows and "score_online" in rows[0]:
        out["score_online"] = np.array([float(r["score_online"]) for r in rows], np.float64)
    if rows and "flagged" in rows[0]:
        out["flagged"] = np.array([int(r["flagged"]) for r in rows], dtype=bool)
    return out


def summarize(out: str | Path) -> dict[str, Any]:
    """Collect every finished run of the study in ``out`` into ``summary.json``, ``.md``
    and ``.png``; returns the summary. Its ``pending`` maps each variant with unfinished
    runs (not started, training or not yet scored) to their seeds."""
    import torch

    out = Path(out)
    spec = stored_spec(out)
    variants: dict[str, Any] = {}
    pending: dict[str, list[int]] = {}
    scores: dict[str, dict[int, dict[str, np.ndarray]]] = {}
    for v in spec.variants:
        per_seed: dict[int, dict[str, Any]] = {}
        for seed in spec.seeds_of(v):
            run = run_dir(out, v, seed)
            if not (run / "eval.json").is_file():
                pending.setdefault(v.name, []).append(seed)
                continue
            weights = run_dir(out, spec.variant(v.weights_from), seed) if v.weights_from else run
            per_seed[seed] = _run_numbers(json.loads((run / "eval.json").read_text()), weights)
            scores.setdefault(v.name, {})[seed] = read_scores_csv(run / "scores.csv")
        if per_seed:
            variants[v.name] = _variant_entry(spec, v, per_seed)
    _versus_reference(variants, scores, spec.reference)
    summary = {
        "study": spec.name,
        "preset": spec.preset,
        "reference": spec.reference,
        "date": time.strftime("%Y-%m-%d"),
        # the CPU capability picks the kernels, and so the last bits of every sum
        "machine": (
            f"{platform.machine()} ({torch.backends.cpu.get_cpu_capability()}), "
            f"{os.cpu_count()} cores, torch {torch.__version__}"
        ),
        "variants": variants,
        "pending": pending,
    }
    write_json(out / "summary.json", summary)
    write_text_atomic(out / "summary.md", markdown(summary) + "\n")
    if variants:
        plot(summary, out / "summary.png")
    return summary


def seed_values(
    summary: dict[str, Any], variant: str, term: str, kind: str | None = None
) -> dict[int, float]:
    """``{seed: value}`` of one statistic of a variant: ``term`` (``"frame_auc"``,
    ``"distance_auc"`` ...) or, with ``kind``, the per-kind AUC ``per_kind[term][kind]``
    (``"grass_walker"``); seeds without a value are left out (empty if none)."""
    v = summary["variants"][variant]
    stats = v.get("per_kind", {}).get(term, {}).get(kind) if kind else v.get(term)
    if not stats:
        return {}
    return {
        int(s): float(x) for s, x in zip(v["seeds"], stats["values"], strict=True) if x is not None
    }


def seed_change(
    summary: dict[str, Any], variant: str, reference: str, term: str, kind: str | None = None
) -> dict[str, Any]:
    """How one statistic changes from ``reference`` to ``variant``, paired seed by seed.

    Only the seeds both variants report are paired (see :func:`seed_values` for ``term``
    and ``kind``). Returns ``per_seed`` ``{seed: variant - reference}``, ``n``, ``mean``
    and ``std`` of those differences (ddof = 1; None when undefined), ``up`` and ``down``
    (how many seeds rose, fell), and ``variant`` and ``reference``: each one's
    ``{seed: value}`` on the paired seeds. In the summary's unit (AUCs as fractions).
    """
    mine = seed_values(summary, variant, term, kind)
    ref = seed_values(summary, reference, term, kind)
    seeds = sorted(set(mine) & set(ref))
    diffs = [mine[s] - ref[s] for s in seeds]
    stats = _stats(diffs) if diffs else {"mean": None, "std": None}
    return {
        "per_seed": dict(zip(seeds, diffs, strict=True)),
        "n": len(seeds),
        "mean": stats["mean"],
        "std": stats["std"],
        "up": sum(d > 0 for d in diffs),
        "down": sum(d < 0 for d in diffs),
        "variant": {s: mine[s] for s in seeds},
        "reference": {s: ref[s] for s in seeds},
    }


def consistent(change: dict[str, Any], points: float = 1.0) -> bool:
    """Whether a :func:`seed_change` moves every seed the same way by at least ``points``
    (AUCs as fractions: 1 point = 0.01); two seeds at least."""
    d = list(change["per_seed"].values())
    step = points / 100
    return len(d) >= 2 and (all(x >= step for x in d) or all(x <= -step for x in d))


def mean_value(summary: dict[str, Any], variant: str, term: str, kind: str | None = None) -> float:
    """The mean over seeds of :func:`seed_values` (nan when no seed has a value)."""
    values = list(seed_values(summary, variant, term, kind).values())
    return float(np.mean(values)) if values else math.nan


def _round(x: Any, digits: int) -> Any:
    """Every float inside ``x`` (dicts, lists) to ``digits`` significant digits."""
    if isinstance(x, float):
        return float(f"{x:.{digits}g}") if math.isfinite(x) else x
    if isinstance(x, dict):
        return {k: _round(v, digits) for k, v in x.items()}
    if isinstance(x, list):
        return [_round(v, digits) for v in x]
    return x


def compact_summary(summary: dict[str, Any], digits: int = 6) -> dict[str, Any]:
    """A study summary small enough to commit (``docs/studies/<name>-summary.json``).

    Keeps the header (study, preset, reference, date, machine, and ``pending``, the
    grid's unfinished seeds per variant, when there are any), the reference variant's
    configuration once (``config``) and, per variant: ``note``, ``beyond_paper``,
    ``seeds``, ``config_changes`` (the fields whose value differs from ``config``),
    ``evaluate``, ``weights_from``, every statistic (``mean``, ``std``, ``n`` and each
    seed's value in ``values``, in the order of ``seeds``) of the metrics, diagnostics
    and probes, ``per_kind`` ``{term: {kind: statistic}}`` and ``vs_reference``. Drops
    ``runs`` (each seed's numbers are already the statistics' ``values``) and the full
    configuration of every variant; floats keep ``digits`` significant digits.
    :func:`markdown` and :func:`kind_markdown` read the result as they read ``summary``.
    """
    variants = summary["variants"]
    ref = variants.get(summary["reference"]) or next(iter(variants.values()), {})
    base = ref.get("config", {})
    out_variants = {}
    for name, v in variants.items():
        config = v.get("config", {})
        entry = {
            "note": v.get("note", ""),
            "beyond_paper": v.get("beyond_paper", False),
            "seeds": v["seeds"],
            "config_changes": {k: x for k, x in config.items() if base.get(k) != x},
            "evaluate": v.get("evaluate", {}),
            "weights_from": v.get("weights_from"),
        }
        for key, value in v.items():
            if isinstance(value, dict) and {"mean", "std", "n", "values"} <= set(value):
                entry[key] = value
        entry["per_kind"] = v.get("per_kind", {})
        if "vs_reference" in v:
            entry["vs_reference"] = v["vs_reference"]
        out_variants[name] = entry
    header = {k: summary[k] for k in ("study", "preset", "reference", "date", "machine")}
    if summary.get("pending"):
        header["pending"] = summary["pending"]
    return _round({**header, "config": base, "variants": out_variants}, digits)


def dumps_compact(data: Any, width: int = 100, indent: str = "") -> str:
    """JSON with one line for every dict or list that fits in ``width`` characters (a
    statistic, a seed list), indented lines above them: small and readable in a diff."""
    flat = json.dumps(data, ensure_ascii=False)
    if len(indent) + len(flat) <= width or not isinstance(data, (dict, list)) or not data:
        return flat
    inner = indent + " "
    if isinstance(data, dict):
        parts = [
            f"{inner}{json.dumps(k, ensure_ascii=False)}: "
            + dumps_compact(v, width, inner).lstrip()
            for k, v in data.items()
        ]
        return "{\n" + ",\n".join(parts) + "\n" + indent + "}"
    parts = [inner + dumps_compact(v, width, inner).lstrip() for v in data]
    return "[\n" + ",\n".join(parts) + "\n" + indent + "]"


def _same(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-5)


def _by_seed(entry: dict[str, Any], key: str) -> dict[int, Any]:
    """``{seed: value}`` of one statistic of a compact summary's variant (None when the
    variant lacks it)."""
    values = (entry.get(key) or {}).get("values") or [None] * len(entry["seeds"])
    return dict(zip(entry["seeds"], values, strict=True))


def merge_compact(previous: dict[str, Any], new: dict[str, Any], name: str) -> dict[str, Any]:
    """``new`` (a compact summary) keeping what ``previous`` holds and ``new`` lacks.

    A study folder may lose finished runs (a fresh machine, ``runs/`` wiped) while its
    committed compact summary keeps their numbers. A variant ``new`` lacks is carried
    over from ``previous``; a variant with no seed that ``previous`` lacks keeps
    ``previous``'s entry (whose paired differences may rest on reference runs now gone);
    a variant with new seeds takes ``new``'s entry. ``pending`` drops the seeds carried
    over.

    A kept seed whose run in ``new`` is another run (a different frame AUC or training
    time: trained again, here or on another machine) is recorded in the kept entry's
    ``reruns`` ``{seed: {date, machine, frame_auc, train_minutes}}``, never mixed into its
    statistics: the same seed does not give the same run on another CPU (float rounding
    grows over training), and the report says how far apart the two landed. A variant
    with new seeds whose common seeds disagree cannot be merged that way (its statistics
    would mix runs): ConfigError, ``name`` (the file) in the message.
    """
    merged = {**new, "variants": dict(new["variants"])}
    for variant, old in previous.get("variants", {}).items():
        entry = new["variants"].get(variant)
        if entry is None:
            merged["variants"][variant] = old
        elif set(_by_seed(entry, "frame_auc")) <= set(_by_seed(old, "frame_auc")):
            merged["variants"][variant] = _with_reruns(old, entry, new)
        else:
            _refuse_mixed_runs(old, entry, variant, name)
    # the previous file's order, then the variants new to it
    order = [*previous.get("variants", {}), *new["variants"]]
    merged["variants"] = {v: merged["variants"][v] for v in dict.fromkeys(order)}
    pending = {
        v: [s for s in seeds if s not in merged["variants"].get(v, {}).get("seeds", [])]
        for v, seeds in new.get("pending", {}).items()
    }
    merged.pop("pending", None)
    if any(pending.values()):
        merged = {
            **{k: x for k, x in merged.items() if k not in ("config", "variants")},
            "pending": {v: seeds for v, seeds in pending.items() if seeds},
            "config": merged["config"],
            "variants": merged["variants"],
        }
    return merged


def _refuse_mixed_runs(old: dict, entry: dict, variant: str, name: str) -> None:
    """A variant with new seeds whose common seeds are other runs cannot be merged."""
    before, now = _by_seed(old, "frame_auc"), _by_seed(entry, "frame_auc")
    for s in sorted(set(before) & set(now)):
        if None not in (before[s], now[s]) and not _same(before[s], now[s]):
            raise ConfigError(
                f"{name}: {variant} seed {s} had frame AUC {before[s]:.6f}, the run in "
                f"the study folder {now[s]:.6f}, and the folder has new seeds of it; "
                f"delete {name} to replace its numbers"
            )


def _with_reruns(old: dict, entry: dict, new: dict) -> dict:
    """``old`` kept, with every seed that ``entry`` holds as another run (another frame
    AUC or training time) recorded in ``reruns``."""
    before, now = _by_seed(old, "frame_auc"), _by_seed(entry, "frame_auc")
    minutes_before = _by_seed(old, "train_minutes")
    minutes_now = _by_seed(entry, "train_minutes")
    kept, reruns = dict(old), dict(old.get("reruns", {}))
    for s in sorted(set(before) & set(now)):
        same_run = _same(before[s], now[s]) and (
            minutes_before[s] is None or _same(minutes_before[s], minutes_now[s])
        )
        known = reruns.get(str(s), {})
        recorded = _same(known.get("frame_auc"), now[s]) and _same(
            known.get("train_minutes"), minutes_now[s]
        )
        if not same_run and not recorded:
            reruns[str(s)] = {
                "date": new.get("date"),
                "machine": new.get("machine"),
                "frame_auc": now[s],
                "train_minutes": minutes_now[s],
            }
    if reruns:
        kept["reruns"] = reruns
    return kept


def write_compact_summary(summary_json: str | Path, out: str | Path) -> dict[str, Any]:
    """Read a study's ``summary.json``, write :func:`compact_summary` of it to ``out``;
    with the study's ``choice.json`` (``study --choose``) beside it, as ``choice``. An
    existing ``out`` keeps the runs the study folder no longer holds
    (:func:`merge_compact`)."""
    compact = compact_summary(json.loads(Path(summary_json).read_text()))
    if Path(out).is_file():
        try:
            previous = json.loads(Path(out).read_text())
        except json.JSONDecodeError as err:
            raise ConfigError(f"{out}: not a compact summary ({err})") from None
        compact = merge_compact(previous, compact, str(out))
    choice = Path(summary_json).parent / "choice.json"
    if choice.is_file():
        compact["choice"] = _round(json.loads(choice.read_text()), 6)
    write_text_atomic(Path(out), dumps_compact(compact) + "\n")
    return compact


def _per_kind_of(report: dict[str, Any]) -> dict[str, dict[str, float]]:
    """``{term: {kind: AUC}}`` of one run's eval.json (older reports: the paper's score
    only, from ``per_kind_auc``)."""
    terms = report.get("per_kind_auc_terms") or {"frame_auc": report.get("per_kind_auc") or {}}
    return {t: {k: e["auc"] for k, e in kinds.items()} for t, kinds in terms.items()}


def _per_kind_stats(runs: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, Any]]:
    """``{term: {kind: stats over the seeds}}`` for every term and kind a run reports."""
    out: dict[str, dict[str, Any]] = {}
    for term in [t for t in KIND_TERMS if any(t in r for r in runs)]:
        kinds = sorted({k for r in runs for k in r.get(term, {})})
        out[term] = {k: _stats([r.get(term, {}).get(k) for r in runs]) for k in kinds}
    return out


def plot(summary: dict[str, Any], path: Path) -> Path:
    """Every seed's paper-protocol frame AUC per variant, with mean ± std."""
    from matplotlib.figure import Figure

    names = list(summary["variants"])
    fig = Figure(figsize=(7, 0.5 + 0.45 * len(names)))
    ax = fig.subplots()
    for i, name in enumerate(names):
        stats = summary["variants"][name]["frame_auc"]
        vals = [100 * x for x in stats["values"] if x is not None]
        ax.plot(vals, [i] * len(vals), "o", color="C0", alpha=0.6)
        if stats["std"] is not None:
            m, s = 100 * stats["mean"], 100 * stats["std"]
            ax.errorbar([m], [i], xerr=[s], fmt="|", color="k", capsize=4)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel("frame AUC, paper protocol (%)")
    ax.set_title(f"study {summary['study']}: every seed (dots), mean ± std (bars)", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
