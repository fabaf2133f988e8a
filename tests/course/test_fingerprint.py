"""The course's fingerprint chain: the quick course run, recomputed from an empty cache in
a fresh portable process, gives the committed bits on this machine (and every x86-64 CPU
that runs CI: a reviewer's machine checks portability by running this test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mnad_lite.course.fingerprint import LINKS, first_difference, folder_sha256

COMMITTED = Path(__file__).resolve().parents[2] / "notebooks" / "fingerprints.json"


def test_the_committed_chains_have_every_link():
    chains = json.loads(COMMITTED.read_text())
    assert set(chains) == {"quick", "full"}
    for chain in chains.values():
        assert set(LINKS) <= set(chain)
        assert len(chain["data_sha256"]) == len(chain["weights_sha256"]) == 64
        assert 0.0 < chain["frame_auc"] < 1.0 and chain["first_loss"] > 0.0


def test_the_quick_chain_is_reproduced_from_an_empty_cache(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MNAD_QUICK"}
    env["MNAD_CACHE"] = str(tmp_path / "cache")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mnad_lite.course.fingerprint",
            "--quick",
            "--check",
            str(COMMITTED),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, (
        result.stderr + result.stdout
    )  # names the first link that differs
    assert "reproduced (4 of 4 links)" in result.stdout


def test_the_first_link_that_differs_is_named():
    chain = {"data_sha256": "a", "first_loss": 0.25, "weights_sha256": "w", "frame_auc": 0.7}
    assert first_difference(chain, dict(chain)) is None
    problem = first_difference({**chain, "weights_sha256": "x", "frame_auc": 0.8}, chain)
    assert problem.startswith("link 3 of 4 (weights_sha256) differs")
    assert "link 1 of 4 (data_sha256)" in first_difference({**chain, "data_sha256": "b"}, chain)


def test_folder_hash_sees_names_and_bytes(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f.png").write_bytes(b"\x00\x01")
    before = folder_sha256(tmp_path)
    (tmp_path / "a" / "f.png").write_bytes(b"\x00\x02")
    changed = folder_sha256(tmp_path)
    (tmp_path / "a" / "f.png").rename(tmp_path / "a" / "g.png")
    assert len({before, changed, folder_sha256(tmp_path)}) == 3


def test_check_fails_with_the_link_when_the_committed_chain_differs(tmp_path, monkeypatch, capsys):
    from mnad_lite.course import fingerprint

    chain = {"data_sha256": "d", "first_loss": 0.5, "weights_sha256": "w", "frame_auc": 0.6}
    monkeypatch.setattr(fingerprint, "chain", lambda quick: dict(chain))
    wrong = tmp_path / "fp.json"
    wrong.write_text(json.dumps({"quick": {**chain, "first_loss": 0.4}}))
    assert fingerprint.main(["--quick", "--check", str(wrong)]) == 1
    assert "link 2 of 4 (first_loss)" in capsys.readouterr().err
    assert fingerprint.main(["--quick", "--check", str(tmp_path / "missing.json")]) == 2
    written = tmp_path / "new.json"
    assert fingerprint.main(["--quick", "--write", str(written)]) == 0
    assert json.loads(written.read_text()) == {"quick": chain}
