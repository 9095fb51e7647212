"""Checkpoints: ``last.pth`` and ``best.pth`` with the full training state for an exact resume
(model, optimiser, scheduler, AMP scaler, the RNG states of every rank, epoch, best metric, config).

Everything is stored as tensors and plain containers (dict, list, tuple, str, numbers), so every
load uses ``torch.load(weights_only=True)``: a checkpoint cannot run code. Writes are atomic and
verified (read back) before they replace ``last.pth``; the replaced one is kept as
``previous.pth``, the fallback when ``last.pth`` turns out corrupt. Every load verifies what it
reads the same way (the zip CRC of every record) before a byte of it is used: a damaged file is
refused like a truncated one (the reading itself: ``softpool3d.checkpoint_file``)."""
from __future__ import annotations

import os
import random
import zipfile
from collections.abc import Mapping
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch

from .._files import atomic_copy, atomic_write
from .._errors import short_error
from ..checkpoint_file import CheckpointError, check_crcs, load, load_weights_only

LAST, BEST, PREVIOUS = "last.pth", "best.pth", "previous.pth"
# the names a run folder's checkpoints go by (``test.checkpoint``): resolved inside the folder only
RUN_NAMES = {"last": LAST, "best": BEST, "previous": PREVIOUS}
# what every training checkpoint holds (``training_state``)
TRAINING_KEYS = ("model", "epoch", "config")


def in_run(out_dir: str, name: str) -> str:
    """The checkpoint ``name`` (``last``, ``best``, ``previous``) of the run folder ``out_dir``:
    always the file inside that folder, never a file of that name elsewhere (the working
    directory)."""
    if name not in RUN_NAMES:
        raise ValueError(f"unknown run checkpoint {name!r}; expected one of {', '.join(RUN_NAMES)}")
    return os.path.join(out_dir, RUN_NAMES[name])


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside DDP / torch.compile wrappers."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, torch.nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def rng_state() -> Dict[str, Any]:
    """This process's RNG states as tensors and plain values."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"python": random.getstate(),
             "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss),
                       float(gauss)),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def training_state(model, optimizer, scheduler, scaler, epoch: int, best_metric: Optional[float],
                   rng_states: List[Dict[str, Any]], config: Dict[str, Any],
                   extra: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Everything ``restore`` needs; ``epoch`` is the number of completed epochs."""
    state = {"model": unwrap(model).state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict() if scheduler is not None else None,
             "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else None,
             "epoch": epoch, "best_metric": best_metric, "rng": rng_states, "config": config}
    state.update(extra or {})
    return state


def atomic_save(obj: Any, path: str, keep_previous: Optional[str] = None) -> None:
    """``torch.save`` to ``path`` atomically, verified by loading it back before it replaces
    ``path`` (see :func:`softpool3d._files.atomic_write`)."""
    atomic_write(path, lambda f: torch.save(obj, f), verify=verify, keep_previous=keep_previous)


def verify(path: str) -> None:
    """Raise CheckpointError unless ``path`` reads back: zip CRCs and a weights-only load."""
    if not zipfile.is_zipfile(path):
        raise CheckpointError(path, "written checkpoint does not read back (not a zip archive)")
    try:
        check_crcs(path)
    except CheckpointError as e:
        raise CheckpointError(path, f"written checkpoint {e.reason}") from None
    load_weights_only(path, "cpu", mmap=True)


def _intact(path: str) -> bool:
    """Whether ``path`` is a zip whose CRCs check (a cheap test before keeping it as previous.pth)."""
    try:
        with zipfile.ZipFile(path) as z:
            return z.testzip() is None
    except (zipfile.BadZipFile, OSError):
        return False


def save(state: Dict[str, Any], out_dir: str, is_best: bool) -> str:
    """Write ``last.pth`` (the one it replaces becomes ``previous.pth``, unless it is corrupt) and
    copy it to ``best.pth`` when ``is_best``; return the path of ``last.pth``."""
    last = os.path.join(out_dir, LAST)
    keep = os.path.join(out_dir, PREVIOUS) if _intact(last) else None
    atomic_save(state, last, keep_previous=keep)
    if is_best:
        atomic_copy(last, os.path.join(out_dir, BEST))
    return last


def check_training_state(state: Any, path: str) -> Dict[str, Any]:
    """``state`` when it is a training checkpoint of this package (a dict holding ``model``
    weights, the completed ``epoch`` and the run's ``config``, see :func:`training_state`);
    otherwise CheckpointError naming ``path`` and what it holds instead (a plain state dict, a
    model-zoo file, ...)."""
    if not isinstance(state, Mapping):
        raise CheckpointError(path, f"not a training checkpoint: it holds a "
                              f"{type(state).__name__}, not the dict tools/train.py writes",
                              corrupt=False)
    missing = [k for k in TRAINING_KEYS if k not in state]
    if missing:
        tensors = state and all(isinstance(v, torch.Tensor) for v in state.values())
        what = "a plain state dict (tensors only)" if tensors else \
            f"a dict with the keys {', '.join(map(repr, list(state)[:8]))}" if state else \
            "an empty dict"
        raise CheckpointError(path, f"not a training checkpoint written by tools/train.py: it is "
                              f"{what} and lacks {', '.join(map(repr, missing))}. To start a "
                              "run from its weights, name it in model.init_checkpoint",
                              corrupt=False)
    problems = []
    if not isinstance(state["model"], Mapping) or not all(
            isinstance(v, torch.Tensor) for v in state["model"].values()):
        problems.append("'model' is not a dict of tensors")
    if isinstance(state["epoch"], bool) or not isinstance(state["epoch"], int) \
            or state["epoch"] < 0:
        problems.append(f"'epoch' is {state['epoch']!r}, not a count of epochs")
    if state["config"] is not None and not isinstance(state["config"], Mapping):
        problems.append(f"'config' is a {type(state['config']).__name__}, not a dict")
    if problems:
        raise CheckpointError(path, "not a usable training checkpoint: " + "; ".join(problems),
                              corrupt=False)
    return state


def load_training_state(path: str, map_location="cpu") -> Dict[str, Any]:
    """:func:`load` then :func:`check_training_state`."""
    return check_training_state(load(path, map_location), path)


def read_config(path: str) -> Optional[Dict[str, Any]]:
    """The config saved in the training checkpoint ``path`` (None when it holds none), read
    without reading its tensors (memory-mapped; the CRCs of its small records are checked, those
    of the tensors when it is loaded). The errors of :func:`load_training_state`."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise CheckpointError(path, "is a folder, not a checkpoint file", corrupt=False)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such checkpoint: {path}")
    if not zipfile.is_zipfile(path):
        return load_training_state(path)["config"]
    check_crcs(path, tensors=False)
    state = check_training_state(load_weights_only(path, "cpu", mmap=True), path)
    config = state["config"]
    del state
    return config


def load_weights(module: torch.nn.Module, weights: Mapping, path: str) -> None:
    """``module.load_state_dict(weights)`` (strict); CheckpointError naming ``path`` when the
    weights do not fit the module (another model, pool or number of classes)."""
    try:
        unwrap(module).load_state_dict(weights)
    except RuntimeError as e:
        raise CheckpointError(path, "its weights do not fit the model built from the config "
                              f"({short_error(e, 300)})", corrupt=False) from None


def load_latest(out_dir: str, warn: Callable[[str], None] = print
                ) -> Optional[Tuple[Dict[str, Any], str]]:
    """The newest usable checkpoint of a run folder: ``(state, path)`` of ``last.pth``, or of
    ``previous.pth`` when ``last.pth`` is corrupt (``warn`` says so); None when the folder has
    neither. Raises CheckpointError when ``last.pth`` holds code, or when neither loads."""
    last, prev = os.path.join(out_dir, LAST), os.path.join(out_dir, PREVIOUS)
    if not os.path.isfile(last):
        if not os.path.isfile(prev):
            return None
        warn(f"warning: {out_dir} has no {LAST}; resuming from {prev}")
        return load_training_state(prev), prev
    try:
        return load_training_state(last), last
    except CheckpointError as e:
        if e.unsafe or not os.path.isfile(prev):
            raise
        try:
            state = load_training_state(prev)
        except CheckpointError as e2:
            raise CheckpointError(last, f"{e.reason}; the fallback {prev} is unusable too "
                                  f"({e2.reason})") from None
        warn(f"warning: {last}: {e.reason}; falling back to {prev} (epoch {state.get('epoch')})")
        return state, prev


def restore(state: Dict[str, Any], model, optimizer=None, scheduler=None, scaler=None,
            rank: int = 0, world_size: int = 1, path: str = "checkpoint") -> Dict[str, Any]:
    """Load a ``training_state`` into the given objects and this rank's RNG states (when the run had
    the same number of ranks). Returns ``{"epoch", "best_metric"}``. A run that keeps an EMA of its
    weights stores the EMA as ``model`` and the trained weights as ``raw_model``: those are
    restored. CheckpointError (naming ``path``) when the weights do not fit ``model``."""
    load_weights(model, state.get("raw_model", state["model"]), path)
    if optimizer is not None and state.get("optimizer") is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and state.get("scaler") is not None:
        scaler.load_state_dict(state["scaler"])
    rngs = state.get("rng") or []
    if len(rngs) == world_size:
        set_rng_state(rngs[rank])
    return {"epoch": int(state["epoch"]), "best_metric": state.get("best_metric")}


def find_last(out_dir: str) -> Optional[str]:
    path = os.path.join(out_dir, LAST)
    return path if os.path.isfile(path) else None
