"""The portable CPU mode: pinned kernels in a fresh process, refused in a native one, and
the same trained bits under emulated CPUs (where the machine mode's bits differ)."""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from mnad_lite.engine import portable
from mnad_lite.engine.config import preset
from mnad_lite.engine.runtime import pick_device
from mnad_lite.errors import ConfigError

# The emulated CPUs of `make test-cpus` (scripts/emulate_cpus.py)
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "emulate_cpus.py"
spec = importlib.util.spec_from_file_location("emulate_cpus", SCRIPT)
emulate_cpus = importlib.util.module_from_spec(spec)
spec.loader.exec_module(emulate_cpus)
AVX2, BASELINE = emulate_cpus.CPUS["avx2"], emulate_cpus.CPUS["baseline"]
X86 = platform.machine().lower() in ("x86_64", "amd64")


def python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter with ``env`` added (and no inherited pins)."""
    base = {
        k: v for k, v in os.environ.items() if k not in (*portable.ENVIRONMENT, "MNAD_REPRODUCIBLE")
    }
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={**base, **env},
        timeout=300,
    )


def last_json(result: subprocess.CompletedProcess[str]):
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_enable_pins_a_fresh_process_whatever_its_environment_says():
    code = """
        import json
        from mnad_lite.engine import portable
        print(json.dumps(portable.enable()))
    """
    state = last_json(python(code, **AVX2))  # an environment asking for AVX2 is overridden
    assert state["portable"] is True
    assert state["mkldnn"] is False and state["nnpack"] is False and state["threads"] == 1
    if X86:
        assert state["aten"] == "DEFAULT"
    if torch.backends.mkl.is_available():
        assert state["mkl"] == "COMPATIBLE"


def test_the_switch_pins_the_process_when_mnad_lite_is_imported_first():
    code = """
        import json, os
        import mnad_lite, torch
        print(json.dumps([torch.backends.cpu.get_cpu_capability(), os.environ["MKL_CBWR"]]))
    """
    aten, mkl = last_json(python(code, MNAD_REPRODUCIBLE="portable"))
    assert mkl == "COMPATIBLE"
    if X86:
        assert aten == "DEFAULT"


def test_a_process_that_ran_natively_is_refused_in_one_line():
    code = """
        import torch
        torch.manual_seed(0)
        torch.nn.functional.conv2d(torch.rand(1, 3, 16, 16), torch.rand(4, 3, 3, 3)).sum()
        torch.rand(64, 64) @ torch.rand(64, 64)
        from mnad_lite.engine import portable
        try:
            portable.enable()
        except Exception as err:
            print(type(err).__name__, "|", err)
    """
    result = python(code)
    assert result.returncode == 0, result.stderr
    if (
        torch.backends.cpu.get_cpu_capability() == "DEFAULT"
        and not torch.backends.mkl.is_available()
    ):
        pytest.skip("this CPU runs the baseline kernels natively: nothing to refuse")
    line = result.stdout.strip()
    assert line.startswith("ConfigError |") and "\n" not in line
    assert "restart" in line and "MNAD_REPRODUCIBLE=portable" in line


def test_the_portable_configuration_runs_on_one_cpu_thread():
    config = preset("quick", reproducible="portable")
    assert config.reproducible == "portable" and preset("quick").reproducible == "machine"
    with pytest.raises(ConfigError, match="on the CPU"):
        preset("quick", reproducible="portable", device="cuda")
    with pytest.raises(ConfigError, match="one thread"):
        preset("quick", reproducible="portable", num_threads=2)
    with pytest.raises(ConfigError, match="reproducible"):
        preset("quick", reproducible="exact")


def test_auto_means_the_cpu_in_a_portable_process(monkeypatch):
    monkeypatch.setenv("MNAD_REPRODUCIBLE", "portable")
    assert pick_device("auto") == torch.device("cpu")


TRAIN = """
    import hashlib, json, sys, tempfile
    from mnad_lite.data import generate
    from mnad_lite.engine.config import preset
    from mnad_lite.engine.train import train
    mode = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        data = generate(tmp + "/data", "quick", seed=0)
        config = preset("quick", reproducible=mode, num_threads=1, channels_last=False)
        model = train(config, data, tmp + "/run", progress=False).model
        digest = hashlib.sha256()
        for name, tensor in sorted(model.state_dict().items()):
            digest.update(tensor.contiguous().numpy().tobytes())
        print(json.dumps(digest.hexdigest()))
"""


def trained(mode: str, **env: str) -> str:
    code = f"import sys; sys.argv = ['-', {mode!r}]\n" + textwrap.dedent(TRAIN)
    return last_json(python(code, **env))


@pytest.mark.skipif(not X86, reason="the emulated CPUs are x86-64 instruction sets")
def test_training_gives_the_same_bits_on_emulated_cpus_only_when_portable():
    native, baseline = trained("portable"), trained("portable", **BASELINE)
    assert native == baseline == trained("portable", **AVX2)
    # the emulation does change a machine-mode run (else this test could not fail)
    if trained("machine") == trained("machine", **BASELINE):
        pytest.skip("this CPU's native kernels are the baseline ones: nothing was emulated")
