"""Study grids: the variants of a study (one configuration change each), their seeds and
the reference, the builtin grids (``ped2``, ``quick``) and grids from JSON files."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mnad_lite.errors import ConfigError


@dataclass
class Variant:
    """One configuration of a study.

    Attributes:
        name: folder name (letters, digits, ``-`` and ``_``).
        train: configuration overrides (fields of :class:`mnad_lite.config.Config`).
        evaluate: evaluation options (``test_update``).
        weights_from: reuse the trained runs of this variant (same seeds) and only
            evaluate differently (e.g. the test-time update off: no extra training).
        seeds: seeds of this variant (None: the study's seeds).
        stage: runs are made stage by stage (1 first), then seed by seed.
        note: what the variant tests; ``beyond_paper`` marks variants outside the paper.
    """

    name: str
    train: dict[str, Any] = field(default_factory=dict)
    evaluate: dict[str, Any] = field(default_factory=dict)
    weights_from: str | None = None
    seeds: list[int] | None = None
    stage: int = 1
    note: str = ""
    beyond_paper: bool = False

    def definition(self) -> dict[str, Any]:
        """What makes two variants the same (seeds and stage may change)."""
        return {
            "train": self.train,
            "evaluate": self.evaluate,
            "weights_from": self.weights_from,
        }


@dataclass
class StudySpec:
    """A grid: a preset with base overrides, variants, seeds and the reference variant."""

    name: str
    preset: str
    seeds: list[int]
    variants: list[Variant]
    reference: str
    base: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ConfigError(f"study {self.name}: variant names repeat: {names}")
        for v in self.variants:
            if not v.name or not all(c.isalnum() or c in "-_" for c in v.name):
                raise ConfigError(f"study {self.name}: bad variant name {v.name!r}")
            if v.weights_from is not None and v.weights_from not in names:
                raise ConfigError(f"variant {v.name}: weights_from {v.weights_from!r} unknown")
            if set(v.evaluate) - {"test_update"}:
                raise ConfigError(f"variant {v.name}: evaluate accepts only test_update")
        if self.reference not in names:
            raise ConfigError(f"study {self.name}: reference {self.reference!r} is no variant")

    def seeds_of(self, variant: Variant) -> list[int]:
        if variant.weights_from is not None:
            source = self.variant(variant.weights_from)
            return variant.seeds or self.seeds_of(source)
        return variant.seeds or self.seeds

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        known = ", ".join(v.name for v in self.variants)
        raise ConfigError(f"study {self.name}: no variant {name!r} (variants: {known})")

    def config(self, variant: Variant, seed: int):
        """The :class:`~mnad_lite.config.Config` a variant trains with for ``seed``."""
        from mnad_lite.engine.config import preset

        trained = self.variant(variant.weights_from) if variant.weights_from else variant
        return preset(self.preset, **{**self.base, **trained.train, "seed": seed})

    def selection(self, only: list[str] | None) -> list[str]:
        """The variants to make for ``only`` (None: all), with the variants whose weights
        they reuse, in the grid's order; ConfigError naming an unknown variant."""
        if only is None:
            return [v.name for v in self.variants]
        wanted = set()
        for name in only:
            variant = self.variant(name)
            while variant.weights_from is not None:
                wanted.add(variant.name)
                variant = self.variant(variant.weights_from)
            wanted.add(variant.name)
        return [v.name for v in self.variants if v.name in wanted]

    def runs(self) -> list[tuple[Variant, int]]:
        """Every (variant, seed), in the order they are made."""
        order = []
        for i, v in enumerate(self.variants):
            source_stage = self.variant(v.weights_from).stage if v.weights_from else v.stage
            for k, seed in enumerate(self.seeds_of(v)):
                order.append(((max(v.stage, source_stage), k, i), v, seed))
        return [(v, s) for _, v, s in sorted(order, key=lambda item: item[0])]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudySpec:
        try:
            variants = [Variant(**v) for v in data["variants"]]
            return cls(**{**data, "variants": variants})
        except (KeyError, TypeError) as err:
            raise ConfigError(f"not a study definition ({err})") from None


def _ped2_extras() -> list[Variant]:
    """The Ped2 grid's variants beyond memory / no-memory / update off (one seed each)."""
    return [
        Variant(
            "no-memory-losses",
            train={"lambda_compact": 0.0, "lambda_separate": 0.0},
            seeds=[0],
            stage=2,
            note="memory read and update kept, λ_c = λ_s = 0 (Eq. 8)",
        ),
        Variant(
            "paper-forms",
            train={"weight_norm": "assigned", "loss_form": "paper"},
            seeds=[0],
            stage=2,
            note="the paper's printed Eq. 5 (max over U_t^m) and Eqs. 9-10 (L2 norms)",
        ),
        Variant(
            "read-gradient",
            train={"read_gradient": True},
            seeds=[0],
            stage=3,
            note="the loss reaches the queries through the read weights of Eq. 1 "
            "(the authors' code detaches them)",
            beyond_paper=True,
        ),
        Variant(
            "sharp-read",
            train={"read_temperature": 0.1},
            seeds=[0],
            stage=3,
            note="Eq. 1 at temperature 0.1: a query equal to an item can read it alone "
            "(at 1, unit vectors cap the largest weight near 0.45 for M = 10)",
            beyond_paper=True,
        ),
        Variant(
            "no-deep-skip",
            train={"deep_skip": False},
            seeds=[0],
            stage=3,
            note="the decoder without its deepest skip (1/4 resolution), the path the "
            "no_deep_skip probe measures: below 1/2 resolution it sees only concat(q, p̂)",
            beyond_paper=True,
        ),
        Variant(
            "no-deep-skip-no-memory",
            train={"deep_skip": False, "use_memory": False},
            seeds=[0],
            stage=3,
            note="no-deep-skip without the memory: its pair, so the memory is compared "
            "where the skip cannot bypass it",
            beyond_paper=True,
        ),
    ]


def builtin_grid(name: str) -> StudySpec:
    """The grids this project runs: ``ped2`` (issue 9, Does the memory help?) and
    ``quick`` (the same questions in seconds, for tests)."""
    free_update_off = Variant(
        "memory-no-test-update",
        evaluate={"test_update": False},
        weights_from="memory",
        note="same weights as memory; the test-time update (Eqs. 6-7) off",
    )
    common = [
        Variant("memory", note="MNAD as the authors' code (the reference)"),
        Variant(
            "no-memory",
            train={"use_memory": False},
            note="no memory: the decoder reads the raw encoder output (C channels, not 2C)",
        ),
        free_update_off,
    ]
    if name == "quick":
        return StudySpec("quick", "quick", [0, 1], common, "memory")
    if name == "ped2":
        extras = _ped2_extras()
        return StudySpec("ped2", "lite", [0, 1, 2], common + extras, "memory", {"num_threads": 1})
    raise ConfigError(f"unknown study grid {name!r} (builtin: ped2, quick; or a .json file)")


def load_grid(name_or_path: str | Path) -> StudySpec:
    """A builtin grid by name, or a study definition from a JSON file."""
    path = Path(name_or_path)
    if path.suffix == ".json":
        try:
            return StudySpec.from_dict(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"{path}: cannot read the study definition ({err})") from None
    return builtin_grid(str(name_or_path))


def run_dir(out: Path, variant: Variant, seed: int) -> Path:
    """A run's folder in a study folder: ``OUT/<variant>/seed<k>``."""
    return out / variant.name / f"seed{seed}"


def stored_spec(folder: Path) -> StudySpec:
    """The grid a study folder keeps (``study.json``); one-line errors without one."""
    path = Path(folder) / "study.json"
    if not path.is_file():
        raise ConfigError(f"{path}: no study here; run `mnad-lite study --grid G --out {folder}`")
    try:
        return StudySpec.from_dict(json.loads(path.read_text()))
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: not a study definition ({err})") from None
