"""Study records: finished runs kept small (no weights, no labels) and brought back."""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil

import pytest

from mnad_lite.cli import main
from mnad_lite.errors import ConfigError, DataError
from mnad_lite.research.grids import builtin_grid
from mnad_lite.research.records import SCORES, restore_records, save_records
from mnad_lite.research.study import run_study
from mnad_lite.research.summary import (
    compact_summary,
    merge_compact,
    summarize,
    write_compact_summary,
)


def tiny_grid():
    spec = builtin_grid("quick")
    spec.base = {"epochs": 1, "max_steps": 3}
    return spec


@pytest.fixture(scope="module")
def recorded(quick_data, tmp_path_factory):
    """A finished quick study and its records."""
    root = tmp_path_factory.mktemp("records")
    out = root / "study"
    run_study(tiny_grid(), quick_data, out, log=lambda _: None)
    saved = save_records(out, root / "records")
    return out, root / "records", saved


def _rows(path):
    return list(csv.reader(io.StringIO(gzip.decompress(path.read_bytes()).decode())))


def test_records_keep_the_small_files_without_weights_or_labels(recorded):
    out, records, saved = recorded
    runs = sorted(p.parent.relative_to(out).as_posix() for p in out.glob("*/seed*/eval.json"))
    assert sorted(saved) == runs and len(runs) == 6
    for run in runs:
        kept = {p.name for p in (records / run).iterdir()}
        trained = {"config.json", "log.jsonl", "provenance.jsonl", "probe.json"}
        # a variant that reuses another's weights keeps only its evaluation
        assert kept == {"eval.json", SCORES} | (set() if "no-test" in run else trained)
        assert not kept & {"model.pt", "last.pt", "scores.csv"}
        rows = _rows(records / run / SCORES)
        label = rows[0].index("label")
        assert len(rows) > 1 and all(r[label] == "" for r in rows[1:])
        # every other column is the run's own
        with open(out / run / "scores.csv", newline="") as fh:
            original = list(csv.reader(fh))
        assert [r[:label] + r[label + 1 :] for r in rows] == [
            r[:label] + r[label + 1 :] for r in original
        ]
        assert any(r[label] == "1" for r in original[1:])
    assert json.loads((records / "study.json").read_text()) == json.loads(
        (out / "study.json").read_text()
    )


def test_saving_again_adds_nothing_and_a_different_record_is_refused(recorded, tmp_path):
    out, records, _ = recorded
    assert save_records(out, records) == []
    copy = shutil.copytree(records, tmp_path / "records")
    eval_json = copy / "memory" / "seed0" / "eval.json"
    eval_json.write_text(eval_json.read_text().replace('"frame_auc": 0', '"frame_auc": 1', 1))
    with pytest.raises(ConfigError, match=r"memory/seed0/eval.json: differs"):
        save_records(out, copy)


def test_restored_runs_summarise_as_the_originals(recorded, quick_data, tmp_path):
    out, records, _ = recorded
    fresh = tmp_path / "fresh"
    restored = restore_records(records, fresh, quick_data)
    assert len(restored) == 6
    for run in restored:
        assert (fresh / run / "scores.csv").read_bytes() == (out / run / "scores.csv").read_bytes()
        assert not (fresh / run / "model.pt").exists()
    again = summarize(fresh)
    assert again["variants"] == summarize(out)["variants"]
    assert again["pending"] == {}
    # a second restore changes nothing; the study is finished, so nothing trains
    assert restore_records(records, fresh, quick_data) == []
    lines: list[str] = []
    run_study(tiny_grid(), quick_data, fresh, log=lines.append)
    assert not any("training" in line for line in lines)


def test_restore_moves_an_unfinished_run_aside_and_keeps_finished_ones(
    recorded, quick_data, tmp_path
):
    out, records, _ = recorded
    part = shutil.copytree(out, tmp_path / "part")
    (part / "no-memory" / "seed1" / "eval.json").unlink()
    marker = part / "memory" / "seed0" / "mine.txt"
    marker.write_text("kept")
    assert restore_records(records, part, quick_data) == ["no-memory/seed1"]
    assert marker.read_text() == "kept"
    aside = part / "no-memory" / "seed1.replaced"
    assert (aside / "model.pt").is_file()  # the user's weights are moved, not deleted
    assert (part / "no-memory" / "seed1" / "eval.json").is_file()


def test_a_run_restored_without_weights_is_not_evaluated_again(recorded, quick_data, tmp_path):
    out, records, _ = recorded
    fresh = tmp_path / "fresh"
    restore_records(records, fresh, quick_data)
    shutil.rmtree(fresh / "memory-no-test-update" / "seed0")
    lines: list[str] = []
    run_study(tiny_grid(), quick_data, fresh, log=lines.append)
    assert any("memory-no-test-update seed 0" in x and "no weights" in x for x in lines)


def test_bad_records_give_one_line_errors(recorded, quick_data, tmp_path):
    _, records, _ = recorded
    copy = shutil.copytree(records, tmp_path / "records")
    scores = copy / "memory" / "seed0" / SCORES
    rows = _rows(scores)
    rows[1][0] = "no_such_video"
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    scores.write_bytes(gzip.compress(buf.getvalue().encode()))
    with pytest.raises(DataError, match=r"scores.csv.gz: test video 'no_such_video' is not in"):
        restore_records(copy, tmp_path / "a", quick_data)
    scores.write_bytes(b"not gzip")
    with pytest.raises(DataError, match=r"scores.csv.gz: cannot read the recorded scores"):
        restore_records(copy, tmp_path / "b", quick_data)
    with pytest.raises(ConfigError, match=r"study.json: no study here"):
        restore_records(tmp_path / "nothing", tmp_path / "c", quick_data)


def test_the_command_line_saves_and_restores(recorded, quick_data, tmp_path, capsys):
    out, records, _ = recorded
    fresh = tmp_path / "fresh"
    args = ["study", "--out", str(fresh), "--summary-only", "--restore-records", str(records)]
    assert main(args) == 2
    assert "needs --data" in capsys.readouterr().err
    assert main([*args, "--data", str(quick_data)]) == 0
    assert "restored 6 run(s)" in capsys.readouterr().out
    target = tmp_path / "again"
    save = ["study", "--out", str(fresh), "--summary-only", "--save-records", str(target)]
    assert main(save) == 0
    assert "recorded 6 new run(s)" in capsys.readouterr().out
    assert main(save) == 0
    assert "recorded 0 new run(s)" in capsys.readouterr().out
    for path in records.rglob("*"):
        if path.is_file() and path.name != SCORES:
            assert (target / path.relative_to(records)).read_bytes() == path.read_bytes()


def _stats(values):
    return {"mean": sum(values) / len(values), "std": None, "n": len(values), "values": values}


def _entry(seeds, aucs, minutes=None):
    entry = {"seeds": seeds, "frame_auc": _stats(aucs)}
    if minutes is not None:
        entry["train_minutes"] = _stats(minutes)
    return entry


def test_merge_keeps_what_the_study_folder_lost():
    previous = {
        "study": "s",
        "date": "2026-01-01",
        "config": {},
        "variants": {
            "memory": _entry([0, 1, 2], [0.9, 0.8, 0.7]),
            "no-memory": _entry([0], [0.5]),
        },
    }
    new = {
        "study": "s",
        "date": "2026-02-02",
        "pending": {"memory": [1, 2], "no-memory": [0], "sharp": [1]},
        "config": {},
        "variants": {"memory": _entry([0], [0.9000001]), "sharp": _entry([0], [0.6])},
    }
    merged = merge_compact(previous, new, "f.json")
    assert list(merged["variants"]) == ["memory", "no-memory", "sharp"]
    assert merged["variants"]["memory"] == previous["variants"]["memory"]
    assert merged["variants"]["no-memory"] == previous["variants"]["no-memory"]
    assert merged["variants"]["sharp"] == new["variants"]["sharp"]
    assert merged["pending"] == {"sharp": [1]}
    assert merged["date"] == "2026-02-02"
    # more seeds now than before: the new entry wins
    grown = {**new, "pending": {}, "variants": {"memory": _entry([0, 1, 2, 3], [0.9, 0.8, 0.7, 1])}}
    assert merge_compact(previous, grown, "f.json")["variants"]["memory"]["seeds"] == [0, 1, 2, 3]
    assert "pending" not in merge_compact(previous, grown, "f.json")
    # new seeds beside a seed whose run changed: the statistics would mix runs, refused
    mixed = {**new, "variants": {"memory": _entry([0, 3], [0.91, 1])}}
    with pytest.raises(ConfigError, match=r"f.json: memory seed 0 had frame AUC 0.900000"):
        merge_compact(previous, mixed, "f.json")
    # a seed without an AUC on one side cannot disagree: the new entry wins
    none = {"seeds": [0, 3], "frame_auc": {"mean": 1, "std": None, "n": 1, "values": [None, 1]}}
    unscored = {**new, "variants": {"memory": none}}
    assert merge_compact(previous, unscored, "f.json")["variants"]["memory"]["seeds"] == [0, 3]


def test_merge_records_a_run_trained_again_beside_the_first_one():
    """A kept seed trained again (another AUC, or the same AUC in another time) is a
    rerun: recorded with its date and machine, never mixed into the statistics."""
    first = _entry([0, 1], [0.9, 0.8], minutes=[230.0, 116.0])
    previous = {"study": "s", "date": "2026-01-01", "config": {}, "variants": {"memory": first}}

    def new(auc, minutes, date="2026-02-02"):
        entry = _entry([0], [auc], minutes=[minutes])
        return {
            "study": "s",
            "date": date,
            "machine": "m2",
            "config": {},
            "variants": {"memory": entry},
        }

    # the same run (same AUC, same logged time): nothing to record
    assert merge_compact(previous, new(0.9, 230.0), "f.json")["variants"]["memory"] == first
    # another run with another AUC
    merged = merge_compact(previous, new(0.91, 42.0), "f.json")["variants"]["memory"]
    assert merged["frame_auc"] == first["frame_auc"] and merged["seeds"] == [0, 1]
    rerun = {"date": "2026-02-02", "machine": "m2", "frame_auc": 0.91, "train_minutes": 42.0}
    assert merged["reruns"] == {"0": rerun}
    # another run that reproduced the AUC is a rerun too (its time says it is another run)
    same = merge_compact(previous, new(0.9, 42.0), "f.json")["variants"]["memory"]
    assert same["reruns"]["0"]["frame_auc"] == 0.9
    # summarised again later: the rerun keeps the date it was first recorded
    again = {**previous, "variants": {"memory": merged}}
    later = merge_compact(again, new(0.91, 42.0, date="2026-03-03"), "f.json")
    assert later["variants"]["memory"]["reruns"] == {"0": rerun}
    assert "reruns" not in first  # the previous entry itself is left as it was


def test_the_compact_file_keeps_runs_the_study_folder_lost(recorded, tmp_path):
    out, _, _ = recorded
    target = tmp_path / "summary.json"
    full = write_compact_summary(out / "summary.json", target)
    part = shutil.copytree(out, tmp_path / "part")
    shutil.rmtree(part / "no-memory")
    (part / "memory" / "seed1" / "eval.json").unlink()
    summarize(part)
    again = write_compact_summary(part / "summary.json", target)
    assert again["variants"] == full["variants"]
    assert "pending" not in again
    assert again == json.loads(target.read_text())
    assert compact_summary(summarize(part))["pending"] == {"no-memory": [0, 1], "memory": [1]}
