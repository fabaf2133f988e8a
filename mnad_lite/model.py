"""The MNAD network: U-Net encoder, memory, decoder (MNAD.md section 2).

Shapes for the paper's prediction network (width 64, 3 channels, t_length 5, 256x256)::

    frames  [B, 12, 256, 256]   4 past frames stacked on channels
    encoder stages 64@256, 128@128, 256@64 (skips, before pooling), 512@32 (queries)
    memory  [B, 512, 32, 32] -> [B, 1024, 32, 32]   concat(q, read), Eqs. 1-2
    decoder 1024 -> 512 -> up 256 (+256 skip) -> up 128 (+128 skip) -> up 64 (+64 skip)
            -> head 128 -> 64 -> 64 -> 3, tanh
    prediction [B, 3, 256, 256]

``width`` scales every stage (``width * (1, 2, 4, 8)``; feat_dim = 8 * width), so a
CPU-sized model is the same architecture, narrower. Reconstruction (``method="recon"``)
reads one frame and has no skip connections, keeping the decoder widths that the
concatenations would have given.

Beyond the paper, ``position`` makes the queries position-aware (off by default; see
:class:`MNAD` and :func:`coordinate_channels`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from mnad_lite.errors import MNADError
from mnad_lite.forms import Form
from mnad_lite.memory import Memory, MemoryOutput, WeightNorm

Method = Literal["pred", "recon"]
METHODS = ("pred", "recon")
Position = Literal["none", "input", "query"]
#: Beyond the paper: where coordinate channels (x, y) are appended (``"none"``: the paper).
POSITIONS = ("none", "input", "query")
#: Edits (decoder input, skips) before the decoder: the probes of mnad_lite.research.probe.
Cut = Callable[[Tensor, list[Tensor]], tuple[Tensor, list[Tensor]]]


def coordinate_channels(x: Tensor) -> Tensor:
    """Two channels (x, y) of pixel-centre coordinates in [-1, 1] for a map ``[B, *, H, W]``.

    Returns ``[B, 2, H, W]`` (dtype and device of ``x``): channel 0 is x (left -1, right
    +1), channel 1 is y (top -1, bottom +1), the same for every sample (CoordConv, Liu et
    al. 2018). Beyond the paper.
    """
    b, _, h, w = x.shape
    ys = (torch.arange(h, device=x.device, dtype=x.dtype) + 0.5) * (2 / h) - 1
    xs = (torch.arange(w, device=x.device, dtype=x.dtype) + 0.5) * (2 / w) - 1
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=0)  # [2, H, W]
    return grid.unsqueeze(0).expand(b, -1, -1, -1)


def conv_bn_relu(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


def conv_block(c_in: int, c_out: int, plain_end: bool = False) -> nn.Sequential:
    """Two conv3x3-BN-ReLU; with ``plain_end`` the second is a plain conv (last encoder stage)."""
    if plain_end:
        return nn.Sequential(*conv_bn_relu(c_in, c_out), nn.Conv2d(c_out, c_out, 3, padding=1))
    return nn.Sequential(*conv_bn_relu(c_in, c_out), *conv_bn_relu(c_out, c_out))


def up_block(c_in: int, c_out: int) -> nn.Sequential:
    """Transposed conv 3x3, stride 2 (doubles H and W), BN, ReLU."""
    return nn.Sequential(
        nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class Encoder(nn.Module):
    """Four stages of two 3x3 convs with max-pooling between; the last ends in a plain conv.

    ``forward(x [B, c_in, H, W]) -> (queries [B, 8w, H/8, W/8], skips)`` where ``skips``
    are the first three stage outputs ``[B, w, H, W]``, ``[B, 2w, H/2, W/2]``,
    ``[B, 4w, H/4, W/4]``.
    """

    def __init__(self, c_in: int, width: int = 64) -> None:
        super().__init__()
        w = width
        self.stages = nn.ModuleList(
            [
                conv_block(c_in, w),
                conv_block(w, 2 * w),
                conv_block(2 * w, 4 * w),
                conv_block(4 * w, 8 * w, plain_end=True),  # queries may be negative
            ]
        )
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        skips = []
        for stage in self.stages[:-1]:
            x = stage(x)
            skips.append(x)
            x = self.pool(x)
        return self.stages[-1](x), skips


class Decoder(nn.Module):
    """Upsampling path with skip concatenation (``skips=True``) or without (reconstruction).

    ``forward(z [B, c_in, H/8, W/8], skips) -> frame [B, c_out, H, W]`` in [-1, 1].
    ``deep_skip=False`` (beyond the paper) leaves out the deepest skip, the first one
    concatenated (``[B, 4w, H/4, W/4]``).
    """

    def __init__(
        self, c_in: int, c_out: int, width: int = 64, skips: bool = True, deep_skip: bool = True
    ) -> None:
        super().__init__()
        w = width
        # which of the three up levels concatenate a skip (deepest first)
        self.concat = [skips and deep_skip, skips, skips]
        self.inner = conv_block(c_in, 8 * w)
        # up halves the width where a skip concatenation restores it, else keeps the
        # width the concatenation would have given (reconstruction, or no deep skip)
        ups = [(8 * w, 4 * w), (4 * w, 2 * w), (2 * w, w)]
        ups = [(a, b if cat else a) for (a, b), cat in zip(ups, self.concat, strict=True)]
        self.ups = nn.ModuleList([up_block(a, b) for a, b in ups])
        self.blocks = nn.ModuleList([conv_block(8 * w, 4 * w), conv_block(4 * w, 2 * w)])
        self.head = nn.Sequential(
            *conv_bn_relu(2 * w, w),
            *conv_bn_relu(w, w),
            nn.Conv2d(w, c_out, 3, padding=1),
            nn.Tanh(),
        )

    def forward(self, z: Tensor, skips: list[Tensor] | None = None) -> Tensor:
        """``z``: the decoder input ``[B, c_in, H/8, W/8]`` (``concat(q, p̂)`` with memory)."""
        return self.up_path(self.inner(z), skips)

    def up_path(self, x: Tensor, skips: list[Tensor] | None) -> Tensor:
        """From the first block's output ``[B, 8w, H/8, W/8]`` to the frame."""
        for i, up in enumerate(self.ups):
            x = up(x)
            if self.concat[i]:
                assert skips is not None
                x = torch.cat([skips[-1 - i], x], dim=1)  # (skip, upsampled) as the authors
            x = self.blocks[i](x) if i < len(self.blocks) else x
        return self.head(x)


@dataclass
class ModelOutput:
    """What :class:`MNAD` returns: the prediction Î ``[B, in_channels, H, W]`` in [-1, 1],
    the unit query map ``[B, C, H/8, W/8]`` (the raw encoder output without memory) and
    the memory's outputs (losses, read weights, distance; None without memory)."""

    prediction: Tensor
    queries: Tensor
    memory: MemoryOutput | None

    @property
    def compactness(self) -> Tensor:
        return self.memory.compactness if self.memory else self.prediction.new_zeros(())

    @property
    def separateness(self) -> Tensor:
        return self.memory.separateness if self.memory else self.prediction.new_zeros(())


class MNAD(nn.Module):
    """The MNAD network for future-frame prediction or reconstruction.

    Args:
        method: ``"pred"`` (predict frame t from t-4..t-1) or ``"recon"`` (one frame).
        in_channels: channels of one frame (3 in the authors' code, 1 for gray).
        t_length: frames per clip including the target (5 for pred; 1 for recon).
        width: base width w of the U-Net (64 in the paper).
        num_items: M, memory items.
        use_memory: False gives the no-memory baseline (the decoder reads the raw
            encoder output, C channels).
        weight_norm, loss_form, margin, distance_form: passed to
            :class:`mnad_lite.memory.Memory`.
        position: **beyond the paper** (``"none"``, the paper's model, by default):
            coordinate channels (x, y) appended to the encoder input (``"input"``,
            CoordConv) or to the unit query map before the memory (``"query"``: ``q =
            normalize(concat(normalize(z), x, y))``, C + 2 dimensions, no new parameter),
            so an item is a prototype of what *and where*. Why this form: docs/place.md.
        read_temperature, read_gradient: **beyond the paper**, passed to
            :class:`mnad_lite.memory.Memory` (1 and False: the paper's read).
        deep_skip: **beyond the paper**: False leaves out the deepest skip (prediction
            only), so the decoder sees below 1/2 resolution through ``concat(q, p̂)`` only.

    ``forward(x, update_memory=None)`` takes ``[B, in_channels * (t_length - 1), H, W]``
    (``[B, in_channels, H, W]`` for recon), H and W divisible by 8.
    """

    def __init__(
        self,
        method: Method = "pred",
        in_channels: int = 3,
        t_length: int | None = None,
        width: int = 64,
        num_items: int = 10,
        use_memory: bool = True,
        weight_norm: WeightNorm = "all",
        loss_form: Form = "code",
        margin: float = 1.0,
        distance_form: Form = "code",
        position: Position = "none",
        read_temperature: float = 1.0,
        read_gradient: bool = False,
        deep_skip: bool = True,
    ) -> None:
        super().__init__()
        if position not in POSITIONS:
            raise MNADError(f"position must be one of {POSITIONS}, got {position!r}")
        if method not in METHODS:
            raise MNADError(f"method must be one of {METHODS}, got {method!r}")
        if t_length is None:
            t_length = 5 if method == "pred" else 1
        if method == "pred" and t_length < 2:
            raise MNADError(f"prediction needs t_length >= 2, got {t_length}")
        if method == "recon" and t_length != 1:
            raise MNADError(f"reconstruction uses t_length = 1, got {t_length}")
        if method == "recon" and not deep_skip:
            raise MNADError("deep_skip=False applies to prediction: reconstruction has no skips")
        if in_channels < 1 or width < 1:
            raise MNADError(f"in_channels and width must be >= 1, got {in_channels}, {width}")
        self.method, self.in_channels, self.t_length = method, in_channels, t_length
        self.width, self.use_memory, self.deep_skip = width, use_memory, deep_skip
        self.position: Position = position
        self.input_channels = in_channels * max(t_length - 1, 1)
        # beyond the paper: +2 coordinate channels at the encoder input or on the queries
        extra_in, extra_q = (2 if position == "input" else 0), (2 if position == "query" else 0)
        self.encoder = Encoder(self.input_channels + extra_in, width)
        self.feat_dim = 8 * width + extra_q  # C: query and item dimension
        self.memory = (
            Memory(
                num_items,
                self.feat_dim,
                weight_norm,
                margin,
                loss_form,
                distance_form=distance_form,
                read_temperature=read_temperature,
                read_gradient=read_gradient,
            )
            if use_memory
            else None
        )
        dec_in = 2 * self.feat_dim if use_memory else self.feat_dim
        self.decoder = Decoder(dec_in, in_channels, width, method == "pred", deep_skip)

    def check_input(self, x: Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.input_channels or x.shape[2] % 8 or x.shape[3] % 8:
            raise MNADError(
                f"MNAD({self.method}) expects [B, {self.input_channels}, H, W] with H and W "
                f"divisible by 8, got {tuple(x.shape)}"
            )

    def encode(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Encoder only: ``(query map [B, C, h, w], skips)``; raw encoder output, except
        with ``position="query"``: ``concat(normalize(z), x, y)`` (beyond the paper)."""
        self.check_input(x)
        if self.position == "input":
            x = torch.cat([x, coordinate_channels(x)], dim=1)
        z, skips = self.encoder(x)
        if self.position == "query":
            z = torch.cat([nn.functional.normalize(z, dim=1), coordinate_channels(z)], dim=1)
        return z, skips

    def decode(
        self,
        z: Tensor,
        skips: list[Tensor],
        update_memory: bool | None = None,
        cut: Cut | None = None,
    ) -> ModelOutput:
        """Memory (read, losses, maybe update) and decoder on an encoded query map; ``cut``
        (beyond the paper) edits the decoder input and skips first, to probe a path."""
        if self.memory is not None:
            mem = self.memory(z, update=update_memory)
            queries = mem.queries
            features = mem.features.to(z.dtype)  # concat(q, p̂)   [B, 2C, h, w]
        else:
            mem, features, queries = None, z, z
        if cut is not None:
            features, skips = cut(features, list(skips))
        prediction = self.decoder(features, skips if self.method == "pred" else None)
        return ModelOutput(prediction=prediction, queries=queries, memory=mem)

    def forward(self, x: Tensor, update_memory: bool | None = None) -> ModelOutput:
        """Predict (or reconstruct) a frame; updates the memory in training mode by default."""
        z, skips = self.encode(x)
        return self.decode(z, skips, update_memory)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (memory items are a buffer, not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
