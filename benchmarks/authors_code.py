"""The authors' own code, run from a copy the user gives: ``--authors-code DIR``.

``DIR`` is a clone of the authors' repository (https://github.com/cvlab-yonsei/MNAD).
Nothing of it is copied into this project: its ``model/`` folder is imported from
``DIR`` at run time, as a package of its own (``_mnad_authors_code``; their modules use
relative imports), and only these names are used:

* prediction: ``model/final_future_prediction_with_memory_spatial_sumonly_weight_ranking_top1.py``
  (``convAE``) and ``model/memory_final_spatial_sumonly_weight_ranking_top1.py``
  (``Memory``, whose training pass returns the separateness loss before the
  compactness loss);
* reconstruction: ``model/Reconstruction.py`` (``convAE``, losses in the other order).

Their network has fixed widths (64 to 512, decoder input 1024), so it stands for
mnad_lite's ``width=64`` model with the authors' settings only (no position channels,
Eq. 5 over all queries, the code forms of Eqs. 10 and 12). Its parameters get
mnad_lite's weights (same layers, other names: :data:`RENAMES`); their encoder's extra
batch norm, which its forward never uses, keeps its initial values.

Their training update allocates with ``torch.zeros(...).cuda()``; on a CPU,
:func:`cuda_as` makes ``Tensor.cuda`` return the tensor on the benchmark's device for
the duration of their call (nothing else of their code is changed).

What it computes is checked against mnad_lite and ``authors_algorithm.py`` before any
timing (``memory_bench.py``, ``speed.py``) and in ``tests/benchmarks`` when
``MNAD_AUTHORS_CODE=DIR`` is set.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from authors_algorithm import AuthorsMemoryOutput
from torch import Tensor, nn

from mnad_lite.model import MNAD

PACKAGE = "_mnad_authors_code"
PRED_MODEL = "final_future_prediction_with_memory_spatial_sumonly_weight_ranking_top1"
PRED_MEMORY = "memory_final_spatial_sumonly_weight_ranking_top1"
RECON_MODEL = "Reconstruction"

#: mnad_lite's parameter prefixes -> the authors' (the same layers in the same order).
RENAMES = (
    ("encoder.stages.0.", "encoder.moduleConv1."),
    ("encoder.stages.1.", "encoder.moduleConv2."),
    ("encoder.stages.2.", "encoder.moduleConv3."),
    ("encoder.stages.3.", "encoder.moduleConv4."),
    ("decoder.inner.", "decoder.moduleConv."),
    ("decoder.ups.0.", "decoder.moduleUpsample4."),
    ("decoder.blocks.0.", "decoder.moduleDeconv3."),
    ("decoder.ups.1.", "decoder.moduleUpsample3."),
    ("decoder.blocks.1.", "decoder.moduleDeconv2."),
    ("decoder.ups.2.", "decoder.moduleUpsample2."),
    ("decoder.head.", "decoder.moduleDeconv1."),
)
UNUSED = "encoder.moduleBatchNorm."  # in their encoder, never called


def load(directory: str | Path, name: str) -> types.ModuleType:
    """``DIR/model/<name>.py`` imported as ``_mnad_authors_code.<name>``."""
    root = Path(directory).expanduser().resolve() / "model"
    if not (root / f"{name}.py").is_file():
        raise FileNotFoundError(
            f"{directory}: no model/{name}.py; --authors-code takes a clone of "
            "https://github.com/cvlab-yonsei/MNAD"
        )
    package = sys.modules.get(PACKAGE)
    if package is None or list(package.__path__) != [str(root)]:
        for key in [k for k in sys.modules if k == PACKAGE or k.startswith(PACKAGE + ".")]:
            del sys.modules[key]
        package = types.ModuleType(PACKAGE)
        package.__path__ = [str(root)]
        sys.modules[PACKAGE] = package
    return importlib.import_module(f"{PACKAGE}.{name}")


@contextmanager
def cuda_as(device: torch.device | str) -> Iterator[None]:
    """Within the block, ``Tensor.cuda()`` moves to ``device`` (a no-op on CUDA)."""
    device = torch.device(device)
    if device.type == "cuda":
        yield
        return
    original = torch.Tensor.cuda
    torch.Tensor.cuda = lambda self, *args, **kwargs: self.to(device)  # type: ignore[method-assign]
    try:
        yield
    finally:
        torch.Tensor.cuda = original  # type: ignore[method-assign]


def theirs(name: str) -> str:
    """mnad_lite's parameter name -> the authors'."""
    for ours, their in RENAMES:
        if name.startswith(ours):
            return their + name[len(ours) :]
    raise KeyError(name)


def ours(name: str) -> str:
    """The authors' parameter name -> mnad_lite's."""
    for our, their in RENAMES:
        if name.startswith(their):
            return our + name[len(their) :]
    raise KeyError(name)


class AuthorsCodeMemory:
    """Their memory module (prediction file) for ``M`` items of ``C`` dimensions."""

    def __init__(self, directory: str | Path, num_items: int, feat_dim: int) -> None:
        module = load(directory, PRED_MEMORY)
        self.memory = module.Memory(num_items, feat_dim, feat_dim, 0.1, 0.1)

    def __call__(self, x: Tensor, items: Tensor) -> AuthorsMemoryOutput:
        """One training pass on a raw query map ``x`` ``[B, C, H, W]``."""
        with cuda_as(x.device):
            features, new_items, _, _, separateness, compactness = self.memory(x, items, True)
        return AuthorsMemoryOutput(features, compactness, separateness, new_items)


class AuthorsCodeMNAD(nn.Module):
    """Their ``convAE`` with ``reference``'s weights; ``forward(x, items, train) ->
    (prediction, AuthorsMemoryOutput)`` like ``authors_algorithm.AuthorsMNAD``
    (separateness 0 in eval mode, where their code does not compute it)."""

    def __init__(self, reference: MNAD, directory: str | Path) -> None:
        super().__init__()
        memory = reference.memory
        if memory is None or reference.width != 64 or reference.position != "none":
            raise ValueError(
                "the authors' code is the width-64 network with a memory and no position "
                f"channels; got width {reference.width}, position {reference.position!r}, "
                f"memory {memory is not None}"
            )
        if (memory.weight_norm, memory.loss_form, memory.margin) != ("all", "code", 1.0):
            raise ValueError("the authors' code is Eq. 5 over all queries, the code form")
        self.method = reference.method
        pred = reference.method == "pred"
        module = load(directory, PRED_MODEL if pred else RECON_MODEL)
        t_length = reference.t_length if pred else 2  # their recon reads 1 = 2 - 1 frame
        c = reference.feat_dim
        self.net = module.convAE(reference.in_channels, t_length, memory.num_items, c, c)
        state = {theirs(k): v for k, v in reference.state_dict().items() if k != "memory.items"}
        missing, unexpected = self.net.load_state_dict(state, strict=False)
        if unexpected or any(not k.startswith(UNUSED) for k in missing):
            raise ValueError(f"weights do not map: missing {missing}, unexpected {unexpected}")

    @staticmethod
    def our_name(name: str) -> str:
        """``net.<their name>`` -> mnad_lite's parameter name."""
        return ours(name.removeprefix("net."))

    def forward(
        self, x: Tensor, items: Tensor, train: bool = True
    ) -> tuple[Tensor, AuthorsMemoryOutput]:
        with cuda_as(x.device):
            out = self.net(x, items, train)
        prediction, features, new_items = out[0], out[2], out[3]
        if not train:  # pred: (..., compactness) last; recon: 7 outputs, compactness last
            zero = prediction.new_zeros(())
            return prediction, AuthorsMemoryOutput(features, out[-1], zero, new_items)
        if self.method == "pred":  # their memory returns (separateness, compactness)
            separateness, compactness = out[6], out[7]
        else:  # model/Memory.py returns (gathering = compactness, spreading = separateness)
            compactness, separateness = out[6], out[7]
        return prediction, AuthorsMemoryOutput(features, compactness, separateness, new_items)
