"""Faults and bad input, end to end on real generated videos and a real tiny model:
checkpoints that would run code, corrupt checkpoints, resumes with a changed config, bad and missing
videos counted once, truncated sources, a stalled torchrun rank, and config/CLI edges."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from softpool3d.cli import check_videos as check_tool
from softpool3d.cli import profile as profile_tool
from softpool3d.cli import test as test_tool
from softpool3d.config import ConfigError, load_config
from softpool3d.datasets import AnnotationError, build_dataset, probe_video
from softpool3d.datasets.encode import write_video
from softpool3d.datasets.prepare import make_plan, run_plan
from softpool3d.engine import checkpoint as ckpt
from _after_checkpoint import TESTS_DIR
from _tiny_run import CONFIG, mux_h264, overrides, tool_env, train

class RunsCode:
    """A pickle whose loading calls ``os.mkdir(marker)``: what a hostile checkpoint would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


# ---------------------------------------------------------------- checkpoints: loading runs no code
def test_a_checkpoint_holding_code_is_refused_by_resume_and_test(data_root, tmp_path, capsys):
    out, marker = tmp_path / "run", tmp_path / "pwned"
    out.mkdir()
    torch.save({"model": RunsCode(marker), "epoch": 1}, out / "last.pth")
    assert train(data_root, out) == 2
    err = capsys.readouterr().err
    assert not marker.exists()
    assert f"{out / 'last.pth'}: refused to load" in err and "could run code" in err
    assert "--fresh" in err and str(out) in err  # the exact command that starts over
    assert test_tool.main(["--checkpoint", str(out / "last.pth")]) == 2
    err = capsys.readouterr().err
    assert not marker.exists() and f"{out / 'last.pth'}: refused to load" in err
    assert "Traceback" not in err


# ---------------------------------------------------------- checkpoints: resume with another config
def test_resume_refuses_a_config_that_changes_what_is_trained(data_root, tmp_path, capsys):
    out = tmp_path / "run"
    assert train(data_root, out) == 0
    saved_config = (out / "config.yaml").read_bytes()
    saved_last = (out / "last.pth").read_bytes()
    capsys.readouterr()
    assert train(data_root, out, "model.pool=soft", "train.seed=7", "optim.epochs=2") == 2
    err = capsys.readouterr().err
    assert "model.pool: 'max' in the checkpoint, 'soft' now" in err
    assert "train.seed: 0 in the checkpoint, 7 now" in err
    assert "optim.epochs" not in err.split("A resume may only change")[0]  # epochs may change
    assert "--fresh" in err and "--allow-change model.pool" in err
    assert (out / "config.yaml").read_bytes() == saved_config  # nothing rewritten
    assert (out / "last.pth").read_bytes() == saved_last
    # extending the run is accepted, and recorded
    assert train(data_root, out, "optim.epochs=2") == 0
    res = json.load(open(out / "results.json"))
    assert res["epochs"] == 2 and res["pool"] == "max"
    assert res["resumes"] == [{"epoch": 1, "changed": {"optim.epochs": [1, 2]}}]
    assert "epochs: 2" in (out / "config.yaml").read_text()
    # fewer epochs than already trained is refused too
    assert train(data_root, out, "optim.epochs=1") == 2
    assert "trained 2 epochs" in capsys.readouterr().err


# ----------------------------------------------------------------------- checkpoints: corrupt files
def test_corrupt_last_falls_back_to_previous_or_stops_with_the_fresh_command(data_root, tmp_path,
                                                                           capsys):
    out = tmp_path / "run"
    assert train(data_root, out, "optim.epochs=2") == 0
    assert ckpt.load(str(out / "previous.pth"))["epoch"] == 1  # kept when epoch 2 replaced it
    data = (out / "last.pth").read_bytes()
    (out / "last.pth").write_bytes(data[: len(data) // 2])  # truncated
    capsys.readouterr()
    assert train(data_root, out, "optim.epochs=2") == 0
    text = capsys.readouterr().out
    assert f"{out / 'last.pth'}: truncated or corrupt checkpoint" in text
    assert f"falling back to {out / 'previous.pth'} (epoch 1)" in text
    assert json.load(open(out / "results.json"))["epochs"] == 2  # epoch 2 trained again
    assert ckpt.load(str(out / "last.pth"))["epoch"] == 2
    assert ckpt.load(str(out / "previous.pth"))["epoch"] == 1  # the corrupt file was not kept
    # corrupt, and no usable previous checkpoint: stop, naming the file and the way out
    (out / "last.pth").write_bytes(data[:1000])
    (out / "previous.pth").write_bytes(b"")
    assert train(data_root, out, "optim.epochs=2") == 2
    err = capsys.readouterr().err
    assert f"{out / 'last.pth'}: truncated or corrupt" in err and "previous.pth" in err
    assert "Traceback" not in err and "--fresh" in err
    # the test tool names the file too
    assert test_tool.main(["--checkpoint", str(out / "last.pth")]) == 2
    assert f"{out / 'last.pth'}: truncated or corrupt" in capsys.readouterr().err


def test_a_write_that_does_not_read_back_leaves_last_untouched(tmp_path, monkeypatch):
    ckpt.save({"epoch": 1, "w": torch.ones(3)}, str(tmp_path), is_best=False)
    real_save = torch.save

    def torn_write(obj, f):  # a write that "succeeds" but leaves a torn file (full disk, bad NFS)
        real_save(obj, f)
        f.seek(0)
        f.truncate(100)
    monkeypatch.setattr(torch, "save", torn_write)
    with pytest.raises(ckpt.CheckpointError, match="does not read back|corrupt"):
        ckpt.save({"epoch": 2, "w": torch.zeros(3)}, str(tmp_path), is_best=True)
    monkeypatch.undo()
    assert ckpt.load(str(tmp_path / "last.pth"))["epoch"] == 1
    assert sorted(os.listdir(tmp_path)) == ["last.pth"]


# --------------------------------------------------------------------- datasets: bad videos counted
def test_bad_and_missing_videos_are_counted_once_with_paths(data_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(data_root, root)
    train_list = (root / "trainlist01.txt").read_text().split()
    videos = [root / p for p in train_list if p.endswith((".mp4", ".avi"))]
    (videos[0]).write_bytes(b"not a video" * 50)
    (videos[1]).write_bytes(b"")
    (videos[2]).unlink()  # listed but missing
    out = tmp_path / "run"
    # batch 1: every video is drawn in every epoch
    assert train(str(root), out, "optim.epochs=2", "data.workers=2", "train.batch_size=1") == 0
    res = json.load(open(out / "results.json"))
    bad = {b["path"]: b for b in res["bad_videos"]}
    assert set(bad) == {str(v) for v in videos[:3]}
    assert "missing" in bad[str(videos[2])]["reason"]
    assert "empty" in bad[str(videos[1])]["reason"]
    assert res["skipped_videos"]["train"] == 3 and res["skipped_videos"]["total"] == 3
    # substitutions are counted separately: each unreadable video is replaced every time it is
    # drawn (and known ones are skipped without being tried again)
    assert res["substitutions"]["train"] >= 4


def _faststart_mp4(path, frames=60):
    """An H.264 mp4 with its index (moov) first, as web downloads are: cut short, the header
    still describes every frame."""
    rng = np.random.default_rng(0)
    noise = (rng.integers(0, 255, (96, 128, 3), dtype=np.uint8) for _ in range(frames))
    return mux_h264(path, noise, {"crf": "18", "g": "10"}, {"movflags": "+faststart"})


def test_a_video_found_bad_stays_bad_and_missing_ones_are_reported(tmp_path):
    folder = tmp_path / "v"
    (folder / "a").mkdir(parents=True)
    _faststart_mp4(folder / "a/good.mp4", frames=20)
    cut = _faststart_mp4(folder / "a/cut.mp4")
    data = open(cut, "rb").read()
    open(cut, "wb").write(data[: len(data) * 9 // 10])  # its last frames are gone
    (folder / "list.txt").write_text("a/good.mp4 0\na/cut.mp4 1\na/gone.mp4 1\n")
    kw = dict(num_frames=4, sampling_rate=1, crop_size=32, mode="test", num_clips=1,
              num_crops=1, annotation_file=str(folder / "list.txt"))
    with pytest.warns(UserWarning, match="1 of 3"):
        ds = build_dataset("kinetics400", str(folder), "test", **kw)
    gone = str(folder / "a/gone.mp4")
    assert ds.bad_videos() == {gone: "missing file (listed in the annotations)"}
    assert ds[1]["skipped"] == 0  # its centre clip decodes ...
    ds.num_clips = 3
    s = ds[1]  # ... its last clip does not: bad
    assert s["skipped"] == 1 and s["index"] == 0 and list(json.loads(s["bad"])) == [str(cut)]
    fresh = build_dataset("kinetics400", str(folder), "test", **kw)  # e.g. the next epoch's worker
    fresh.mark_bad(ds.bad_videos())
    s = fresh[1]  # decided once: not tried again, although its centre clip alone would decode
    assert s["skipped"] == 1 and s["index"] == 0
    assert set(fresh.bad_videos()) == {gone, str(cut)}


def test_check_videos_counts_a_missing_listed_video(data_root, tmp_path, capsys):
    root = tmp_path / "data"
    shutil.copytree(data_root, root)
    test_list = (root / "testlist01.txt").read_text().split()
    gone = root / test_list[0]
    gone.unlink()
    listing = tmp_path / "bad.txt"
    code = check_tool.main(["--dataset", "synthetic", "--root", str(root), "--out", str(listing),
                            "--workers", "1"])
    assert code == 1
    assert [json.loads(line) for line in listing.read_text().splitlines()] == [
        {"path": str(gone), "reason": "missing file (listed in the annotations)"}]
    assert "checked 8 videos: 1 unreadable or missing" in capsys.readouterr().out


# ---------------------------------------------------------------------- datasets: truncated sources
def _half_cut_avi(path, frames=60):
    noise = np.random.default_rng(0).integers(0, 255, (frames, 96, 128, 3), dtype=np.uint8)
    write_video(path, torch.from_numpy(noise), codec="mpeg4", crf=3)
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])  # the header still says 60 frames
    return path


def test_a_truncated_source_fails_prepare_and_check_with_the_right_reason(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    (src / "Archery").mkdir(parents=True)
    _half_cut_avi(src / "Archery/v_Archery_g01_c01.avi")
    (src / "classInd.txt").write_text("1 Archery\n")
    (src / "trainlist01.txt").write_text("Archery/v_Archery_g01_c01.avi 1\n")
    (src / "testlist01.txt").write_text("Archery/v_Archery_g01_c01.avi\n")
    report = run_plan(make_plan("ucf101", src, out), out, short_side=0, workers=1, progress=False)
    assert report.done == 0 and len(report.failed) == 1
    assert "header reports 60 frames but only 30" in report.failed[0][1]
    assert not (out / "Archery/v_Archery_g01_c01.mp4").exists()  # a rerun tries again
    for full in (False, True):
        ok, reason, _ = probe_video(src / "Archery/v_Archery_g01_c01.avi", full=full)
        assert not ok and reason.startswith("truncated") and "seek" not in reason
    # a looser tolerance keeps it, with a warning
    report = run_plan(make_plan("ucf101", src, out), out, short_side=0, workers=1, progress=False,
                      tolerance=0.6)
    assert report.done == 1 and "30 of the 60 frames" in report.warnings[0][1]


# ---------------------------------------------------------------------- distributed: a stalled rank
STALL_RANK_1 = """
import os, signal, sys
import _after_checkpoint  # tests/ is on PYTHONPATH
from softpool3d.cli import train as tool
pids = sys.argv[1]
with open(os.path.join(pids, "rank" + os.environ["RANK"]), "w") as f:
    f.write(str(os.getpid()))

def stall(epoch, path):  # rank 0, after its first checkpoint: freeze rank 1
    os.kill(int(open(os.path.join(pids, "rank1")).read()), signal.SIGSTOP)

_after_checkpoint.install(stall)
sys.exit(tool.main(sys.argv[2:]))
"""


def _finished(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def _signal(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def test_a_stalled_rank_ends_the_run_with_a_clear_message(data_root, tmp_path):
    script, pids = tmp_path / "stall.py", tmp_path / "pids"
    script.write_text(STALL_RANK_1)
    pids.mkdir()
    env = tool_env(PYTHONPATH=TESTS_DIR)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(script), str(pids), CONFIG,
           *overrides(data_root, "optim.epochs=2", "train.dist_timeout_s=10", "train.eval_every=0",
                      "test.enabled=false"),
           "--output-dir", str(tmp_path / "run")]
    t0 = time.time()
    log = open(tmp_path / "torchrun.log", "w+")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    rank0 = rank1 = None
    try:
        while proc.poll() is None and time.time() - t0 < 150:
            time.sleep(0.5)
            if rank1 is None and all((pids / f"rank{r}").exists() for r in (0, 1)):
                rank0, rank1 = (int((pids / f"rank{r}").read_text() or 0) or None for r in (0, 1))
            if rank0 and rank1 and _finished(rank0):
                # rank 0 gave up; let the frozen rank take torchrun's SIGTERM now (a shortcut for
                # the test: torchrun itself SIGKILLs it 30 s later)
                _signal(rank1, signal.SIGCONT)
                rank0 = None
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:  # clean up what this test started
            if rank1:
                _signal(rank1, signal.SIGKILL)
            proc.kill()
            proc.wait()
    log.seek(0)
    err = log.read()
    elapsed = time.time() - t0
    assert proc.returncode != 0
    assert "another rank did not answer within train.dist_timeout_s=10 s" in err, err[-3000:]
    assert "exitcode  : 4" in err, err[-3000:]  # torchrun's summary: the stalled-rank status
    assert elapsed < 100
    # the stall came after the first checkpoint, which is kept
    assert ckpt.load(str(tmp_path / "run" / "last.pth"))["epoch"] == 1, err[-3000:]


# ----------------------------------------------------------------------------- config and CLI edges
def test_empty_and_unsafe_yaml_are_refused_naming_the_file(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing here\n")
    with pytest.raises(ConfigError, match=f"{empty}: the config file is empty"):
        load_config(str(empty))
    tagged = tmp_path / "tagged.yaml"
    tagged.write_text("model:\n  name: x3d_xs\nevil: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError, match=f"{tagged}:3: invalid YAML: .*python/object"):
        load_config(str(tagged))


@pytest.mark.parametrize("override, message", [
    ("optim.epochs=0", "'optim.epochs': must be at least 1, got 0"),
    ("train.batch_size=-4", "'train.batch_size': must be at least 1, got -4"),
    ("model.name=x3d_xxl", "'model.name': unknown model 'x3d_xxl'"),
    ("model.pool=sofft", "'model.pool': unknown pool 'sofft'; did you mean 'soft'"),
    ("data.options.bogus=1", "'data.options': unknown option 'bogus'"),
])
def test_bad_config_values_exit_2_with_one_line(data_root, tmp_path, capsys, override, message):
    assert train(data_root, tmp_path / "run", override) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run" / "config.yaml").exists()


@pytest.mark.parametrize("args, message", [
    (["--model", "nope"], "unknown model 'nope'"),
    (["--model", "r3d_tiny", "--batch", "0"], "--batch: must be at least 1, got 0"),
    (["--model", "r3d_tiny", "--pool", "sofft"], "unknown pool 'sofft'"),
])
def test_profile_tool_usage_errors_exit_2(capsys, args, message):
    with pytest.raises(SystemExit) as e:
        profile_tool.main(args)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_a_space_in_a_listed_video_path_gets_its_own_message(data_root, tmp_path, capsys):
    from softpool3d.datasets.annotations import parse_ucf101
    (tmp_path / "classInd.txt").write_text("1 YoYo\n")
    (tmp_path / "trainlist01.txt").write_text("YoYo/v_YoYo_g01_c01.avi 1\nYoYo/v_Yo Yo_g02.avi 1\n")
    with pytest.raises(AnnotationError, match=r"trainlist01.txt:2: the video path "
                                              r"'YoYo/v_Yo Yo_g02.avi' contains a space"):
        parse_ucf101(tmp_path, "train", 1)
    # through the train tool: exit 2, the same message
    root = tmp_path / "data"
    shutil.copytree(data_root, root)
    with open(root / "trainlist01.txt", "a") as f:
        f.write("MoveLeft/v_Move Left_g09_c01.mp4 2\n")
    assert train(str(root), tmp_path / "run") == 2
    err = capsys.readouterr().err
    assert "trainlist01.txt:7: the video path 'MoveLeft/v_Move Left_g09_c01.mp4' contains a space" \
        in err and "Traceback" not in err
