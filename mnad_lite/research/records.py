"""A study's finished runs as small records to commit, and back into a study folder.

Runs are long and their folders (weights, checkpoints) are too big to commit, so a
machine that loses ``runs/`` loses the evidence the study summary was computed from. A
record keeps what :func:`~mnad_lite.research.summary.summarize` reads, without weights::

    RECORDS/
      study.json                        the grid, as in the study folder
      <variant>/seed<k>/config.json, log.jsonl, provenance.jsonl and probe.json (when
                                        there), eval.json
      <variant>/seed<k>/scores.csv.gz   scores.csv with the label column left empty

The frame labels are the dataset's annotations, which this project never copies, so a
record leaves them out and :func:`restore_records` reads them back from the dataset.
A restored run is finished (``eval.json``) but has no weights: it is summarised and
compared, never evaluated again.
"""

from __future__ import annotations

import csv
import gzip
import io
import shutil
from pathlib import Path

import numpy as np

from mnad_lite.engine.evaluation import SCORE_COLUMNS
from mnad_lite.errors import ConfigError, DataError
from mnad_lite.files import write_text_atomic
from mnad_lite.research.grids import stored_spec
from mnad_lite.research.study import _check_spec

#: The small files of a finished run that a record copies as they are.
RECORD_FILES = ("config.json", "log.jsonl", "provenance.jsonl", "eval.json", "probe.json")
SCORES = "scores.csv.gz"


def _unlabelled(scores_csv: Path) -> bytes:
    """``scores.csv`` with its label column emptied, gzip-compressed reproducibly."""
    with open(scores_csv, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows or rows[0][: len(SCORE_COLUMNS)] != list(SCORE_COLUMNS):
        raise DataError(f"{scores_csv}: not a scores.csv")
    col = SCORE_COLUMNS.index("label")
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(rows[0])
    writer.writerows(row[:col] + [""] + row[col + 1 :] for row in rows[1:])
    return gzip.compress(buf.getvalue().encode(), mtime=0)


def _write_bytes_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def save_records(out: str | Path, records: str | Path) -> list[str]:
    """Record every finished run of the study in ``out`` that ``records`` lacks.

    Returns the runs recorded (``variant/seed<k>``). A run already recorded is left as it
    is when its record is the same; a different record is refused (ConfigError naming the
    file): delete it first to replace it.
    """
    out, records = Path(out), Path(records)
    spec = stored_spec(out)
    _check_spec(records, stored_spec(out))  # the grid may grow; a changed variant is refused
    saved = []
    for variant in spec.variants:
        for seed in spec.seeds_of(variant):
            run = out / variant.name / f"seed{seed}"
            if not (run / "eval.json").is_file():
                continue
            files = {
                name: (run / name).read_bytes() for name in RECORD_FILES if (run / name).is_file()
            }
            files[SCORES] = _unlabelled(run / "scores.csv")
            target = records / variant.name / f"seed{seed}"
            if (target / "eval.json").is_file():
                for name, data in files.items():
                    old = target / name
                    same = old.is_file() and (
                        gzip.decompress(old.read_bytes()) == gzip.decompress(data)
                        if name == SCORES
                        else old.read_bytes() == data
                    )
                    if not same:
                        raise ConfigError(
                            f"{old}: differs from {run / name.removesuffix('.gz')}; "
                            "delete the record to replace it"
                        )
                continue
            target.mkdir(parents=True, exist_ok=True)
            # eval.json last: a record is complete once it has one
            for name in sorted(files, key=lambda n: n == "eval.json"):
                _write_bytes_atomic(target / name, files[name])
            saved.append(f"{variant.name}/seed{seed}")
    return saved


def restore_records(records: str | Path, out: str | Path, data: str | Path) -> list[str]:
    """Bring every recorded run that the study folder ``out`` lacks back into it, its
    frame labels read from the dataset ``data``. Returns the runs restored.

    A run ``out`` already finished is left alone; one that is training or interrupted is
    replaced by its record only after its folder is moved aside (``seed<k>.replaced``).
    """
    from mnad_lite.data import open_dataset

    records, out = Path(records), Path(out)
    spec = stored_spec(records)
    _check_spec(out, spec)
    dataset = None
    restored = []
    for variant in spec.variants:
        for seed in spec.seeds_of(variant):
            source = records / variant.name / f"seed{seed}"
            run = out / variant.name / f"seed{seed}"
            if not (source / "eval.json").is_file() or (run / "eval.json").is_file():
                continue
            if dataset is None:
                dataset = open_dataset(data)
            text = _labelled(source / SCORES, dataset, data)
            if run.exists():
                aside = run.with_name(run.name + ".replaced")
                if aside.exists():
                    raise ConfigError(f"{run}: unfinished, and {aside} exists; move one away")
                run.rename(aside)
            run.mkdir(parents=True)
            for name in RECORD_FILES:
                if (source / name).is_file() and name != "eval.json":
                    shutil.copyfile(source / name, run / name)
            write_text_atomic(run / "scores.csv", text)
            shutil.copyfile(source / "eval.json", run / "eval.json")
            restored.append(f"{variant.name}/seed{seed}")
    return restored


def _labelled(path: Path, dataset, data: str | Path) -> str:
    """The recorded scores with their label column filled from the dataset."""
    try:
        rows = list(csv.reader(io.StringIO(gzip.decompress(path.read_bytes()).decode())))
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read the recorded scores ({err})") from None
    if not rows or rows[0][: len(SCORE_COLUMNS)] != list(SCORE_COLUMNS):
        raise DataError(f"{path}: not a recorded scores.csv")
    col = SCORE_COLUMNS.index("label")
    body = rows[1:]
    names = np.array([r[0] for r in body], dtype=object)
    frames = np.array([int(r[1]) for r in body], dtype=np.int64)
    labels = np.empty(len(body), dtype=np.int64)
    for name in dict.fromkeys(names):
        try:
            video = dataset.video(name, "testing")
        except KeyError:
            raise DataError(f"{path}: test video {name!r} is not in {data}") from None
        at = np.flatnonzero(names == name)
        if video.labels is None:
            raise DataError(f"{path}: {data} has no labels for test video {name!r}")
        if frames[at].max() >= len(video.labels):
            raise DataError(
                f"{path}: frame {int(frames[at].max())} of {name!r} is beyond its "
                f"{len(video.labels)} frames in {data}"
            )
        labels[at] = video.labels[frames[at]]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(rows[0])
    writer.writerows(
        r[:col] + [str(int(x))] + r[col + 1 :] for r, x in zip(body, labels, strict=True)
    )
    return buf.getvalue()
