"""tools/bench_data.py compares like with like: the replayed clips are the loader's, raw decord and
pytorchvideo decode exactly those frames (frame-number videos), and the tool runs end to end on
tiny videos. No timing is asserted (benchmarks are scripts)."""
import argparse
import json

import numpy as np
import pytest
import torch

from softpool3d.cli import bench_data
from softpool3d.datasets import read_frames
from softpool3d.datasets.encode import write_video
from softpool3d.datasets.synthetic import decode_frame_numbers, frame_number_video
from _tiny_run import decoder_loads


@pytest.fixture(autouse=True)
def native_decord_bridge():
    """pytorchvideo's decord decoder switches decord's global bridge to torch: put it back so that
    later tests see the default."""
    yield
    import decord
    decord.bridge.set_bridge("native")


ARGS = dict(frames=4, rate=3, crop=32, scale=[36, 40], seed=0, clips=3, threads=1)


@pytest.fixture(scope="module")
def clip_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "n.mp4"
    return str(write_video(path, frame_number_video(60, 64, 80), crf=0, keyint=16))


def test_plan_is_the_loaders_clips_and_every_method_decodes_it(clip_video):
    a = argparse.Namespace(**ARGS)
    torch.manual_seed(0)
    plan, states = bench_data.planned_clips(clip_video, a)
    bench_data.check_replay(clip_video, plan, states, a)  # raises when the replay drifts
    starts = [int(idx[0]) for _, idx in plan]
    assert len(set(starts)) > 1 and all((np.diff(idx) == 3).all() for _, idx in plan)
    assert bench_data.RawClips(plan)[1] == 4
    if decoder_loads("torchcodec"):
        assert bench_data.RawClips(plan, "torchcodec")[1] == 4
    pv = list(bench_data.pytorchvideo_dataset(plan, a, transform=False))
    assert len(pv) == len(plan)
    for (path, idx), sample in zip(plan, pv):
        frames = sample["video"].permute(1, 2, 3, 0).round().to(torch.uint8)
        assert decode_frame_numbers(frames).tolist() == idx.tolist()
        assert torch.equal(frames, read_frames(path, idx))
    out = next(iter(bench_data.pytorchvideo_dataset(plan, a)))["video"]
    assert out.shape == (3, 4, 32, 32) and out.dtype == torch.float32


def test_tool_runs_and_writes_json(clip_video, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert bench_data.main(["--videos", clip_video, "--clips", "3", "--frames", "4", "--rate", "3",
                            "--crop", "32", "--scale", "36", "40", "--workers", "0", "--repeat", "1",
                            "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "80x64, 60 frames" in text and "ours/raw" in text
    rates = json.loads(out.read_text())["results"][0]["rates"]["0"]
    assert set(rates) == {"ours", "raw", "pytorchvideo", "ours/raw"} and rates["ours"] > 0


def test_usage_errors_exit_2(tmp_path):
    for argv in (["--videos", str(tmp_path / "none.mp4")], ["--scale", "100", "90"],
                 ["--sizes", "123"], ["--clips", "1"]):
        with pytest.raises(SystemExit) as e:
            bench_data.main(argv)
        assert e.value.code == 2, argv
