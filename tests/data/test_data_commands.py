"""The data command line end to end, through mnad_lite.cli.main."""

from __future__ import annotations

import json

import pytest

from mnad_lite.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_synth_then_info(tmp_path, capsys):
    out_dir = tmp_path / "synth"
    code, out, err = run(
        capsys,
        "data",
        "synth",
        "--out",
        str(out_dir),
        "--preset",
        "quick",
        "--seed",
        "2",
        "--preview",
        str(tmp_path / "p.png"),
    )
    assert code == 0 and err == ""
    assert "4 training videos" in out and str(out_dir) in out
    assert (tmp_path / "p.png").is_file()

    code, out, _ = run(capsys, "data", "info", str(out_dir), "--json")
    assert code == 0
    info = json.loads(out)  # exactly one JSON object on stdout
    for key in (
        "train_videos",
        "train_frames",
        "test_videos",
        "test_frames",
        "anomalous_frames",
        "label_source",
        "masks",
    ):
        assert key in info
    assert info["test_videos"] == 5 and info["masks"] is True

    code, out, _ = run(capsys, "data", "info", str(out_dir), "--check")
    assert code == 0 and "testing/labels.csv" in out and "every frame decodes" in out


def test_synth_refuses_existing_frames(tmp_path, capsys):
    out_dir = tmp_path / "s"
    assert run(capsys, "data", "synth", "--out", str(out_dir), "--preset", "quick")[0] == 0
    code, out, err = run(capsys, "data", "synth", "--out", str(out_dir), "--preset", "quick")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "--overwrite" in err
    assert (
        run(capsys, "data", "synth", "--out", str(out_dir), "--preset", "quick", "--overwrite")[0]
        == 0
    )


def test_from_video_then_info(tmp_path, make, capsys):
    avi = make.avi(tmp_path / "street.avi", 9)
    root = tmp_path / "mine"
    code, out, _ = run(
        capsys,
        "data",
        "from-video",
        str(avi),
        "--out",
        str(root),
        "--split",
        "testing",
        "--every",
        "2",
        "--size",
        "12x16",
    )
    assert code == 0 and "wrote 5 frames (12x16)" in out and "labels.csv" in out
    (root / "testing" / "labels.csv").write_text("video,start,end\nstreet,1,2\n")
    code, out, _ = run(capsys, "data", "info", str(root), "--json")
    info = json.loads(out)
    assert info["test_frames"] == 5 and info["anomalous_frames"] == 2


def test_from_video_refuses_overwrite(tmp_path, make, capsys):
    avi = make.avi(tmp_path / "a.avi", 3)
    args = ("data", "from-video", str(avi), "--out", str(tmp_path / "r"), "--split", "training")
    assert run(capsys, *args)[0] == 0
    code, _, err = run(capsys, *args)
    assert code == 2 and "already holds 3 frames" in err and err.count("\n") == 1
    assert run(capsys, *args, "--overwrite")[0] == 0


@pytest.mark.parametrize("case", ["missing", "unreadable", "gap"])
def test_errors_are_one_line_with_status_2(tmp_path, make, capsys, case):
    if case == "missing":
        argv = ["data", "info", str(tmp_path / "nowhere")]
    elif case == "unreadable":
        bad = tmp_path / "bad.avi"
        bad.write_bytes(b"junk" * 100)
        argv = ["data", "from-video", str(bad), "--out", str(tmp_path / "o"), "--split", "training"]
    else:
        make.frames(tmp_path / "training" / "frames" / "v", 2, names=["0", "2"])
        argv = ["data", "info", str(tmp_path)]
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("mnad-lite: error: ") and err.count("\n") == 1


def test_bad_size_is_an_argparse_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "data",
                "from-video",
                "x.avi",
                "--out",
                str(tmp_path),
                "--split",
                "training",
                "--size",
                "big",
            ]
        )
    assert exit_info.value.code == 2
    assert "expected HxW" in capsys.readouterr().err
