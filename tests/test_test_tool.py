"""tools/test.py (softpool3d/cli/test.py) on real videos and real (tiny) fine-tuned models: overrides
anywhere on the line, a run folder meaning its last.pth, no reload of the pretrained file a run
started from, each fold and mean ± std over folds, per-video scores (.npz) checked against an
independent forward pass, the same .npz under torchrun (2 ranks, gloo), progress bars on a real
terminal only, and usage errors (exit 2, naming the token)."""
import fcntl
import json
import os
import select
import shutil
import statistics
import struct
import subprocess
import sys
import termios
from pathlib import Path

import numpy as np
import pytest
import torch

from _official_data import hub_checkpoint, ucf101_unpacked
from _pool_cases import single_thread
from softpool3d.cli import test as test_tool
from softpool3d.cli import train as train_tool
from softpool3d.config import config_from_dict
from softpool3d.engine import compose
from softpool3d.engine.evaluate import evaluate, show_progress

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "configs" / "ucf101" / "slow_r50.yaml")
TINY = ["model.name=r3d_tiny", "data.num_frames=4", "data.sampling_rate=1", "data.crop_size=32",
        "data.train_scale=[32,40]", "data.test_scale=32", "data.test_crop_size=32",
        "data.num_clips=2", "data.num_crops=1", "data.workers=0", "train.batch_size=2",
        "optim.epochs=1", "train.tensorboard=false", "train.precise_bn_batches=2",
        "test.batch_size=2", "model.pool=soft"]

one_thread = pytest.fixture(autouse=True)(single_thread)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three folds of a tiny UCF-101 copy (official layout, 3 test videos per fold), each fine-tuned
    for one epoch from a hub-format "Kinetics" checkpoint, which is then deleted."""
    tmp = tmp_path_factory.mktemp("test_tool")
    root = ucf101_unpacked(tmp / "ucf101")
    pretrained = tmp / "SLOW_8x8_R50.pyth"
    hub_checkpoint(pretrained, "r3d_tiny", 400, num_frames=4, crop_size=32)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for fold in (1, 2, 3):
            assert train_tool.main([CONFIG, *TINY, f"data.root={root}", f"data.fold={fold}",
                                    f"model.init_checkpoint={pretrained}",
                                    "--output-dir", str(tmp / f"run_fold{fold}")]) == 0
    finally:
        torch.set_num_threads(threads)
    pretrained.unlink()  # moved away after training: testing must not need it
    return tmp


def scores_of(path):
    with np.load(path) as z:  # the default allow_pickle=False: plain arrays only
        return {k: z[k] for k in z.files}


# ------------------------------------------------------------------------------- arguments
def test_overrides_anywhere_on_the_line():
    a = test_tool.parse_args(["--checkpoint", "r", "--folds", "1", "2", "3",
                              "data.num_clips=10"])
    assert a.folds == [1, 2, 3] and a.overrides == ["data.num_clips=10"] and a.config is None
    a = test_tool.parse_args(["data.num_crops=1", "--checkpoint", "r", "cfg.yaml", "--folds", "2",
                              "test.average=logits", "--output-dir", "o", "data.workers=0"])
    assert a.config == "cfg.yaml" and a.folds == [2] and a.output_dir == "o"
    assert sorted(a.overrides) == ["data.num_crops=1", "data.workers=0", "test.average=logits"]


@pytest.mark.parametrize("argv,named", [
    (["--folds", "1", "data.num_clips"], "'data.num_clips' is neither a key.sub=value override"),
    (["--folds", "data.num_clips=10"], "--folds: 'data.num_clips=10' is not a fold number"),
    (["--folds", "0"], "fold 0 is not a fold number"),
    (["--folds", "1", "1"], "a fold is given twice"),
    (["--folds", "1", "=3"], "override '=3': bad key"),
    (["a.yaml", "b.yaml"], "two configs given ('a.yaml' and 'b.yaml')"),
    (["--checkpoint", "runs/x{split}"], "braces may only hold {fold}"),
])
def test_malformed_tokens_exit_2_naming_them(argv, named, capsys):
    if "--checkpoint" not in argv:
        argv = ["--checkpoint", "r", *argv]
    with pytest.raises(SystemExit) as e:
        test_tool.parse_args(argv)
    assert e.value.code == 2
    assert named in capsys.readouterr().err


def test_missing_run_folder_checkpoint_exits_2(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    assert test_tool.main(["--checkpoint", str(tmp_path / "run")]) == 2
    assert f"no such checkpoint: {tmp_path / 'run' / 'last.pth'}" in capsys.readouterr().err


# ---------------------------------------------------------------------------------- folds
def test_folds_with_overrides_after_folds_no_pretrained_reload_mean_and_std(runs, capsys):
    out = runs / "three_folds"
    capsys.readouterr()
    # the saved configs name the deleted pretrained file; overrides follow --folds
    code = test_tool.main(["--checkpoint", str(runs / "run_fold{fold}"), "--folds", "1", "2", "3",
                           "data.num_clips=3", "--output-dir", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed.err[-2000:]
    tr = json.loads((out / "test_results.json").read_text())
    assert tr["num_folds"] == 3 and tr["config"]["model"]["init_checkpoint"].endswith(
        "SLOW_8x8_R50.pyth")  # kept in the record, not loaded
    for k in ("1", "2", "3"):
        fold = tr["folds"][k]
        assert fold["checkpoint"] == str(runs / f"run_fold{k}" / "last.pth")  # not best.pth
        assert fold["num_views"] == 3 and fold["num_videos"] == 3
        assert fold["scores_file"] == str(out / f"test_fold{k}_scores.npz")
        assert f"fold {k}: top1 {100 * fold['top1']:.2f}  top5 {100 * fold['top5']:.2f}  " \
               f"mean class acc {100 * fold['mean_class_acc']:.2f}  (3 videos)" in printed.out
    for key in ("top1", "top5", "mean_class_acc"):
        values = [tr["folds"][k][key] for k in ("1", "2", "3")]
        assert tr["mean"][key] == pytest.approx(statistics.fmean(values))
        assert tr["std"][key] == pytest.approx(statistics.stdev(values))
    mean, std = tr["mean"], tr["std"]
    assert (f"mean ± std over 3 folds: top1 {100 * mean['top1']:.2f} ± {100 * std['top1']:.2f}  "
            f"top5 {100 * mean['top5']:.2f} ± {100 * std['top5']:.2f}  mean class acc "
            f"{100 * mean['mean_class_acc']:.2f} ± {100 * std['mean_class_acc']:.2f}"
            ) in printed.out


# ------------------------------------------------------------------------------- per video
def independent_scores(run_dir, average):
    """Per-video scores recomputed without evaluate(): every view through the model one by one."""
    blob = torch.load(os.path.join(run_dir, "last.pth"), map_location="cpu", weights_only=True)
    cfg = config_from_dict(blob["config"])
    compose.resolve(cfg)
    cfg.model.init_checkpoint = None
    model = compose.build_model(cfg, cfg.model.num_classes)
    model.load_state_dict(blob["model"])
    model.eval()
    ds = compose.build_split(cfg, "test", "test")
    rows = []
    with torch.no_grad():
        for i in range(len(ds)):
            views = [model(v[None])[0] for v in ds[i]["video"]]
            rows.append(torch.stack([v.softmax(-1) if average == "softmax" else v
                                     for v in views]).mean(0))
    return ds, torch.stack(rows).numpy()


@pytest.mark.parametrize("average", ["softmax", "logits"])
def test_per_video_scores_match_an_independent_forward_pass(runs, average):
    out = runs / f"scores_{average}"
    assert test_tool.main(["--checkpoint", str(runs / "run_fold1"), f"test.average={average}",
                           "--output-dir", str(out)]) == 0
    z = scores_of(out / "test_scores.npz")
    ds, expected = independent_scores(runs / "run_fold1", average)
    assert z["paths"].dtype.kind == "U" and z["classes"].dtype.kind == "U"
    assert z["paths"].tolist() == [r.path for r in ds.records]
    assert z["labels"].tolist() == ds.labels and z["index"].tolist() == [0, 1, 2]
    assert z["classes"].tolist() == list(ds.classes) and str(z["average"]) == average
    assert (z["views"] == 2).all() and int(z["fold"]) == 1
    np.testing.assert_allclose(z["scores"], expected, rtol=1e-4, atol=1e-5)
    assert (z["pred"] == expected.argmax(1)).all()
    if average == "softmax":
        np.testing.assert_allclose(z["scores"].sum(1), 1, atol=1e-5)
    tr = json.loads((out / "test_results.json").read_text())
    assert tr["folds"]["1"]["top1"] == pytest.approx(float((z["pred"] == z["labels"]).mean()))


def test_training_writes_per_video_scores_too(runs):
    res = json.loads((runs / "run_fold2" / "results.json").read_text())
    assert res["scores_file"] == str(runs / "run_fold2" / "test_scores.npz")
    z = scores_of(res["scores_file"])
    assert len(z["paths"]) == res["num_videos"] == 3
    assert float((z["pred"] == z["labels"]).mean()) == pytest.approx(res["top1"])


def test_torchrun_gathers_every_video_once_in_dataset_order(runs, tmp_path):
    # a copy whose fold-1 test video 1 (rank 1's shard) is unreadable: its replacement is video
    # 2 (rank 0's), so rank 0 and rank 1 both score video 2 and the gather must merge them
    root = tmp_path / "ucf101"
    shutil.copytree(runs / "ucf101", root)
    test_list = (root / "ucfTrainTestlist" / "testlist01.txt").read_text().split()
    (root / "UCF-101" / test_list[1]).write_bytes(b"not a video" * 100)
    argv = ["--checkpoint", str(runs / "run_fold1"), f"data.root={root}", "--no-progress"]
    assert test_tool.main([*argv, "--output-dir", str(tmp_path / "one")]) == 0
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(key, None)
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node=2", str(ROOT / "tools" / "test.py"), *argv,
                           "--output-dir", str(tmp_path / "two")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-3000:])
    one, two = scores_of(tmp_path / "one" / "test_scores.npz"), \
        scores_of(tmp_path / "two" / "test_scores.npz")
    assert two["index"].tolist() == one["index"].tolist() == [0, 2]
    assert two["paths"].tolist() == one["paths"].tolist()
    assert two["labels"].tolist() == one["labels"].tolist()
    assert two["views"].tolist() == one["views"].tolist() == [2, 4]  # video 2 + its stand-in
    np.testing.assert_allclose(two["scores"], one["scores"], rtol=1e-4, atol=1e-5)
    tr = json.loads((tmp_path / "two" / "test_results.json").read_text())
    assert tr["folds"]["1"]["num_videos"] == 2 and tr["folds"]["1"]["skipped"] == 1


# -------------------------------------------------------------------------------- progress
def read_pty(fd):
    chunks = []
    while select.select([fd], [], [], 0.2)[0]:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode(errors="replace")


def test_progress_bar_on_a_terminal_only(runs, monkeypatch, capsys):
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 columns
    tty = os.fdopen(slave, "w")
    try:
        monkeypatch.setattr(sys, "stderr", tty)  # a real terminal (pseudo-terminal)
        monkeypatch.delenv("TQDM_DISABLE", raising=False)
        assert show_progress(None) and not show_progress(False)
        monkeypatch.setenv("TQDM_DISABLE", "1")
        assert not show_progress(None) and show_progress(True)
        monkeypatch.delenv("TQDM_DISABLE")
        argv = ["--checkpoint", str(runs / "run_fold1"), "--output-dir", str(runs / "bar")]
        assert test_tool.main(argv) == 0
        tty.flush()
        drawn = read_pty(master)
        assert "test:" in drawn and "0/2 [" in drawn and "batch/s" in drawn  # 3 videos, 2 a batch
        assert test_tool.main([*argv, "--no-progress"]) == 0
        tty.flush()
        assert "batch" not in read_pty(master)
    finally:
        monkeypatch.undo()
        tty.close()
        os.close(master)
    # not a terminal (pytest captures stderr): no bar unless asked for
    assert not show_progress(None)
    blob = torch.load(runs / "run_fold1" / "last.pth", map_location="cpu", weights_only=True)
    cfg = config_from_dict(blob["config"])
    compose.resolve(cfg)
    cfg.model.init_checkpoint = None
    model = compose.build_model(cfg, 3)
    loader = compose.eval_loader(cfg, compose.build_split(cfg, "test", "test"),
                                 torch.device("cpu"))
    capsys.readouterr()
    evaluate(model, loader, torch.device("cpu"), 3)
    assert "batch" not in capsys.readouterr().err
    evaluate(model, loader, torch.device("cpu"), 3, progress=True, desc="forced")
    assert "forced:   0%|" in capsys.readouterr().err
