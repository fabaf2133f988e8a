"""Package a trained run as a model to commit: ``models/<name>/``.

    python scripts/package_model.py --run runs/ped2-lite --data ../shared/datasets/ped2 \
        --out models/ped2-lite

Writes ``model.pt`` (the selected weights as a ``state_dict`` with the run's configuration,
loaded with ``weights_only=True``), ``config.json``, ``log.jsonl`` and ``provenance.jsonl``
(how, where and when it trained), then evaluates the packaged model with the paper's
protocol on ``--data`` (:func:`mnad_lite.engine.evaluation.evaluate`, in a temporary
folder) and records the numbers in ``expected.json``: what
``tests/test_committed_model.py`` reproduces wherever the dataset exists. Refuses an
``--out`` that holds files, and a package over 5 MB.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

LIMIT_BYTES = 5 << 20
KEYS = ("frame_auc", "frame_auc_global", "frame_auc_macro", "psnr_auc", "distance_auc", "eer")


def package(run: Path, data: Path, out: Path) -> dict:
    """``out`` as described in the module docstring; returns ``expected.json``'s content."""
    import torch

    from mnad_lite.engine.checkpoint import load_checkpoint, save_checkpoint
    from mnad_lite.engine.config import Config
    from mnad_lite.engine.evaluation import evaluate

    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"error: {out}: holds files already; give an empty folder")
    payload = torch.load(run / "model.pt", map_location="cpu", weights_only=True)
    train = dict(payload["config"]["train"])
    train.pop("extra", None)  # a field of configurations saved before it was removed
    config = Config.from_dict(train)
    model, _ = load_checkpoint(run / "model.pt", map_location="cpu")
    out.mkdir(parents=True, exist_ok=True)
    full = {"model": config.model_args(), "train": config.to_dict()}
    save_checkpoint(out / "model.pt", model, full, epoch=int(payload.get("epoch", -1)))
    config.save(out / "config.json")
    for name in ("log.jsonl", "provenance.jsonl"):
        shutil.copy(run / name, out / name)
    size = sum(p.stat().st_size for p in out.iterdir())
    if size > LIMIT_BYTES:
        raise SystemExit(f"error: {out}: {size} bytes, over the {LIMIT_BYTES} allowed")
    with tempfile.TemporaryDirectory() as tmp:
        tic = time.perf_counter()
        report = evaluate(out, data, device="cpu", figures=False, progress=False, out=tmp)
        seconds = time.perf_counter() - tic
    expected = {
        **{k: report[k] for k in KEYS},
        "memory_updates": report["memory_updates"],
        "frames": report["frames"],
        "label_source": report["label_source"],
        "evaluated": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} ({torch.backends.cpu.get_cpu_capability()})",
        "torch": torch.__version__,
        "seconds": round(seconds, 1),
        "bytes": size,
        "from_run": str(run),
    }
    (out / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")
    return expected


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, type=Path, help="a finished run folder")
    parser.add_argument("--data", required=True, type=Path, help="its dataset (test videos)")
    parser.add_argument("--out", required=True, type=Path, help="models/<name>, empty or new")
    args = parser.parse_args(argv)
    expected = package(args.run, args.data, args.out)
    print(json.dumps(expected, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
