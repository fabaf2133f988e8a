#!/usr/bin/env bash
# The GPU check, for a machine with CUDA (run from the repository root): the paper
# preset's training step and batch-1 inference at 256x256, ours against the authors'
# algorithm (speed.py), and the memory step forward + backward (memory_bench.py), on
# CUDA. AUTHORS_CODE=DIR (a clone of github.com/cvlab-yonsei/MNAD) adds the authors'
# own code to both. Record its output in the README with the date and the device.
set -euo pipefail
PY=${PY:-.venv/bin/python}
AUTHORS=()
if [ -n "${AUTHORS_CODE:-}" ]; then AUTHORS=(--authors-code "$AUTHORS_CODE"); fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
$PY benchmarks/speed.py --preset paper --device cuda --repeats 10 ${AUTHORS[@]+"${AUTHORS[@]}"}
$PY benchmarks/memory_bench.py --device cuda --repeats 50 ${AUTHORS[@]+"${AUTHORS[@]}"}
