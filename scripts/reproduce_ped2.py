"""Reproduce MNAD on UCSD Ped2 at CPU size: train with and without memory, evaluate, tabulate.

    python scripts/reproduce_ped2.py --data data/ped2 --out runs/ped2 [--preset lite]

Each variant trains into ``OUT/<variant>`` (an interrupted run resumes), is evaluated
with the paper's protocol, and the table of MNAD.md section 6's evaluation choices is
printed and saved to ``OUT/summary.json``. Model selection: the last epoch (no test
labels are looked at before the final evaluation).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from mnad_lite.engine.config import preset
from mnad_lite.engine.train import train
from mnad_lite.metrics import TABLE_KEYS
from mnad_lite.pipeline.evaluation import evaluate

VARIANTS = {"memory": {}, "no-memory": {"use_memory": False}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/ped2"))
    parser.add_argument("--out", type=Path, default=Path("runs/ped2"))
    parser.add_argument("--preset", default="lite")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--variants", default="memory,no-memory")
    args = parser.parse_args()
    rows = []
    epochs = {} if args.epochs is None else {"epochs": args.epochs}
    for name in args.variants.split(","):
        config = preset(args.preset, **epochs, **VARIANTS[name])
        run = args.out / name
        if not (run / "eval.json").exists() or not (run / "model.pt").exists():
            resume = (run / "last.pt").exists()
            tic = time.perf_counter()
            result = train(config, args.data, run, resume=resume, progress=False)
            print(f"{name}: trained in {(time.perf_counter() - tic) / 60:.1f} min", flush=True)
            del result
        report = evaluate(run, args.data, progress=False)
        log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
        rows.append(
            {
                "variant": name,
                "train_minutes": sum(e["seconds"] for e in log) / 60,
                "epochs": len(log),
                **{k: report[k] for k in (*TABLE_KEYS, "fps", "memory_updates")},
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    summary = {
        "preset": args.preset,
        "config": preset(args.preset, **epochs).to_dict(),
        "machine": f"{platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}",
        "date": time.strftime("%Y-%m-%d"),
        "rows": rows,
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(
        "| variant | frame AUC (paper protocol) | global min-max | macro | PSNR only | EER "
        "| train min | fps |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['variant']} | {100 * r['frame_auc']:.1f} | {100 * r['frame_auc_global']:.1f}"
            f" | {100 * r['frame_auc_macro']:.1f} | {100 * r['psnr_auc']:.1f} | "
            f"{100 * r['eer']:.1f} | {r['train_minutes']:.0f} | {r['fps']:.0f} |"
        )


if __name__ == "__main__":
    main()
