"""The model registry: name -> :class:`ModelSpec` (a builder and the published input view)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import torch
from torch import nn

__all__ = ["ModelSpec", "MODELS", "register", "get_spec", "model_input_spec", "list_models"]

Builder = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelSpec:
    """A registered model.

    ``builder(num_classes=, num_frames=, crop_size=, **overrides)`` returns the unmodified network
    for clips of ``num_frames`` x ``crop_size``^2 (the geometry sets the head pool's window).
    For SlowFast ``num_frames`` is the fast pathway's length; the slow one has
    ``num_frames // alpha``. ``reference`` names what the default build reproduces exactly
    (e.g. ``"pytorchvideo.models.hub.slow_r50"``), or None.
    """
    name: str
    builder: Builder
    num_frames: int
    sampling_rate: int
    crop_size: int
    test_crop_size: int
    num_clips: int
    num_crops: int
    alpha: Optional[int] = None
    train_scale: Optional[Tuple[int, int]] = None  # short-side jitter of the published recipe;
    reference: Optional[str] = None                 # None: derived from crop_size by the config
    description: str = ""

    def input_spec(self) -> Dict[str, Any]:
        """The published view: num_frames, sampling_rate, crop_size, test_crop_size, alpha
        (SlowFast, else None), num_clips, num_crops, train_scale (None where the recipe's is the
        default ``[8/7, 10/7] x crop_size``)."""
        return dict(num_frames=self.num_frames, sampling_rate=self.sampling_rate,
                    crop_size=self.crop_size, test_crop_size=self.test_crop_size,
                    alpha=self.alpha, num_clips=self.num_clips, num_crops=self.num_crops,
                    train_scale=list(self.train_scale) if self.train_scale else None)

    def input_shapes(self, num_frames: Optional[int] = None, crop_size: Optional[int] = None,
                     batch: int = 1) -> Union[Tuple[int, ...], List[Tuple[int, ...]]]:
        """One input batch's shape: ``(N, 3, T, S, S)``, or ``[slow, fast]`` shapes (SlowFast)."""
        t = num_frames or self.num_frames
        s = crop_size or self.crop_size
        if self.alpha:
            return [(batch, 3, max(1, t // self.alpha), s, s), (batch, 3, t, s, s)]
        return (batch, 3, t, s, s)

    def example_input(self, num_frames: Optional[int] = None, crop_size: Optional[int] = None,
                      batch: int = 1, device: Union[str, torch.device] = "cpu"):
        """Random input of :meth:`input_shapes` (a list of two tensors for SlowFast)."""
        shapes = self.input_shapes(num_frames, crop_size, batch)
        if isinstance(shapes, list):
            return [torch.randn(s, device=device) for s in shapes]
        return torch.randn(shapes, device=device)


MODELS: Dict[str, ModelSpec] = {}


def register(name: str, **spec: Any) -> Callable[[Builder], Builder]:
    """Decorator: register ``builder`` as ``name``, with the :class:`ModelSpec` fields ``spec``."""
    def wrap(builder: Builder) -> Builder:
        if name in MODELS:
            raise ValueError(f"model {name!r} is already registered")
        MODELS[name] = ModelSpec(name=name, builder=builder, **spec)
        return builder
    return wrap


def list_models() -> Tuple[str, ...]:
    """Every registered model name."""
    return tuple(MODELS)


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of ``name``; ValueError listing the valid names otherwise."""
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODELS)}") from None


def model_input_spec(name: str) -> Dict[str, Any]:
    """The published input view of ``name`` (see :meth:`ModelSpec.input_spec`)."""
    return get_spec(name).input_spec()
