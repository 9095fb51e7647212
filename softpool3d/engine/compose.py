"""Objects from a ``Config``: datasets, loaders and the model (shared by tools/train.py, test.py)."""
from __future__ import annotations

import os
from typing import Optional

import torch
from torch.utils.data import DataLoader, DistributedSampler

from . import distributed as du
from .evaluate import ShardSampler

FOLDED = ("ucf101", "hmdb51")


def resolve(cfg):
    """Fill the data fields left ``None`` from the model's published input spec (in place)."""
    from softpool3d.config import resolve_from_model_spec
    from softpool3d.models import model_input_spec
    return resolve_from_model_spec(cfg, model_input_spec(cfg.model.name))


def default_output_dir(cfg) -> str:
    name = f"{cfg.model.name}_{cfg.model.pool}"
    if cfg.data.name in FOLDED:
        name += f"_fold{cfg.data.fold}"
    return os.path.join("runs", cfg.data.name, name)


def alpha(cfg) -> Optional[int]:
    from softpool3d.models import model_input_spec
    return model_input_spec(cfg.model.name).get("alpha")


def build_split(cfg, split: str, mode: str, views: Optional[tuple] = None, fold: Optional[int] = None):
    """The dataset of ``split`` in ``mode`` train|val|test; ``views=(clips, crops)`` overrides the
    test views (validation during training uses one centre view)."""
    from softpool3d.datasets import build_dataset
    d = cfg.data
    train = mode == "train"
    clips, crops = views if views is not None else (d.num_clips, d.num_crops)
    kwargs = dict(num_frames=d.num_frames, sampling_rate=d.sampling_rate,
                  crop_size=d.crop_size if train else d.test_crop_size, mode=mode,
                  alpha=alpha(cfg), seed=cfg.train.seed)
    if train:
        kwargs.update(train_scale=tuple(d.train_scale))
    else:
        kwargs.update(test_scale=d.test_scale, num_clips=clips, num_crops=crops)
    kwargs.update(d.options)
    return build_dataset(d.name, d.root, split, fold=d.fold if fold is None else fold, **kwargs)


def train_loader(cfg, dataset, device: torch.device) -> DataLoader:
    """Shuffled by a DistributedSampler (also in one process: its order depends only on seed and
    epoch), ``drop_last`` when there is more than one batch per rank."""
    from softpool3d.datasets import loader_seed_kwargs
    sampler = DistributedSampler(dataset, num_replicas=du.world_size(), rank=du.rank(),
                                 shuffle=True, seed=cfg.train.seed)
    bs = cfg.train.batch_size
    return DataLoader(dataset, batch_size=bs, sampler=sampler, num_workers=cfg.data.workers,
                      pin_memory=cfg.data.pin_memory and device.type == "cuda",
                      drop_last=len(sampler) > bs, persistent_workers=False,
                      **loader_seed_kwargs(cfg.train.seed))


def eval_loader(cfg, dataset, device: torch.device, batch_size: Optional[int] = None) -> DataLoader:
    """Every video once over the ranks, in order."""
    from softpool3d.datasets import loader_seed_kwargs
    sampler = ShardSampler(len(dataset), du.rank(), du.world_size())
    return DataLoader(dataset, batch_size=batch_size or cfg.test.batch_size, sampler=sampler,
                      num_workers=cfg.data.workers,
                      pin_memory=cfg.data.pin_memory and device.type == "cuda",
                      **loader_seed_kwargs(cfg.train.seed))


def build_model(cfg, num_classes: int) -> torch.nn.Module:
    """The configured model (pooling swapped in), with ``model.init_checkpoint`` loaded if set."""
    from softpool3d import models
    m = cfg.model
    model = models.build_model(m.name, num_classes, pool=m.pool, pool_sites=m.pool_sites,
                               num_frames=cfg.data.num_frames, crop_size=cfg.data.crop_size,
                               pool_kwargs=m.pool_kwargs or None, **m.overrides)
    if m.init_checkpoint:
        report = models.load_checkpoint(model, m.init_checkpoint)
        if du.is_main():
            print(f"initialised from {m.init_checkpoint}: {report}", flush=True)
    return model
