"""Portable CPU runs: the same bits on every x86-64 CPU (``reproducible="portable"``).

A seeded CPU run is deterministic on one machine, not across machines: PyTorch picks
kernels by the instruction set it finds (AVX-512, AVX2 ...), and each sums floats in its
own order. The last bits differ, and training amplifies them into other weights, other
AUCs. The portable mode pins every choice that moved the weights of the quick course run
when another CPU was emulated on this project's machine (an AVX-512 Xeon), and says which
did not:

=========================== ====================================== =====================
what dispatches on the CPU  pinned to                              emulated, it moved
=========================== ====================================== =====================
ATen's vectorised kernels   ``ATEN_CPU_CAPABILITY=default``        the weights
oneDNN convolutions         off (``torch.backends.mkldnn``)        the weights
MKL's GEMM (convolutions    ``MKL_CBWR=COMPATIBLE``: the SSE2      the weights
without oneDNN)             branch, the same on Intel and AMD
NNPACK convolutions         off (``torch.backends.nnpack``)        nothing (it cannot be
                                                                   emulated: off anyway)
threads                     one                                    (not emulated: one
                                                                   thread, one order)
NumPy, OpenCV, libjpeg-     not pinned                             nothing: neither the
turbo, glibc's libm                                                frames nor the weights
=========================== ====================================== =====================

The emulations are the environments of ``scripts/emulate_cpus.py`` (``make test-cpus``);
``tests/engine/test_portable.py`` trains under them, and the course's fingerprint chain
(:mod:`mnad_lite.course.fingerprint`) is checked by every CI run. The cost, measured with
``benchmarks/portable.py`` on the AVX-512 machine (2026-12-06): a course-model training
step takes 4.3x the native time, batched scoring 6.1x (MKL's SSE2 GEMM under PyTorch's
slow convolution path does most of it).

Two of the pins must be in place before ATen dispatches its first kernel and before MKL
runs its first GEMM; after that a process cannot change them. :func:`enable` sets both
(MKL through its own ``mkl_cbwr_set``, which it then reads back) and raises a one-line
:class:`~mnad_lite.errors.ConfigError` when the process has already run a tensor
operation natively, so a portable run can never silently be a native one. Setting
``MNAD_REPRODUCIBLE=portable`` in the environment pins a process from the moment
:mod:`mnad_lite` is imported (:func:`pin_environment`, before torch loads), and every
process it starts.

On other architectures (ARM, Apple silicon) the same switches pin what exists there; the
bits then agree among machines of that architecture at best, not with x86-64. GPUs are
out of scope: CUDA kernels are chosen per GPU model.
"""

from __future__ import annotations

import ctypes
import functools
import os
from pathlib import Path
from typing import Any

from mnad_lite.engine.config import SWITCH
from mnad_lite.errors import ConfigError

#: Variables read once by the libraries (ATen at its first kernel, MKL at its first
#: call): set before torch runs anything, inherited by every process started later.
ENVIRONMENT = {
    "ATEN_CPU_CAPABILITY": "default",
    "MKL_CBWR": "COMPATIBLE",
}

_MKL_CBWR_BRANCH = 1  # mkl_cbwr.h: ask for the branch
_MKL_CBWR_COMPATIBLE = 3  # mkl_cbwr.h: the SSE2 branch without rcpps/rsqrtps


def pin_environment() -> None:
    """Write :data:`ENVIRONMENT` (and the switch) into ``os.environ``, overriding what is
    there: every library that reads them later, and every child process, is pinned."""
    os.environ.update(ENVIRONMENT)
    os.environ[SWITCH] = "portable"


@functools.cache
def _mkl() -> Any | None:
    """MKL's CNR functions inside torch's own library, or None (no MKL in this build)."""
    import torch

    for name in ("libtorch_cpu.so", "libtorch_cpu.dylib"):
        path = Path(torch.__file__).parent / "lib" / name
        if path.is_file():
            try:
                lib = ctypes.CDLL(str(path))
                get, set_ = lib.mkl_serv_cbwr_get, lib.mkl_serv_cbwr_set
            except (OSError, AttributeError):
                return None
            get.restype = set_.restype = ctypes.c_int
            get.argtypes = set_.argtypes = [ctypes.c_int]
            return lib
    return None


def enable() -> dict[str, Any]:
    """Make this process portable (idempotent); returns :func:`state`.

    Sets the environment (:func:`pin_environment`), turns oneDNN and NNPACK off, uses
    one thread, and checks that ATen runs its baseline kernels and MKL its compatible
    branch.

    Raises:
        ConfigError: the process already ran tensor code with the native kernels (say,
            a notebook cell before this one); restart it, or set
            ``MNAD_REPRODUCIBLE=portable`` before Python starts.
    """
    pin_environment()
    import torch

    lib = _mkl()
    if lib is not None and lib.mkl_serv_cbwr_get(_MKL_CBWR_BRANCH) != _MKL_CBWR_COMPATIBLE:
        lib.mkl_serv_cbwr_set(_MKL_CBWR_COMPATIBLE)  # refused once MKL has run
    torch.backends.mkldnn.enabled = False
    torch.backends.nnpack.set_flags(False)
    torch.set_num_threads(1)
    now = state()
    wrong = []
    if now["aten"] != "DEFAULT" and _x86():
        wrong.append(f"ATen already picked its {now['aten']} kernels")
    if now["mkl"] not in (None, "COMPATIBLE"):
        wrong.append(f"MKL already runs its {now['mkl']} branch")
    if wrong:
        raise ConfigError(
            "portable CPU mode: this process already ran tensor code natively ("
            + "; ".join(wrong)
            + f"); restart it (a notebook: restart the kernel) or start it with {SWITCH}=portable"
        )
    return now


def _x86() -> bool:
    import platform

    return platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")


def state() -> dict[str, Any]:
    """What this process runs now: ``aten`` (ATen's kernel set), ``mkl`` (MKL's branch:
    ``COMPATIBLE``, ``AUTO``, ``native`` or None without MKL), ``mkldnn``, ``nnpack``,
    ``threads`` and ``portable`` (all pinned)."""
    import torch

    lib = _mkl()
    mkl = None
    if lib is not None:
        branch = lib.mkl_serv_cbwr_get(_MKL_CBWR_BRANCH)
        mkl = {_MKL_CBWR_COMPATIBLE: "COMPATIBLE", 2: "AUTO", 1: "native"}.get(branch, str(branch))
    aten = torch.backends.cpu.get_cpu_capability()
    out = {
        "aten": aten,
        "mkl": mkl,
        "mkldnn": bool(torch.backends.mkldnn.enabled),
        "nnpack": bool(torch._nnpack_available() and torch._C._get_nnpack_enabled()),
        "threads": torch.get_num_threads(),
    }
    out["portable"] = (
        (aten == "DEFAULT" or not _x86())
        and mkl in (None, "COMPATIBLE")
        and not out["mkldnn"]
        and not out["nnpack"]
        and out["threads"] == 1
    )
    return out
