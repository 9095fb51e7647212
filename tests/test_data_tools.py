"""Data tools: tools/prepare_dataset.py (UCF-101, HMDB-51, Kinetics layouts; resumable),
tools/check_videos.py (unreadable and inexact-seeking videos) and tools/make_synthetic.py."""
import importlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from softpool3d._files import partial_path
from softpool3d.datasets import build_dataset, probe_video, read_frames
from softpool3d.datasets.encode import write_video
from softpool3d.datasets.prepare import make_plan, run_plan
from softpool3d.datasets.synthetic import decode_frame_numbers, frame_number_video
from _tiny_run import mux_h264

SMALL = dict(num_frames=4, sampling_rate=2, crop_size=32)


def tool(name):
    return importlib.import_module(f"softpool3d.cli.{name}")


def video(path, n=12, h=48, w=64, codec=None, crf=None):
    return write_video(path, frame_number_video(n, h, w), codec=codec, crf=crf)


def test_prepare_ucf101_reencodes_writes_lists_and_resumes(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    classes = ["Archery", "YoYo"]
    (src / "ucfTrainTestlist").mkdir(parents=True)
    (src / "ucfTrainTestlist/classInd.txt").write_text("1 Archery\n2 YoYo\n")
    for c in classes:
        for g in (1, 2):
            video(src / c / f"v_{c}_g{g:02d}_c01.avi", h=80, w=120, codec="mpeg4", crf=3)
    (src / "ucfTrainTestlist/trainlist01.txt").write_text(
        "Archery/v_Archery_g02_c01.avi 1\nYoYo/v_YoYo_g02_c01.avi 2\nYoYo/v_YoYo_g03_c01.avi 2\n")
    (src / "ucfTrainTestlist/testlist01.txt").write_text(
        "Archery/v_Archery_g01_c01.avi\nYoYo/v_YoYo_g01_c01.avi\n")
    (src / "YoYo/v_YoYo_g01_c01.avi").write_bytes(b"broken" * 100)  # corrupt: fails, no partial left
    plan = make_plan("ucf101", src, out)
    assert len(plan.jobs) == 4 and [Path(m).name for m in plan.missing] == ["v_YoYo_g03_c01.avi"]
    report = run_plan(plan, out, short_side=40, workers=2, progress=False)
    assert (report.done, report.skipped, len(report.failed), len(report.missing)) == (3, 0, 1, 1)
    assert "v_YoYo_g01_c01.avi" in (out / "prepare_failed.jsonl").read_text()
    assert not list(out.rglob("*.partial"))
    prepared = out / "Archery/v_Archery_g01_c01.mp4"
    frames = read_frames(prepared, np.arange(12))
    assert frames.shape == (12, 40, 60, 3)  # short side 40, aspect kept
    assert decode_frame_numbers(frames).tolist() == list(range(12))
    lists = out / "ucfTrainTestlist"
    assert (lists / "trainlist01.txt").read_text().startswith("Archery/v_Archery_g02_c01.mp4 1\n")
    with pytest.warns(UserWarning, match="1 of 3"):  # the missing source video stays missing
        train = build_dataset("ucf101", out, "train", **SMALL)
    assert train.labels == [0, 1]
    # re-run: everything done is skipped; an interrupted partial output is cleaned up
    Path(partial_path(out / "YoYo/v_YoYo_g01_c01.mp4")).write_bytes(b"half")
    again = run_plan(make_plan("ucf101", src, out), out, short_side=40, workers=1, progress=False)
    assert (again.done, again.skipped, len(again.failed)) == (0, 3, 1)
    assert not list(out.rglob("*.partial"))


def test_prepare_tool_hmdb51_cli_and_summary(tmp_path, capsys):
    src, out = tmp_path / "hmdb", tmp_path / "hmdb_out"
    splits = src / "testTrainMulti_7030_splits"
    splits.mkdir(parents=True)
    for cls in ("jump", "wave"):
        for i in range(3):
            video(src / cls / f"{cls}_{i}.avi", n=8, codec="mpeg4", crf=3)
        for fold in (1, 2, 3):
            (splits / f"{cls}_test_split{fold}.txt").write_text(
                "".join(f"{cls}_{i}.avi {(i + fold) % 3}\n" for i in range(3)))
    prepare = tool("prepare_dataset")
    assert prepare.main(["hmdb51", str(src), str(out), "--short-side", "0", "--keyint", "4",
                         "--workers", "1"]) == 0
    assert "done 6, skipped (already done) 0, failed 0, missing 0" in capsys.readouterr().out
    assert (out / "testTrainMulti_7030_splits/wave_test_split2.txt").read_text().startswith("wave_0.mp4 2\n")
    for fold in (1, 2, 3):
        ds = build_dataset("hmdb51", out, "test", fold, num_clips=1, num_crops=1, **SMALL)
        assert len(ds) == 2 and ds.classes == ["jump", "wave"]
        assert ds[0]["video"].shape == (1, 3, 4, 32, 32)
    assert prepare.main(["hmdb51", str(src), str(out), "--workers", "1"]) == 0
    assert "done 0, skipped (already done) 6" in capsys.readouterr().out


def test_prepare_kinetics_writes_csv_and_path_label_lists(tmp_path):
    src, out = tmp_path / "k", tmp_path / "k_out"
    (src / "annotations").mkdir(parents=True)
    header = "label,youtube_id,time_start,time_end,split\n"
    (src / "annotations/train.csv").write_text(
        header + "b c,y1,0,10,train\na,y2,5,15,train\na,y9,1,2,train\n")
    (src / "annotations/validate.csv").write_text(header + "b c,y3,0,10,val\n")
    video(src / "train/b c/y1_000000_000010.mp4")
    video(src / "train/a/y2_000005_000015.webm", codec="libvpx-vp9", crf=10)
    video(src / "val/y3_000000_000010.mkv")
    report = run_plan(make_plan("kinetics", src, out), out, short_side=48, workers=1, progress=False)
    assert (report.done, len(report.failed), len(report.missing)) == (3, 0, 1)
    assert (out / "annotations/train_list.txt").read_text().splitlines() == \
        ["train/b c/y1_000000_000010.mp4 1", "train/a/y2_000005_000015.mp4 0"]
    val = build_dataset("kinetics400", out, "val", num_clips=2, num_crops=3, **SMALL)
    assert val.classes == ["a", "b c"] and val.labels == [1] and val[0]["video"].shape[0] == 6
    listed = build_dataset("kinetics400", out, "train", annotation_file=out / "annotations/train_list.txt",
                           **SMALL)
    assert listed.labels == [1, 0] and listed.classes == ["0", "1"]


def _inexact_mp4(path):
    """x264 lossless + veryfast flags non-IDR I-frames as keyframes; decord then seeks wrongly."""
    return mux_h264(path, frame_number_video(40), {"crf": "0", "preset": "veryfast"})


def test_check_videos_lists_unreadable_and_inexact_videos(tmp_path, capsys):
    folder = tmp_path / "videos"
    good = video(folder / "a/good.mp4", n=40, crf=0)  # write_video: every keyframe is an IDR frame
    video(folder / "b/good.avi", codec="mpeg4", crf=3)
    (folder / "b/empty.mp4").write_bytes(b"")
    (folder / "b/junk.mkv").write_bytes(os.urandom(2000))
    inexact = _inexact_mp4(folder / "a/inexact.mp4")
    (folder / "notes.txt").write_text("not a video")
    assert probe_video(good, full=True)[0] and probe_video(inexact)[0]  # quick check passes
    ok, reason, _ = probe_video(inexact, full=True)
    assert not ok and "inexact seeking" in reason
    check = tool("check_videos")
    listing = tmp_path / "bad.txt"
    assert check.main(["--folder", str(folder), "--workers", "2", "--out", str(listing)]) == 1
    bad = {r["path"]: r["reason"] for r in map(json.loads, listing.read_text().splitlines())}
    assert set(bad) == {str(folder / "b/empty.mp4"), str(folder / "b/junk.mkv")}
    assert "empty file" in bad[str(folder / "b/empty.mp4")]
    assert check.main(["--folder", str(folder), "--full", "--workers", "1", "--out", str(listing)]) == 1
    assert str(inexact) in listing.read_text()
    assert "checked 5 videos: 3 unreadable" in capsys.readouterr().out


def test_make_synthetic_cli_and_check_videos_on_dataset(tmp_path, capsys):
    root = tmp_path / "syn"
    tool("make_synthetic").main([str(root), "--num-classes", "2", "--train-per-class", "2",
                                 "--test-per-class", "1", "--frames", "8", "--size", "40",
                                 "--workers", "1"])
    assert "2 classes, 6 clips" in capsys.readouterr().out
    listing = tmp_path / "bad.txt"
    assert tool("check_videos").main(["--dataset", "synthetic", "--root", str(root), "--out",
                                      str(listing), "--workers", "1"]) == 0
    assert listing.read_text() == ""
    assert "checked 6 videos: 0 unreadable" in capsys.readouterr().out
