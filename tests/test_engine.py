"""Engine pieces against hand-computed cases: schedule, weight-decay groups, meters, checkpoints."""
import math
import os
import random

import numpy as np
import pytest
import torch
from torch import nn

from softpool3d.config import load_config
from softpool3d.engine import checkpoint as ckpt
from softpool3d.engine.evaluate import ShardSampler, flatten_views
from softpool3d.engine.meters import (VideoAggregator, classification_metrics, confusion_matrix,
                                      mean_class_accuracy, topk_correct)
from softpool3d.engine.optim import WarmupCosine, build_optimizer, build_scheduler, param_groups


# ----------------------------------------------------------------------------- schedule / optimiser

def test_warmup_cosine_values():
    f = WarmupCosine(total_iters=10, warmup_iters=4, start_factor=0.2, min_factor=0.1)
    assert [f(i) for i in range(5)] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    # cosine over the 6 remaining iterations: 0.1 + 0.9 * (1 + cos(pi * k / 6)) / 2
    for k in range(7):
        assert f(4 + k) == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi * k / 6)))
    assert f(10) == pytest.approx(0.1) and f(50) == pytest.approx(0.1)
    g = WarmupCosine(total_iters=4, warmup_iters=0)
    assert [g(i) for i in range(5)] == pytest.approx([1.0, 0.8535534, 0.5, 0.1464466, 0.0])


def test_scheduler_per_iteration_and_state():
    cfg = load_config(None, ["optim.lr=0.4", "optim.epochs=3", "optim.warmup_epochs=1",
                             "optim.warmup_start_factor=0.25"])
    model = nn.Linear(2, 2)
    opt = build_optimizer(model, cfg.optim)
    sched = build_scheduler(opt, cfg.optim, iters_per_epoch=2)
    lrs = []
    for _ in range(6):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.1, 0.25, 0.4, 0.4 * (1 + math.cos(math.pi / 4)) / 2, 0.2,
                                 0.4 * (1 + math.cos(3 * math.pi / 4)) / 2])
    # a fresh scheduler restored from the state continues identically
    opt2 = build_optimizer(model, cfg.optim)
    sched2 = build_scheduler(opt2, cfg.optim, iters_per_epoch=2)
    sched2.load_state_dict(sched.state_dict())
    opt2.load_state_dict(opt.state_dict())
    assert opt2.param_groups[0]["lr"] == pytest.approx(opt.param_groups[0]["lr"])


def test_weight_decay_excludes_norms_and_biases():
    model = nn.Sequential(nn.Conv3d(3, 4, 3), nn.BatchNorm3d(4), nn.Linear(4, 2))
    decay, no_decay = param_groups(model, 1e-4)
    assert {id(p) for p in decay["params"]} == {id(model[0].weight), id(model[2].weight)}
    assert len(no_decay["params"]) == 4 and no_decay["weight_decay"] == 0.0
    (only,) = param_groups(model, 1e-4, decay_norm_and_bias=True)
    assert len(only["params"]) == 6
    cfg = load_config(None, ["optim.name=adamw", "optim.lr=0.001"])
    assert isinstance(build_optimizer(model, cfg.optim), torch.optim.AdamW)


# ----------------------------------------------------------------------------- meters

def test_topk_and_confusion_by_hand():
    scores = torch.tensor([[0.1, 0.5, 0.4],    # label 2: top1 wrong, top2 right
                           [0.7, 0.2, 0.1],    # label 0: right
                           [0.2, 0.3, 0.5],    # label 1: wrong, top2 right
                           [0.3, 0.6, 0.1]])   # label 1: right
    labels = torch.tensor([2, 0, 1, 1])
    assert topk_correct(scores, labels, (1, 2, 5)) == {1: 2, 2: 4, 5: 4}
    cm = confusion_matrix(scores.argmax(1), labels, 3)
    assert cm.tolist() == [[1, 0, 0], [0, 1, 1], [0, 1, 0]]
    # per-class recall: class0 1/1, class1 1/2, class2 0/1 -> mean 0.5
    assert mean_class_accuracy(cm) == pytest.approx(0.5)
    m = classification_metrics(scores, labels, 3)
    assert (m["top1"], m["top5"], m["mean_class_acc"]) == (0.5, 1.0, pytest.approx(0.5))
    # classes absent from the labels do not count in the mean
    cm4 = confusion_matrix(torch.tensor([0, 0]), torch.tensor([0, 1]), 4)
    assert mean_class_accuracy(cm4) == pytest.approx(0.5)


def test_multi_view_averaging():
    agg = VideoAggregator(num_classes=3, average="logits")
    # video 7 (label 0): views vote 1, 0, 0 but the average favours 0
    agg.add([7], [0], torch.tensor([[[0.0, 3.0, 0.0], [2.0, 0.0, 0.0], [2.0, 0.0, 0.0]]]))
    # video 3 (label 2) split over two calls (two ranks/batches), 1 view each
    agg.add([3], [2], torch.tensor([[0.0, 2.0, 1.0]]))
    agg.add([3], [2], torch.tensor([[0.0, 0.0, 3.0]]))
    idx, scores, labels = agg.video_scores()
    assert idx == [3, 7] and labels.tolist() == [2, 0]
    assert scores.tolist() == [[0.0, 1.0, 2.0], pytest.approx([4 / 3, 1.0, 0.0])]
    m = agg.compute()
    assert m["top1"] == 1.0 and m["num_videos"] == 2
    # softmax averaging: mean of probabilities
    sm = VideoAggregator(3, "softmax")
    views = torch.tensor([[[0.0, 5.0, 0.0], [1.0, 0.0, 0.0]]])
    sm.add([0], [0], views)
    assert sm.video_scores()[1][0].tolist() == pytest.approx(views[0].softmax(-1).mean(0).tolist())
    # merging gathered states equals adding everything in one aggregator
    a, b = VideoAggregator(3, "logits"), VideoAggregator(3, "logits")
    a.add([1], [1], torch.ones(1, 2, 3))
    b.add([1], [1], torch.zeros(1, 2, 3))
    b.add([2], [0], torch.eye(3)[:1])
    a.merge(b.state())
    _, s, _ = a.video_scores()
    assert s.tolist() == [[0.5, 0.5, 0.5], [1.0, 0.0, 0.0]]


def test_flatten_views_and_shards():
    v = torch.arange(2 * 3 * 4).float().view(2, 3, 1, 1, 2, 2).expand(2, 3, 3, 1, 2, 2)
    flat, (b, n) = flatten_views(v)
    assert flat.shape == (6, 3, 1, 2, 2) and (b, n) == (2, 3)
    assert torch.equal(flat[4], v[1, 1])
    single, (b, n) = flatten_views(torch.zeros(2, 3, 4, 8, 8))
    assert single.shape == (2, 3, 4, 8, 8) and n == 1
    pair, (b, n) = flatten_views([torch.zeros(2, 5, 3, 2, 8, 8), torch.zeros(2, 5, 3, 8, 8, 8)])
    assert [p.shape[0] for p in pair] == [10, 10] and n == 5
    shards = [list(ShardSampler(7, r, 3)) for r in range(3)]
    assert sorted(sum(shards, [])) == list(range(7)) and shards[1] == [1, 4]


# ----------------------------------------------------------------------------- checkpoints

def test_atomic_save_keeps_old_file_on_failure(tmp_path, monkeypatch):
    path = str(tmp_path / "last.pth")
    ckpt.atomic_save({"epoch": 1}, path)

    def broken_save(obj, f):
        f.write(b"partial")
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        ckpt.atomic_save({"epoch": 2}, path)
    monkeypatch.undo()
    assert ckpt.load(path)["epoch"] == 1
    assert os.listdir(tmp_path) == ["last.pth"]  # no temp file left behind


def test_training_state_roundtrip_restores_rng(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    cfg = load_config(None, ["optim.epochs=2"])
    opt = build_optimizer(model, cfg.optim)
    sched = build_scheduler(opt, cfg.optim, 3)
    model(torch.randn(5, 3)).sum().backward()
    opt.step()
    sched.step()
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    state = ckpt.training_state(model, opt, sched, None, epoch=1, best_metric=0.5,
                                rng_states=[ckpt.rng_state()], config={"a": 1})
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    ckpt.save(state, str(tmp_path), is_best=True)
    assert sorted(os.listdir(tmp_path)) == ["best.pth", "last.pth"]

    model2 = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    opt2 = build_optimizer(model2, cfg.optim)
    sched2 = build_scheduler(opt2, cfg.optim, 3)
    info = ckpt.restore(ckpt.load(ckpt.find_last(str(tmp_path))), model2, opt2, sched2)
    assert info == {"epoch": 1, "best_metric": 0.5}
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected
    for a, b in zip(model.state_dict().values(), model2.state_dict().values()):
        assert torch.equal(a, b)
    assert sched2.last_epoch == sched.last_epoch
    assert opt2.state_dict()["state"][0]["momentum_buffer"].equal(
        opt.state_dict()["state"][0]["momentum_buffer"])


def test_resumed_scheduler_follows_the_config():
    from softpool3d.engine.optim import follow_config
    cfg = load_config(None, ["optim.lr=0.4", "optim.epochs=2", "optim.warmup_epochs=0"])
    model = nn.Linear(2, 2)
    opt = build_optimizer(model, cfg.optim)
    sched = build_scheduler(opt, cfg.optim, iters_per_epoch=4)
    for _ in range(3):
        opt.step()
        sched.step()
    lr_now = opt.param_groups[0]["lr"]
    opt2 = build_optimizer(model, cfg.optim)
    sched2 = build_scheduler(opt2, cfg.optim, 4)
    opt2.load_state_dict(opt.state_dict())
    sched2.load_state_dict(sched.state_dict())
    follow_config(sched2, cfg.optim, 4)  # same config: nothing changes
    assert opt2.param_groups[0]["lr"] == pytest.approx(lr_now)
    cfg.optim.lr = 4.0  # a changed peak lr applies from the resumed position on
    follow_config(sched2, cfg.optim, 4)
    assert opt2.param_groups[0]["lr"] == pytest.approx(10 * lr_now)
    opt2.step()
    sched2.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(4.0 * (1 + math.cos(math.pi * 4 / 8)) / 2)
    # linear lr scaling to the total batch
    cfg.optim.base_batch_size = 64
    assert build_optimizer(model, cfg.optim, total_batch=16).param_groups[0]["lr"] == 1.0


# ----------------------------------------------------------------------------- dataset facts

def test_the_engine_asks_the_dataset_registry():
    from softpool3d.datasets import DATASETS
    from softpool3d.engine import compose
    assert {n for n, spec in DATASETS.items() if spec.has_folds} == {"ucf101", "hmdb51"}
    assert {n for n, spec in DATASETS.items() if spec.list_file_names_folder} == {"hmdb51"}
    for name, folded in (("ucf101", True), ("hmdb51", True), ("kinetics400", False),
                         ("synthetic", False)):
        cfg = load_config(None, [f"data.name={name}", "data.fold=2" if folded else "data.fold=1",
                                 "model.name=r3d_tiny", "model.pool=soft"])
        want = "r3d_tiny_soft_fold2" if folded else "r3d_tiny_soft"
        assert compose.default_output_dir(cfg) == os.path.join("runs", name, want)
