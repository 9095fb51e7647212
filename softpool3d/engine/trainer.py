"""The training loop (plain, timm-like): epochs of SGD/AdamW steps with AMP, gradient clipping and
label smoothing, a non-finite-loss stop, optional precise-BN, validation every k epochs and an
atomic checkpoint (last + best) after every epoch. Fine-tuning options (see config.py): gradient
accumulation (``train.accumulate_steps``), mixup/cutmix (``train.mixup_alpha``/``cutmix_alpha``,
engine/mixing.py), an EMA of the weights (``train.ema_decay``), frozen BatchNorm statistics and
frozen parts (``finetune``, engine/finetune.py)."""
from __future__ import annotations

import contextlib
import hashlib
import math
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from . import badvideos
from . import checkpoint as ckpt
from . import distributed as du
from ..runtime import cuda_autocast
from .evaluate import evaluate, forward, to_device
from .finetune import train_mode
from .logger import RunLogger
from .meters import topk_correct
from .mixing import build_mixer
from .optim import base_lr


class NonFiniteLossError(RuntimeError):
    """The loss became NaN/inf; the run stopped and the last good checkpoint was kept."""


def seed_all(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def epoch_seed(seed: int, rank: int, epoch: int) -> int:
    """A distinct seed per (run seed, rank, epoch): each epoch starts from a known RNG state, so a
    resumed run draws the same clips, crops and worker seeds as an uninterrupted one."""
    return (seed * 1_000_003 + rank * 10_007 + epoch * 101) % 2 ** 31


def start_epoch_rng(loader, seed: int, epoch: int) -> None:
    """Put every random stream of an epoch in a state that depends only on (seed, rank, epoch):
    the global RNGs, the sampler's shuffle, the dataset's augmentation stream and the loader's
    generator (which seeds the workers)."""
    s = epoch_seed(seed, du.rank(), epoch)
    seed_all(s)
    for obj in (getattr(loader, "sampler", None), getattr(loader, "dataset", None)):
        if hasattr(obj, "set_epoch"):
            obj.set_epoch(epoch)
    if getattr(loader, "generator", None) is not None:
        loader.generator.manual_seed(s)


def weights_digest(model: nn.Module) -> str:
    """SHA-1 of every parameter and buffer (to check that DDP ranks agree)."""
    h = hashlib.sha1()
    for name, t in ckpt.unwrap(model).state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


@torch.no_grad()
def update_bn_stats(model: nn.Module, loader, device: torch.device, num_batches: int,
                    amp: str = "none") -> int:
    """Precise BN: recompute the BatchNorm running statistics as plain averages over
    ``num_batches`` training batches (averaged over the ranks). Returns the batches used."""
    model = ckpt.unwrap(model)
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns or num_batches <= 0:
        return 0
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    was_training = model.training
    model.train()
    used = 0
    for batch in loader:
        if used >= num_batches:
            break
        with cuda_autocast(device, amp):
            forward(model, to_device(batch["video"], device))
        used += 1
    for m, mom in zip(bns, momenta):
        m.momentum = mom
    model.train(was_training)
    if du.is_dist():
        for m in bns:
            for buf in (m.running_mean, m.running_var):
                torch.distributed.all_reduce(buf)
                buf.div_(du.world_size())
    return used


@dataclass
class TrainState:
    """What ``fit`` carries between epochs (and stores in checkpoints)."""
    epoch: int = 0                       # completed epochs
    best_metric: Optional[float] = None  # best validation top-1
    step: int = 0                        # optimiser steps so far
    bad_videos: dict = field(default_factory=dict)  # BadVideos.state_dict()
    elapsed_s: float = 0.0               # training time over all resumes
    history: list = field(default_factory=list)
    resumes: list = field(default_factory=list)     # [{"epoch", "changed": {key: [old, new]}}]
    # the EMA's {"model": state dict, "n_averaged": int} read from a checkpoint (not stored here:
    # the checkpoint holds the EMA weights as "model")
    ema: Optional[dict] = None


def batches_per_epoch(cfg, loader) -> int:
    """Batches (forward/backward passes) in one epoch: the loader's, capped by
    ``train.max_steps_per_epoch``."""
    cap = cfg.train.max_steps_per_epoch
    return len(loader) if cap is None else min(len(loader), cap)


def steps_per_epoch(cfg, loader) -> int:
    """Optimiser steps in one epoch: one per ``train.accumulate_steps`` batches (a shorter last
    group steps too). The lr schedule counts these."""
    return math.ceil(batches_per_epoch(cfg, loader) / cfg.train.accumulate_steps)


def effective_batch(cfg) -> int:
    """Clips per optimiser step over all ranks: batch_size x world size x accumulate_steps (what
    ``optim.base_batch_size`` scales the lr to)."""
    return cfg.train.batch_size * du.world_size() * cfg.train.accumulate_steps


def make_ema(model: nn.Module, decay: Optional[float], state: Optional[dict] = None
             ) -> Optional[AveragedModel]:
    """An EMA of ``model``'s parameters and buffers (``torch.optim.swa_utils.AveragedModel`` with
    ``get_ema_multi_avg_fn(decay)``), restored from ``state`` (see TrainState.ema); None when
    ``decay`` is None."""
    if decay is None:
        return None
    ema = AveragedModel(ckpt.unwrap(model), multi_avg_fn=get_ema_multi_avg_fn(decay),
                        use_buffers=True)
    if state is not None:
        ema.module.load_state_dict(state["model"])
        ema.n_averaged.fill_(int(state["n_averaged"]))
    return ema


def _correct(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return topk_correct(logits.detach().float(), labels, (1,))[1]


@dataclass(frozen=True)
class EpochSettings:
    """What a training epoch reads besides its objects, taken from the config once
    (``from_config``) and handed to ``train_one_epoch``."""
    epochs: int                          # optim.epochs: the progress bar's "epoch e/E"
    accumulate_steps: int = 1            # train.accumulate_steps: batches per optimiser step
    clip_grad: Optional[float] = None    # optim.clip_grad: max gradient norm (None/0: off)
    amp: str = "none"                    # train.amp: autocast dtype name
    log_every: int = 0                   # train.log_every: a train_step log line every N steps
    freeze_bn_stats: bool = False        # finetune.freeze_bn_stats: every BatchNorm in eval mode
    frozen_parts: Tuple[str, ...] = ()   # finetune.freeze: their BatchNorms in eval mode too

    @classmethod
    def from_config(cls, cfg) -> "EpochSettings":
        fcfg = getattr(cfg, "finetune", None)
        return cls(epochs=cfg.optim.epochs, accumulate_steps=cfg.train.accumulate_steps,
                   clip_grad=cfg.optim.clip_grad, amp=cfg.train.amp, log_every=cfg.train.log_every,
                   freeze_bn_stats=bool(fcfg is not None and fcfg.freeze_bn_stats),
                   frozen_parts=tuple(fcfg.freeze) if fcfg is not None else ())


def train_one_epoch(model, loader, optimizer, scheduler, scaler, criterion, device,
                    settings: EpochSettings, epoch: int, state: TrainState, logger: RunLogger,
                    batches: int, bad: Optional[Dict[str, str]] = None,
                    ema: Optional[AveragedModel] = None, mixer=None) -> Dict[str, float]:
    """One pass over ``loader`` (at most ``batches`` batches, an optimiser step every
    ``settings.accumulate_steps`` of them); returns loss/top1/clips and the substitutions of bad
    videos summed over the ranks, and the throughput. The bad videos met on this rank are added to
    ``bad`` (``{path: reason}``). ``ema`` is updated after every optimiser step; ``mixer`` (see
    mixing.py) mixes each batch (top1 then counts the unmixed label)."""
    train_mode(model, settings.freeze_bn_stats, settings.frozen_parts)
    accum = settings.accumulate_steps
    sums = {"loss": 0.0, "correct": 0.0, "clips": 0.0, "substitutions": 0.0}
    seen: list = []  # the sample indices this rank trained on (shard_report checks the shards)
    bar = tqdm(total=batches, desc=f"epoch {epoch + 1}/{settings.epochs}", leave=False,
               dynamic_ncols=True, disable=not du.is_main() or not sys.stderr.isatty())
    start = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    for it, batch in enumerate(loader):
        if it >= batches:
            break
        group_start = it - it % accum
        group_size = min(accum, batches - group_start)
        last_of_group = it + 1 == group_start + group_size
        video = to_device(batch["video"], device)
        labels = batch["label"].to(device)
        targets = labels
        if mixer is not None:
            video, targets = mixer(video, labels)
        # DDP: all-reduce the gradients on the last batch of a group only
        sync = contextlib.nullcontext() if last_of_group or not hasattr(model, "no_sync") \
            else model.no_sync()
        with sync:
            with cuda_autocast(device, settings.amp):
                logits = forward(model, video)
            loss = criterion(logits.float(), targets)
            if du.any_true(not bool(torch.isfinite(loss.detach()).item())):
                raise NonFiniteLossError(
                    f"non-finite loss ({loss.item()}) at epoch {epoch + 1}, iteration {it + 1} "
                    f"(lr {base_lr(optimizer):.4g})")
            scaler.scale(loss / group_size).backward()
        if last_of_group:
            if settings.clip_grad:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), settings.clip_grad)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            state.step += 1
            if ema is not None:
                ema.update_parameters(ckpt.unwrap(model))

        n = labels.shape[0]
        loss_v = float(loss.detach())
        sums["loss"] += loss_v * n
        sums["correct"] += _correct(logits, labels)
        sums["clips"] += n
        sums["substitutions"] += int(torch.as_tensor(batch.get("skipped", 0)).sum())
        seen.extend(torch.as_tensor(batch["index"]).reshape(-1).tolist())
        if bad is not None:
            bad.update(badvideos.from_batch(batch))
        rate = sums["clips"] * du.world_size() / max(1e-9, time.perf_counter() - start)
        lr = base_lr(optimizer)
        bar.set_postfix(loss=f"{loss_v:.3f}", lr=f"{lr:.3g}", clips_s=f"{rate:.1f}", refresh=False)
        bar.update(1)
        if last_of_group and settings.log_every and state.step % settings.log_every == 0:
            logger.log("train_step", state.step, loss=loss_v, lr=lr, clips_per_s=rate)
    bar.refresh()  # the final rate is drawn even when the epoch took under tqdm's mininterval
    bar.close()
    seconds = time.perf_counter() - start
    total = du.all_reduce_sum(sums)
    clips = max(1.0, total["clips"])
    return {"loss": total["loss"] / clips, "top1": total["correct"] / clips,
            "clips": int(total["clips"]), "substitutions": int(total["substitutions"]),
            "lr": base_lr(optimizer), "time_s": seconds,
            "clips_per_s": total["clips"] / max(1e-9, seconds), "shards": du.shard_report(seen)}


def fit(cfg, model, optimizer, scheduler, scaler, train_loader, val_loader, device, out_dir,
        num_classes: int, state: TrainState, config_dict: dict) -> TrainState:
    """Train from ``state.epoch`` to ``cfg.optim.epochs``: seed, train, precise-BN, validate,
    checkpoint (rank 0), log.
    Raises NonFiniteLossError (the last good checkpoint is left untouched)."""
    tc = cfg.train
    is_main = du.is_main()
    logger = RunLogger(out_dir if is_main else None, tensorboard=tc.tensorboard)
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.optim.label_smoothing)
    batches = batches_per_epoch(cfg, train_loader)
    settings = EpochSettings.from_config(cfg)
    ema = make_ema(model, tc.ema_decay, state.ema)
    state.ema = None
    mixer = build_mixer(cfg, num_classes)
    bad = badvideos.BadVideos(state.bad_videos)
    datasets = [train_loader.dataset, getattr(val_loader, "dataset", None)]
    bad.add_dataset("train", datasets[0])  # listed but missing videos count as bad
    if datasets[1] is not None:
        bad.add_dataset("val", datasets[1])
    try:
        for epoch in range(state.epoch, cfg.optim.epochs):
            t0 = time.perf_counter()
            start_epoch_rng(train_loader, tc.seed, epoch)
            bad.push(datasets)  # known bad videos are skipped by every worker, not tried again
            met: Dict[str, str] = {}
            try:
                stats = train_one_epoch(model, train_loader, optimizer, scheduler, scaler, criterion,
                                        device, settings, epoch, state, logger, batches, met,
                                        ema=ema, mixer=mixer)
            except NonFiniteLossError as e:
                last = ckpt.find_last(out_dir) if out_dir else None
                kept = (f"the last good checkpoint {last} (epoch {state.epoch}) was kept"
                        if last else "no checkpoint had been written yet")
                hint = ("resume with a lower optim.lr or with optim.clip_grad set (a resume accepts "
                        "them with --allow-change optim.lr / optim.clip_grad)" +
                        (", or use train.amp=bf16 instead of fp16" if tc.amp == "fp16" else ""))
                msg = f"{e}; training stopped: {kept}. To fix: {hint}."
                logger.log("error", state.step, message=msg)
                raise NonFiniteLossError(msg) from None
            bad.add("train", badvideos.gather(met), stats["substitutions"])
            du.broadcast_buffers(ckpt.unwrap(model))  # the ranks validate and save the same model
            if ema is not None:
                du.broadcast_buffers(ema.module)
            if tc.precise_bn:
                update_bn_stats(model, train_loader, device, tc.precise_bn_batches, tc.amp)
                if ema is not None:
                    update_bn_stats(ema.module, train_loader, device, tc.precise_bn_batches, tc.amp)
            # what is validated, tested and published: the EMA weights when they are kept
            eval_model = ema.module if ema is not None else ckpt.unwrap(model)
            record = {"epoch": epoch + 1, "train": stats}
            val_top1 = None
            last_epoch = epoch + 1 == cfg.optim.epochs
            if val_loader is not None and tc.eval_every and ((epoch + 1) % tc.eval_every == 0
                                                            or last_epoch):
                # the bare module: ranks may run different numbers of eval batches, and DDP's
                # forward would wait for the others (buffers are broadcast at every forward)
                val = evaluate(eval_model, val_loader, device, num_classes, tc.amp,
                               cfg.test.average, desc=f"val {epoch + 1}/{cfg.optim.epochs}")
                val.pop("confusion")
                bad.add("val", val.pop("bad_videos"), val["substitutions"])
                val_top1 = val["top1"]
                record["val"] = val
                logger.log("val", epoch + 1, **val)
            state.epoch = epoch + 1
            state.elapsed_s += time.perf_counter() - t0
            is_best = val_top1 is not None and (state.best_metric is None
                                                or val_top1 > state.best_metric)
            if is_best:
                state.best_metric = val_top1
            if val_loader is None or not tc.eval_every:
                is_best = True  # no validation: the best is the latest
            state.history.append(record)
            state.bad_videos = bad.state_dict()
            rngs = du.all_gather_object(ckpt.rng_state())
            logger.log("train_epoch", epoch + 1, **{k: v for k, v in stats.items()})
            if is_main:
                print(_epoch_line(record, cfg.optim.epochs), flush=True)
                if out_dir:
                    blob = ckpt.training_state(model, optimizer, scheduler, scaler, state.epoch,
                                               state.best_metric, rngs, config_dict,
                                               {"train_state": _state_dict(state)})
                    if ema is not None:  # "model": the weights to evaluate and publish
                        blob.update(raw_model=blob["model"], model=ema.module.state_dict(),
                                    ema={"decay": tc.ema_decay,
                                         "n_averaged": int(ema.n_averaged)})
                    ckpt.save(blob, out_dir, is_best)
            du.barrier()
    finally:
        logger.close()
    return state


def _state_dict(state: TrainState) -> dict:
    return {k: v for k, v in state.__dict__.items() if k != "ema"}


def load_train_state(blob: dict) -> TrainState:
    known = {f for f in TrainState.__dataclass_fields__} - {"ema"}
    st = TrainState(**{k: v for k, v in blob.get("train_state", {}).items() if k in known})
    st.epoch = int(blob["epoch"])
    st.best_metric = blob.get("best_metric")
    if "raw_model" in blob and blob.get("ema"):  # a run with an EMA: "model" holds its weights
        st.ema = {"model": blob["model"], "n_averaged": int(blob["ema"]["n_averaged"])}
    return st


def _epoch_line(record: dict, epochs: int) -> str:
    t = record["train"]
    line = (f"epoch {record['epoch']}/{epochs}  loss {t['loss']:.4f}  train top1 {100 * t['top1']:.1f}"
            f"  lr {t['lr']:.3g}  {t['clips_per_s']:.1f} clips/s  {t['time_s']:.1f}s")
    if "val" in record:
        v = record["val"]
        line += f"  | val top1 {100 * v['top1']:.1f} top5 {100 * v['top5']:.1f}"
    if t["substitutions"]:
        line += f"  {t['substitutions']} bad-video substitutions"
    return line if math.isfinite(t["loss"]) else line + "  (non-finite)"
