"""Several processes (issue 10): 2 gloo processes on the CPU, as torchrun would start them.

The memory update under 2 processes equals one process on the concatenated batch; a
2-process ``train()`` writes one run folder (rank 0 alone), keeps identical items on
both ranks, logs the same averaged losses on both, and resumes.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.multiprocessing as mp

from mnad_lite.engine.config import preset
from mnad_lite.engine.train import train
from mnad_lite.errors import ConfigError
from mnad_lite.memory import Memory

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available(), reason="this torch build has no torch.distributed"
)

WORLD = 2
B, C, H, W, M = 2, 16, 3, 4, 5  # per-rank batch, feat_dim, query map, items


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun_env(rank: int, port: int) -> None:
    """What ``torchrun --nproc_per_node 2`` sets for each process."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        WORLD_SIZE=str(WORLD),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
    )


def query_maps() -> torch.Tensor:
    """Every rank's query map, ``[WORLD, B, C, H, W]`` (the same tensor in every process)."""
    return torch.randn(WORLD, B, C, H, W, generator=torch.Generator().manual_seed(0))


def new_memory() -> Memory:
    return Memory(M, C, generator=torch.Generator().manual_seed(1)).train()


def memory_update(rank: int, port: int) -> Any:
    """One training-mode Memory pass on this rank's queries, items gathered from 2 ranks."""
    from mnad_lite.engine import distributed

    torch.distributed.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD
    )
    memory = new_memory()
    memory.gather_queries = distributed.all_gather_rows
    memory(query_maps()[rank])  # training mode: read, losses, update
    torch.distributed.destroy_process_group()
    return memory.items.numpy().copy()


@pytest.fixture(scope="module")
def two_ranks(quick_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Spawn 2 processes once (starting them is most of the time) for the tests below."""
    run = tmp_path_factory.mktemp("ddp") / "run"
    queue = mp.get_context("spawn").SimpleQueue()
    ports = (free_port(), free_port(), free_port())
    mp.spawn(_worker, args=(ports, str(quick_data), str(run), queue), nprocs=WORLD, join=True)
    got = {}
    for _ in range(WORLD):
        rank, result = queue.get()
        got[rank] = result
    return {"run": run, "ranks": [got[r] for r in range(WORLD)]}


def test_two_processes_update_as_one_on_the_concatenated_batch(two_ranks):
    items = [torch.from_numpy(r["memory_items"]) for r in two_ranks["ranks"]]
    maps = query_maps()
    one = new_memory()
    one(torch.cat(list(maps)))  # one process, batch [q_rank0; q_rank1]
    assert torch.equal(items[0], items[1])  # every rank holds the same items
    torch.testing.assert_close(items[0], one.items, rtol=0, atol=1e-6)
    local = new_memory()
    local(maps[0])  # rank 0's queries alone: what a plain DDP buffer broadcast would keep
    assert not torch.allclose(local.items, one.items, atol=1e-4)


def _worker(rank: int, ports: tuple[int, int, int], data: str, run: str, queue: Any) -> None:
    import pathlib

    import mnad_lite.engine.train as engine

    torch.set_num_threads(1)
    memory_items = memory_update(rank, ports[0])
    writes: list[str] = []
    if rank != 0:  # record any file rank 1 writes (and still write it)

        def spy(owner: Any, name: str) -> None:
            original = getattr(owner, name)

            def recorded(*args: Any, **kwargs: Any) -> Any:
                # the decode cache is shared by every process and written atomically by
                # whichever decodes a video first (empty when this test runs alone)
                if not str(args[0] if args else "").startswith(os.environ["MNAD_CACHE"]):
                    writes.append(f"{name}{args[:1]}")
                return original(*args, **kwargs)

            setattr(owner, name, recorded)

        for name in ("write_text", "write_bytes", "mkdir", "touch"):
            spy(pathlib.Path, name)
        spy(torch, "save")
        spy(os, "replace")
    own_items: list[Any] = []  # this rank's items before train() reloads model.pt
    original_load = engine.load_checkpoint

    def load(path: Any, model: Any = None, **kwargs: Any) -> Any:
        if model is not None and Path(path).name == "model.pt":
            own_items.append(model.memory.items.numpy().copy())
        return original_load(path, model, **kwargs)

    engine.load_checkpoint = load
    steps: list[dict] = []
    config = preset("quick", epochs=1, max_steps=2, num_threads=1)
    torchrun_env(rank, ports[1])
    first = train(config, data, run, on_step=steps.append, progress=False)
    torchrun_env(rank, ports[2])
    config = preset("quick", epochs=2, max_steps=2, num_threads=1)
    second = train(config, data, run, resume=True, progress=False)
    assert first.run == second.run
    result = {"memory_items": memory_items, "items": own_items, "steps": steps}
    queue.put((rank, {**result, "log": second.log, "writes": writes}))


def test_two_process_train_writes_one_run_with_identical_items(two_ranks):
    run, (r0, r1) = two_ranks["run"], two_ranks["ranks"]
    items0, steps0, log0 = r0["items"], r0["steps"], r0["log"]
    items1, steps1, log1 = r1["items"], r1["steps"], r1["log"]
    assert r1["writes"] == []  # rank 1 never wrote a file (outside the shared decode cache)
    assert sorted(p.name for p in run.iterdir()) == [
        "config.json",
        "last.pt",
        "log.jsonl",
        "model.pt",
        "provenance.jsonl",
    ]
    assert json.loads((run / "config.json").read_text())["world_size"] == 2
    # rank 0 wrote one line when the run started and one when it resumed
    starts = [json.loads(x) for x in (run / "provenance.jsonl").read_text().splitlines()]
    assert [p["start_epoch"] for p in starts] == [0, 1]
    # the memory items are the same on both ranks after 1 epoch and after the resumed one
    assert len(items0) == len(items1) == 2
    for a, b in zip(items0, items1, strict=True):
        assert (a == b).all()
    # the logged losses are the mean over ranks: the same on both, step by step
    assert [s["step"] for s in steps0] == [0, 1]
    assert steps0 == steps1
    assert log0 == log1 and [e["epoch"] for e in log0] == [1, 2]
    saved = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert saved == log0
    assert saved[0]["loss"] == pytest.approx(sum(s["loss"] for s in steps0) / 2)


def test_world_size_needs_torchrun(quick_data, tmp_path, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(ConfigError, match="torchrun --nproc_per_node 2"):
        train(preset("quick", world_size=2), quick_data, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
    with pytest.raises(ConfigError, match="world_size"):
        preset("quick", world_size=0)
