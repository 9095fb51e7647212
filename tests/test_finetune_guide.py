"""docs/finetune.md, run end to end: every fenced block marked ``test:NAME`` is taken from the page
and run in order (bash blocks with ``bash -euo pipefail``, python blocks with this interpreter) in a
fresh folder that holds the repository's ``tools/`` and ``configs/`` and what the page's download
step leaves: tiny UCF-101 / HMDB-51 copies as their archives unpack (real .avi videos, all three
splits) and a tiny ``checkpoints/SLOW_8x8_R50.pyth`` in the model zoo's format (``model_state``,
400 classes). The only changes to the page's text are the size substitutions below, each of
which must still match: the page and this test cannot drift apart silently."""
import json
import os
import re
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from _official_data import hmdb51_unpacked, hub_checkpoint, ucf101_unpacked

pytestmark = pytest.mark.slow  # runs the guide's commands end to end
ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "finetune.md"
BLOCK = re.compile(r"^```(bash|python) test:([\w-]+)\n(.*?)^```", re.S | re.M)
EXPECTED_BLOCKS = ["ucf101-prepare", "ucf101-train", "ucf101-test", "ucf101-scores", "hmdb51"]

# a tiny model on 32 px crops of 4 frames, one epoch, 2 test views per video
TINY = ("model.name=r3d_tiny data.num_frames=4 data.sampling_rate=1 data.crop_size=32 "
        "data.train_scale=[32,40] data.test_scale=32 data.test_crop_size=32 data.num_clips=2 "
        "data.num_crops=1 data.workers=0 train.batch_size=2 optim.epochs=1 "
        "train.tensorboard=false train.precise_bn_batches=2 test.batch_size=4")
SUBSTITUTIONS = {
    "configs/ucf101/slow_r50.yaml": f"configs/ucf101/slow_r50.yaml {TINY}",
    "configs/hmdb51/slow_r50.yaml": f"configs/hmdb51/slow_r50.yaml {TINY}",
    "--workers 8": "--workers 2",
}
TINY_MODEL = dict(num_frames=4, crop_size=32)  # only sets the head window: no parameter changes


def doc_blocks():
    """``[(name, language, text)]`` of the page's tested blocks, with the substitutions applied."""
    blocks = [(name, lang, text) for lang, name, text in BLOCK.findall(DOC.read_text())]
    used = {old: 0 for old in SUBSTITUTIONS}
    out = []
    for name, lang, text in blocks:
        for old, new in SUBSTITUTIONS.items():
            used[old] += text.count(old)
            text = text.replace(old, new)
        out.append((name, lang, text))
    unused = [old for old, n in used.items() if n == 0]
    assert not unused, f"docs/finetune.md no longer contains {unused}: update this test"
    return out


def test_doc_blocks_are_found():
    names = [name for name, _, _ in doc_blocks()]
    assert names == EXPECTED_BLOCKS


def run_block(lang, text, cwd):
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(key, None)
    cmd = ["bash", "-euo", "pipefail", "-c", text] if lang == "bash" else \
        [sys.executable, "-c", text]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{text}\n--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n" \
                                 f"{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


def check_runs(ws, dataset, log, n_test):
    """Three fine-tuned folds started from the checkpoint, tested over the folds from last.pth."""
    # the Kinetics weights went in, except the 400-class head (r3d_tiny: 104 tensors)
    assert log.count("loaded 102/104 model tensors") == 3  # once per fold
    assert "blocks.5.proj.weight checkpoint (400, 256) vs model (3, 256)" in log
    for k in (1, 2, 3):
        run = ws / "runs" / dataset / f"slow_r50_soft_fold{k}"
        res = json.loads((run / "results.json").read_text())
        assert res["fold"] == k and res["pool"] == "soft" and res["model"] == "r3d_tiny"
        # paths are stored resolved (a resume elsewhere reads the same file)
        assert res["config"]["model"]["init_checkpoint"] == \
            str((ws / "checkpoints" / "SLOW_8x8_R50.pyth").resolve())
        assert (run / "last.pth").is_file() and (run / "test_scores.npz").is_file()
    out = ws / "runs" / dataset / "slow_r50_soft_3folds"
    tr = json.loads((out / "test_results.json").read_text())
    assert sorted(tr["folds"]) == ["1", "2", "3"] and tr["num_folds"] == 3
    top1 = [tr["folds"][k]["top1"] for k in ("1", "2", "3")]
    assert tr["mean"]["top1"] == pytest.approx(statistics.fmean(top1))
    assert tr["std"]["top1"] == pytest.approx(statistics.stdev(top1))
    for k in (1, 2, 3):
        fold = tr["folds"][str(k)]
        assert fold["checkpoint"].endswith(f"slow_r50_soft_fold{k}/last.pth")
        assert fold["num_videos"] == n_test and fold["num_views"] == 2
        assert f"fold {k}: top1 {100 * fold['top1']:.2f}" in log
        with np.load(out / f"test_fold{k}_scores.npz") as z:  # allow_pickle=False (the default)
            assert z["scores"].shape == (n_test, 3) and (z["views"] == 2).all()
            assert np.allclose(z["scores"].sum(1), 1, atol=1e-5)  # softmax averaged over views
            listed = [p for p in z["paths"]]  # as the dataset has them: under the resolved data.root
            root = str((ws / "data" / dataset).resolve()) + os.sep
            assert all(p.startswith(root) and p.endswith(".mp4") for p in listed)
            assert listed == sorted(listed) and len(set(listed)) == n_test  # list order, once
            assert int(z["fold"]) == k
    assert "mean ± std over 3 folds: top1 " \
           f"{100 * tr['mean']['top1']:.2f} ± {100 * tr['std']['top1']:.2f}" in log
    return tr


def workspace(path, make_data):
    """A folder as the page's first step leaves it: ``tools/`` and ``configs/`` (the commands run
    from the repository root), the unpacked dataset and the Kinetics checkpoint."""
    path.mkdir()
    for name in ("tools", "configs"):
        (path / name).symlink_to(ROOT / name)
    make_data(path)
    hub_checkpoint(path / "checkpoints" / "SLOW_8x8_R50.pyth", "r3d_tiny", 400, **TINY_MODEL)
    return path


def run_ucf101(ws, blocks):
    ws = workspace(ws, lambda p: ucf101_unpacked(p / "raw" / "ucf101"))
    pretrained = ws / "checkpoints" / "SLOW_8x8_R50.pyth"
    logs = {}
    for name, lang, text in blocks:
        if name == "ucf101-test":  # testing must not need the Kinetics file any more
            pretrained.unlink()
        t0 = time.perf_counter()
        logs[name] = run_block(lang, text, ws)
        print(f"{name}: {time.perf_counter() - t0:.1f} s")
    return ws, logs


def run_hmdb51(ws, blocks):
    ws = workspace(ws, lambda p: hmdb51_unpacked(p / "raw" / "hmdb51"))
    (name, lang, text), = blocks
    t0 = time.perf_counter()
    log = run_block(lang, text, ws)
    print(f"{name}: {time.perf_counter() - t0:.1f} s")
    return ws, log


def test_finetune_guide_end_to_end(tmp_path):
    blocks = doc_blocks()
    # the UCF-101 and HMDB-51 walks are independent: run side by side, in separate folders
    with ThreadPoolExecutor(2) as pool:
        ucf = pool.submit(run_ucf101, tmp_path / "ucf", [b for b in blocks if b[0] != "hmdb51"])
        hmdb = pool.submit(run_hmdb51, tmp_path / "hmdb", [b for b in blocks if b[0] == "hmdb51"])
        (ws, logs), (hws, hlog) = ucf.result(), hmdb.result()

    # prepared: H.264 .mp4 at the listed paths, and the lists of all three splits
    lists = ws / "data" / "ucf101" / "ucfTrainTestlist"
    assert sorted(p.name for p in lists.iterdir()) == sorted(
        ["classInd.txt"] + [f"{kind}0{k}.txt" for kind in ("trainlist", "testlist")
                            for k in (1, 2, 3)])
    assert len(list((ws / "data" / "ucf101").glob("*/v_*.mp4"))) == 9
    assert "ucf101: 9 annotated videos found, 0 missing" in logs["ucf101-prepare"]

    tr = check_runs(ws, "ucf101", logs["ucf101-train"] + logs["ucf101-test"], n_test=3)
    # the page's re-scoring of the .npz files gives the tool's numbers
    for k in (1, 2, 3):
        fold = tr["folds"][str(k)]
        assert f"fold {k}: top1 {100 * fold['top1']:.2f}  top5 {100 * fold['top5']:.2f}  " \
               f"(3 videos)" in logs["ucf101-scores"]

    assert (hws / "data" / "hmdb51" / "testTrainMulti_7030_splits" /
            "wave_test_split3.txt").is_file()
    assert "hmdb51: 9 annotated videos found, 0 missing" in hlog
    check_runs(hws, "hmdb51", hlog, n_test=3)
