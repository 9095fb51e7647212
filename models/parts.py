"""A network's named parts, the same names for every family: ``stem``, ``stage1`` ... ``stageN``,
``head`` (what fine-tuning freezes, and what per-part learning rates are given to).

The parts are the top-level pieces of the network that hold parameters, in forward order:
pytorchvideo's ``Net.blocks`` (stem, the res stages / SlowFast's fused pathways, the head; the
parameter-free pools between them belong to no part) and torchvision's VideoResNet children
(``stem``, ``layer1`` ... ``layer4`` -> ``stage1`` ... ``stage4``, ``fc`` -> ``head``). The first is
the stem, the last the head, the ones between the stages.
"""
from __future__ import annotations

from collections import OrderedDict

from torch import nn

__all__ = ["model_parts"]


def model_parts(model: nn.Module) -> "OrderedDict[str, nn.Module]":
    """``{part name: module}`` of the bare network ``model`` (not a DDP / torch.compile wrapper) in
    forward order: ``stem``, ``stage1`` ... ``stageN``, ``head``. ValueError when fewer than three
    top-level pieces hold parameters."""
    children = model.blocks if isinstance(getattr(model, "blocks", None), nn.ModuleList) \
        else [m for _, m in model.named_children()]
    holders = [m for m in children if any(True for _ in m.parameters())]
    if len(holders) < 3:
        raise ValueError(f"{type(model).__name__}: cannot name its parts (stem, stages, head): "
                         f"{len(holders)} top-level pieces hold parameters")
    names = ["stem"] + [f"stage{i}" for i in range(1, len(holders) - 1)] + ["head"]
    return OrderedDict(zip(names, holders))
