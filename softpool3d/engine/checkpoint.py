"""Checkpoints: ``last.pth`` and ``best.pth`` with the full training state for an exact resume
(model, optimiser, scheduler, AMP scaler, the RNG states of every rank, epoch, best metric, config).

Everything is stored as tensors and plain containers (dict, list, tuple, str, numbers), so every
load uses ``torch.load(weights_only=True)``: a checkpoint cannot run code. Writes are atomic and
verified (read back) before they replace ``last.pth``; the replaced one is kept as
``previous.pth``, the fallback when ``last.pth`` turns out corrupt."""
from __future__ import annotations

import os
import pickle
import random
import zipfile
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch

from .files import atomic_copy, atomic_write

LAST, BEST, PREVIOUS = "last.pth", "best.pth", "previous.pth"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; ``.path`` names it, ``.unsafe`` is True when it holds
    Python objects (code) rather than corrupt data."""

    def __init__(self, path: str, reason: str, unsafe: bool = False):
        self.path, self.reason, self.unsafe = path, reason, unsafe
        super().__init__(f"{path}: {reason}")


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
    ``path`` (see :func:`~.files.atomic_write`)."""
    atomic_write(path, lambda f: torch.save(obj, f), verify=verify, keep_previous=keep_previous)


def verify(path: str) -> None:
    """Raise CheckpointError unless ``path`` reads back: zip CRCs and a weights-only load."""
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError) as e:
        raise CheckpointError(path, f"written checkpoint does not read back ({e})") from None
    if bad is not None:
        raise CheckpointError(path, f"written checkpoint has a bad CRC in {bad}")
    load(path, mmap=True)


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


def load(path: str, map_location="cpu", mmap: bool = False) -> Dict[str, Any]:
    """``torch.load(weights_only=True)``; CheckpointError (naming ``path``) when the file holds
    code or is truncated/corrupt, FileNotFoundError when it does not exist."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such checkpoint: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        text = str(e)
        if "Weights only load failed" in text:
            detail = next((line.strip() for line in text.splitlines()
                           if "GLOBAL" in line or "Unsupported" in line), "")
            raise CheckpointError(path, "refused to load: it holds Python objects, not only "
                                  "tensors and plain containers, and loading it could run code "
                                  f"({detail or 'weights_only load failed'}). Only load "
                                  "checkpoints written by this package or by a source you trust "
                                  "(then extract the weights yourself)", unsafe=True) from None
        raise CheckpointError(path, f"corrupt checkpoint ({_short(e)})") from None
    except Exception as e:  # truncated zip, bad CRC, not a checkpoint at all
        raise CheckpointError(path, f"truncated or corrupt checkpoint ({_short(e)})") from None


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
        return load(prev), prev
    try:
        return load(last), last
    except CheckpointError as e:
        if e.unsafe or not os.path.isfile(prev):
            raise
        try:
            state = load(prev)
        except CheckpointError as e2:
            raise CheckpointError(last, f"{e.reason}; the fallback {prev} is unusable too "
                                  f"({e2.reason})") from None
        warn(f"warning: {last}: {e.reason}; falling back to {prev} (epoch {state.get('epoch')})")
        return state, prev


def restore(state: Dict[str, Any], model, optimizer=None, scheduler=None, scaler=None,
            rank: int = 0, world_size: int = 1) -> Dict[str, Any]:
    """Load a ``training_state`` into the given objects and this rank's RNG states (when the run had
    the same number of ranks). Returns ``{"epoch", "best_metric"}``. A run that keeps an EMA of its
    weights stores the EMA as ``model`` and the trained weights as ``raw_model``: those are
    restored."""
    unwrap(model).load_state_dict(state.get("raw_model", state["model"]))
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


def _short(e: BaseException, limit: int = 200) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:limit]}" + ("..." if len(text) > limit else "")
