"""Studies: the quick grid end to end, resuming, refusing changed definitions, the summary."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_png, assert_report_matches_scores

from mnad_lite.errors import ConfigError
from mnad_lite.metrics import frame_auc
from mnad_lite.research.grids import StudySpec, Variant, builtin_grid, load_grid
from mnad_lite.research.study import (
    claim_holder,
    claim_run,
    release_run,
    run_study,
    status_text,
    study_status,
)
from mnad_lite.research.summary import (
    _per_kind_of,
    compact_summary,
    dumps_compact,
    paired_bootstrap,
    seed_change,
    seed_values,
    summarize,
    write_compact_summary,
)
from mnad_lite.research.text import KIND_TERMS, kind_order, markdown


def tiny_grid() -> StudySpec:
    """The quick grid with 2 seeds, shortened to seconds."""
    spec = builtin_grid("quick")
    spec.base = {"epochs": 1, "max_steps": 3}
    return spec


@pytest.fixture(scope="module")
def study(quick_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("study") / "quick"
    lines: list[str] = []
    summary = run_study(tiny_grid(), quick_data, out, log=lines.append)
    return out, summary, lines


def test_quick_grid_runs_every_variant_and_seed(study):
    out, summary, _ = study
    assert set(summary["variants"]) == {"memory", "no-memory", "memory-no-test-update"}
    for name, v in summary["variants"].items():
        assert v["seeds"] == [0, 1], name
        for seed in (0, 1):
            assert_report_matches_scores(out / name / f"seed{seed}")
    # the free variant reuses the weights: no training folder of its own
    assert not (out / "memory-no-test-update" / "seed0" / "model.pt").exists()
    assert (out / "summary.md").read_text().startswith("| variant |")
    assert_png(out / "summary.png")


def test_summary_statistics_are_those_of_the_runs(study):
    out, summary, _ = study
    mem = summary["variants"]["memory"]
    values = [json.loads((out / "memory" / f"seed{s}" / "eval.json").read_text()) for s in (0, 1)]
    aucs = [v["frame_auc"] for v in values]
    assert mem["frame_auc"]["values"] == aucs
    assert mem["frame_auc"]["mean"] == pytest.approx(np.mean(aucs))
    assert mem["frame_auc"]["std"] == pytest.approx(np.std(aucs, ddof=1))
    vs = summary["variants"]["no-memory"]["vs_reference"]
    nomem = summary["variants"]["no-memory"]["frame_auc"]["values"]
    assert vs["per_seed"] == pytest.approx({"0": nomem[0] - aucs[0], "1": nomem[1] - aucs[1]})
    assert vs["mean_diff"] == pytest.approx(np.mean([nomem[0] - aucs[0], nomem[1] - aucs[1]]))
    assert vs["ci"][0] <= vs["mean_diff"] <= vs["ci"][1]
    assert vs["reference_auc"] == {"0": aucs[0], "1": aucs[1]}  # the reference runs it used
    assert "items_used" in mem and mem["items_used"]["n"] == 2  # last-epoch diagnostics


def test_summary_per_kind_and_distance_auc_are_those_of_the_runs(study):
    out, summary, _ = study
    for name, v in summary["variants"].items():
        reports = [json.loads((out / name / f"seed{s}" / "eval.json").read_text()) for s in (0, 1)]
        assert v["distance_auc"]["values"] == [r["distance_auc"] for r in reports]
        terms = reports[0]["per_kind_auc_terms"]
        assert set(v["per_kind"]) == set(terms)
        assert ("distance_auc" in terms) == (name != "no-memory")  # D needs the memory
        for term, kinds in v["per_kind"].items():
            for kind, stats in kinds.items():
                expected = [r["per_kind_auc_terms"][term][kind]["auc"] for r in reports]
                assert stats["values"] == expected, (name, term, kind)
                assert stats["mean"] == pytest.approx(np.mean(expected))
    md = (out / "summary.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| variant | score |"))
    kinds = kind_order(set(summary["variants"]["memory"]["per_kind"]["frame_auc"]))
    assert header == "| variant | score | " + " | ".join(kinds) + " |"
    table = md.split(header)[1]
    assert table.count("| D only |") == 2  # memory and memory-no-test-update, not no-memory
    assert table.count("| PSNR only |") == 3


def test_kind_order_and_older_reports():
    assert kind_order({"runner", "grass_walker", "cart"}) == ["grass_walker", "cart", "runner"]
    assert kind_order(["runner", "cart"]) == ["cart", "runner"]
    old = {"per_kind_auc": {"cart": {"auc": 0.7, "frames": 5}}}  # before per-term AUCs
    assert _per_kind_of(old) == {"frame_auc": {"cart": 0.7}}
    assert _per_kind_of({}) == {"frame_auc": {}}
    assert list(KIND_TERMS) == ["frame_auc", "frame_auc_global", "psnr_auc", "distance_auc"]


def test_a_second_invocation_trains_nothing(study, quick_data):
    out, summary, _ = study
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("model.pt")}
    lines: list[str] = []
    again = run_study(tiny_grid(), quick_data, out, log=lines.append)
    assert not any("training" in line or "resuming" in line for line in lines)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("model.pt")} == stamps
    assert again["variants"]["memory"]["frame_auc"] == summary["variants"]["memory"]["frame_auc"]


def test_an_interrupted_run_resumes(quick_data, tmp_path):
    spec = tiny_grid()
    spec.base = {"epochs": 2, "max_steps": 2}
    out = tmp_path / "study"
    run_study(spec, quick_data, out, only=["memory"], max_runs=1)
    run = out / "memory" / "seed0"
    # kill the run after its first epoch: keep one log line and no evaluation
    log = (run / "log.jsonl").read_text().splitlines()
    (run / "log.jsonl").write_text(log[0] + "\n")
    (run / "eval.json").unlink()
    lines: list[str] = []
    run_study(spec, quick_data, out, only=["memory"], max_runs=1, log=lines.append)
    assert "memory seed 0: resuming" in lines[0]


@contextmanager
def held_elsewhere(run: Path):
    """Another live process holding ``run``'s claim (the study's own claim_run) until the
    block ends; then it is killed, as a run killed mid-training is."""
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from mnad_lite.research.study import claim_run\n"
        "lock = claim_run(Path(sys.argv[1]))  # kept: a lock is released when collected\n"
        "assert lock is not None\n"
        "print('held', flush=True)\n"
        "time.sleep(600)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(run)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "held"
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_claims_skip_a_live_holder_and_free_with_a_killed_one(tmp_path):
    run = tmp_path / "v" / "seed0"
    lock = claim_run(run)  # free: claimed by this process
    assert lock is not None and claim_holder(run) == os.getpid()
    release_run(run, lock)
    assert claim_holder(run) is None and not (run / ".claim-pid").exists()
    with held_elsewhere(run) as pid:
        assert claim_run(run) is None and claim_holder(run) == pid
    assert claim_holder(run) is None  # killed: the OS dropped its lock
    lock = claim_run(run)
    assert lock is not None
    release_run(run, lock)


def test_a_run_claimed_by_a_live_process_is_skipped(quick_data, tmp_path):
    spec = tiny_grid()
    out = tmp_path / "study"
    lines: list[str] = []
    with held_elsewhere(out / "memory" / "seed0") as pid:
        run_study(spec, quick_data, out, only=["memory"], log=lines.append)
    assert f"memory seed 0: skipped, process {pid} is working on it" in lines
    assert not (out / "memory" / "seed0" / "model.pt").exists()
    assert (out / "memory" / "seed1" / "eval.json").is_file()
    assert not (out / "memory" / "seed1" / ".claim-pid").exists()  # released when done
    # the same-weights variant waits for its source; the killed holder's run is taken
    lines = []
    summary = run_study(spec, quick_data, out, log=lines.append)
    assert any(line.startswith("memory seed 0: training") for line in lines)
    assert summary["variants"]["memory"]["seeds"] == [0, 1]
    assert summary["variants"]["memory-no-test-update"]["seeds"] == [0, 1]
    assert not list(out.rglob(".claim-pid"))


def test_two_processes_share_a_study_and_train_each_run_once(quick_data, tmp_path):
    out = tmp_path / "study"
    code = (
        "import sys, torch; torch.set_num_threads(1)\n"
        "sys.path.insert(0, sys.argv[3])\n"
        "from test_study import tiny_grid\n"
        "from mnad_lite.research.study import run_study\n"
        "run_study(tiny_grid(), sys.argv[1], sys.argv[2], only=['memory', 'no-memory'])\n"
    )
    here = str(Path(__file__).parent)
    root = Path(here).parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([here, str(root / "tests"), str(root)])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(quick_data), str(out), here],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    trained = [
        line.split(":")[0]
        for text in outputs
        for line in text.splitlines()
        if ": training in" in line
    ]
    # every run trained exactly once between the two processes
    runs = [f"{v} seed {s}" for v in ("memory", "no-memory") for s in (0, 1)]
    assert sorted(trained) == sorted(runs)
    for v in ("memory", "no-memory"):
        for s in (0, 1):
            run = out / v / f"seed{s}"
            assert len((run / "log.jsonl").read_text().splitlines()) == 1
            assert (run / "eval.json").is_file()
    assert not list(out.rglob(".claim-pid"))


def test_status_says_where_every_run_stands(tmp_path, capsys):
    spec = tiny_grid()
    spec.base = {"epochs": 4}
    out = tmp_path / "study"
    with pytest.raises(ConfigError, match="no study here"):
        study_status(out)
    out.mkdir()
    (out / "study.json").write_text(json.dumps(spec.to_dict()))
    entry = json.dumps({"epoch": 0, "seconds": 30.0}) + "\n"
    finished = out / "memory" / "seed0"
    finished.mkdir(parents=True)
    (finished / "log.jsonl").write_text(entry * 4)
    (finished / "model.pt").write_bytes(b"")
    (finished / "eval.json").write_text(json.dumps({"frame_auc": 0.9123}))
    holder = ExitStack()
    pid = holder.enter_context(held_elsewhere(out / "memory" / "seed1"))
    (out / "memory" / "seed1" / "log.jsonl").write_text(entry)
    interrupted = out / "no-memory" / "seed0"
    interrupted.mkdir(parents=True)
    slow = json.dumps({"epoch": 1, "seconds": 600.0}) + "\n"  # the median ignores it
    (interrupted / "log.jsonl").write_text(entry + slow + entry)
    (interrupted / "last.pt").write_bytes(b"")
    with held_elsewhere(out / "no-memory" / "seed1"):
        pass  # killed before its first epoch: its lock is gone
    rows = {(r["variant"], r["seed"]): r for r in study_status(out)}
    assert len(rows) == 6
    assert rows["memory", 0] | {"minutes": 0} == {
        "variant": "memory",
        "seed": 0,
        "epochs": 4,
        "of": 4,
        "minutes": 0,
        "left": 0.0,
        "state": "finished",
        "frame_auc": 0.9123,
        "claim": None,
    }
    assert rows["memory", 0]["minutes"] == pytest.approx(2.0)
    assert rows["memory", 1]["left"] == pytest.approx(1.5)  # 3 epochs at 30 s
    assert rows["no-memory", 0]["left"] == pytest.approx(0.5)  # 1 epoch at the median, 30 s
    assert rows["memory-no-test-update", 1]["left"] is None  # it trains nothing
    assert rows["no-memory", 1]["left"] is None  # no epoch yet
    assert (rows["memory", 1]["state"], rows["memory", 1]["claim"]) == ("training", pid)
    assert rows["memory-no-test-update", 0]["state"] == "evaluating"  # its source is done
    assert rows["memory-no-test-update", 1]["state"] == "waits for memory"
    assert (rows["no-memory", 0]["state"], rows["no-memory", 0]["epochs"]) == ("training", 3)
    assert (rows["no-memory", 1]["state"], rows["no-memory", 1]["claim"]) == ("not started", None)
    with held_elsewhere(out / "no-memory" / "seed1"):  # a live process, before its 1st epoch
        starting = {(r["variant"], r["seed"]): r for r in study_status(out)}["no-memory", 1]
    assert (starting["state"], starting["epochs"], starting["left"]) == ("training", 0, None)
    text = status_text(study_status(out)).splitlines()
    assert len(text) == 8
    assert text[-1] == (
        "left: about 2 min of training in 2 started run(s) (at each one's median epoch so "
        "far), and 1 run(s) not started"
    )
    assert "finished, frame AUC 91.23" in text[1]
    assert f"(process {pid} is on it)" in "".join(text)
    assert "training (no process is on it: run the study again to resume)" in "".join(text)
    from mnad_lite.cli import main

    assert main(["study", "--out", str(out), "--status"]) == 0
    assert capsys.readouterr().out.splitlines() == text
    assert not (out / "summary.json").exists()  # --status changes nothing
    holder.close()


def test_a_changed_definition_is_refused(study, quick_data):
    out, _, _ = study
    spec = tiny_grid()
    spec.variants[1] = Variant("no-memory", train={"use_memory": False, "num_items": 5})
    with pytest.raises(ConfigError, match="variant no-memory was defined as"):
        run_study(spec, quick_data, out)


def test_grids_from_json_and_bad_grids(tmp_path):
    path = tmp_path / "grid.json"
    path.write_text(json.dumps(tiny_grid().to_dict()))
    assert load_grid(path).to_dict() == tiny_grid().to_dict()
    with pytest.raises(ConfigError, match="unknown study grid"):
        load_grid("nope")
    with pytest.raises(ConfigError, match="reference"):
        StudySpec("x", "quick", [0], [Variant("a")], "b")
    with pytest.raises(ConfigError, match="weights_from"):
        StudySpec("x", "quick", [0], [Variant("a", weights_from="c")], "a")
    assert [v.name for v, _ in builtin_grid("ped2").runs()[:6]] == [
        "memory",
        "no-memory",
        "memory-no-test-update",
        "memory",
        "no-memory",
        "memory-no-test-update",
    ]
    ped2 = builtin_grid("ped2")
    # the variants beyond the paper come last, after every seed of the paper's variants
    beyond = ["read-gradient", "sharp-read", "no-deep-skip", "no-deep-skip-no-memory"]
    assert [v.name for v, _ in ped2.runs()[-4:]] == beyond
    assert ped2.config(ped2.variant("read-gradient"), 0).read_gradient is True
    assert ped2.config(ped2.variant("sharp-read"), 0).read_temperature == 0.1
    no_skip = ped2.config(ped2.variant("no-deep-skip"), 0)
    pair = ped2.config(ped2.variant("no-deep-skip-no-memory"), 0)
    assert (no_skip.deep_skip, no_skip.use_memory, pair.deep_skip, pair.use_memory) == (
        False,
        True,
        False,
        False,
    )
    assert [v.name for v in ped2.variants if v.beyond_paper] == beyond


def test_paired_bootstrap_on_a_known_case():
    """Two videos; the variant ranks video 0 perfectly and the reference does not."""
    video = np.array(["a"] * 4 + ["b"] * 4)
    frame = np.tile(np.arange(4), 2)
    label = np.array([0, 0, 1, 1, 0, 1, 1, 0])
    ref = {
        "video": video,
        "frame": frame,
        "label": label,
        "score": np.array([0.9, 0.1, 0.2, 0.8, 0.1, 0.9, 0.8, 0.2]),
    }
    var = dict(ref, score=np.array([0.1, 0.2, 0.8, 0.9, 0.1, 0.9, 0.8, 0.2]))
    out = paired_bootstrap([var], [ref], resamples=500)
    expected = frame_auc(var["score"], label) - frame_auc(ref["score"], label)
    assert out["mean_diff"] == pytest.approx(expected)
    assert out["ci"][0] <= expected <= out["ci"][1] and out["resamples"] > 0
    same = paired_bootstrap([ref], [ref], resamples=100)
    assert same["mean_diff"] == 0 and same["ci"] == [0.0, 0.0]
    with pytest.raises(ConfigError, match="different frames"):
        paired_bootstrap([dict(ref, frame=frame + 1)], [ref])


def test_summarize_of_an_empty_study(tmp_path):
    (tmp_path / "study.json").write_text(json.dumps(tiny_grid().to_dict()))
    summary = summarize(tmp_path)
    assert summary["variants"] == {}
    # every run of the grid is pending, and says so in the compact form too
    expected = {"memory": [0, 1], "no-memory": [0, 1], "memory-no-test-update": [0, 1]}
    assert summary["pending"] == expected
    assert compact_summary(summary)["pending"] == expected


def test_summary_lists_the_runs_not_finished(study, tmp_path):
    out, summary, _ = study
    assert summary["pending"] == {}
    # a copy of the study with one run's scores gone: that run is pending, and leaves
    # its variant's statistics
    part = shutil.copytree(out, tmp_path / "part")
    (part / "no-memory" / "seed1" / "eval.json").unlink()
    partial = summarize(part)
    assert partial["pending"] == {"no-memory": [1]}
    assert partial["variants"]["no-memory"]["seeds"] == [0]
    assert compact_summary(partial)["pending"] == {"no-memory": [1]}


def test_compact_summary_keeps_what_the_reports_read(study, tmp_path):
    out, summary, _ = study
    compact = compact_summary(summary)
    assert set(compact) == {"study", "preset", "reference", "date", "machine", "config", "variants"}
    assert compact["config"] == summary["variants"]["memory"]["config"]
    for name, v in summary["variants"].items():
        c = compact["variants"][name]
        assert "runs" not in c and "config" not in c
        assert c["seeds"] == v["seeds"] and c["note"] == v["note"]
        assert c["beyond_paper"] == v["beyond_paper"]
        for key in ("frame_auc", "distance_auc", "items_used", "train_minutes"):
            if key in v and v[key]["mean"] is not None:
                assert c[key]["values"] == pytest.approx(v[key]["values"], rel=1e-5)
                assert c[key]["mean"] == pytest.approx(v[key]["mean"], rel=1e-5)
        for term, kinds in v["per_kind"].items():
            for kind, stats in kinds.items():
                kept = c["per_kind"][term][kind]["values"]
                assert kept == pytest.approx(stats["values"], rel=1e-5)
        assert ("vs_reference" in c) == ("vs_reference" in v)
    assert compact["variants"]["no-memory"]["config_changes"] == {"use_memory": False}
    assert compact["variants"]["memory"]["config_changes"] == {}
    # the reports read it as they read the full summary
    assert markdown(compact) == markdown(summary)
    # written small and readable, and read back equal
    source = out / "summary.json"
    target = tmp_path / "place-summary.json"
    written = write_compact_summary(source, target)
    assert json.loads(target.read_text()) == written
    assert written == compact_summary(json.loads(source.read_text()))
    assert len(target.read_text()) < len(source.read_text()) / 2
    # the command line writes the same file beside the summary
    from mnad_lite.cli import main

    cli_target = tmp_path / "cli-summary.json"
    assert main(["study", "--out", str(out), "--summary-only", "--compact", str(cli_target)]) == 0
    assert cli_target.read_text() == target.read_text()
    # a study that chose among its variants (study --choose) keeps the choice
    chose = tmp_path / "chose"
    chose.mkdir()
    (chose / "summary.json").write_text(source.read_text())
    choice = {"rule": "r", "size": [128, 128], "held_out_error": {"memory": 0.1234567891}}
    (chose / "choice.json").write_text(json.dumps({**choice, "chosen": "memory"}))
    with_choice = write_compact_summary(chose / "summary.json", tmp_path / "c.json")
    assert with_choice["choice"]["chosen"] == "memory"
    assert with_choice["choice"]["held_out_error"]["memory"] == pytest.approx(0.123457)
    assert {k: v for k, v in with_choice.items() if k != "choice"} == written


def test_dumps_compact_is_json_with_short_lines():
    data = {"a": {"mean": 0.5, "values": [0.25, 0.75]}, "b": [{"x": "y" * 120}], "c": []}
    text = dumps_compact(data, width=40)
    assert json.loads(text) == data
    assert '"a": {"mean": 0.5, "values": [0.25, 0.75]}' in text  # fits: one line
    assert text.count("\n") > 3


def fake_summary() -> dict:
    """Two variants over seeds [0, 1, 2] and [0, 2], with one per-kind term."""

    def stat(values):
        return {"mean": float(np.mean(values)), "std": None, "n": len(values), "values": values}

    return {
        "reference": "a",
        "variants": {
            "a": {
                "seeds": [0, 1, 2],
                "frame_auc": stat([0.70, 0.80, 0.75]),
                "per_kind": {"distance_auc": {"grass_walker": stat([0.60, 0.50, 0.40])}},
            },
            "b": {
                "seeds": [0, 2],
                "frame_auc": stat([0.72, 0.70]),
                "per_kind": {"distance_auc": {"grass_walker": stat([0.65, 0.45])}},
            },
        },
    }


def test_seed_change_pairs_seeds_and_computes_the_differences():
    s = fake_summary()
    assert seed_values(s, "a", "frame_auc") == {0: 0.70, 1: 0.80, 2: 0.75}
    assert seed_values(s, "b", "distance_auc", "grass_walker") == {0: 0.65, 2: 0.45}
    assert seed_values(s, "b", "psnr_auc", "grass_walker") == {}
    change = seed_change(s, "b", "a", "distance_auc", "grass_walker")
    assert change["n"] == 2 and list(change["per_seed"]) == [0, 2]  # seed 1: a only
    assert change["per_seed"] == pytest.approx({0: 0.05, 2: 0.05})
    assert change["mean"] == pytest.approx(0.05) and change["std"] == pytest.approx(0.0, abs=1e-12)
    assert (change["up"], change["down"]) == (2, 0)
    assert change["reference"] == {0: 0.60, 2: 0.40}
    total = seed_change(s, "b", "a", "frame_auc")
    assert total["per_seed"] == pytest.approx({0: 0.02, 2: -0.05})
    assert total["std"] == pytest.approx(np.std([0.02, -0.05], ddof=1))
    assert (total["up"], total["down"]) == (1, 1)
    missing = seed_change(s, "b", "a", "psnr_auc", "grass_walker")
    assert missing["n"] == 0 and missing["mean"] is None and missing["std"] is None
