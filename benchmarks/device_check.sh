#!/usr/bin/env bash
# The GPU check, for a machine with CUDA (run from the repository root): the paper
# preset's training step and batch-1 inference at 256x256, ours against the authors'
# algorithm (speed.py), and the memory step forward + backward (memory_bench.py), on
# CUDA. Record its output in the README with the date and the device.
set -euo pipefail
PY=${PY:-.venv/bin/python}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
$PY benchmarks/speed.py --preset paper --device cuda --repeats 10
$PY benchmarks/memory_bench.py --device cuda --repeats 50
