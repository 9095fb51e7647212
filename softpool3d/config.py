"""The one typed configuration schema: nested dataclasses, YAML files and ``key.sub=value`` overrides.

``load_config(path, overrides)`` reads a YAML file (optionally inheriting from ``_base_: other.yaml``,
a path relative to the file, merged key by key), applies the command-line overrides and checks every
key and type against the schema: an unknown key is rejected with the closest valid names, a value of
the wrong type with the key's full name. Fields left ``None`` in ``data`` are filled from the model's
published input spec at run time (``resolve_from_model_spec``).
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import os
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Dict, List, Literal, Optional, Union

import yaml


class ConfigError(ValueError):
    """A config key that does not exist or a value of the wrong type (the message names the key)."""


# A field's valid range, stated beside its default: (check, the words of the error). validate()
# applies each; checks that tie two fields together stay there.
AT_LEAST_0 = (lambda v: v >= 0, "at least 0")
AT_LEAST_1 = (lambda v: v >= 1, "at least 1")
NULL_OR_AT_LEAST_1 = (lambda v: v is None or v >= 1, "null or at least 1")
POSITIVE = (lambda v: v > 0, "positive")


def ranged(default=dataclasses.MISSING, valid=None, *, default_factory=dataclasses.MISSING):
    """A dataclass field whose range ``valid = (check, words)`` lives in its metadata."""
    return field(default=default, default_factory=default_factory, metadata={"valid": valid})


@dataclass
class DataConfig:
    """Dataset and clip sampling. ``None`` means: take it from the model's input spec."""
    name: str = "synthetic"
    root: str = "data/synthetic"
    fold: int = ranged(1, AT_LEAST_1)
    train_split: str = "train"
    val_split: str = "test"
    test_split: str = "test"
    num_frames: Optional[int] = ranged(None, NULL_OR_AT_LEAST_1)
    sampling_rate: Optional[int] = ranged(None, NULL_OR_AT_LEAST_1)
    crop_size: Optional[int] = ranged(None, NULL_OR_AT_LEAST_1)  # training crop
    test_crop_size: Optional[int] = ranged(None, NULL_OR_AT_LEAST_1)
    train_scale: Optional[List[int]] = ranged(  # short-side jitter range [min, max]; None:
        None, (lambda v: v is None or (len(v) == 2 and 1 <= v[0] <= v[1]),
               "null or [min, max] with 1 <= min <= max"))
                                             # build_dataset's default (crop x [8/7, 10/7])
    test_scale: Optional[int] = ranged(None, NULL_OR_AT_LEAST_1)  # short side before the test crops
    num_clips: Optional[int] = ranged(None, NULL_OR_AT_LEAST_1)   # test views: clips x crops
    num_crops: Optional[int] = ranged(None, NULL_OR_AT_LEAST_1)
    workers: int = ranged(2, AT_LEAST_0)
    pin_memory: bool = True
    decoder: Literal["decord", "torchcodec"] = "decord"  # the video decoding library
    options: Dict[str, Any] = field(default_factory=dict)  # extra keyword arguments of build_dataset


@dataclass
class ModelConfig:
    name: str = "x3d_xs"
    pool: str = "original"                  # the published pools; or a softpool3d.pools name
    # "paper": the SoftPool paper's protocol (the max pools inside the network, kernel = stride;
    # models.swap); "all" (every site) or a subset of stem, stage, head, global: labelled variants
    pool_sites: Union[str, List[str]] = "paper"
    pool_kwargs: Dict[str, Any] = field(default_factory=dict)  # options of the pooling method
    num_classes: Optional[int] = None        # None: the dataset's number of classes
    init_checkpoint: Optional[str] = None    # weights to start from (e.g. Kinetics pretraining)
    sync_bn: bool = False                    # SyncBatchNorm under DDP
    overrides: Dict[str, Any] = field(default_factory=dict)  # passed to build_model


@dataclass
class OptimConfig:
    name: Literal["sgd", "adamw"] = "sgd"
    lr: float = ranged(0.1, AT_LEAST_0)      # peak learning rate (after warm-up)
    # lr is for this total batch: scaled linearly to train.batch_size x world size (None: no scaling)
    base_batch_size: Optional[int] = ranged(None, NULL_OR_AT_LEAST_1)
    momentum: float = ranged(0.9, (lambda v: 0 <= v < 1, "in [0, 1)"))
    nesterov: bool = False
    betas: List[float] = ranged(default_factory=lambda: [0.9, 0.999], valid=(
        lambda v: len(v) == 2 and all(0 <= b < 1 for b in v), "[beta1, beta2], each in [0, 1)"))
    weight_decay: float = ranged(1e-4, AT_LEAST_0)
    decay_norm_and_bias: bool = False        # False: no weight decay on norms and biases
    epochs: int = ranged(10, AT_LEAST_1)
    warmup_epochs: float = ranged(0.0, AT_LEAST_0)
    warmup_start_factor: float = ranged(  # the warm-up starts at lr x this
        0.1, (lambda v: 0 < v <= 1, "in (0, 1] (the warm-up starts at lr x this and rises to lr)"))
    min_lr: float = ranged(0.0, AT_LEAST_0)  # end of the cosine (at most lr)
    label_smoothing: float = ranged(0.0, (lambda v: 0 <= v < 1, "in [0, 1)"))
    clip_grad: Optional[float] = ranged(  # max global grad norm
        None, (lambda v: v is None or v > 0, "null or positive"))
    # per-part learning rates (parts: stem, stage1 .. stageN, head; see FinetuneConfig): the head's
    # lr is lr x head_lr_mult (e.g. 10 for a re-initialised classifier); layer_decay < 1 gives part
    # i of P (stem = 0, head = P - 1) lr x layer_decay^(P - 1 - i); both multiply
    head_lr_mult: float = ranged(1.0, POSITIVE)
    layer_decay: float = ranged(1.0, (lambda v: 0 < v <= 1, "in (0, 1] (1: off)"))


@dataclass
class TrainConfig:
    batch_size: int = ranged(8, AT_LEAST_1)  # per process
    amp: Literal["none", "bf16", "fp16"] = "none"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    eval_every: int = ranged(1, AT_LEAST_0)  # validate every k epochs (0: never during training)
    precise_bn: bool = False
    precise_bn_batches: int = ranged(20, AT_LEAST_1)
    seed: int = 0
    output_dir: Optional[str] = None         # None: runs/<dataset>/<model>_<pool>
    log_every: int = ranged(10, AT_LEAST_0)  # iterations between JSON-lines records
    max_steps_per_epoch: Optional[int] = ranged(  # cap an epoch (smoke tests)
        None, NULL_OR_AT_LEAST_1)
    tensorboard: bool = True
    deterministic: bool = False              # torch.use_deterministic_algorithms
    # under torchrun: a collective that waits longer than this for another rank ends the run (a
    # stalled or dead rank); longer than the longest one-rank pause (rank 0 writing a checkpoint)
    dist_timeout_s: float = ranged(300.0, (lambda v: v > 0, "positive (seconds)"))
    # one optimiser step every accumulate_steps batches (the loss of each batch divided by it): an
    # effective batch of batch_size x accumulate_steps x world size (optim.base_batch_size scales
    # the lr to it). The lr schedule and the logged steps count optimiser steps; an epoch's last,
    # shorter group still steps. Under DDP the gradients are all-reduced on its last batch only.
    accumulate_steps: int = ranged(1, AT_LEAST_1)
    # exponential moving average of the weights (and BN statistics) after every optimiser step,
    # weight_ema = decay x weight_ema + (1 - decay) x weight; null: off. Validation, the test,
    # best.pth and the checkpoint's "model" use the averaged weights (the trained ones are kept
    # for resuming as "raw_model"). Typical: 0.999 to 0.9999 (about 1 / (1 - decay) steps)
    ema_decay: Optional[float] = ranged(
        None, (lambda v: v is None or 0 < v < 1, "null or in (0, 1)"))
    # mixup / cutmix of each training batch (torchvision.transforms.v2 MixUp / CutMix, the same
    # mix for both SlowFast pathways, soft targets with the cross-entropy): the Beta(alpha, alpha)
    # parameter; 0: off. With both on, each batch draws one of the two at random
    mixup_alpha: float = ranged(0.0, (lambda v: v >= 0, "at least 0 (0: off)"))
    cutmix_alpha: float = ranged(0.0, (lambda v: v >= 0, "at least 0 (0: off)"))


@dataclass
class TestConfig:
    enabled: bool = True                     # run the multi-view test at the end of training
    batch_size: int = ranged(4, AT_LEAST_1)  # videos per batch (each with clips x crops views)
    # "last": the final weights (the published protocol); "best" picks the epoch by validation
    # accuracy, which overstates accuracy when the validation split is the test split
    checkpoint: Literal["best", "last"] = "last"
    average: Literal["softmax", "logits"] = "softmax"  # what is averaged over the views


@dataclass
class FinetuneConfig:
    """Which parts of the network train, and how BatchNorm behaves while training. Every model
    family is split into the same named parts, in order: ``stem``, ``stage1`` ... ``stageN`` (4 in
    every family here), ``head`` (the classifier; for X3D also its conv_5 / lin_5 projection).
    SlowFast's parts hold both pathways and the lateral fusion after them.
    softpool3d.engine.finetune.model_parts lists them for a model."""
    freeze: List[str] = field(default_factory=list)  # parts whose parameters are not trained
                                                     # (e.g. [stem, stage1]); their BN layers keep
                                                     # their statistics too
    freeze_bn_stats: bool = False    # every BatchNorm in eval mode while training: the running
                                     # statistics stay those loaded (small batches, fine-tuning)
    freeze_bn_affine: bool = False   # every BatchNorm's weight and bias not trained


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    test: TestConfig = field(default_factory=TestConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)


# ---------------------------------------------------------------------------------------------------
# type checking

def _hints(cls) -> Dict[str, Any]:
    return typing.get_type_hints(cls)


def _type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if origin in (list, List):
        return f"list[{_type_name(typing.get_args(tp)[0])}]"
    if origin in (dict, Dict):
        return "mapping"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def _coerce(value, tp, key: str):
    """``value`` checked against (and minimally converted to) type ``tp``; ConfigError naming ``key``."""
    origin = typing.get_origin(tp)
    bad = ConfigError(f"config key {key!r}: expected {_type_name(tp)}, got {value!r} "
                      f"({type(value).__name__})")
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None and len(args) < len(typing.get_args(tp)):
            return None
        if len(args) == 1:  # Optional[X]: X's own message (it names list items)
            return _coerce(value, args[0], key)
        for arg in args:
            try:
                return _coerce(value, arg, key)
            except ConfigError:
                pass
        raise bad
    if origin is Literal:
        if value in typing.get_args(tp):
            return value
        raise bad
    if tp is type(None):
        if value is None:
            return None
        raise bad
    if origin in (list, List):
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list):
            raise bad
        (item,) = typing.get_args(tp)
        return [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin in (dict, Dict):
        if not isinstance(value, dict):
            raise bad
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise bad
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise bad
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
            try:
                return float(value)
            except ValueError:
                raise bad from None
        raise bad
    if tp is str:
        if isinstance(value, str):
            return value
        raise bad
    raise TypeError(f"unsupported schema type {tp!r} for {key}")


def _unknown_key(key: str, valid) -> ConfigError:
    name = key.rsplit(".", 1)[-1]
    prefix = key[: -len(name)]
    close = difflib.get_close_matches(name, list(valid), n=3, cutoff=0.5)
    hint = (" did you mean " + " or ".join(repr(prefix + c) for c in close) + "?") if close else \
        f" valid keys here: {', '.join(sorted(valid))}"
    return ConfigError(f"unknown config key {key!r};{hint}")


def from_dict(cls, data: Dict[str, Any], prefix: str = ""):
    """Build dataclass ``cls`` from a nested mapping, rejecting unknown keys and wrong types."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config key {prefix.rstrip('.') or '<root>'!r}: expected a mapping, "
                          f"got {data!r}")
    hints = _hints(cls)
    kwargs = {}
    for key, value in data.items():
        full = prefix + str(key)
        if key not in hints:
            raise _unknown_key(full, hints)
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = from_dict(tp, value, full + ".")
        else:
            kwargs[key] = _coerce(value, tp, full)
    return cls(**kwargs)


def to_dict(cfg) -> Dict[str, Any]:
    """The config as plain nested dicts/lists (YAML/JSON-ready)."""
    return dataclasses.asdict(cfg)


# ---------------------------------------------------------------------------------------------------
# files and overrides

def _deep_merge(base: Dict[str, Any], top: Dict[str, Any]) -> Dict[str, Any]:
    out = dict(base)
    for k, v in top.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


MAX_BASE_DEPTH = 32  # _base_ files above one config, at most (a chain deeper is a mistake)


def read_yaml(path: str, _seen=()) -> Dict[str, Any]:
    """A YAML config as a dict, with its ``_base_`` chain (a path or a list of paths, relative to
    the file that names them) merged in. ConfigError naming the file for a file that cannot be
    read, is not UTF-8 or plain YAML, holds no mapping, or whose ``_base_`` is not a path or a list
    of paths, names a missing file, forms a cycle or nests deeper than ``MAX_BASE_DEPTH``."""
    path = os.path.abspath(path)
    if path in _seen:
        raise ConfigError(f"_base_ cycle: {' -> '.join(_seen + (path,))}")
    if len(_seen) > MAX_BASE_DEPTH:
        raise ConfigError(f"{_seen[0]}: the _base_ chain is deeper than {MAX_BASE_DEPTH} files "
                          f"(... -> {_seen[-1]} -> {path})")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a config file") from None
    except OSError as e:
        where = f"{_seen[-1]}: _base_ names " if _seen else ""
        raise ConfigError(f"{where}{path}: cannot read the config file "
                          f"({e.strerror or e})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte {raw[e.start]:#04x} at offset "
                          f"{e.start}); save the config as UTF-8") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(_yaml_error(path, e)) from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid YAML: nested too deeply") from None
    if data is None or data == {}:
        raise ConfigError(f"{path}: the config file is empty; name at least the model and the "
                          "data (see configs/)")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must hold a mapping, got {type(data).__name__}")
    bases = data.pop("_base_", None)
    if bases is None:
        bases = []
    elif isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) and b for b in bases):
        raise ConfigError(f"{path}: config key '_base_': expected a file path or a list of file "
                          f"paths (relative to this file), got {bases!r}")
    merged: Dict[str, Any] = {}
    for base in bases:
        merged = _deep_merge(merged, read_yaml(os.path.join(os.path.dirname(path), base),
                                               _seen + (path,)))
    return _deep_merge(merged, data)


def _yaml_error(path: str, e: yaml.YAMLError) -> str:
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    where = f"{path}:{mark.line + 1}" if mark is not None else path
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    hint = " (only plain YAML is read: mappings, lists, strings, numbers; no !!python tags)" \
        if "tag" in str(problem) else ""
    return f"{where}: invalid YAML: {problem}{hint}"


def parse_override(text: str) -> Dict[str, Any]:
    """``"a.b=value"`` as ``{"a": {"b": value}}``; the value is parsed as YAML (``1e-3``, ``[1,2]``,
    ``null``, ``true`` ...)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.sub=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {text!r}: bad key {key!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if key.split(".")[0] == "_base_":
        raise ConfigError(f"override {text!r}: '_base_' is read from config files only")
    out: Dict[str, Any] = {}
    node = out
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def shipped_config(name: str) -> str:
    """The path of the config ``name`` (``<dataset>/<model>.yaml``, e.g. ``synthetic/r3d_tiny.yaml``)
    shipped with the package: the repository's ``configs/``, installed as ``softpool3d.configs``.
    The file may not exist; the caller says so."""
    try:
        from . import configs
        folder = os.path.dirname(configs.__file__)
    except ImportError:  # an editable install made before configs/ was package data
        folder = os.path.join(os.path.dirname(os.path.dirname(__file__)), "configs")
    return os.path.join(folder, *name.split("/"))


def load_config(path: Optional[str] = None, overrides: Optional[List[str]] = None) -> Config:
    """Read ``path`` (or start from the defaults) and apply ``overrides`` (``["a.b=value", ...]``)."""
    return config_from_dict(read_yaml(path) if path else {}, overrides)


def config_from_dict(data: Dict[str, Any], overrides: Optional[List[str]] = None) -> Config:
    """A checked ``Config`` from a nested mapping (a YAML file's, a checkpoint's) with
    ``overrides`` (``["a.b=value", ...]``) applied."""
    for text in overrides or []:
        data = _deep_merge(data, parse_override(text))
    return validate(from_dict(Config, data))


def _check(ok: bool, key: str, need: str, value) -> None:
    if not ok:
        raise ConfigError(f"config key {key!r}: must be {need}, got {value!r}")


def validate(cfg: Config) -> Config:
    """Range checks the types cannot express (ConfigError naming the key); returns ``cfg``. Each
    field's own range is in its metadata (``ranged``); the checks below tie fields together."""
    for key, value, (ok, need) in _ranged_fields(cfg):
        _check(ok(value), key, need, value)
    _check(not (cfg.finetune.freeze_bn_stats and cfg.train.precise_bn), "finetune.freeze_bn_stats",
           "false when train.precise_bn is true (precise BN recomputes the statistics that "
           "freeze_bn_stats keeps)", cfg.finetune.freeze_bn_stats)
    o = cfg.optim
    _check(o.min_lr <= o.lr, "optim.min_lr", f"at most optim.lr ({o.lr:g})", o.min_lr)
    # every float finite: NaN slips past each comparison above, inf past the open ones
    for key, v in _floats(cfg):
        _check(math.isfinite(v), key, "a finite number", v)
    return cfg


def _leaves(cfg, prefix: str = ""):
    """``(key, field, value)`` of every field of ``cfg`` that is not itself a section."""
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if dataclasses.is_dataclass(v):
            yield from _leaves(v, prefix + f.name + ".")
        else:
            yield prefix + f.name, f, v


def _ranged_fields(cfg):
    """``(key, value, (check, words))`` of every field of ``cfg`` that states its range."""
    return ((key, v, f.metadata["valid"]) for key, f, v in _leaves(cfg) if f.metadata.get("valid"))


def _floats(cfg):
    """``(key, value)`` of every float (and list of floats) in ``cfg``."""
    for key, _, v in _leaves(cfg):
        if isinstance(v, float):
            yield key, v
        elif isinstance(v, list):
            yield from ((f"{key}[{i}]", x) for i, x in enumerate(v) if isinstance(x, float))


# config keys that hold paths: resolved once (absolute, symlinks resolved) when a run starts, so a
# resume from another working directory reads the same files (see resolve_paths)
PATH_KEYS = ("data.root", "model.init_checkpoint", "train.output_dir",
             "data.options.annotation_file", "data.options.frame_cache")
_NOT_PATHS = ("memory", "auto")  # data.options.frame_cache values that are modes, not folders


def resolve_path(value, base: Optional[str] = None):
    """``value`` (a path; or a mapping of paths, as a per-split annotation_file) absolute against
    ``base`` (default: the working directory), ``~`` expanded and symlinks resolved; None and
    the frame-cache modes stay as they are."""
    if isinstance(value, dict):
        return {k: resolve_path(v, base) for k, v in value.items()}
    if not isinstance(value, str) or not value or value in _NOT_PATHS:
        return value
    path = os.path.expanduser(value)
    if base is not None and not os.path.isabs(path):
        path = os.path.join(base, path)
    return os.path.realpath(path)


def resolve_paths(cfg: Config) -> Config:
    """Every path of ``PATH_KEYS`` made absolute (in place): the config a run stores then names the
    same files whatever the working directory of a later resume or test."""
    cfg.data.root = resolve_path(cfg.data.root)
    cfg.model.init_checkpoint = resolve_path(cfg.model.init_checkpoint)
    cfg.train.output_dir = resolve_path(cfg.train.output_dir)
    for key in ("annotation_file", "frame_cache"):
        if cfg.data.options.get(key) is not None:
            cfg.data.options[key] = resolve_path(cfg.data.options[key])
    return cfg


def resolve_dict_paths(data: Optional[Dict[str, Any]], base: Optional[str] = None
                       ) -> Optional[Dict[str, Any]]:
    """A copy of a config mapping (a checkpoint's) with the paths of ``PATH_KEYS`` resolved as
    ``resolve_paths`` does; relative ones (written before paths were stored absolute) against
    ``base`` (default: the working directory)."""
    if not isinstance(data, dict):
        return data
    import copy
    out = copy.deepcopy(data)
    for key in PATH_KEYS:
        node, parts = out, key.split(".")
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and node.get(parts[-1]) is not None:
            node[parts[-1]] = resolve_path(node[parts[-1]], base)
    return out


def save_config(cfg: Config, path: str) -> None:
    """Write the resolved config as YAML (readable back by ``load_config``), atomically."""
    from softpool3d._files import atomic_write_text
    atomic_write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))


def resolve_from_model_spec(cfg: Config, spec: Dict[str, Any]) -> Config:
    """Fill the ``data`` fields left ``None`` from ``model_input_spec(model.name)`` (in place)."""
    d = cfg.data
    for name in ("num_frames", "sampling_rate", "crop_size", "num_clips", "num_crops"):
        if getattr(d, name) is None and spec.get(name) is not None:
            setattr(d, name, int(spec[name]))
    if d.test_crop_size is None:
        d.test_crop_size = int(spec.get("test_crop_size") or d.crop_size)
    if d.test_scale is None and d.test_crop_size is not None:
        d.test_scale = d.test_crop_size
    if d.train_scale is None and spec.get("train_scale") and d.crop_size == spec.get("crop_size"):
        d.train_scale = list(spec["train_scale"])  # a recipe that differs from the default rule
    for name in ("num_clips", "num_crops"):
        if getattr(d, name) is None:
            setattr(d, name, 1)
    return cfg
