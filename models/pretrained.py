"""Loading local checkpoints (e.g. pytorchvideo model-zoo ``.pyth`` files) into a built model,
possibly one whose pools were swapped -- the paper's "replace the pools, then fine-tune" protocol.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

import torch
from torch import nn

from softpool3d.checkpoint_file import CheckpointError, load as load_verified

from .swap import find_pool_sites

__all__ = ["LoadReport", "load_checkpoint", "extract_state_dict"]

_NESTED_KEYS = ("model_state", "state_dict", "model", "model_state_dict", "module")
_PREFIXES = ("model.", "module.")


@dataclass
class LoadReport:
    """What :func:`load_checkpoint` did. ``missing`` are model keys the checkpoint lacks (those of
    swapped-in pools are also listed in ``missing_pool_keys``), ``unexpected`` checkpoint keys the
    model lacks, ``mismatched`` keys of both with different shapes ``(key, checkpoint, model)``;
    mismatched tensors are not loaded."""
    path: str
    loaded: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    mismatched: List[Tuple[str, Tuple[int, ...], Tuple[int, ...]]] = field(default_factory=list)
    missing_pool_keys: List[str] = field(default_factory=list)
    stripped_prefixes: List[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        """True when every model tensor was loaded and nothing was left over."""
        return not (self.missing or self.unexpected or self.mismatched)

    def summary(self, limit: int = 10) -> str:
        def listing(keys):
            keys = list(keys)
            shown = ", ".join(keys[:limit])
            return shown + (f", ... (+{len(keys) - limit})" if len(keys) > limit else "")
        total = len(self.loaded) + len(self.missing) + len(self.mismatched)
        lines = [f"checkpoint {self.path}: loaded {len(self.loaded)}/{total} model tensors"
                 + (f" (stripped key prefixes {self.stripped_prefixes})"
                    if self.stripped_prefixes else "")]
        other_missing = [k for k in self.missing if k not in set(self.missing_pool_keys)]
        if self.missing_pool_keys:
            lines.append(f"  missing, new pooling parameters ({len(self.missing_pool_keys)}): "
                         f"{listing(self.missing_pool_keys)}")
        if other_missing:
            lines.append(f"  missing ({len(other_missing)}): {listing(other_missing)}")
        if self.unexpected:
            lines.append(f"  unexpected ({len(self.unexpected)}): {listing(self.unexpected)}")
        if self.mismatched:
            shown = [f"{k} checkpoint {tuple(a)} vs model {tuple(b)}"
                     for k, a, b in self.mismatched]
            lines.append(f"  shape mismatch, not loaded ({len(shown)}): {listing(shown)}")
        if self.exact:
            lines.append("  exact match")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def extract_state_dict(obj) -> Dict[str, torch.Tensor]:
    """The tensor dict inside a loaded checkpoint: ``obj`` itself, or the one nested under
    ``model_state`` (pytorchvideo/SlowFast), ``state_dict``, ``model``, ... (searched in order,
    recursively)."""
    if not isinstance(obj, Mapping):
        raise ValueError(f"a checkpoint must hold a dict, got {type(obj).__name__}")
    for key in _NESTED_KEYS:
        if isinstance(obj.get(key), Mapping):
            return extract_state_dict(obj[key])
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise ValueError(f"no tensors found in the checkpoint (top-level keys: {list(obj)[:10]})")
    return tensors


def _match_key(key: str, model_keys) -> Tuple[str, str]:
    """``key`` with leading ``model.``/``module.`` prefixes removed while that makes it a model
    key; returns ``(key, stripped prefix)``."""
    candidate, stripped = key, ""
    while candidate not in model_keys:
        for prefix in _PREFIXES:
            if candidate.startswith(prefix):
                candidate, stripped = candidate[len(prefix):], stripped + prefix
                break
        else:
            return key, ""
    return candidate, stripped


def load_checkpoint(model: nn.Module, path: str, strict: bool = False,
                    verbose: bool = True) -> LoadReport:
    """Load the weights of a local checkpoint file into ``model`` (in place).

    Read with the package's verified loader (``softpool3d.checkpoint_file.load``: zip CRCs
    checked, then ``torch.load(weights_only=True)``): a file holding Python objects, a truncated
    or damaged file, a folder or a file without tensors raises ``CheckpointError`` (a
    RuntimeError) naming it; a missing one ``FileNotFoundError``. The state dict may be nested
    (``model_state``, ``state_dict``, ...) and its keys prefixed with ``model.``/``module.``.
    Tensors whose shape differs from the model's (e.g. a classifier for another number of
    classes) are skipped and reported. ``strict=True`` raises a RuntimeError with the report
    unless the match is exact; otherwise the report is returned (and printed when ``verbose``).
    """
    obj = load_verified(path)
    try:
        state = extract_state_dict(obj)
    except ValueError as e:
        raise CheckpointError(str(path), f"holds no weights to load: {e}", corrupt=False) from None
    model_state = model.state_dict()
    report = LoadReport(path=str(path))
    to_load: Dict[str, torch.Tensor] = {}
    for key, value in state.items():
        target, stripped = _match_key(key, model_state)
        if target not in model_state:
            report.unexpected.append(key)
            continue
        if stripped and stripped not in report.stripped_prefixes:
            report.stripped_prefixes.append(stripped)
        if tuple(value.shape) != tuple(model_state[target].shape):
            report.mismatched.append((target, tuple(value.shape),
                                      tuple(model_state[target].shape)))
            continue
        to_load[target] = value
    mismatched = {k for k, _, _ in report.mismatched}
    report.missing = [k for k in model_state if k not in to_load and k not in mismatched]
    pool_prefixes = tuple(f"{name}." for name in find_pool_sites(model))
    report.missing_pool_keys = [k for k in report.missing if k.startswith(pool_prefixes)]
    report.loaded = list(to_load)
    if strict and not report.exact:
        raise RuntimeError(f"strict checkpoint load failed:\n{report.summary()}")
    model.load_state_dict(to_load, strict=False)
    if verbose:
        print(report.summary())
    return report
