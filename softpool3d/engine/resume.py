"""What a resume accepts: the config of the run folder's checkpoint against the new one. Keys that
only extend or observe the run may change; any other difference (model, pools, data, seed,
optimiser, schedule, precision, ...) changes what is trained, and the resume is refused with the
list of differences and the ways out."""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Tuple

from softpool3d.config import Config, ConfigError, to_dict

# keys a resume may change: they extend the run, or change how it is observed/tested/loaded
MAY_CHANGE = ("optim.epochs", "train.eval_every", "train.log_every", "train.tensorboard",
              "train.output_dir", "train.dist_timeout_s", "data.workers", "data.pin_memory",
              "data.num_clips", "data.num_crops", "data.test_scale", "data.test_crop_size", "test.")


class ResumeRefused(ConfigError):
    """The config differs from the checkpoint's in what is trained (the message lists how)."""


def flatten(tree: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists and scalars are leaves)."""
    out: Dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = list(value) if isinstance(value, tuple) else value
    return out


def differences(old: Dict[str, Any], new: Dict[str, Any]) -> Dict[str, Tuple[Any, Any]]:
    """``{key: (checkpoint value, new value)}`` for every key whose value differs. A key that the
    checkpoint's config lacks (it was written before the key existed) counts as the schema's
    default, so a new option left at its default is no change."""
    a, b = flatten(old), flatten(new)
    defaults = flatten(to_dict(Config()))
    missing = object()
    out = {}
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key, missing), b.get(key, missing)
        if va is missing and key in defaults and not any(k.startswith(key + ".") for k in a):
            va = defaults[key]
        if va != vb:
            out[key] = (None if va is missing else va, None if vb is missing else vb)
    return out


def _allowed(key: str, allow: Iterable[str]) -> bool:
    return any(key == k or (k.endswith(".") and key.startswith(k)) for k in allow)


def check(path: str, saved: Dict[str, Any], current: Dict[str, Any], epochs_done: int,
          allow_changes: Iterable[str] = ()) -> Dict[str, List[Any]]:
    """Refuse (ConfigError) a resume of checkpoint ``path`` (config ``saved``) with config
    ``current`` when they differ in anything but :data:`MAY_CHANGE` and ``allow_changes``, or when
    ``optim.epochs`` is below the ``epochs_done``. Returns the accepted changes
    ``{key: [old, new]}``."""
    allow = tuple(MAY_CHANGE) + tuple(allow_changes)
    diffs = differences(saved or {}, current)
    refused = {k: v for k, v in diffs.items() if not _allowed(k, allow)}
    if refused:
        lines = "\n".join(f"  {k}: {old!r} in the checkpoint, {new!r} now"
                          for k, (old, new) in refused.items())
        raise ResumeRefused(
            f"cannot resume from {path}: the config changes what is trained:\n{lines}\n"
            "A resume may only change " + ", ".join(k + ("*" if k.endswith(".") else "")
                                                    for k in MAY_CHANGE) + ".\n"
            "To train this config start fresh: add --fresh (this run folder is overwritten) or "
            "pass a new --output-dir; to continue this run with the change anyway, add "
            + " ".join(f"--allow-change {k}" for k in refused) + ".")
    epochs = current.get("optim", {}).get("epochs")
    if isinstance(epochs, int) and epochs < epochs_done:
        raise ResumeRefused(f"cannot resume from {path}: it has trained {epochs_done} epochs, more than "
                          f"optim.epochs={epochs}; use --fresh or a new --output-dir")
    return {k: [old, new] for k, (old, new) in diffs.items()}
