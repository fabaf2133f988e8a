"""The study in words (mnad_lite.research.text) and the README blocks written from it."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest

from mnad_lite.research.published import PUBLISHED
from mnad_lite.research.text import (
    answer,
    few_seeds_line,
    focus,
    mechanism_table,
    memory_effect,
    pair_line,
    paired_with_rerun,
    published_line,
    readme_block,
    rerun_lines,
    study_table,
    target_answer,
    verdict,
)

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from refresh_readme import main as refresh_main  # noqa: E402


def stat(values: list[float]) -> dict:
    n = len(values)
    mean = sum(values) / n
    std = None if n < 2 else (sum((v - mean) ** 2 for v in values) / (n - 1)) ** 0.5
    return {"mean": mean, "std": std, "n": n, "values": values}


def fake_summary(seeds: int, diff: float, ci: tuple[float, float]) -> dict:
    """A compact study summary with ``seeds`` seeds per variant; no-memory differs from
    memory by ``diff`` (AUC fraction) with interval ``ci``."""
    ids = list(range(seeds))
    mem_auc = [0.90 + 0.01 * s for s in ids]
    base_auc = [a + diff for a in mem_auc]

    def variant(auc: list[float], **extra) -> dict:
        return {
            "note": "",
            "beyond_paper": False,
            "seeds": ids,
            "weights_from": None,
            "frame_auc": stat(auc),
            "frame_auc_global": stat([a - 0.05 for a in auc]),
            "frame_auc_macro": stat([a + 0.03 for a in auc]),
            "psnr_auc": stat([a + 0.01 for a in auc]),
            "distance_auc": stat([0.7] * seeds),
            "eer": stat([0.15] * seeds),
            "train_minutes": stat([60.0 + s for s in ids]),
            **extra,
        }

    memory = variant(
        mem_auc,
        cos_nearest=stat([0.9997] * seeds),
        max_read_weight=stat([0.23] * seeds),
        items_used=stat([7.0] * seeds),
        hinge_active=stat([1e-5] * seeds),
        probe_no_read_change_ratio=stat([0.15] * seeds),
        probe_no_read_auc_change=stat([0.001] * seeds),
        probe_mean_item_change_ratio=stat([0.04] * seeds),
        probe_mean_item_auc_change=stat([0.0007] * seeds),
    )
    vs = {
        "mean_diff": diff,
        "ci": list(ci),
        "confidence": 0.95,
        "resamples": 2000,
        "seeds": seeds,
        "per_seed": {str(s): diff for s in ids},
    }
    off = variant(mem_auc, weights_from="memory")
    off["vs_reference"] = {**vs, "mean_diff": 0.004, "per_seed": {str(s): 0.004 for s in ids}}
    return {
        "study": "ped2",
        "preset": "lite",
        "reference": "memory",
        "date": "2026-11-29",
        "machine": "x86_64, 2 cores",
        "config": {"num_items": 10, "method": "pred"},
        "variants": {
            "memory": memory,
            "no-memory": {**variant(base_auc), "vs_reference": vs},
            "memory-no-test-update": off,
        },
    }


@pytest.mark.parametrize(
    "seeds,diff,ci,word",
    [
        (3, -0.02, (-0.03, -0.01), "helps"),  # removing the memory lowers the AUC
        (3, +0.02, (+0.01, +0.03), "hurts"),
        (3, +0.01, (-0.01, +0.03), "makes no difference this study can detect"),
        (2, -0.02, (-0.03, -0.01), None),  # too few seeds: no word, however clear
    ],
)
def test_memory_effect_words_follow_the_interval_and_the_seed_count(seeds, diff, ci, word):
    effect = memory_effect(fake_summary(seeds, diff, ci))
    assert effect["word"] == word
    assert effect["diff"] == pytest.approx(100 * diff)
    assert effect["ci"] == pytest.approx((100 * ci[0], 100 * ci[1]))
    assert (effect["seeds_reference"], effect["seeds_baseline"]) == (seeds, seeds)


def test_seeds_that_disagree_give_no_verdict_even_with_a_clear_interval():
    summary = fake_summary(3, -0.02, (-0.03, -0.01))
    per_seed = summary["variants"]["no-memory"]["vs_reference"]["per_seed"]
    per_seed.update({"0": -0.05, "1": -0.02, "2": 0.01})
    assert memory_effect(summary)["word"] == "makes no difference this study can detect"
    per_seed["2"] = -0.001
    assert memory_effect(summary)["word"] == "helps"


def test_answer_says_plainly_what_the_effect_says():
    helps = answer(fake_summary(3, -0.02, (-0.03, -0.01)))
    assert helps == (
        "**Does the memory help? Yes**: removing it changes the frame AUC by -2.00 points on "
        "average, in every one of the 3 paired seeds (-2.00, -2.00, -2.00) and across the whole "
        "95 % interval over test videos (-3.00 to -1.00)."
    )
    assert answer(fake_summary(3, 0.02, (0.01, 0.03))).startswith(
        "**Does the memory help? No, it hurts**: removing it changes the frame AUC by +2.00"
    )
    unclear = fake_summary(3, 0.01, (-0.01, 0.03))
    assert answer(unclear) == (
        "**Does the memory help? Not detectably**: removing it changes the frame AUC by +1.00 "
        "points on average over 3 paired seeds (+1.00, +1.00, +1.00), but the 95 % interval "
        "over test videos (-1.00 to +3.00) includes 0."
    )
    per_seed = unclear["variants"]["no-memory"]["vs_reference"]["per_seed"]
    per_seed["1"] = -0.01
    assert answer(unclear).endswith("includes 0 and the seeds disagree in sign.")
    unrecorded = fake_summary(3, -0.02, (-0.03, -0.01))
    unrecorded["variants"]["no-memory"]["vs_reference"]["per_seed"] = {}
    assert answer(unrecorded).endswith("but no seed's own difference is recorded.")
    assert answer(fake_summary(2, -0.02, (-0.03, -0.01))) == (
        "**Does the memory help? Not answered yet**: 2 of 3 seeds with memory and 2 of 3 "
        "without have finished."
    )
    no_baseline = fake_summary(3, -0.02, (-0.03, -0.01))
    del no_baseline["variants"]["no-memory"]
    assert answer(no_baseline) is None
    assert "Does the memory help?" not in readme_block(no_baseline, "s.json")
    assert readme_block(unclear, "s.json").split("\n")[2] == answer(unclear)  # after the header


def test_verdict_sentences_state_the_summary_numbers():
    lines = verdict(fake_summary(3, +0.0132, (-0.0155, 0.0402)), "On Ped2")
    assert lines[0] == (
        "On Ped2 (lite), over 3 paired seed(s), removing the memory changes the frame AUC by "
        "+1.32 points (seed by seed: +1.32, +1.32, +1.32; 95 % interval over test videos "
        "-1.55 to +4.02): the memory makes no difference this study can detect."
    )
    assert "PSNR alone scores 92.00 ± 1.00 against 91.00 ± 1.00 for Eq. 16 (+1.00" in lines[1]
    assert "takes away from" in lines[1]
    assert "cos(q, nearest item) 0.9997" in lines[2] and "(flat: 0.10)" in lines[2]
    assert "7.0 of 10 items used" in lines[2] and "0.001 % of the queries" in lines[2]
    assert lines[3].endswith("no_read 15.0 % (+0.10), mean_item 4.0 % (+0.07).")
    assert lines[4] == (
        "Switching the test-time update off (same weights) changes the AUC by +0.40 points "
        "(seed by seed: +0.40, +0.40, +0.40)."
    )
    unfinished = verdict(fake_summary(2, +0.0132, (-0.0155, 0.0402)))
    assert unfinished[0].startswith("In this study (lite), over 2 paired seed(s)")
    assert unfinished[0].endswith(": too few seeds to conclude.")
    empty = fake_summary(3, 0.0, (0.0, 0.0))
    del empty["variants"]["no-memory"]
    assert verdict(empty)[0].startswith("With memory, PSNR alone")  # no comparison to draw


def test_pair_line_compares_a_memory_pair_seed_by_seed():
    summary = fake_summary(3, 0.0, (0.0, 0.0))  # memory: 90, 91, 92 (std 1.00)

    def add(name: str, seeds: list[int], auc: list[float]) -> None:
        summary["variants"][name] = {
            **summary["variants"]["memory"],
            "seeds": seeds,
            "frame_auc": stat(auc),
        }

    assert pair_line(summary, "a", "b", "Without X") is None  # neither has run
    add("a", [0], [0.93])
    assert pair_line(summary, "a", "b", "Without X") is None  # one side only
    add("b", [1], [0.95])
    assert pair_line(summary, "a", "b", "Without X") is None  # no seed in common
    add("b", [0, 1], [0.945, 0.95])
    assert pair_line(summary, "a", "b", "Without X") == (
        "Without X (a against b), removing the memory changes the frame AUC by +1.50 points "
        "over 1 seed(s) (seed by seed: +1.50, 93.00 with and 94.50 without); that is within "
        "twice the seed-to-seed standard deviation of memory's frame AUC (1.00 points), so "
        "1 seed cannot tell it from training noise."
    )
    add("b", [0], [0.96])
    assert pair_line(summary, "a", "b", "Without X").endswith(
        "more than twice the seed-to-seed standard deviation of memory's frame AUC "
        "(1.00 points), but rests on 1 seed."
    )
    add("a", [0, 1, 2], [0.93, 0.93, 0.93])
    add("b", [0, 1, 2], [0.94, 0.92, 0.95])
    line = pair_line(summary, "a", "b", "Without X")
    assert (
        "by +0.67 points over 3 seed(s) (seed by seed: +1.00, 93.00 with and 94.00 without, "
        in line
    )
    assert line.endswith("93.00 with and 95.00 without).")  # 3 seeds: no caveat
    # verdict states the grid's own pair, when both halves have run
    assert not any("deepest skip" in x for x in verdict(summary))
    add("no-deep-skip", [0], [0.93])
    add("no-deep-skip-no-memory", [0], [0.94])
    assert any(
        x.startswith("Without the deepest skip (no-deep-skip against no-deep-skip-no-memory)")
        for x in verdict(summary)
    )


def test_study_table_has_a_row_per_variant_with_every_seed():
    table = study_table(fake_summary(3, -0.02, (-0.03, -0.01))).splitlines()
    assert len(table) == 2 + 3
    assert table[2].startswith("| memory | 0, 1, 2 | 91.00 ± 1.00 | 90.00, 91.00, 92.00 |")
    assert table[2].endswith("| (reference) | 60, 61, 62 |")
    assert "| -2.00 [-3.00, -1.00] |" in table[3]
    assert table[4].endswith("| (same weights) |")


def test_few_seeds_line_sets_one_seed_variants_against_the_seed_spread():
    summary = fake_summary(3, 0.0, (0.0, 0.0))  # memory: 90, 91, 92 (std 1.00)
    assert few_seeds_line(summary) is None  # every variant has 3 seeds

    def add(name: str, seeds: list[int], diff: float, beyond: bool = False) -> None:
        summary["variants"][name] = {
            **summary["variants"]["memory"],
            "seeds": seeds,
            "beyond_paper": beyond,
            "vs_reference": {"mean_diff": diff, "ci": [diff - 0.01, diff + 0.01]},
        }

    add("a", [0], 0.015)
    add("b", [0, 1], -0.025, beyond=True)
    assert few_seeds_line(summary) == (
        "With fewer than 3 seeds, against memory on the same seed(s), frame AUC in points: "
        "a +1.50 (seed 0), b (beyond the paper) -2.50 (seeds 0, 1). The seed-to-seed "
        "standard deviation of memory's frame AUC is 1.00 points; only b is more than twice "
        "that."
    )
    assert few_seeds_line(summary) in verdict(summary)
    summary["variants"]["a"]["vs_reference"]["mean_diff"] = 0.021
    assert few_seeds_line(summary).endswith("; all of them are more than twice that.")
    summary["variants"]["a"]["vs_reference"]["mean_diff"] = -0.019  # just under twice
    summary["variants"]["b"]["vs_reference"]["mean_diff"] = 0.0
    assert few_seeds_line(summary).endswith(
        "none of them is more than twice that, so none can be told from training noise."
    )
    assert few_seeds_line(summary, seeds_needed=1) is None  # none has fewer than 1 seed
    del summary["variants"]["b"]  # one variant: its own difference, in the singular
    assert few_seeds_line(summary).endswith(
        "a -1.90 (seed 0). The seed-to-seed standard deviation of memory's frame AUC is 1.00 "
        "points; the difference is not more than twice that, so it cannot be told from "
        "training noise."
    )
    summary["variants"]["a"]["vs_reference"]["mean_diff"] = 0.025
    assert few_seeds_line(summary).endswith("points; the difference is more than twice that.")
    summary["variants"]["memory"]["frame_auc"] = stat([0.9])  # one reference seed: no spread
    assert few_seeds_line(summary) is None


def test_a_rerun_is_reported_and_the_variants_paired_with_it_say_so():
    summary = fake_summary(3, 0.0, (0.0, 0.0))  # memory: 90, 91, 92 (std 1.00), 60-62 min
    assert rerun_lines(summary) == [] and paired_with_rerun(summary, "no-memory") == []
    summary["variants"]["memory"]["reruns"] = {
        "0": {"date": "2026-12-05", "machine": "m2", "frame_auc": 0.9018, "train_minutes": 42.4}
    }
    summary["variants"]["new"] = {
        **summary["variants"]["memory"],
        "seeds": [0],
        "frame_auc": stat([0.9015]),
        "vs_reference": {
            "mean_diff": -0.0003,
            "ci": [-0.01, 0.01],
            "per_seed": {"0": -0.0003},
            "reference_auc": {"0": 0.9018},  # paired with the rerun, not the listed 0.90
        },
    }
    del summary["variants"]["new"]["reruns"]
    assert paired_with_rerun(summary, "new") == [0]
    assert paired_with_rerun(summary, "no-memory") == []  # no reference_auc: the listed runs
    assert rerun_lines(summary) == [
        "memory seed 0 was trained again on 2026-12-05 (m2) with the same configuration and "
        "seed: frame AUC 90.18 against 90.00 the first time (+0.18 points). Training is "
        "deterministic on one machine and code version, not across them: another CPU or "
        "version changes the last bits of sums, and training amplifies them; the difference "
        "is within twice the seed-to-seed standard deviation of memory's frame AUC (1.00 "
        "points). It trained in 42 min against 60: the minutes of a run depend on the machine "
        "and on what ran beside it, not only on the variant. The table keeps the first run; "
        "new was trained beside the rerun and is compared with it."
    ]
    assert rerun_lines(summary)[0] in verdict(summary)
    assert "new -0.03 (seed 0, against memory's rerun)" in few_seeds_line(summary)
    row = next(x for x in study_table(summary).splitlines() if x.startswith("| new |"))
    assert "| -0.03 [-1.00, +1.00] vs memory's rerun |" in row
    # a rerun that landed on the same AUC says so, and a 3-point change is out of the noise
    summary["variants"]["memory"]["reruns"]["0"]["frame_auc"] = 0.90001
    assert (
        "90.00 against 90.00 the first time, the same to two decimals." in (rerun_lines(summary)[0])
    )
    summary["variants"]["memory"]["reruns"]["0"]["frame_auc"] = 0.93
    assert "(+3.00 points)" in rerun_lines(summary)[0]
    assert "the difference is more than twice the seed-to-seed" in rerun_lines(summary)[0]


def test_hinge_activity_is_written_with_the_digits_it_needs():
    """0.001 % and 100 % both read as numbers (not "1e+02")."""
    summary = fake_summary(3, 0.0, (0.0, 0.0))
    memory = summary["variants"]["memory"]
    row = mechanism_table(summary).splitlines()[2].split(" | ")
    assert row[0] == "| memory" and row[5] == "0.001"
    assert any("hinge active for 0.001 % of the queries" in x for x in verdict(summary))
    for fraction, text in ((1.0, "100"), (0.456, "45.6"), (0.0000089, "0.00089"), (0.0, "0")):
        memory["hinge_active"] = stat([fraction] * 3)
        assert mechanism_table(summary).splitlines()[2].split(" | ")[5] == text
        assert any(f"hinge active for {text} % of the queries" in x for x in verdict(summary))


def test_readme_block_names_the_runs_finished_and_those_not_yet():
    summary = fake_summary(3, -0.02, (-0.03, -0.01))
    head = readme_block(summary, "s.json").splitlines()[0]
    assert head.endswith(
        "Finished: memory seeds 0, 1, 2; no-memory seeds 0, 1, 2; "
        "memory-no-test-update seeds 0, 1, 2."
    )
    summary["pending"] = {"paper-forms": [0], "no-memory": [3, 4]}
    head = readme_block(summary, "s.json").splitlines()[0]
    assert head.endswith(
        "memory-no-test-update seeds 0, 1, 2. Not finished yet: paper-forms seed 0; "
        "no-memory seeds 3, 4."
    )
    summary["variants"], summary["pending"] = {}, {"memory": [0]}
    head = readme_block(summary, "s.json").splitlines()[0]
    assert head.endswith("Finished: none. Not finished yet: memory seed 0.")


def test_readme_block_states_the_choice_when_the_summary_has_one():
    summary = fake_summary(3, -0.02, (-0.03, -0.01))
    assert "Chosen by" not in readme_block(summary, "s.json")
    summary["choice"] = {
        "rule": "lowest held-out error (mnad_lite.research.select), no test labels",
        "size": [128, 128],
        "held_out_error": {"memory": 0.0021, "no-memory": 0.00185},
        "chosen": "no-memory",
    }
    block = readme_block(summary, "s.json")
    assert (
        "the prediction error on the held-out training videos at 128x128 gray: "
        "**no-memory** (no-memory 0.00185, memory 0.0021)." in block
    )


def chosen_summary(seeds: int) -> dict:
    """A summary whose ``study --choose`` picked no-memory (90.5, 91.5, 92.5 ... plus 0.5)."""
    summary = fake_summary(seeds, 0.005, (-0.01, 0.02))
    summary["choice"] = {
        "rule": "lowest held-out error",
        "size": [128, 128],
        "held_out_error": {"memory": 0.0021, "no-memory": 0.00185},
        "chosen": "no-memory",
    }
    return summary


def test_the_sentences_describe_the_chosen_variant_when_there_is_a_choice():
    summary = chosen_summary(3)
    assert focus(fake_summary(3, 0.0, (0.0, 0.0))) == "memory"  # no choice: the reference
    assert focus(summary) == "no-memory"
    summary["choice"]["chosen"] = "gone"  # a choice of a variant the summary lacks
    assert focus(summary) == "memory"
    summary = chosen_summary(3)
    rows = [{"source": "Paper", "method": "pred", "memory": True, "auc": 97.0}]
    assert "This study's no-memory variant, 91.50 ± 1.00 over 3 seed(s), is 5.50 points" in (
        published_line(summary, rows)
    )
    psnr = next(line for line in verdict(summary) if "PSNR alone" in line)
    assert psnr.startswith("For no-memory, PSNR alone scores 92.50 ± 1.00 against 91.50 ± 1.00")
    table = study_table(summary).splitlines()
    assert table[3].startswith("| **no-memory, chosen** | 0, 1, 2 | 91.50 ± 1.00 |")
    assert table[2].startswith("| memory | ")


@pytest.mark.parametrize(
    "seeds,target,expected",
    [
        (
            3,
            95.0,
            "**Does no-memory reach a mean frame AUC of 95.0 % over 3 seeds? No**: 91.50 ± 1.00 "
            "over seeds 0, 1, 2 (90.50, 91.50, 92.50), 3.50 points below it.",
        ),
        (
            3,
            91.5,  # reaching the target exactly counts
            "**Does no-memory reach a mean frame AUC of 91.5 % over 3 seeds? Yes**: 91.50 ± 1.00 "
            "over seeds 0, 1, 2 (90.50, 91.50, 92.50), 0.00 points above it.",
        ),
        (
            1,
            95.0,
            "**Does no-memory reach a mean frame AUC of 95.0 % over 3 seeds? Not answered "
            "yet**: 1 of 3 seeds have finished (90.50).",
        ),
    ],
)
def test_target_answer_needs_every_seed_and_compares_the_mean(seeds, target, expected):
    summary = chosen_summary(seeds)
    assert target_answer(summary, target) == expected
    block = readme_block(summary, "s.json", target=target)
    assert block.split("\n")[2] == expected  # right after the header
    assert target_answer(summary, target) not in readme_block(summary, "s.json")


def test_target_answer_counts_zero_seeds_when_the_variant_has_none():
    summary = fake_summary(3, 0.0, (0.0, 0.0))
    del summary["variants"]["memory"]
    assert target_answer(summary, 95.0).endswith("Not answered yet**: 0 of 3 seeds have finished.")


def test_published_line_compares_the_reference_with_the_first_published_row():
    summary = fake_summary(3, -0.02, (-0.03, -0.01))  # memory: 90, 91, 92
    rows = [
        {"source": "Paper", "method": "pred", "memory": True, "auc": 97.0},
        {"source": "Paper", "method": "recon", "memory": True, "auc": 90.2},  # other task
        {"source": "Replication", "method": "pred", "memory": False, "auc": 90.5},
    ]
    assert published_line(summary, rows) == (
        "Published for this task (frame AUC, paper protocol): Paper 97.0; Replication without "
        "memory 90.5. This study's memory variant, 91.00 ± 1.00 over 3 seed(s), is 6.00 points "
        "below Paper (97.0)."
    )
    rows[0]["auc"] = 90.0
    assert published_line(summary, rows).endswith("is 1.00 points above Paper (90.0).")
    assert published_line(summary, rows[1:2]) is None  # nothing for the study's task
    summary["config"]["method"] = "recon"
    assert "Paper 90.2." in published_line(summary, rows)
    # the block carries it first among the sentences, only when asked
    summary["config"]["method"] = "pred"
    assert "Published for this task" not in readme_block(summary, "s.json")
    block = readme_block(summary, "s.json", "On Ped2", PUBLISHED["ped2"])
    opening = "\n- Published for this task (frame AUC, paper protocol): MNAD paper, Table 1 97.0; "
    assert opening in block
    assert "[Re] MNAD (arXiv 2101.12382) 96.3. This study's memory variant" in block


def readme(
    tmp_path: Path, summary: dict, body: str = "old text\n", marker: str = "docs/s.json On Ped2"
) -> Path:
    (tmp_path / "docs").mkdir(exist_ok=True)
    (tmp_path / "docs" / "s.json").write_text(json.dumps(summary))
    path = tmp_path / "README.md"
    path.write_text(
        f"# Title\n\nbefore\n\n<!-- study-summary: {marker} -->\n"
        f"{body}<!-- /study-summary -->\n\nafter\n"
    )
    return path


def test_refresh_readme_adds_the_published_numbers_the_marker_names(tmp_path):
    summary = fake_summary(3, -0.02, (-0.03, -0.01))
    path = readme(tmp_path, summary, marker="docs/s.json published=ped2 On Ped2")
    assert refresh_main([str(path)]) == 0
    assert readme_block(summary, "docs/s.json", "On Ped2", PUBLISHED["ped2"]) in path.read_text()
    assert "- On Ped2 (lite), over 3 paired seed(s)" in path.read_text()
    path = readme(tmp_path, summary, marker="docs/s.json published=ped3 On Ped2")
    with pytest.raises(SystemExit, match=r"s\.json: no published numbers for 'ped3' \(known: "):
        refresh_main([str(path)])


def test_refresh_readme_adds_the_target_the_marker_names(tmp_path):
    summary = chosen_summary(3)
    path = readme(tmp_path, summary, marker="docs/s.json published=ped2 target=95.0 On Ped2")
    assert refresh_main([str(path)]) == 0
    text = path.read_text()
    assert readme_block(summary, "docs/s.json", "On Ped2", PUBLISHED["ped2"], 95.0) in text
    assert "over 3 seeds? No**: 91.50 ± 1.00" in text
    assert "This study's no-memory variant" in text


def test_refresh_readme_rewrites_only_the_block(tmp_path, capsys):
    summary = fake_summary(3, -0.02, (-0.03, -0.01))
    path = readme(tmp_path, summary)
    assert refresh_main([str(path), "--check"]) == 1
    assert "out of date" in capsys.readouterr().out
    assert refresh_main([str(path)]) == 0
    text = path.read_text()
    assert text.startswith("# Title\n\nbefore\n\n<!-- study-summary: docs/s.json On Ped2 -->\n")
    assert text.endswith("<!-- /study-summary -->\n\nafter\n")
    assert readme_block(summary, "docs/s.json", "On Ped2") in text
    assert "the memory helps." in text and "old text" not in text
    assert refresh_main([str(path), "--check"]) == 0
    changed = copy.deepcopy(summary)
    changed["variants"]["memory"]["frame_auc"]["values"][0] = 0.5
    (tmp_path / "docs" / "s.json").write_text(json.dumps(changed))
    assert refresh_main([str(path), "--check"]) == 1  # the README no longer states the file


def test_refresh_readme_names_a_missing_summary(tmp_path):
    path = readme(tmp_path, fake_summary(3, 0.0, (0.0, 0.0)))
    (tmp_path / "docs" / "s.json").unlink()
    with pytest.raises(SystemExit, match=r"s\.json: cannot read the study summary"):
        refresh_main([str(path)])


def test_the_readme_states_the_committed_study_summaries():
    """Every study block of docs/results.md equals what its committed summary gives."""
    page = ROOT / "docs" / "results.md"
    assert "<!-- study-summary: docs/studies/ped2-summary.json" in page.read_text()
    assert refresh_main([str(page), "--check"]) == 0


def test_the_study_notes_state_their_committed_summaries():
    """docs/studies/fast-ped2.md's results block equals what its summary gives."""
    note = ROOT / "docs" / "studies" / "fast-ped2.md"
    assert "<!-- study-summary: fast-ped2-summary.json" in note.read_text()
    assert refresh_main([str(note), "--check"]) == 0


def test_change_text_and_consistent_read_a_seed_change():
    from mnad_lite.research.summary import consistent, mean_value
    from mnad_lite.research.text import change_text

    change = {"per_seed": {0: 0.021, 1: 0.015}, "mean": 0.018, "std": 0.0042, "n": 2}
    assert change_text(change) == "+1.8 ± 0.4 points over 2 seeds (seed 0: +2.1, seed 1: +1.5)"
    assert consistent(change) and not consistent(change, points=2.0)
    assert not consistent({"per_seed": {0: 0.02, 1: -0.02}}) and not consistent(
        {"per_seed": {0: 0.5}}
    )
    one = {"per_seed": {0: None}, "mean": None, "std": None, "n": 1}
    assert change_text(one) == "n/a (one seed, no spread) points over 1 seeds (seed 0: n/a)"
    summary = {"variants": {"v": {"seeds": [0, 1], "frame_auc": {"values": [0.8, 0.9]}}}}
    assert abs(mean_value(summary, "v", "frame_auc") - 0.85) < 1e-12
    assert mean_value({"variants": {"v": {"seeds": []}}}, "v", "frame_auc") != mean_value(
        summary, "v", "frame_auc"
    )
