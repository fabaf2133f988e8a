"""A study summary in words: the verdict sentences and the README's block, computed.

Everything here reads a summary (``runs/<study>/summary.json``) or its compact form
(``docs/studies/<study>-summary.json``, :func:`mnad_lite.research.summary.compact_summary`)
and writes text; nothing is measured or decided anywhere else, so the README and
notebook 06 state the same numbers as the file they were computed from.

A verdict on the memory is drawn only when both the reference (``memory``) and the
baseline (``no-memory``) have ``seeds_needed`` seeds. It follows the paired difference
(seed s with memory against seed s without) and its bootstrap interval over the test
videos (:func:`mnad_lite.research.summary.paired_bootstrap`). The interval covers the choice
of test videos, not the training seed, so both must agree: the memory *helps* when the
whole interval says removing it lowers the AUC and so does every seed's own difference,
*hurts* when both say the opposite, and otherwise makes no difference this study can
detect.
"""

from __future__ import annotations

from typing import Any

#: Seeds each of the two variants needs before a verdict is drawn.
SEEDS_NEEDED = 3
#: The scores judged per anomaly kind (keys of eval.json's ``per_kind_auc_terms``) and their
#: labels in summary.md.
KIND_TERMS = {
    "frame_auc": "paper protocol",
    "frame_auc_global": "global min-max",
    "psnr_auc": "PSNR only",
    "distance_auc": "D only",
}
#: Anomaly kinds listed first in summary.md (the rest follow alphabetically).
KINDS_FIRST = ("grass_walker",)


def _num(stat: dict[str, Any] | None, scale: float = 100.0, digits: int = 2) -> str:
    """The text "mean ± std" of a summary statistic (the mean alone for one seed)."""
    if not stat or stat.get("mean") is None:
        return ""
    text = f"{scale * stat['mean']:.{digits}f}"
    if stat.get("std") is not None:
        text += f" ± {scale * stat['std']:.{digits}f}"
    return text


def change_text(change: dict[str, Any]) -> str:
    """A :func:`mnad_lite.research.summary.seed_change` in words, in points: the mean ±
    std and every seed's difference ("+2.1 ± 0.8 points over 3 seeds (seed 0: +1.5, ...)")."""

    def pts(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:+.1f}"

    per_seed = ", ".join(f"seed {s}: {pts(d)}" for s, d in change["per_seed"].items())
    spread = (
        f" ± {100 * change['std']:.1f}" if change["std"] is not None else " (one seed, no spread)"
    )
    return f"{pts(change['mean'])}{spread} points over {change['n']} seeds ({per_seed})"


def _percent(fraction: float) -> str:
    """A fraction in %, with two significant digits below 1 % (0.00089) and three above
    (45.6, 100)."""
    value = 100 * fraction
    return f"{value:.3g}" if value >= 1 else f"{value:.2g}"


def _seeds(values: list[Any], scale: float = 100.0, digits: int = 2) -> str:
    return ", ".join("" if x is None else f"{scale * x:.{digits}f}" for x in values)


def focus(summary: dict[str, Any]) -> str:
    """The variant the sentences describe: the one ``study --choose`` picked when the
    summary holds a choice, else the reference."""
    chosen = (summary.get("choice") or {}).get("chosen")
    return chosen if chosen in summary["variants"] else summary["reference"]


def target_answer(summary: dict[str, Any], target: float, seeds_needed: int = SEEDS_NEEDED) -> str:
    """Whether the focus variant (:func:`focus`) reaches a mean frame AUC (paper
    protocol) of ``target`` % over ``seeds_needed`` seeds, in one sentence opening in
    bold; "Not answered yet" while it has fewer seeds."""
    name = focus(summary)
    v = summary["variants"].get(name)
    seeds = v["seeds"] if v else []
    head = f"**Does {name} reach a mean frame AUC of {target:.1f} % over {seeds_needed} seeds?"
    if len(seeds) < seeds_needed:
        done = f" ({_seeds(v['frame_auc']['values'])})" if seeds else ""
        finished = f"{len(seeds)} of {seeds_needed} seeds have finished{done}"
        return f"{head} Not answered yet**: {finished}."
    mean = 100 * v["frame_auc"]["mean"]
    word, side = ("Yes", "above") if mean >= target else ("No", "below")
    return (
        f"{head} {word}**: {_num(v['frame_auc'])} over seeds {', '.join(map(str, seeds))} "
        f"({_seeds(v['frame_auc']['values'])}), {abs(mean - target):.2f} points {side} it."
    )


def memory_effect(
    summary: dict[str, Any], baseline: str = "no-memory", seeds_needed: int = SEEDS_NEEDED
) -> dict[str, Any]:
    """What the summary says about the memory: seeds finished, the paired difference
    (points, baseline minus reference, i.e. the effect of *removing* the memory), its
    interval, each seed's difference and the word for it.

    ``word`` is "helps", "hurts", "makes no difference this study can detect", or
    None while either variant has fewer than ``seeds_needed`` seeds.
    """
    variants = summary["variants"]
    ref, base = variants.get(summary["reference"]), variants.get(baseline)
    n_ref = len(ref["seeds"]) if ref else 0
    n_base = len(base["seeds"]) if base else 0
    out: dict[str, Any] = {"seeds_reference": n_ref, "seeds_baseline": n_base, "word": None}
    if base is None or "vs_reference" not in base:
        return out
    d = base["vs_reference"]
    lo, hi = (100 * x for x in d["ci"])
    out |= {
        "paired_seeds": d["seeds"],
        "diff": 100 * d["mean_diff"],
        "ci": (lo, hi),
        "confidence": d.get("confidence", 0.95),
        "per_seed": {k: 100 * v for k, v in d.get("per_seed", {}).items()},
    }
    if n_ref >= seeds_needed and n_base >= seeds_needed and d["seeds"] >= seeds_needed:
        seeds = list(out["per_seed"].values())
        if hi < 0 and seeds and max(seeds) < 0:
            out["word"] = "helps"
        elif lo > 0 and seeds and min(seeds) > 0:
            out["word"] = "hurts"
        else:
            out["word"] = "makes no difference this study can detect"
    return out


def answer(
    summary: dict[str, Any], baseline: str = "no-memory", seeds_needed: int = SEEDS_NEEDED
) -> str | None:
    """The answer to "does the memory help?" in one plain sentence, opening in bold, from
    :func:`memory_effect`; None for a study without the baseline variant."""
    effect = memory_effect(summary, baseline, seeds_needed)
    if baseline not in summary["variants"]:
        return None
    word = effect["word"]
    if word is None:
        return (
            f"**Does the memory help? Not answered yet**: {effect['seeds_reference']} of "
            f"{seeds_needed} seeds with memory and {effect['seeds_baseline']} of {seeds_needed} "
            "without have finished."
        )
    diff, (lo, hi) = effect["diff"], effect["ci"]
    seeds = ", ".join(f"{v:+.2f}" for v in effect["per_seed"].values())
    interval = f"{100 * effect['confidence']:.0f} % interval over test videos"
    if word == "helps":
        head = "Yes"
    elif word == "hurts":
        head = "No, it hurts"
    else:
        signs = {v > 0 for v in effect["per_seed"].values()}
        why = []
        if lo <= 0 <= hi:
            why.append(f"the {interval} ({lo:+.2f} to {hi:+.2f}) includes 0")
        if len(signs) > 1 or 0 in effect["per_seed"].values():
            why.append("the seeds disagree in sign")
        if not why:  # a summary without per-seed differences
            why.append("no seed's own difference is recorded")
        return (
            f"**Does the memory help? Not detectably**: removing it changes the frame AUC by "
            f"{diff:+.2f} points on average over {effect['paired_seeds']} paired seeds "
            f"({seeds}), but {' and '.join(why)}."
        )
    return (
        f"**Does the memory help? {head}**: removing it changes the frame AUC by {diff:+.2f} "
        f"points on average, in every one of the {effect['paired_seeds']} paired seeds ({seeds}) "
        f"and across the whole {interval} ({lo:+.2f} to {hi:+.2f})."
    )


#: Other (with memory, without memory, where) pairs of a grid that answer the same
#: question under another condition; ``verdict`` states each pair whose runs finished.
MEMORY_PAIRS = (("no-deep-skip", "no-deep-skip-no-memory", "Without the deepest skip"),)


def pair_line(summary: dict[str, Any], with_memory: str, without: str, where: str) -> str | None:
    """One sentence on a memory / no-memory pair other than the reference and its baseline:
    the difference seed by seed (``without`` minus ``with_memory``, same seeds), set
    against the reference's spread over seeds, which a pair with fewer seeds cannot
    separate from; None until both have a seed in common."""
    variants = summary["variants"]
    a, b = variants.get(with_memory), variants.get(without)
    if a is None or b is None:
        return None
    auc_a = dict(zip(a["seeds"], a["frame_auc"]["values"], strict=True))
    auc_b = dict(zip(b["seeds"], b["frame_auc"]["values"], strict=True))
    common = [s for s in a["seeds"] if s in auc_b and None not in (auc_a[s], auc_b[s])]
    if not common:
        return None
    diffs = [100 * (auc_b[s] - auc_a[s]) for s in common]
    mean = sum(diffs) / len(diffs)
    text = (
        f"{where} ({with_memory} against {without}), removing the memory changes the frame "
        f"AUC by {mean:+.2f} points over {len(common)} seed(s) (seed by "
        "seed: "
        + ", ".join(
            f"{d:+.2f}, {100 * auc_a[s]:.2f} with and {100 * auc_b[s]:.2f} without"
            for s, d in zip(common, diffs, strict=True)
        )
        + ")"
    )
    ref = variants.get(summary["reference"])
    spread = (ref or {}).get("frame_auc", {}).get("std")
    if spread is not None and len(common) < SEEDS_NEEDED:
        std = 100 * spread
        seeds = f"{len(common)} seed{'s' if len(common) > 1 else ''}"
        if abs(mean) <= 2 * std:
            text += (
                f"; that is within twice the seed-to-seed standard deviation of "
                f"{summary['reference']}'s frame AUC ({std:.2f} points), so {seeds} cannot "
                "tell it from training noise"
            )
        else:
            text += (
                f"; that is more than twice the seed-to-seed standard deviation of "
                f"{summary['reference']}'s frame AUC ({std:.2f} points), but rests on {seeds}"
            )
    return text + "."


def paired_with_rerun(summary: dict[str, Any], name: str) -> list[int]:
    """The seeds on which variant ``name`` was paired with a run of the reference other
    than the one the summary lists (a rerun, :func:`mnad_lite.research.summary.merge_compact`):
    its ``vs_reference`` names the reference AUCs it used, and they differ."""
    v = summary["variants"][name]
    used = (v.get("vs_reference") or {}).get("reference_auc") or {}
    ref = summary["variants"].get(summary["reference"])
    if not used or ref is None:
        return []
    listed = dict(zip(ref["seeds"], ref["frame_auc"]["values"], strict=True))
    return sorted(
        int(s)
        for s, auc in used.items()
        if listed.get(int(s)) is not None and abs(auc - listed[int(s)]) > 1e-5 * abs(auc)
    )


def rerun_lines(summary: dict[str, Any]) -> list[str]:
    """One sentence per run trained again (a variant's ``reruns``): its frame AUC against
    the first run of that seed, set against the reference's seed-to-seed spread, both
    training times, and which variants were paired with it."""
    variants = summary["variants"]
    ref = summary["reference"]
    spread = (variants.get(ref) or {}).get("frame_auc", {}).get("std")
    lines = []
    for name, v in variants.items():
        if not v.get("reruns"):
            continue
        first = dict(zip(v["seeds"], v["frame_auc"]["values"], strict=True))
        minutes = dict(
            zip(v["seeds"], (v.get("train_minutes") or {}).get("values") or [], strict=False)
        )
        for seed, rerun in sorted(v.get("reruns", {}).items(), key=lambda kv: int(kv[0])):
            was = first[int(seed)]
            diff = 100 * (rerun["frame_auc"] - was)
            text = (
                f"{name} seed {seed} was trained again on {rerun['date']} ({rerun['machine']}) "
                f"with the same configuration and seed: frame AUC {100 * rerun['frame_auc']:.2f} "
                f"against {100 * was:.2f} the first time"
            )
            if abs(diff) < 0.005:
                text += ", the same to two decimals"
            else:
                text += (
                    f" ({diff:+.2f} points). Training is deterministic on one machine and "
                    "code version, not across them: another CPU or version changes the last "
                    "bits of sums, and training amplifies them"
                )
                if spread is not None:
                    std = 100 * spread
                    text += (
                        f"; the difference is {'within' if abs(diff) <= 2 * std else 'more than'}"
                        f" twice the seed-to-seed standard deviation of {ref}'s frame AUC "
                        f"({std:.2f} points)"
                    )
            if rerun.get("train_minutes") is not None and minutes.get(int(seed)) is not None:
                text += (
                    f". It trained in {rerun['train_minutes']:.0f} min against "
                    f"{minutes[int(seed)]:.0f}: the minutes of a run depend on the machine and "
                    "on what ran beside it, not only on the variant"
                )
            paired = [
                n for n in variants if n != name and int(seed) in paired_with_rerun(summary, n)
            ]
            text += ". The table keeps the first run"
            if name == ref and paired:
                text += (
                    f"; {', '.join(paired)} {'was' if len(paired) == 1 else 'were'} trained "
                    f"beside the rerun and {'is' if len(paired) == 1 else 'are'} compared "
                    "with it"
                )
            lines.append(text + ".")
    return lines


def few_seeds_line(summary: dict[str, Any], seeds_needed: int = SEEDS_NEEDED) -> str | None:
    """One sentence on the variants with fewer than ``seeds_needed`` seeds: each one's
    difference from the reference on the same seed(s) (points, variant minus reference),
    and which of them exceed twice the reference's seed-to-seed standard deviation, the
    least a difference resting on one seed must clear before it says more than training
    noise; None when there is no such variant or the reference has no spread yet."""
    variants = summary["variants"]
    ref = summary["reference"]
    spread = (variants.get(ref) or {}).get("frame_auc", {}).get("std")
    few = {
        name: 100 * v["vs_reference"]["mean_diff"]
        for name, v in variants.items()
        if name != ref and len(v["seeds"]) < seeds_needed and "vs_reference" in v
    }
    if spread is None or not few:
        return None
    std = 100 * spread

    def against(name: str) -> str:
        rerun = paired_with_rerun(summary, name)
        return f", against {ref}'s rerun" if rerun else ""

    listed = ", ".join(
        f"{name}{' (beyond the paper)' if variants[name].get('beyond_paper') else ''} "
        f"{diff:+.2f} (seed{'s' if len(variants[name]['seeds']) > 1 else ''} "
        f"{', '.join(map(str, variants[name]['seeds']))}{against(name)})"
        for name, diff in few.items()
    )
    clear = [name for name, diff in few.items() if abs(diff) > 2 * std]
    if len(few) == 1:
        last = (
            "the difference is more than twice that"
            if clear
            else "the difference is not more than twice that, so it cannot be told from "
            "training noise"
        )
    elif not clear:
        last = "none of them is more than twice that, so none can be told from training noise"
    elif len(clear) == len(few):
        last = "all of them are more than twice that"
    else:
        last = f"only {', '.join(clear)} {'is' if len(clear) == 1 else 'are'} more than twice that"
    return (
        f"With fewer than {seeds_needed} seeds, against {ref} on the same seed(s), frame AUC "
        f"in points: {listed}. The seed-to-seed standard deviation of {ref}'s frame AUC is "
        f"{std:.2f} points; {last}."
    )


def verdict(
    summary: dict[str, Any],
    where: str = "In this study",
    baseline: str = "no-memory",
    seeds_needed: int = SEEDS_NEEDED,
) -> list[str]:
    """The evidence behind :func:`answer` (which says how far the study got), as
    sentences computed from ``summary``: the paired difference and its interval (with a
    verdict only at ``seeds_needed`` seeds each), the other memory / no-memory pairs
    (:data:`MEMORY_PAIRS`, :func:`pair_line`), the variants with fewer seeds
    (:func:`few_seeds_line`), then, for the focus variant
    (:func:`focus`), PSNR alone against Eq. 16, the memory diagnostics and probes, and the
    test-time update. ``where`` opens the sentence with
    the difference ("On Ped2"). A summary without the baseline variant (a study that
    does not compare with it, or none of its runs finished) gets no comparison."""
    name = focus(summary)
    mem = summary["variants"].get(name)
    lines = [_effect_line(summary, where, baseline, seeds_needed)]
    lines += [pair_line(summary, w, wo, condition) for w, wo, condition in MEMORY_PAIRS]
    lines += [few_seeds_line(summary, seeds_needed)] + rerun_lines(summary)
    if mem is not None:
        lines += [_psnr_line(summary, name, mem), _diagnostics_line(summary, mem)]
        lines += [_probes_line(mem), _update_line(summary, name)]
    return [line for line in lines if line]


def _effect_line(summary: dict[str, Any], where: str, baseline: str, seeds_needed: int) -> str:
    """Removing the memory: the paired difference, seed by seed, its interval, the word."""
    effect = memory_effect(summary, baseline, seeds_needed)
    if "diff" not in effect:
        return ""
    lo, hi = effect["ci"]
    seeds = ", ".join(f"{v:+.2f}" for v in effect["per_seed"].values())
    text = (
        f"{where} ({summary['preset']}), over {effect['paired_seeds']} paired seed(s), "
        f"removing the memory changes the frame AUC by {effect['diff']:+.2f} points "
        f"(seed by seed: {seeds}; {100 * effect['confidence']:.0f} % interval over test "
        f"videos {lo:+.2f} to {hi:+.2f})"
    )
    word = effect["word"]
    return text + (": too few seeds to conclude." if word is None else f": the memory {word}.")


def _psnr_line(summary: dict[str, Any], name: str, mem: dict[str, Any]) -> str:
    """PSNR alone against Eq. 16 for the focus variant."""
    gap = 100 * (mem["psnr_auc"]["mean"] - mem["frame_auc"]["mean"])
    who = "With memory" if name == summary["reference"] else f"For {name}"
    return (
        f"{who}, PSNR alone scores {_num(mem['psnr_auc'])} against "
        f"{_num(mem['frame_auc'])} for Eq. 16 ({gap:+.2f} points over {len(mem['seeds'])} "
        f"seed(s)): the feature distance D {'adds to' if gap < 0 else 'takes away from'} "
        "what PSNR finds."
    )


def _diagnostics_line(summary: dict[str, Any], mem: dict[str, Any]) -> str:
    """The memory diagnostics of the last epoch (empty for a variant without memory)."""
    if mem.get("cos_nearest", {}).get("mean") is None:
        return ""
    items = (mem.get("config") or summary.get("config", {})).get("num_items")
    flat = f" (flat: {1 / items:.2f})" if items else ""
    return (
        f"Diagnostics of the last epoch: cos(q, nearest item) "
        f"{mem['cos_nearest']['mean']:.4f}, mean largest read weight "
        f"{mem['max_read_weight']['mean']:.3f}{flat}, {mem['items_used']['mean']:.1f} of "
        f"{items} items used, separateness hinge active for "
        f"{_percent(mem['hinge_active']['mean'])} % of the queries."
    )


def _probes_line(mem: dict[str, Any]) -> str:
    """The test-time probes, largest prediction change first."""
    probes = {
        k[len("probe_") : -len("_change_ratio")]: v["mean"]
        for k, v in mem.items()
        if k.startswith("probe_") and k.endswith("_change_ratio") and v["mean"] is not None
    }
    if not probes:
        return ""
    parts = [
        f"{cut} {100 * ratio:.1f} % ({100 * mem[f'probe_{cut}_auc_change']['mean']:+.2f})"
        for cut, ratio in sorted(probes.items(), key=lambda kv: -kv[1])
    ]
    return (
        "Probes, prediction change in % of the prediction error (AUC change in points): "
        + ", ".join(parts)
        + "."
    )


def _update_line(summary: dict[str, Any], name: str) -> str:
    """The test-time update switched off on the same weights, when the study has it."""
    off = next(
        (
            v
            for v in summary["variants"].values()
            if v.get("weights_from") == name and "vs_reference" in v
        ),
        None,
    )
    if off is None:
        return ""
    per_seed = ", ".join(f"{100 * x:+.2f}" for x in off["vs_reference"]["per_seed"].values())
    return (
        f"Switching the test-time update off (same weights) changes the AUC by "
        f"{100 * off['vs_reference']['mean_diff']:+.2f} points (seed by seed: {per_seed})."
    )


def mechanism_table(summary: dict[str, Any]) -> str:
    """The memory diagnostics of the last epoch and the test-time probes, mean over seeds.

    Probes: the change of the paper-protocol frame AUC (points) when one path into the
    decoder is cut (:mod:`mnad_lite.research.probe`), and how far cutting the read items
    moves the prediction, in units of its own error.
    """
    cuts = ("mean_item", "no_read", "no_query", "no_deep_skip")
    lines = [
        "| variant | items used (of M) | usage entropy | cos(q, p_p) | max read weight "
        "| hinge active (%) | " + " | ".join(f"Δ AUC {c}" for c in cuts) + " | change no_read |",
        "|---|---|---|---|---|---|" + "---|" * len(cuts) + "---|",
    ]

    def mean(v: dict[str, Any], key: str, digits: int = 3, scale: float = 1.0) -> str:
        stats = v.get(key)
        if not stats or stats["mean"] is None:
            return ""
        if key == "hinge_active":
            return _percent(stats["mean"])
        return f"{scale * stats['mean']:.{digits}f}"

    for name, v in summary["variants"].items():
        if v["weights_from"]:
            continue
        lines.append(
            f"| {name} | {mean(v, 'items_used', 1)} | {mean(v, 'usage_entropy', 2)} "
            f"| {mean(v, 'cos_nearest', 4)} | {mean(v, 'max_read_weight')} "
            f"| {mean(v, 'hinge_active')} | "
            + " | ".join(mean(v, f"probe_{c}_auc_change", 2, 100.0) for c in cuts)
            + f" | {mean(v, 'probe_no_read_change_ratio', 2)} |"
        )
    return "\n".join(lines)


def study_table(summary: dict[str, Any]) -> str:
    """Markdown: one row per variant, frame AUC in % (mean ± std, every seed), the other
    evaluation choices, the paired difference against the reference and training time."""
    ref = summary["reference"]
    lines = [
        "| variant | seeds | frame AUC (paper protocol) | every seed | one global min-max "
        "| macro | PSNR only | D only | EER | Δ vs "
        f"{ref}, same seed [95 % CI over test videos] | train min per run |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, v in summary["variants"].items():
        vs = v.get("vs_reference")
        if vs:
            delta = (
                f"{100 * vs['mean_diff']:+.2f} [{100 * vs['ci'][0]:+.2f}, {100 * vs['ci'][1]:+.2f}]"
            )
            if paired_with_rerun(summary, name):
                delta += f" vs {ref}'s rerun"
        else:
            delta = "(reference)" if name == ref else ""
        label = name + (" (beyond the paper)" if v.get("beyond_paper") else "")
        if name == (summary.get("choice") or {}).get("chosen"):
            label = f"**{label}, chosen**"
        minutes = (
            "(same weights)"
            if v.get("weights_from")
            else _seeds(v["train_minutes"]["values"], 1.0, 0)
        )
        lines.append(
            f"| {label} | {', '.join(map(str, v['seeds']))} | {_num(v['frame_auc'])} "
            f"| {_seeds(v['frame_auc']['values'])} | {_num(v['frame_auc_global'])} "
            f"| {_num(v['frame_auc_macro'])} | {_num(v['psnr_auc'])} "
            f"| {_num(v.get('distance_auc'))} | {_num(v['eer'])} | {delta} | {minutes} |"
        )
    return "\n".join(lines)


def published_line(summary: dict[str, Any], published: list[dict[str, Any]]) -> str | None:
    """One sentence: what others published for the study's task (``published``: rows of
    :data:`mnad_lite.research.published.PUBLISHED`) and how far this study's focus
    variant (:func:`focus`) is from the first of them; None when no row has the study's task."""
    method = summary["config"]["method"]
    rows = [p for p in published if p["method"] == method]
    name = focus(summary)
    mem = summary["variants"].get(name)
    if not rows or mem is None:
        return None
    others = "; ".join(
        f"{p['source']}{'' if p['memory'] else ' without memory'} {p['auc']:.1f}" for p in rows
    )
    first = rows[0]
    gap = first["auc"] - 100 * mem["frame_auc"]["mean"]
    where = "below" if gap > 0 else "above"
    return (
        f"Published for this task (frame AUC, paper protocol): {others}. This study's "
        f"{name} variant, {_num(mem['frame_auc'])} over {len(mem['seeds'])} "
        f"seed(s), is {abs(gap):.2f} points {where} {first['source']} ({first['auc']:.1f})."
    )


def readme_block(
    summary: dict[str, Any],
    source: str,
    where: str = "In this study",
    published: list[dict[str, Any]] | None = None,
    target: float | None = None,
) -> str:
    """The README's text for one study: a header line, the choice among its variants
    when the summary holds one (``study --choose``), the plain answer (:func:`answer`),
    the table, the mechanism table (:func:`mechanism_table`), the published numbers for
    its task when ``published`` is given (:func:`published_line`) and the verdict
    sentences. With ``target`` (a frame AUC in %), :func:`target_answer` opens it."""
    choice = summary.get("choice")
    chosen = []
    if choice:
        errors = sorted(choice["held_out_error"].items(), key=lambda kv: kv[1])
        size = "x".join(map(str, choice["size"]))
        chosen = [
            f"Chosen by {choice['rule']}, the prediction error on the held-out training "
            f"videos at {size} gray: **{choice['chosen']}** ("
            + ", ".join(f"{name} {error:.4g}" for name, error in errors)
            + ").",
            "",
        ]
    plain = answer(summary)
    lines = verdict(summary, where)
    others = published_line(summary, published or [])
    if others:
        lines.insert(0, others)

    def runs(seeds_of: dict[str, list[int]]) -> str:
        return "; ".join(
            f"{n} seed{'s' if len(s) > 1 else ''} {', '.join(map(str, s))}"
            for n, s in seeds_of.items()
        )

    finished = runs({n: v["seeds"] for n, v in summary["variants"].items()}) or "none"
    if summary.get("pending"):
        finished += f". Not finished yet: {runs(summary['pending'])}"
    return "\n".join(
        [
            f"Study `{summary['study']}`, preset `{summary['preset']}`, summary written "
            f"{summary['date']} on {summary['machine']} (`{source}`). Finished: {finished}.",
            "",
            *([target_answer(summary, target), ""] if target is not None else []),
            *([plain, ""] if plain else []),
            *chosen,
            "Frame AUC in %, mean ± std over seeds:",
            "",
            study_table(summary),
            "",
            "Memory diagnostics of the last epoch and test-time probes (mean over seeds; "
            "Δ AUC in points when one path into the decoder is cut):",
            "",
            mechanism_table(summary),
            "",
            *[f"- {line}" for line in lines],
        ]
    )


def kind_order(kinds: set[str] | list[str]) -> list[str]:
    """Kinds in report order: :data:`KINDS_FIRST`, then the others alphabetically."""
    first = [k for k in KINDS_FIRST if k in kinds]
    return first + sorted(set(kinds) - set(first))


def _pm(stats: dict[str, Any], scale: float = 100.0, digits: int = 1) -> str:
    if stats["mean"] is None:
        return ""
    text = f"{scale * stats['mean']:.{digits}f}"
    if stats["std"] is not None:
        text += f" ± {scale * stats['std']:.{digits}f}"
    return text


def markdown(summary: dict[str, Any]) -> str:
    """``summary.md``: the study table, the mechanism table and, when runs report anomaly
    kinds, the per-kind table (the same tables the README and notebook 06 show)."""
    tables = [study_table(summary), mechanism_table(summary), "\n".join(kind_markdown(summary))]
    return "\n\n".join(table for table in tables if table)


def kind_markdown(summary: dict[str, Any]) -> list[str]:
    """Frame AUC (%) per anomaly kind, mean ± std over seeds: a row per variant and score
    (the paper's, then each term); no lines when no run reports kinds."""
    kinds = kind_order(
        {
            k
            for v in summary["variants"].values()
            for term in v.get("per_kind", {}).values()
            for k in term
        }
    )
    if not kinds:
        return []
    lines = [
        "| variant | score | " + " | ".join(kinds) + " |",
        "|---|---|" + "---|" * len(kinds),
    ]
    for name, v in summary["variants"].items():
        label = name + (" (beyond the paper)" if v["beyond_paper"] else "")
        for term, title in KIND_TERMS.items():
            per_kind = v.get("per_kind", {}).get(term)
            if per_kind:
                cells = [_pm(per_kind[k]) if k in per_kind else "" for k in kinds]
                lines.append(f"| {label} | {title} | " + " | ".join(cells) + " |")
    return lines
