"""Optimisers (SGD + momentum, AdamW) with weight-decay exclusions, and the per-iteration
linear warm-up + cosine learning-rate schedule."""
from __future__ import annotations

import math
from typing import Dict, List, Optional

import torch
from torch import nn

from softpool3d.config import ConfigError

_NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)


def param_groups(model: nn.Module, weight_decay: float, decay_norm_and_bias: bool = False,
                 lr_mults: Optional[Dict[int, float]] = None) -> List[Dict]:
    """Decayed weights, and (unless ``decay_norm_and_bias``) norm parameters and biases (any
    parameter of a norm layer, or any 0/1-D parameter) with no weight decay; frozen parameters
    (``requires_grad`` False) are left out. With ``lr_mults`` (``{id(parameter): multiplier}``, see
    finetune.lr_multipliers) each of the two is split by multiplier, every group carrying its
    ``lr_mult`` (the scheduler scales each group's peak lr by it)."""
    norm_params = {id(p) for m in model.modules() if isinstance(m, _NORMS)
                   for p in m.parameters(recurse=False)}
    lr_mults = lr_mults or {}
    groups: Dict[tuple, Dict] = {}
    for exempt_group in (False, True):
        for _, p in model.named_parameters():
            if not p.requires_grad:
                continue
            exempt = not decay_norm_and_bias and (id(p) in norm_params or p.ndim <= 1)
            if exempt != exempt_group:
                continue
            mult = lr_mults.get(id(p), 1.0)
            key = (exempt, mult)
            if key not in groups:
                groups[key] = {"params": [], "weight_decay": 0.0 if exempt else weight_decay}
                if lr_mults:
                    groups[key]["lr_mult"] = mult
            groups[key]["params"].append(p)
    if not groups:
        return [{"params": [], "weight_decay": weight_decay}]
    return list(groups.values())


def scaled_lr(ocfg, total_batch: int) -> float:
    """``lr`` scaled linearly from ``base_batch_size`` to the actual total batch."""
    return ocfg.lr * total_batch / ocfg.base_batch_size if ocfg.base_batch_size else ocfg.lr


def build_optimizer(model: nn.Module, ocfg, total_batch: int = 0) -> torch.optim.Optimizer:
    """SGD or AdamW from an ``OptimConfig`` (peak lr scaled to ``total_batch``, see scaled_lr) over
    the trainable parameters, with the per-part lr multipliers ``ocfg.head_lr_mult`` and
    ``ocfg.layer_decay``."""
    from .finetune import lr_multipliers
    mults = lr_multipliers(model, getattr(ocfg, "head_lr_mult", 1.0),
                           getattr(ocfg, "layer_decay", 1.0))
    groups = param_groups(model, ocfg.weight_decay, ocfg.decay_norm_and_bias, mults)
    if not any(g["params"] for g in groups):
        raise ConfigError("config key 'finetune.freeze': every parameter is frozen; nothing to train")
    lr = scaled_lr(ocfg, total_batch) if total_batch else ocfg.lr
    for g in groups:
        g["lr"] = lr * g.get("lr_mult", 1.0)
    if ocfg.name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=ocfg.momentum, nesterov=ocfg.nesterov)
    if ocfg.name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=tuple(ocfg.betas))
    raise ValueError(f"optim.name: unknown optimiser {ocfg.name!r} (sgd, adamw)")


class WarmupCosine:
    """Multiplier of the peak lr at iteration ``it``: linear from ``start_factor`` to 1 over
    ``warmup_iters``, then a cosine from 1 down to ``min_factor`` at ``total_iters``."""

    def __init__(self, total_iters: int, warmup_iters: int = 0, start_factor: float = 0.1,
                 min_factor: float = 0.0):
        self.total_iters = max(1, int(total_iters))
        self.warmup_iters = min(max(0, int(warmup_iters)), self.total_iters)
        self.start_factor = start_factor
        self.min_factor = min_factor

    def __call__(self, it: int) -> float:
        if it < self.warmup_iters:
            return self.start_factor + (1.0 - self.start_factor) * it / self.warmup_iters
        span = self.total_iters - self.warmup_iters
        progress = min(1.0, (it - self.warmup_iters) / span) if span > 0 else 1.0
        return self.min_factor + (1.0 - self.min_factor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def schedule(ocfg, iters_per_epoch: int) -> WarmupCosine:
    return WarmupCosine(total_iters=ocfg.epochs * iters_per_epoch,
                        warmup_iters=round(ocfg.warmup_epochs * iters_per_epoch),
                        start_factor=ocfg.warmup_start_factor,
                        min_factor=ocfg.min_lr / ocfg.lr if ocfg.lr > 0 else 0.0)


def base_lr(optimizer: torch.optim.Optimizer) -> float:
    """The current lr of the parameters without a per-part multiplier."""
    g = optimizer.param_groups[0]
    return g["lr"] / g.get("lr_mult", 1.0)


def build_scheduler(optimizer: torch.optim.Optimizer, ocfg, iters_per_epoch: int
                    ) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-iteration ``LambdaLR`` (call ``.step()`` after every optimiser step)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule(ocfg, iters_per_epoch))


def follow_config(scheduler, ocfg, iters_per_epoch: int, total_batch: int = 0) -> None:
    """After restoring a checkpoint: keep the scheduler's position (iterations done) but take the
    schedule's shape and peak lr from the config, so that a resumed run with a changed ``optim.lr``
    or ``optim.epochs`` follows the new values (with the same config this changes nothing)."""
    fn = schedule(ocfg, iters_per_epoch)
    peak = scaled_lr(ocfg, total_batch) if total_batch else ocfg.lr
    groups = scheduler.optimizer.param_groups
    scheduler.lr_lambdas = [fn] * len(groups)
    scheduler.base_lrs = [peak * g.get("lr_mult", 1.0) for g in groups]
    for g, base in zip(groups, scheduler.base_lrs):
        g["initial_lr"] = base
        g["lr"] = base * fn(scheduler.last_epoch)
    scheduler._last_lr = [g["lr"] for g in groups]
