"""End to end on real generated videos and real (tiny) models: train + multi-view test, SIGKILL after
the first checkpoint and resume to the same weights and metrics, torchrun DDP with gloo, the
non-finite-loss stop, tools/test.py, config errors."""
import json
import os
import shutil
import signal
import subprocess
import sys
from importlib import metadata

import torch

from softpool3d.cli import test as test_tool
from softpool3d.cli import train as train_tool
from _after_checkpoint import TESTS_DIR
from _tiny_run import CONFIG, MEDIUM, ROOT, tool_env

SYNTHETIC = MEDIUM  # the size of conftest's data_root here


def overrides(root, *extra):
    return [f"data.root={root}", "data.crop_size=32", "data.train_scale=[32,40]",
            "data.test_scale=32", "data.test_crop_size=32", "data.workers=0", "data.num_clips=2",
            "train.batch_size=4", "optim.epochs=2", "train.eval_every=1", *extra]


KILL_AFTER_EPOCH_1 = """
import os, signal, sys
import _after_checkpoint  # tests/ is on PYTHONPATH
from softpool3d.cli import train as tool

def kill(epoch, path):
    if epoch == 1:
        os.kill(os.getpid(), signal.SIGKILL)

_after_checkpoint.install(kill)
sys.exit(tool.main(sys.argv[1:]))
"""


def state_of(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def comparable(results):
    """results.json minus times/memory/paths (which legitimately differ between runs)."""
    hist = [{"train": {k: v for k, v in h["train"].items() if k in ("loss", "top1", "clips", "lr")},
             "val": h.get("val")} for h in results["history"]]
    keys = ("top1", "top5", "mean_class_acc", "num_videos", "num_views", "epochs", "best_val_top1",
            "final_train_loss", "weights_sha1", "skipped_videos")
    return {k: results[k] for k in keys}, hist


def test_train_kill_resume_exact_nonfinite_and_test_tool(data_root, tmp_path, capsys):
    torch.set_num_threads(1)
    ov = overrides(data_root)
    # uninterrupted run
    full = str(tmp_path / "full")
    assert train_tool.main([CONFIG, *ov, "--output-dir", full]) == 0
    for name in ("results.json", "last.pth", "best.pth", "config.yaml", "metrics.jsonl",
                 "test_confusion.csv", "test_confusion.png"):
        assert os.path.isfile(os.path.join(full, name)), name
    assert os.listdir(os.path.join(full, "tb"))
    res_full = json.load(open(os.path.join(full, "results.json")))
    assert res_full["epochs"] == 2 and res_full["num_videos"] == 6 and res_full["num_views"] == 2
    assert res_full["skipped_videos"]["total"] == 0
    assert res_full["peak_memory"]["bytes"] > 0 and res_full["wall_time_s"] > 0
    versions = res_full["versions"]  # the versions that ran, as the installed packages name them
    assert versions["torch"] == metadata.version("torch")
    assert versions["torch"] == torch.__version__.split("+")[0]
    assert versions["softpool3d"] == metadata.version("softpool3d")
    assert versions["python"] == ".".join(map(str, sys.version_info[:3]))
    assert res_full["config"]["data"]["root"] == data_root

    # the same run killed (SIGKILL) right after its first checkpoint ...
    killed = str(tmp_path / "killed")
    proc = subprocess.run([sys.executable, "-c", KILL_AFTER_EPOCH_1, CONFIG, *ov,
                           "--output-dir", killed],
                          env=tool_env(PYTHONPATH=os.pathsep.join([ROOT, TESTS_DIR])),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert state_of(os.path.join(killed, "last.pth"))["epoch"] == 1
    assert not os.path.exists(os.path.join(killed, "results.json"))
    diverging = str(tmp_path / "diverging")
    shutil.copytree(killed, diverging)

    # ... then resumed (automatically, from the output folder) ends exactly like the full run
    assert train_tool.main([CONFIG, *ov, "--output-dir", killed]) == 0
    res_resumed = json.load(open(os.path.join(killed, "results.json")))
    assert comparable(res_resumed) == comparable(res_full)
    a, b = state_of(os.path.join(full, "last.pth")), state_of(os.path.join(killed, "last.pth"))
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        for k in sa:
            assert torch.equal(torch.as_tensor(sa[k]), torch.as_tensor(sb[k])), k
    assert a["scheduler"]["last_epoch"] == b["scheduler"]["last_epoch"]

    # a diverging resume (lr 1e30) stops with a clear message and keeps the epoch-1 checkpoint
    before = open(os.path.join(diverging, "last.pth"), "rb").read()
    capsys.readouterr()
    code = train_tool.main([CONFIG, *ov, "optim.lr=1e30", "--allow-change", "optim.lr",
                            "--output-dir", diverging])
    err = capsys.readouterr().err
    assert code == 3
    assert "non-finite loss" in err and "epoch 2" in err
    assert "last good checkpoint" in err and "(epoch 1)" in err
    assert open(os.path.join(diverging, "last.pth"), "rb").read() == before
    assert not os.path.exists(os.path.join(diverging, "results.json"))

    # tools/test.py: config taken from the checkpoint, same multi-view numbers, confusion files
    out = str(tmp_path / "test_out")
    assert test_tool.main(["--checkpoint", os.path.join(full, "last.pth"), "--folds", "1",
                           "--output-dir", out]) == 0
    tr = json.load(open(os.path.join(out, "test_results.json")))
    assert tr["folds"]["1"]["top1"] == res_full["top1"]
    assert tr["mean"]["top1"] == res_full["top1"]
    assert tr["folds"]["1"]["num_views"] == 2
    assert os.path.isfile(os.path.join(out, "test_confusion.csv"))
    assert os.path.isfile(os.path.join(out, "test_confusion.png"))
    rows = open(os.path.join(out, "test_confusion.csv")).read().splitlines()
    assert len(rows) == 4 and sum(int(v) for r in rows[1:] for v in r.split(",")[1:]) == 6


def test_torchrun_two_ranks_gloo(data_root, tmp_path):
    # one test video unreadable (index 1: rank 1's shard) and one train video missing: rank 0's
    # results.json must name both, each once (bad videos are gathered over the ranks)
    root = tmp_path / "data"
    shutil.copytree(data_root, root)
    test_videos = (root / "testlist01.txt").read_text().split()
    junk = root / test_videos[1]
    junk.write_bytes(b"not a video" * 100)
    gone = root / (root / "trainlist01.txt").read_text().split()[0]
    gone.unlink()
    out = str(tmp_path / "ddp")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           os.path.join(ROOT, "tools", "train.py"), CONFIG,
           *overrides(str(root), "optim.epochs=1", "train.batch_size=2",
                      "train.max_steps_per_epoch=2", "train.tensorboard=false"),
           "--output-dir", out]
    proc = subprocess.run(cmd, env=tool_env(PYTHONPATH=ROOT), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-4000:])
    res = json.load(open(os.path.join(out, "results.json")))
    assert res["world_size"] == 2
    assert res["ddp_weights_identical"] is True  # every rank ended with the same weights
    assert res["num_videos"] == 5  # each readable test video counted once over the two ranks
    assert res["history"][0]["train"]["clips"] == 8  # 2 steps x 2 clips x 2 ranks
    assert state_of(os.path.join(out, "last.pth"))["epoch"] == 1
    assert res["skipped_videos"] == {"train": 1, "val": 1, "test": 1, "total": 2}
    bad = {b["path"]: b for b in res["bad_videos"]}
    assert set(bad) == {str(junk), str(gone)}
    assert bad[str(junk)]["splits"] == ["val", "test"] and "missing" in bad[str(gone)]["reason"]
    assert res["substitutions"]["val"] == 1 and res["substitutions"]["test"] == 1


def test_config_errors_exit_2(data_root, capsys):
    assert train_tool.main([CONFIG, "optim.lrr=0.1"]) == 2
    assert "did you mean 'optim.lr'" in capsys.readouterr().err
    assert train_tool.main([CONFIG, "train.batch_size=many"]) == 2
    assert "'train.batch_size'" in capsys.readouterr().err
