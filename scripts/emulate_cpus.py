"""The course under emulated CPUs: does every x86-64 CPU reproduce it? (``make test-cpus``)

    python scripts/emulate_cpus.py                 # every CPU below: fingerprint + quick nbval
    python scripts/emulate_cpus.py --cpu baseline  # one of them

Each emulated CPU is an environment that caps the instruction set every library of the
data and training path may use: PyTorch's ATen kernels, oneDNN, MKL, NumPy, OpenCV,
libjpeg-turbo (JPEG frames) and glibc's libm (through its ``hwcaps`` tunable). For each,
from an empty cache (a temporary ``MNAD_CACHE``): the quick fingerprint chain against
``notebooks/fingerprints.json``, then the quick notebooks under nbval. Portable runs must
pass under all of them; a machine-mode run would not (``tests/engine/test_portable.py``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: name -> the environment that emulates that CPU on a newer x86-64 one.
CPUS: dict[str, dict[str, str]] = {
    "native": {},
    "avx2": {  # an AVX2 CPU without AVX-512 (Haswell to Alder Lake, Zen 1-3)
        "ATEN_CPU_CAPABILITY": "avx2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "MKL_CBWR": "AVX2",
        "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
        "OPENCV_CPU_DISABLE": "AVX512-SKX,AVX512-CLX",
        "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX512F",
    },
    "baseline": {  # SSE4.1 at most: no AVX, no FMA (libm takes its non-FMA exp and log)
        "ATEN_CPU_CAPABILITY": "default",
        "ONEDNN_MAX_CPU_ISA": "SSE41",
        "MKL_CBWR": "COMPATIBLE",
        "NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR",
        "OPENCV_CPU_DISABLE": "SSE4.2,AVX,FP16,AVX2,AVX_VNNI,AVX512-SKX,AVX512-CLX",
        "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX512F,-AVX2,-FMA,-AVX",
        "JSIMD_FORCENONE": "1",
    },
}


def check(cpu: str, notebooks: list[str]) -> list[tuple[str, bool, float]]:
    """(step, passed, seconds) for the fingerprint and the quick notebooks under ``cpu``."""
    results = []
    with tempfile.TemporaryDirectory(prefix=f"mnad-cpu-{cpu}-") as cache:
        env = {**os.environ, **CPUS[cpu], "MNAD_CACHE": cache, "MNAD_QUICK": "1"}
        env.pop("MNAD_REPRODUCIBLE", None)
        steps = {
            "fingerprint": [sys.executable, "-m", "mnad_lite.course.fingerprint", "--quick"]
            + ["--check", str(ROOT / "notebooks" / "fingerprints.json")],
            "notebooks": [sys.executable, "-m", "pytest", "-q", "--nbval-lax"]
            + ["-p", "no:cacheprovider", *notebooks],
        }
        for step, command in steps.items():
            tic = time.perf_counter()
            done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
            passed = done.returncode == 0
            if not passed:
                print(f"--- {cpu}: {step} failed:\n{(done.stdout + done.stderr)[-4000:]}")
            results.append((step, passed, time.perf_counter() - tic))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cpu", choices=list(CPUS), action="append", help="default: all")
    parser.add_argument("notebooks", nargs="*", default=["notebooks/"])
    args = parser.parse_args(argv)
    failed = False
    for cpu in args.cpu or list(CPUS):
        for step, passed, seconds in check(cpu, args.notebooks):
            print(f"{cpu:<9} {step:<12} {'passed' if passed else 'FAILED'} ({seconds:.0f} s)")
            failed |= not passed
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
