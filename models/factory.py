"""``build_model``: a registered network, fixed for pytorchvideo's pitfalls, pools swapped."""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional, Union

from torch import nn

from .pitfalls import fix_pytorchvideo
from .registry import get_spec
from .swap import resolve_sites, swap_pools

__all__ = ["build_model", "keeps_original_pools"]

ORIGINAL = ("original", None)


def keeps_original_pools(pool: Optional[str],
                         pool_sites: Union[str, Iterable[str]] = "paper") -> bool:
    """Whether ``build_model(..., pool, pool_sites)`` leaves the published pools untouched: only for
    ``pool="original"`` (the default) or None. ``"max"`` always puts max pooling at the sites."""
    return pool in ORIGINAL


def build_model(name: str, num_classes: int, pool: Optional[str] = "original",
                pool_sites: Union[str, Iterable[str]] = "paper", *,
                num_frames: Optional[int] = None, crop_size: Optional[int] = None,
                pool_kwargs: Optional[Mapping[str, Any]] = None, **overrides: Any) -> nn.Module:
    """Build registered model ``name`` with ``num_classes`` outputs.

    Input ``(N, 3, T, H, W)`` (SlowFast: the list ``[slow, fast]``, slow with ``T // alpha``
    frames); output logits ``(N, num_classes)``.

    Args:
        pool: the pooling method (a name of ``softpool3d.pools.POOLS``) put at ``pool_sites``, or
            ``"original"`` (the default; also None) for the published pools (max in stem/stage,
            average in head/global): the network is exactly pytorchvideo's (torchvision's for
            r3d_18). ``"max"`` means max pooling at every named site (with ``"all"``: a
            max-pooling head and global pool too).
        pool_sites: ``"paper"`` (the default: the SoftPool paper's protocol, only the max pools
            inside the network, with kernel = stride), ``"all"``, or a subset of ``("stem",
            "stage", "head", "global")`` (see :mod:`softpool3d.models.swap`; naming a site the
            model lacks, or ``"paper"`` for a model without a max pool, is an error).
        num_frames, crop_size: the clip geometry the head pool is sized for (default: the
            published ``model_input_spec(name)``; for SlowFast, ``num_frames`` is the fast
            pathway's).
        pool_kwargs: options of the pooling method (e.g. ``{"p": 3}`` for lp).
        overrides: keyword arguments of the underlying builder (pytorchvideo ``create_*`` or
            torchvision), e.g. ``dropout_rate=0.2``.
    """
    spec = get_spec(name)
    resolve_sites(pool_sites)
    frames = num_frames or spec.num_frames
    crop = crop_size or spec.crop_size
    model = spec.builder(num_classes=num_classes, num_frames=frames, crop_size=crop, **overrides)
    fix_pytorchvideo(model)
    model.pool_swaps = {}  # {module name: "old -> new"}, filled by swap_pools
    if not keeps_original_pools(pool, pool_sites):
        swap_pools(model, pool, pool_sites, example_input=spec.input_shapes(frames, crop),
                   pool_kwargs=pool_kwargs)
    return model
