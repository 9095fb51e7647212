"""Objects from a ``Config``: datasets, loaders and the model (the composition root of the train and
test pipelines), and the checks of the names a config refers to."""
from __future__ import annotations

import difflib
import inspect
import os
from typing import Optional

import torch
from torch.utils.data import DataLoader, DistributedSampler

from softpool3d import models
from softpool3d.config import ConfigError, resolve_from_model_spec
from softpool3d.flops import import_fvcore
from softpool3d.datasets import DATASETS, build_dataset, loader_seed_kwargs
from softpool3d.datasets.decode import check_decoder
from softpool3d.pools import pool_names

from . import distributed as du
from . import finetune
from .checkpoint import CheckpointError
from .evaluate import ShardSampler

FOLDED = ("ucf101", "hmdb51")
# build_dataset arguments the config sets itself (data.options may not)
_SET_BY_CONFIG = ("name", "root", "split", "fold", "num_frames", "sampling_rate", "crop_size",
                  "mode", "alpha", "seed", "train_scale", "test_scale", "num_clips", "num_crops",
                  "decoder")


def _unknown(key: str, what: str, value: str, valid) -> ConfigError:
    close = difflib.get_close_matches(str(value), list(valid), n=3, cutoff=0.5)
    hint = f" did you mean {' or '.join(map(repr, close))}?" if close else ""
    return ConfigError(f"config key {key!r}: unknown {what} {value!r};{hint} valid: "
                       f"{', '.join(sorted(valid))}")


def check_names(cfg) -> None:
    """ConfigError (naming the key) for an unknown model, pool, dataset or data option."""
    if cfg.model.name not in models.MODELS:
        raise _unknown("model.name", "model", cfg.model.name, models.MODELS)
    pools = set(pool_names()) | {"original"}
    if cfg.model.pool not in pools:
        raise _unknown("model.pool", "pool", cfg.model.pool, pools)
    if cfg.data.name not in DATASETS:
        raise _unknown("data.name", "dataset", cfg.data.name, DATASETS)
    params = inspect.signature(build_dataset).parameters
    options = [p for p in params if p not in _SET_BY_CONFIG]
    for key in cfg.data.options:
        if key == "decoder":  # the older spelling of data.decoder: still read
            if cfg.data.decoder not in ("decord", cfg.data.options["decoder"]):
                raise ConfigError(f"config keys 'data.decoder' ({cfg.data.decoder!r}) and "
                                  f"'data.options.decoder' ({cfg.data.options['decoder']!r}) "
                                  "disagree: set data.decoder only")
            continue
        if key not in options:
            raise _unknown("data.options", "option", key, options)
    try:
        check_decoder(decoder(cfg))
    except ImportError as e:
        raise ConfigError(f"config key 'data.decoder': {e}") from None


def resolve(cfg):
    """Check the names (see ``check_names``), then fill the data fields left ``None`` from the
    model's published input spec (in place)."""
    check_names(cfg)
    return resolve_from_model_spec(cfg, models.model_input_spec(cfg.model.name))


def default_output_dir(cfg) -> str:
    name = f"{cfg.model.name}_{cfg.model.pool}"
    if cfg.data.name in FOLDED:
        name += f"_fold{cfg.data.fold}"
    return os.path.join("runs", cfg.data.name, name)


def alpha(cfg) -> Optional[int]:
    return models.model_input_spec(cfg.model.name).get("alpha")


def decoder(cfg) -> str:
    """``data.decoder``, or the older ``data.options.decoder`` where that is set."""
    return cfg.data.options.get("decoder", cfg.data.decoder)


def build_split(cfg, split: str, mode: str, views: Optional[tuple] = None, fold: Optional[int] = None):
    """The dataset of ``split`` in ``mode`` train|val|test; ``views=(clips, crops)`` overrides the
    test views (validation during training uses one centre view)."""
    d = cfg.data
    train = mode == "train"
    clips, crops = views if views is not None else (d.num_clips, d.num_crops)
    kwargs = dict(num_frames=d.num_frames, sampling_rate=d.sampling_rate,
                  crop_size=d.crop_size if train else d.test_crop_size, mode=mode,
                  alpha=alpha(cfg), seed=cfg.train.seed, decoder=decoder(cfg))
    if train:
        kwargs.update(train_scale=tuple(d.train_scale) if d.train_scale else None)
    else:
        kwargs.update(test_scale=d.test_scale, num_clips=clips, num_crops=crops)
    kwargs.update({k: v for k, v in d.options.items() if k != "decoder"})
    return build_dataset(d.name, d.root, split, fold=d.fold if fold is None else fold, **kwargs)


def train_loader(cfg, dataset, device: torch.device) -> DataLoader:
    """Shuffled by a DistributedSampler (also in one process: its order depends only on seed and
    epoch), ``drop_last`` when there is more than one batch per rank."""
    sampler = DistributedSampler(dataset, num_replicas=du.world_size(), rank=du.rank(),
                                 shuffle=True, seed=cfg.train.seed)
    bs = cfg.train.batch_size
    return DataLoader(dataset, batch_size=bs, sampler=sampler, num_workers=cfg.data.workers,
                      pin_memory=cfg.data.pin_memory and device.type == "cuda",
                      drop_last=len(sampler) > bs, persistent_workers=False,
                      **loader_seed_kwargs(cfg.train.seed))


def eval_loader(cfg, dataset, device: torch.device, batch_size: Optional[int] = None) -> DataLoader:
    """Every video once over the ranks, in order."""
    sampler = ShardSampler(len(dataset), du.rank(), du.world_size())
    return DataLoader(dataset, batch_size=batch_size or cfg.test.batch_size, sampler=sampler,
                      num_workers=cfg.data.workers,
                      pin_memory=cfg.data.pin_memory and device.type == "cuda",
                      **loader_seed_kwargs(cfg.train.seed))


def build_model(cfg, num_classes: int) -> torch.nn.Module:
    """The configured model (pooling swapped in), with ``model.init_checkpoint`` loaded if set and
    the parameters of ``finetune`` frozen (ConfigError for a part the model does not have)."""
    m = cfg.model
    import_fvcore()  # before pytorchvideo imports it: without its import-time FutureWarning
    model = models.build_model(m.name, num_classes, pool=m.pool, pool_sites=m.pool_sites,
                               num_frames=cfg.data.num_frames, crop_size=cfg.data.crop_size,
                               pool_kwargs=m.pool_kwargs or None, **m.overrides)
    if m.init_checkpoint:
        try:
            report = models.load_checkpoint(model, m.init_checkpoint, verbose=False)
        except (CheckpointError, FileNotFoundError) as e:  # the key to fix, not a run to restart
            raise ConfigError(f"config key 'model.init_checkpoint': {e}") from None
        if du.is_main():  # once (the report printed by every rank and then again was noise)
            print(f"initialised from {m.init_checkpoint}: {report}", flush=True)
    frozen = finetune.apply_freeze(model, cfg.finetune)
    if frozen and du.is_main():
        print(f"frozen: {', '.join(frozen)}", flush=True)
    return model
