"""Objects from a ``Config``: datasets, loaders and the model (the composition root of the train and
test pipelines), and the checks of the names a config refers to."""
from __future__ import annotations

import dataclasses
import difflib
import inspect
import os
from typing import Optional

import torch
from torch.utils.data import DataLoader, DistributedSampler

from softpool3d import models
from softpool3d.config import ConfigError, DataConfig, resolve_from_model_spec, resolve_paths
from softpool3d.flops import import_fvcore
from softpool3d.datasets import DATASETS, AnnotationError, build_dataset, loader_seed_kwargs
from softpool3d.datasets.decode import check_decoder
from softpool3d.pools import pool_names

from . import distributed as du
from . import finetune
from .checkpoint import CheckpointError
from .evaluate import ShardSampler

# build_dataset arguments the config sets itself (data.options may not)
_SET_BY_CONFIG = ("name", "root", "split", "fold", "num_frames", "sampling_rate", "crop_size",
                  "mode", "alpha", "seed", "train_scale", "test_scale", "num_clips", "num_crops",
                  "decoder")
_DATA_KEYS = {f.name for f in dataclasses.fields(DataConfig)}


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
        if key in _SET_BY_CONFIG:
            use = f"; use data.{key}" if key in _DATA_KEYS else ""
            raise ConfigError(f"config key 'data.options.{key}': set by the config itself{use}")
        if key not in options:
            raise _unknown("data.options", "option", key, options)
        _check_option(key, cfg.data.options[key])
    try:
        check_decoder(cfg.data.decoder)
    except ImportError as e:
        raise ConfigError(f"config key 'data.decoder': {e}") from None
    folds = DATASETS[cfg.data.name].folds
    if cfg.data.fold not in folds and not cfg.data.options.get("annotation_file"):
        raise ConfigError(f"config key 'data.fold': {cfg.data.name} has "
                          f"{'folds ' + ', '.join(map(str, folds)) if len(folds) > 1 else 'one fold (1)'}"
                          f", got {cfg.data.fold}")
    _check_sites(cfg.model.pool_sites)
    _check_pool_kwargs(cfg.model.pool, cfg.model.pool_kwargs)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_path_or_split_paths(v) -> bool:
    return (isinstance(v, str) and bool(v)) or (
        isinstance(v, dict) and bool(v) and all(isinstance(k, str) and isinstance(p, str) and p
                                                for k, p in v.items()))


# data.options: what each value must be (a test, and the words for the message)
_OPTION_TYPES = {
    "mean": (lambda v: isinstance(v, list) and len(v) == 3 and all(map(_is_number, v)),
             "a list of 3 numbers (RGB)"),
    "std": (lambda v: isinstance(v, list) and len(v) == 3 and all(_is_number(x) and x > 0
                                                                   for x in v),
            "a list of 3 positive numbers (RGB)"),
    "hflip": (lambda v: v is None or isinstance(v, bool), "true, false or null (the dataset's)"),
    "short": (lambda v: v in ("clamp", "loop"), "'clamp' or 'loop'"),
    "strict": (lambda v: isinstance(v, bool), "true or false"),
    "annotation_file": (lambda v: v is None or _is_path_or_split_paths(v),
                        "a path, or a mapping of split name to path ({train: A, test: B})"),
    "max_retries": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
                    "an integer >= 0"),
    "decode_threads": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
                       "an integer >= 1"),
    "frame_cache": (lambda v: v is None or (isinstance(v, str) and bool(v)),
                    "null, 'memory', 'auto' or a folder"),
    "subtract_clip_mean": (lambda v: isinstance(v, bool), "true or false"),
}


def _check_option(key: str, value) -> None:
    test, need = _OPTION_TYPES.get(key, (lambda v: True, ""))
    if isinstance(value, tuple):
        value = list(value)
    if not test(value):
        raise ConfigError(f"config key 'data.options.{key}': must be {need}, got {value!r} "
                          f"({type(value).__name__})")


def _check_sites(sites) -> None:
    from softpool3d.models.swap import resolve_sites
    try:
        resolve_sites(sites)
    except ValueError as e:
        raise ConfigError(f"config key 'model.pool_sites': {e}") from None


# the window arguments every zoo pool takes from the site it replaces (not options)
_GEOMETRY = ("kernel_size", "stride", "padding", "ceil_mode", "output_size", "channels")


def _pool_options(pool: str) -> dict:
    """``{option: inspect.Parameter}`` of pooling method ``pool`` (its window and adaptive forms)."""
    from softpool3d.pools import POOLS
    cls = POOLS[pool]
    out = {}
    for c in (cls, getattr(cls, "adaptive", None)):
        if c is None:
            continue
        for name, p in inspect.signature(c.__init__).parameters.items():
            if name != "self" and name not in _GEOMETRY and p.kind not in (p.VAR_POSITIONAL,
                                                                          p.VAR_KEYWORD):
                out.setdefault(name, p)
    return out


def _check_pool_kwargs(pool: str, kwargs: dict) -> None:
    """ConfigError naming ``model.pool_kwargs.<key>`` for an option the method does not have, a
    window argument (set by the site), or a value of the wrong type for the option's annotation
    or default (``ceil_mode: 'no'``, ``learn: 'yes'``)."""
    if not kwargs:
        return
    if pool == "original":
        raise ConfigError(f"config key 'model.pool_kwargs': model.pool 'original' (the published "
                          f"pools) takes no options, got {sorted(kwargs)}")
    options = _pool_options(pool)
    for key, value in kwargs.items():
        full = f"model.pool_kwargs.{key}"
        if key in _GEOMETRY:
            raise ConfigError(f"config key {full!r}: the window arguments ({', '.join(_GEOMETRY)}) "
                              "come from the pool each one replaces, not from pool_kwargs")
        if key not in options:
            valid = ", ".join(sorted(options)) or "none"
            close = difflib.get_close_matches(str(key), list(options), n=2, cutoff=0.5)
            hint = f" did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise ConfigError(f"config key {full!r}: pool {pool!r} has no option {key!r};{hint} "
                              f"its options: {valid}")
        param = options[key]
        kind = param.annotation if param.annotation is not inspect.Parameter.empty else (
            type(param.default) if param.default not in (inspect.Parameter.empty, None) else None)
        if isinstance(kind, str):  # postponed annotations
            kind = {"bool": bool, "int": int, "float": float, "str": str}.get(kind)
        if kind is bool and not isinstance(value, bool):
            raise ConfigError(f"config key {full!r}: must be true or false, got {value!r}")
        if kind in (int, float) and not _is_number(value):
            raise ConfigError(f"config key {full!r}: must be a number, got {value!r}")
        if kind is int and not isinstance(value, int):
            raise ConfigError(f"config key {full!r}: must be an integer, got {value!r}")
        if kind is str and not isinstance(value, str):
            raise ConfigError(f"config key {full!r}: must be a string, got {value!r}")


def resolve(cfg):
    """Check the names (see ``check_names``), make the paths absolute (``resolve_paths``: a resume
    or test from another directory then reads the same files), then fill the data fields left
    ``None`` from the model's published input spec (in place)."""
    check_names(cfg)
    resolve_paths(cfg)
    return resolve_from_model_spec(cfg, models.model_input_spec(cfg.model.name))


def default_output_dir(cfg) -> str:
    name = f"{cfg.model.name}_{cfg.model.pool}"
    spec = DATASETS.get(cfg.data.name)
    if spec is not None and spec.has_folds:
        name += f"_fold{cfg.data.fold}"
    return os.path.join("runs", cfg.data.name, name)


def alpha(cfg) -> Optional[int]:
    return models.model_input_spec(cfg.model.name).get("alpha")


_SPLIT_KEY = {"train": "data.train_split", "val": "data.val_split", "test": "data.test_split"}


def annotation_file(cfg, split: str):
    """The ``data.options.annotation_file`` of ``split``: the one path, or that split's entry of a
    per-split mapping (ConfigError when the mapping lacks it)."""
    ann = cfg.data.options.get("annotation_file")
    if isinstance(ann, dict):
        if split not in ann:
            raise ConfigError(f"config key 'data.options.annotation_file': no file for the "
                              f"{split!r} split (it names {', '.join(map(repr, ann))})")
        return ann[split]
    return ann


def _split_error(cfg, split: str, mode: str, fold, e: Exception) -> ConfigError:
    key = _SPLIT_KEY.get(mode, "data.test_split")
    folded = DATASETS[cfg.data.name].has_folds
    return ConfigError(f"config key {key!r} ({split!r}{f', fold {fold}' if folded else ''}): {e}")


def build_split(cfg, split: str, mode: str, views: Optional[tuple] = None, fold: Optional[int] = None):
    """The dataset of ``split`` in ``mode`` train|val|test; ``views=(clips, crops)`` overrides the
    test views (validation during training uses one centre view). An unknown split, a fold the
    dataset lacks, a list with no (existing) video: ConfigError naming the key."""
    d = cfg.data
    train = mode == "train"
    clips, crops = views if views is not None else (d.num_clips, d.num_crops)
    kwargs = dict(num_frames=d.num_frames, sampling_rate=d.sampling_rate,
                  crop_size=d.crop_size if train else d.test_crop_size, mode=mode,
                  alpha=alpha(cfg), seed=cfg.train.seed, decoder=d.decoder)
    if train:
        kwargs.update(train_scale=tuple(d.train_scale) if d.train_scale else None)
    else:
        kwargs.update(test_scale=d.test_scale, num_clips=clips, num_crops=crops)
    kwargs.update(d.options)
    kwargs["annotation_file"] = annotation_file(cfg, split)
    fold = d.fold if fold is None else fold
    try:
        return build_dataset(d.name, d.root, split, fold=fold, **kwargs)
    except AnnotationError:
        raise  # already names file:line
    except ValueError as e:
        raise _split_error(cfg, split, mode, fold, e) from None


def needed_splits(cfg):
    """``[(mode, split)]`` that a training reads: train, val (when it validates), test (when it
    tests at the end)."""
    out = [("train", cfg.data.train_split)]
    if cfg.train.eval_every:
        out.append(("val", cfg.data.val_split))
    if cfg.test.enabled:
        out.append(("test", cfg.data.test_split))
    return out


def check_run_splits(cfg, train_ds, val_ds=None, main: bool = True) -> None:
    """Before the first step, every split the run will read (``needed_splits``): the lists parse,
    hold videos that exist, and have no more classes than ``model.num_classes``; one
    ``annotation_file`` does not serve both the training and an evaluation split; and a crop larger
    than the videos warns once (``main``) before any DataLoader worker starts. ConfigError (or
    AnnotationError) otherwise."""
    ann = cfg.data.options.get("annotation_file")
    spec = DATASETS.get(cfg.data.name)
    names_folder = spec is not None and spec.list_file_names_folder  # not one list for all splits
    if isinstance(ann, str) and os.path.isfile(ann) and not names_folder:
        splits = {split for _, split in needed_splits(cfg)}
        if len(splits) > 1:
            raise ConfigError(
                f"config key 'data.options.annotation_file': the one list {ann} would serve every "
                f"split this run reads ({', '.join(sorted(splits))}): the model would be tested "
                "on its training videos. Give one file per split, e.g. data.options."
                "annotation_file={train: TRAIN_LIST, test: TEST_LIST}, or a folder that holds the "
                "standard lists")
    num_classes = cfg.model.num_classes
    built = {"train": train_ds, "val": val_ds}
    for mode, split in needed_splits(cfg):
        ds = built.get(mode)
        if ds is None:  # the test split: parsed now, built after the training
            ds = _records_only(cfg, split, mode)
        n = len(ds.classes)
        if num_classes is not None and num_classes < n:
            raise ConfigError(f"config key 'model.num_classes': {num_classes} is fewer than the "
                              f"{n} classes of the {cfg.data.name} {split} split; set it to at "
                              f"least {n} (or null: the dataset's)")
    if main:
        for ds in (train_ds, val_ds):
            if ds is not None:
                _warn_if_upscaled(ds)


class _Listed:
    def __init__(self, records, classes):
        self.records, self.classes = records, classes


def _records_only(cfg, split: str, mode: str):
    import warnings
    from softpool3d.datasets import MissingVideosWarning, load_records
    d = cfg.data
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MissingVideosWarning)  # the build warns later
            records, classes = load_records(d.name, d.root, split, d.fold,
                                            annotation_file=annotation_file(cfg, split))
    except AnnotationError:
        raise
    except (ValueError, FileNotFoundError) as e:
        raise _split_error(cfg, split, mode, d.fold, e) from None
    if not records:
        raise _split_error(cfg, split, mode, d.fold, ValueError(
            f"none of the {len(getattr(records, 'missing', ()))} videos it lists exist (first: "
            f"{next(iter(getattr(records, 'missing', ())), '?')})"))
    return _Listed(records, classes)


def _warn_if_upscaled(ds) -> None:
    """Open the first video of ``ds`` and let its transform warn (once) when the crop is larger
    than the frames; the flag it sets is inherited by the DataLoader workers forked later."""
    check = getattr(ds.transform, "check_frame_size", None)
    if check is None or not ds.records:
        return
    from softpool3d.datasets.decode import VideoDecodeError, open_video, get_frames
    import numpy as np
    try:
        reader, _ = open_video(ds.records[0].path, decoder=getattr(ds, "decoder", "decord"))
        frame = get_frames(reader, np.zeros(1, dtype=np.int64), ds.records[0].path)
    except (VideoDecodeError, OSError, RuntimeError):
        return  # a bad first video: the dataset reports it when it meets it
    check(int(frame.shape[-3]), int(frame.shape[-2]), ds.records[0].path)


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
    try:
        model = models.build_model(m.name, num_classes, pool=m.pool, pool_sites=m.pool_sites,
                                   num_frames=cfg.data.num_frames, crop_size=cfg.data.crop_size,
                                   pool_kwargs=m.pool_kwargs or None, **m.overrides)
    except (TypeError, ValueError, AssertionError, KeyError, IndexError) as e:
        # the builders' own complaints about what the config handed them
        keys = [k for k, v in (("model.overrides", m.overrides),
                               ("model.pool_kwargs", m.pool_kwargs)) if v]
        if isinstance(e, ValueError):
            keys = keys or ["model.pool_sites"]
        if not keys:
            raise
        raise ConfigError(f"config key {' / '.join(map(repr, keys))}: building {m.name!r} "
                          f"failed: {type(e).__name__}: {e}") from None
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
