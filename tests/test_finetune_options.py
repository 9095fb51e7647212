"""Fine-tuning options, each shown to act against the same run with it off:
frozen parts and BatchNorm, per-part learning rates, mixup/cutmix, EMA of the weights, gradient
accumulation (with DDP's no_sync); and the data.decoder key. Real tiny models; the
end-to-end runs train on generated H.264 videos."""
import json
import os

import pytest
import torch
import torch.distributed as dist
from torch import nn

from softpool3d.config import ConfigError, load_config
from softpool3d.engine import compose
from softpool3d.engine import checkpoint as ckpt
from softpool3d.engine.finetune import model_parts, train_mode
from softpool3d.engine.logger import RunLogger
from softpool3d.engine.mixing import BatchMixer
from softpool3d.engine.optim import build_optimizer, build_scheduler, follow_config
from softpool3d.engine.resume import ResumeRefused, check as resume_check
from softpool3d.engine.trainer import (EpochSettings, TrainState, make_ema, steps_per_epoch,
                                       train_one_epoch)
from _after_checkpoint import after_each_checkpoint
from _tiny_run import CONFIG, MEDIUM

SYNTHETIC = MEDIUM  # the size of conftest's data_root here

_BN = nn.modules.batchnorm._BatchNorm


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def cfg_of(*overrides, model="r3d_tiny"):
    cfg = load_config(None, [f"model.name={model}", "data.num_frames=4", "data.crop_size=32",
                             *overrides])
    return cfg


def model_of(cfg, classes=3):
    torch.manual_seed(0)
    return compose.build_model(cfg, classes)


def batches(n, size=4, classes=3, frames=4, crop=32, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [{"video": torch.randn(size, 3, frames, crop, crop, generator=g),
             "label": torch.randint(0, classes, (size,), generator=g),
             "index": torch.arange(i * size, (i + 1) * size)} for i in range(n)]


def run_epoch(cfg, model, data, ema=None, mixer=None, state=None):
    opt = build_optimizer(model, cfg.optim)
    steps = -(-len(data) // cfg.train.accumulate_steps)
    sched = build_scheduler(opt, cfg.optim, steps)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    state = state or TrainState()
    stats = train_one_epoch(model, data, opt, sched, scaler, nn.CrossEntropyLoss(),
                            torch.device("cpu"), EpochSettings.from_config(cfg), 0, state,
                            RunLogger(None), len(data),
                            ema=ema, mixer=mixer)
    return opt, sched, state, stats


def snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


# ---------------------------------------------------------------------------------------------
# parts, frozen parts and BatchNorm

@pytest.mark.parametrize("name", ["r3d_tiny", "i3d_tiny", "x3d_xs_tiny", "slowfast_tiny",
                                  "r3d_18"])
def test_every_family_has_the_same_part_names(name):
    from softpool3d import models
    model = models.build_model(name, 5)
    parts = model_parts(model)
    assert list(parts) == ["stem", "stage1", "stage2", "stage3", "stage4", "head"]
    # every parameter belongs to exactly one part; the head holds the classifier
    owned = [id(p) for m in parts.values() for p in m.parameters()]
    assert len(owned) == len(set(owned)) == len(list(model.parameters()))
    head_shapes = [tuple(p.shape) for p in parts["head"].parameters()]
    assert any(s[0] == 5 for s in head_shapes)


def test_the_parts_are_the_models_and_seen_through_wrappers():
    from softpool3d import models
    model = models.build_model("r3d_tiny", 5)
    bare = models.model_parts(model)
    wrapped = model_parts(torch.compile(model))  # finetune's: the network inside the wrapper
    assert list(bare) == list(wrapped) and all(bare[k] is wrapped[k] for k in bare)
    with pytest.raises(ValueError, match=r"^Sequential: cannot name its parts \(stem, stages, "
                                         r"head\): 1 top-level pieces hold parameters$"):
        model_parts(nn.Sequential(nn.Linear(2, 2), nn.ReLU()))


def test_epoch_settings_come_from_the_config():
    cfg = cfg_of("finetune.freeze=[stem]", "finetune.freeze_bn_stats=true", "optim.clip_grad=2",
                 "train.accumulate_steps=3", "optim.epochs=4", "train.log_every=7")
    s = EpochSettings.from_config(cfg)
    assert (s.epochs, s.accumulate_steps, s.clip_grad, s.amp, s.log_every, s.freeze_bn_stats,
            s.frozen_parts) == (4, 3, 2.0, cfg.train.amp, 7, True, ("stem",))


def test_an_unknown_part_names_the_key_and_the_valid_parts():
    with pytest.raises(ConfigError) as e:
        model_of(cfg_of("finetune.freeze=[stem, layer1]"))
    msg = str(e.value)
    assert "finetune.freeze" in msg and "'layer1'" in msg
    assert "stem, stage1, stage2, stage3, stage4, head" in msg


def test_frozen_parts_do_not_change_and_the_rest_trains():
    data = batches(2)
    changed = {}
    for freeze in ("[]", "[stem, stage1]"):
        cfg = cfg_of(f"finetune.freeze={freeze}", "optim.lr=0.5")
        model = model_of(cfg)
        parts = model_parts(model)
        before = {n: snapshot(m) for n, m in parts.items()}
        run_epoch(cfg, model, data)
        changed[freeze] = {n: any(not torch.equal(before[n][k], v)
                                  for k, v in m.state_dict().items())
                           for n, m in parts.items()}
    assert all(changed["[]"].values())  # off: every part moves (weights and BN statistics)
    frozen = changed["[stem, stage1]"]
    assert not frozen["stem"] and not frozen["stage1"]  # weights and BN statistics kept
    assert frozen["stage2"] and frozen["head"]


def test_frozen_bn_statistics_and_affine():
    data = batches(2)

    def bn_state(model):
        return {k: v.clone() for m_name, m in model.named_modules() if isinstance(m, _BN)
                for k, v in m.state_dict(prefix=m_name + ".").items()}

    for stats, affine in ((False, False), (True, False), (True, True)):
        cfg = cfg_of(f"finetune.freeze_bn_stats={str(stats).lower()}",
                     f"finetune.freeze_bn_affine={str(affine).lower()}", "optim.lr=0.5")
        model = model_of(cfg)
        before = bn_state(model)
        run_epoch(cfg, model, data)
        after = bn_state(model)
        running = [k for k in before if "running_" in k]
        affine_keys = [k for k in before if k.endswith((".weight", ".bias"))]
        assert all(torch.equal(before[k], after[k]) for k in running) == stats
        assert all(torch.equal(before[k], after[k]) for k in affine_keys) == affine
        settings = EpochSettings.from_config(cfg)  # what each training epoch is handed
        train_mode(model, settings.freeze_bn_stats, settings.frozen_parts)
        bns = [m for m in model.modules() if isinstance(m, _BN)]
        assert all(not m.training for m in bns) == stats and model.training


def test_freeze_bn_stats_with_precise_bn_is_refused():
    with pytest.raises(ConfigError, match="finetune.freeze_bn_stats"):
        cfg_of("finetune.freeze_bn_stats=true", "train.precise_bn=true")


# ---------------------------------------------------------------------------------------------
# per-part learning rates

def _lr_of(opt, param):
    return next(g["lr"] for g in opt.param_groups if any(p is param for p in g["params"]))


def test_head_lr_multiplier_and_layer_decay_survive_the_schedule_and_a_resume():
    cfg = cfg_of("optim.lr=0.1", "optim.head_lr_mult=10", "optim.layer_decay=0.5",
                 "optim.warmup_epochs=1", "optim.epochs=2")
    model = model_of(cfg)
    parts = model_parts(model)
    head_w = next(parts["head"].parameters())
    stem_w = next(parts["stem"].parameters())
    stage4_w = next(parts["stage4"].parameters())
    opt = build_optimizer(model, cfg.optim)
    assert _lr_of(opt, head_w) == pytest.approx(1.0)      # 0.1 x 10
    assert _lr_of(opt, stage4_w) == pytest.approx(0.05)   # 0.1 x 0.5
    assert _lr_of(opt, stem_w) == pytest.approx(0.1 * 0.5 ** 5)
    sched = build_scheduler(opt, cfg.optim, 4)
    for _ in range(3):
        opt.step()
        sched.step()
    ratio = _lr_of(opt, head_w) / _lr_of(opt, stage4_w)
    assert ratio == pytest.approx(20.0)
    # a resume re-applies the config's schedule: the per-part ratios stay
    follow_config(sched, cfg.optim, 4)
    assert _lr_of(opt, head_w) / _lr_of(opt, stage4_w) == pytest.approx(20.0)
    # off: one lr for all
    plain = build_optimizer(model_of(cfg_of("optim.lr=0.1")), cfg_of("optim.lr=0.1").optim)
    assert {g["lr"] for g in plain.param_groups} == {0.1}


# ---------------------------------------------------------------------------------------------
# mixup / cutmix

def test_mixup_and_cutmix_on_video_batches():
    torch.manual_seed(0)
    video = torch.arange(4.0).view(4, 1, 1, 1, 1).expand(4, 3, 4, 8, 8).contiguous()
    labels = torch.tensor([0, 1, 2, 0])
    mixed, soft = BatchMixer(3, mixup_alpha=1.0)(video, labels)
    lam = soft[1, 1].item()  # clip 1 (label 1) mixed with clip 0 (label 0)
    assert soft.shape == (4, 3) and torch.allclose(soft.sum(1), torch.ones(4))
    assert torch.allclose(mixed[1], lam * video[1] + (1 - lam) * video[0])
    # cutmix: one spatial box, the same over every frame and channel, and the same box for both
    # SlowFast pathways; the target weights are the pixel shares
    slow, fast = video[:, :, :1].clone(), video
    (m_slow, m_fast), soft = BatchMixer(3, cutmix_alpha=1.0)([slow, fast], labels)
    pasted = m_fast[1] != video[1]
    assert torch.equal(pasted, pasted[:1, :1].expand_as(pasted))
    assert torch.equal(m_slow[1] != slow[1], pasted[:, :1])
    share = pasted[0, 0].float().mean().item()
    assert soft[1, 0].item() == pytest.approx(share) and soft[1, 1].item() == pytest.approx(1 - share)


def test_mixing_changes_training_and_uses_soft_targets():
    data = batches(2)
    results = {}
    for mix in ("train.mixup_alpha=0", "train.mixup_alpha=1.0"):
        cfg = cfg_of(mix, "optim.lr=0.2")
        model = model_of(cfg)
        torch.manual_seed(3)
        from softpool3d.engine.mixing import build_mixer
        mixer = build_mixer(cfg, 3)
        assert (mixer is None) == mix.endswith("=0")
        _, _, _, stats = run_epoch(cfg, model, data, mixer=mixer)
        results[mix] = (stats["loss"], snapshot(model))
    (loss_a, w_a), (loss_b, w_b) = results.values()
    assert loss_a != pytest.approx(loss_b)
    assert any(not torch.equal(w_a[k], w_b[k]) for k in w_a)


# ---------------------------------------------------------------------------------------------
# gradient accumulation and EMA

def test_accumulation_equals_the_large_batch_and_counts_optimizer_steps():
    # BN statistics frozen: then a half batch's gradient is exactly half of the full batch's
    data = batches(2, size=4)
    halves = [{k: v[i:i + 2] for k, v in b.items()} for b in data for i in (0, 2)]
    base = ("finetune.freeze_bn_stats=true", "optim.lr=0.5", "optim.momentum=0.9")
    cfg1 = cfg_of(*base)
    big = model_of(cfg1)
    _, sched1, state1, _ = run_epoch(cfg1, big, data)
    cfg2 = cfg_of(*base, "train.accumulate_steps=2")
    acc = model_of(cfg2)
    _, sched2, state2, _ = run_epoch(cfg2, acc, halves)
    assert state1.step == state2.step == 2 and sched2.last_epoch == 2
    for (k, a), b in zip(big.state_dict().items(), acc.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4), k
    # without accumulation the same 4 half batches take 4 different steps
    cfg3 = cfg_of(*base)
    small = model_of(cfg3)
    _, _, state3, _ = run_epoch(cfg3, small, halves)
    assert state3.step == 4
    assert any(not torch.allclose(a, b, atol=1e-4) for a, b in
               zip(big.state_dict().values(), small.state_dict().values()))
    # an epoch of 5 batches at 2 per step: 3 steps (the last group is shorter)
    from torch.utils.data import DataLoader
    loader = DataLoader(list(range(10)), batch_size=2)
    assert steps_per_epoch(cfg2, loader) == 3


@pytest.fixture
def one_rank_gloo(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0,
                            world_size=1)
    yield
    dist.destroy_process_group()


def test_ddp_all_reduces_only_on_the_last_micro_batch(one_rank_gloo):
    from torch.nn.parallel import DistributedDataParallel
    data = batches(4, size=2)
    counts = {}
    for accum in (1, 2):
        cfg = cfg_of(f"train.accumulate_steps={accum}", "finetune.freeze_bn_stats=true")
        model = DistributedDataParallel(model_of(cfg))
        calls = []

        def hook(state, bucket, calls=calls):
            calls.append(bucket.index())
            fut = torch.futures.Future()
            fut.set_result(bucket.buffer())
            return fut
        model.register_comm_hook(None, hook)
        run_epoch(cfg, model, data)
        counts[accum] = len([c for c in calls if c == 0])  # bucket 0: once per all-reduce
    assert counts == {1: 4, 2: 2}


def test_ema_follows_its_recursion_and_is_what_is_evaluated():
    decay = 0.75
    cfg = cfg_of("optim.lr=0.5", f"train.ema_decay={decay}")
    model = model_of(cfg)
    ema = make_ema(model, cfg.train.ema_decay)
    weights = []
    for b in batches(3):
        run_epoch(cfg, model, [b], ema=ema)
        weights.append(snapshot(model))
    key = "blocks.5.proj.weight"
    expected = weights[0][key]
    for w in weights[1:]:
        expected = decay * expected + (1 - decay) * w[key]
    assert int(ema.n_averaged) == 3
    assert torch.allclose(ema.module.state_dict()[key], expected, atol=1e-6)
    assert not torch.allclose(ema.module.state_dict()[key], weights[-1][key])
    # BN statistics are averaged too
    rm = "blocks.0.norm.running_mean"
    assert not torch.equal(ema.module.state_dict()[rm], model.state_dict()[rm])


# ---------------------------------------------------------------------------------------------
# end to end: train, checkpoint, resume, test with every option on

class _Stop(Exception):
    pass


def _stop_after_first(epoch, path):
    if epoch == 1:
        raise _Stop()


def test_all_options_end_to_end_with_an_exact_resume(data_root, tmp_path):
    from softpool3d.cli import train as train_tool
    from softpool3d.engine import run
    ov = [f"data.root={data_root}", "data.crop_size=32", "data.train_scale=[32,40]",
          "data.test_scale=32", "data.test_crop_size=32", "data.workers=0", "data.num_clips=1",
          "train.batch_size=2", "optim.epochs=2", "train.accumulate_steps=2",
          "train.ema_decay=0.8", "train.mixup_alpha=0.8", "train.cutmix_alpha=1.0",
          "finetune.freeze=[stem]", "finetune.freeze_bn_stats=true", "optim.head_lr_mult=10",
          "train.log_every=1", "optim.lr=0.01", "optim.base_batch_size=2",
          "data.decoder=torchcodec" if _has_torchcodec() else "data.decoder=decord"]
    full = str(tmp_path / "full")
    assert train_tool.main([CONFIG, *ov, "--output-dir", full]) == 0
    res = json.load(open(os.path.join(full, "results.json")))
    metrics = [json.loads(line) for line in open(os.path.join(full, "metrics.jsonl"))]
    assert [r["step"] for r in metrics if r["kind"] == "train_step"] == list(range(1, 7))
    blob = ckpt.load(os.path.join(full, "last.pth"))
    # 12 clips / batch 2 = 6 batches = 3 optimiser steps per epoch
    assert blob["scheduler"]["last_epoch"] == 6 and blob["train_state"]["step"] == 6
    assert blob["ema"]["n_averaged"] == 6
    # the lr is scaled to the effective batch: 2 clips x 2 accumulated / base 2 = 2 x 0.01
    peaks = [g["initial_lr"] / g["lr_mult"] for g in blob["optimizer"]["param_groups"]]
    assert peaks == pytest.approx([0.02] * len(peaks))
    diff = [k for k in blob["model"] if not torch.equal(blob["model"][k], blob["raw_model"][k])]
    assert diff and not any(k.startswith("blocks.0.") for k in diff)  # the frozen stem
    assert res["epochs"] == 2 and res["num_videos"] == 6
    # a test of this checkpoint (tools/test.py, the final test) reads "model": the EMA weights

    # stopped after epoch 1, then resumed: the same EMA and trained weights as the full run
    part = str(tmp_path / "part")
    cfg = load_config(CONFIG, ov)
    with pytest.raises(_Stop):
        with after_each_checkpoint(_stop_after_first):
            run.train(cfg, part, resume=False)
    assert train_tool.main([CONFIG, *ov, "--output-dir", part]) == 0
    other = ckpt.load(os.path.join(part, "last.pth"))
    for key in ("model", "raw_model"):
        for k, v in blob[key].items():
            assert torch.equal(v, other[key][k]), (key, k)
    assert other["ema"] == blob["ema"]


def _has_torchcodec():
    from softpool3d.datasets.decode import check_decoder
    try:
        check_decoder("torchcodec")
        return True
    except ImportError:
        return False


# ---------------------------------------------------------------------------------------------
# resume rules and data.decoder

def test_resume_accepts_old_configs_and_refuses_changed_new_options():
    from softpool3d.config import to_dict
    new = to_dict(cfg_of())
    old = json.loads(json.dumps(new))
    for section, key in (("train", "accumulate_steps"), ("train", "ema_decay"),
                         ("optim", "head_lr_mult"), ("data", "decoder")):
        del old[section][key]
    del old["finetune"]
    assert resume_check("old.pth", old, new, 1) == {}  # written before the keys existed
    changed = to_dict(cfg_of("train.accumulate_steps=4", "finetune.freeze=[stem]"))
    with pytest.raises(ResumeRefused) as e:
        resume_check("old.pth", old, changed, 1)
    assert "train.accumulate_steps" in str(e.value) and "finetune.freeze" in str(e.value)


def test_data_decoder_key_reaches_the_dataset(data_root):
    for decoder in ("decord", "torchcodec"):
        if decoder == "torchcodec" and not _has_torchcodec():
            continue
        cfg = cfg_of(f"data.root={data_root}", f"data.decoder={decoder}", model="r3d_tiny")
        compose.resolve(cfg)
        ds = compose.build_split(cfg, "train", "train")
        assert _decoder_of(ds) == decoder
        assert ds[0]["video"].shape[1] == 4
    # what the config sets itself is not a data option: the error names the key to use
    with pytest.raises(ConfigError, match="'data.options.decoder': set by the config itself; "
                                          "use data.decoder"):
        compose.resolve(cfg_of(f"data.root={data_root}", "data.options.decoder=decord"))
    with pytest.raises(ConfigError, match="'data.options.num_frames'.*use data.num_frames"):
        compose.resolve(cfg_of(f"data.root={data_root}", "data.options.num_frames=4"))
    with pytest.raises(ConfigError, match="data.decoder"):
        cfg_of("data.decoder=pyav")


def _decoder_of(ds):
    for obj in (ds, getattr(ds, "dataset", None)):
        if obj is not None and hasattr(obj, "decoder"):
            return obj.decoder
    raise AssertionError(f"{type(ds).__name__} does not say which decoder it uses")
