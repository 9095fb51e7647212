"""Fine-tuning controls on a built model: its named parts (``stem``, ``stage1`` ... ``stageN``,
``head``, the same names for every family; which module is which part is the models' knowledge:
:func:`softpool3d.models.model_parts`), frozen parts, frozen BatchNorm statistics and affine
parameters, and per-part learning-rate multipliers (a separate head lr, layer-wise decay).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Dict, Iterable, List, Sequence

from torch import nn

from softpool3d.config import ConfigError
from softpool3d.models.parts import model_parts as _network_parts

from .checkpoint import unwrap

_BN = nn.modules.batchnorm._BatchNorm


def model_parts(model: nn.Module) -> "OrderedDict[str, nn.Module]":
    """``{part name: module}`` in forward order: ``stem``, ``stage1`` ... ``stageN``, ``head``, of
    the network inside any DDP / torch.compile wrapper (see :func:`softpool3d.models.model_parts`)."""
    return _network_parts(unwrap(model))


def check_parts(model: nn.Module, names: Iterable[str], key: str = "finetune.freeze") -> List[str]:
    """``names`` as a list; ConfigError naming ``key`` and the valid parts for an unknown one."""
    valid = list(model_parts(model))
    names = list(names)
    bad = [n for n in names if n not in valid]
    if bad:
        raise ConfigError(f"config key {key!r}: unknown part(s) {', '.join(map(repr, bad))} of "
                          f"{type(unwrap(model)).__name__}; its parts are {', '.join(valid)}")
    return names


def apply_freeze(model: nn.Module, fcfg) -> List[str]:
    """Set ``requires_grad=False`` on the parameters of the parts in ``fcfg.freeze`` and, with
    ``fcfg.freeze_bn_affine``, on every BatchNorm's weight and bias (before DDP wraps the model).
    Returns the frozen parts."""
    names = check_parts(model, fcfg.freeze)
    parts = model_parts(model)
    for name in names:
        for p in parts[name].parameters():
            p.requires_grad_(False)
    if fcfg.freeze_bn_affine:
        for m in unwrap(model).modules():
            if isinstance(m, _BN):
                for p in m.parameters(recurse=False):
                    p.requires_grad_(False)
    return names


def train_mode(model: nn.Module, freeze_bn_stats: bool = False,
               frozen_parts: Sequence[str] = ()) -> None:
    """``model.train()``, then the BatchNorm layers whose statistics are frozen back in eval mode:
    all of them with ``freeze_bn_stats``, those of ``frozen_parts`` otherwise (a frozen part is a
    fixed feature extractor: its statistics do not move either)."""
    model.train()
    if freeze_bn_stats:
        roots = [unwrap(model)]
    else:
        parts = model_parts(model) if frozen_parts else {}
        roots = [parts[n] for n in frozen_parts]
    for root in roots:
        for m in root.modules():
            if isinstance(m, _BN):
                m.eval()


def lr_multipliers(model: nn.Module, head_lr_mult: float = 1.0, layer_decay: float = 1.0
                   ) -> Dict[int, float]:
    """``{id(parameter): lr multiplier}``: part i of P gets ``layer_decay ** (P - 1 - i)``, the
    head also ``head_lr_mult``; parameters outside the parts 1. Empty when both are 1."""
    if head_lr_mult == 1.0 and layer_decay == 1.0:
        return {}
    parts = list(model_parts(model).items())
    out = {}
    for i, (name, module) in enumerate(parts):
        mult = layer_decay ** (len(parts) - 1 - i) * (head_lr_mult if name == "head" else 1.0)
        for p in module.parameters():
            out[id(p)] = mult
    return out
