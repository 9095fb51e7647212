"""Where a model's pooling layers sit, and replacing them by a method of the pooling zoo.

Sites (a pooling module's site follows from where it is, never from the model's name):
  stem    a window pool inside a stem (pytorchvideo ``ResNetBasicStem``): the ResNets' 3x3 max pool
  stage   any other window pool outside stem and head: C2D/I3D's temporal max pool after res2
  head    a window pool inside a head (``ResNetBasicHead``, X3D's ``ProjectedPool``, SlowFast's
          ``PoolConcatPathway``): the average over the last feature map
  global  an adaptive pool: pytorchvideo's output pool over the class scores, torchvision
          R3D-18's pool before its classifier

Window pools are rebuilt with ``softpool3d.pools.build_pool(method, kernel_size, stride, padding,
ceil_mode)`` of the old module, adaptive pools with ``build_adaptive_pool(method, output_size)``.
Methods with per-channel parameters (``needs_channels``) get the channel count each pool sees,
found by a shape-only forward on the meta device (no compute, no memory).
"""
from __future__ import annotations

import itertools
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

import torch
from torch import nn

from softpool3d import pools as zoo
from softpool3d.nn import AdaptiveSoftPool3d, SoftPool3d

__all__ = ["SITES", "is_pool", "find_pool_sites", "pools_by_site", "swap_pools",
           "pool_input_channels", "resolve_sites"]

SITES = ("stem", "stage", "head", "global")

_WINDOW_TYPES = (nn.MaxPool3d, nn.AvgPool3d, SoftPool3d)
_ADAPTIVE_TYPES = (nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool3d, AdaptiveSoftPool3d)


def _zoo_classes():
    window = tuple(zoo.POOLS.values())
    adaptive = tuple(c.adaptive for c in window if getattr(c, "adaptive", None) is not None)
    return window, adaptive


def is_pool(module: nn.Module) -> bool:
    """Whether ``module`` is a 3D pooling layer: torch's max/avg/adaptive pools, SoftPool, or a
    method of the zoo."""
    window, adaptive = _zoo_classes()
    return isinstance(module, _WINDOW_TYPES + _ADAPTIVE_TYPES + window + adaptive)


def _is_adaptive(module: nn.Module) -> bool:
    return isinstance(module, _ADAPTIVE_TYPES + _zoo_classes()[1])


def _context_types():
    from pytorchvideo.models.head import ResNetBasicHead
    from pytorchvideo.models.slowfast import PoolConcatPathway
    from pytorchvideo.models.stem import ResNetBasicStem
    from pytorchvideo.models.x3d import ProjectedPool
    return {"stem": (ResNetBasicStem,), "head": (ResNetBasicHead, ProjectedPool, PoolConcatPathway)}


def find_pool_sites(model: nn.Module) -> Dict[str, str]:
    """``{qualified module name: site}`` for every pooling layer of ``model``, in module order."""
    contexts = _context_types()
    found: Dict[str, str] = {}

    def visit(module: nn.Module, prefix: str, context: Optional[str]) -> None:
        for name, child in module.named_children():
            qualified = f"{prefix}.{name}" if prefix else name
            if is_pool(child):
                found[qualified] = "global" if _is_adaptive(child) else (context or "stage")
                continue
            inner = context
            for site, types in contexts.items():
                if isinstance(child, types):
                    inner = site
            visit(child, qualified, inner)

    visit(model, "", None)
    return found


def pools_by_site(model: nn.Module) -> Dict[str, List[str]]:
    """``{site: [module names]}`` over all four sites (empty lists where the model has none)."""
    grouped: Dict[str, List[str]] = {site: [] for site in SITES}
    for name, site in find_pool_sites(model).items():
        grouped[site].append(name)
    return grouped


def resolve_sites(pool_sites: Union[str, Iterable[str]]) -> tuple:
    """``"all"`` or a site name or an iterable of site names -> a tuple of valid site names."""
    if isinstance(pool_sites, str):
        chosen = SITES if pool_sites == "all" else (pool_sites,)
    else:
        chosen = tuple(pool_sites)
    bad = [s for s in chosen if s not in SITES]
    if bad or not chosen:
        raise ValueError(f"pool_sites must be 'all' or a non-empty subset of {SITES}, got "
                         f"{pool_sites!r}")
    return tuple(dict.fromkeys(chosen))


def _to_meta(example_input):
    if isinstance(example_input, torch.Tensor):
        return torch.empty_like(example_input, device="meta")
    if isinstance(example_input, (list, tuple)) and example_input and \
            all(isinstance(v, int) for v in example_input):
        return torch.empty(tuple(example_input), device="meta")   # a shape
    if isinstance(example_input, (list, tuple)):
        return [_to_meta(v) for v in example_input]
    raise TypeError(f"example_input must be a tensor, a shape, or a list of them; got "
                    f"{type(example_input).__name__}")


def pool_input_channels(model: nn.Module, example_input, names: Sequence[str]) -> Dict[str, int]:
    """The channel count entering each pooling module in ``names``, from a forward of
    ``example_input`` (tensors or shapes; a list for SlowFast) on the meta device: only shapes are
    computed and ``model`` is left untouched."""
    channels: Dict[str, int] = {}
    hooks = []
    for name in names:
        def record(_module, args, name=name):
            channels.setdefault(name, int(args[0].shape[1]))
        hooks.append(model.get_submodule(name).register_forward_pre_hook(record))
    meta_state = {key: torch.empty_like(value, device="meta") for key, value in
                  itertools.chain(model.named_parameters(), model.named_buffers())}
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            torch.func.functional_call(model, meta_state, (_to_meta(example_input),))
    except Exception as err:
        raise ValueError(f"could not run a shape-only forward of the model on an input of "
                         f"shape(s) {_shapes(example_input)} to find its pools' channel counts: "
                         f"{err}") from err
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    missing = [n for n in names if n not in channels]
    if missing:
        raise ValueError(f"pooling modules never called in a forward: {missing}")
    return channels


def _shapes(example_input):
    if isinstance(example_input, torch.Tensor):
        return tuple(example_input.shape)
    if isinstance(example_input, (list, tuple)) and all(isinstance(v, int) for v in example_input):
        return tuple(example_input)
    return [_shapes(v) for v in example_input]


def _replacement(module: nn.Module, method: str, kwargs: Mapping[str, Any]) -> nn.Module:
    if _is_adaptive(module):
        return zoo.build_adaptive_pool(method, module.output_size, **kwargs)
    dilation = getattr(module, "dilation", 1)
    if dilation not in (1, (1, 1, 1), [1, 1, 1]):
        raise ValueError(f"cannot replace a dilated pool ({module}): the zoo has no dilation")
    return zoo.build_pool(method, module.kernel_size, module.stride, module.padding,
                          module.ceil_mode, **kwargs)


def swap_pools(model: nn.Module, pool: str, pool_sites: Union[str, Iterable[str]] = "all", *,
               example_input=None, pool_kwargs: Optional[Mapping[str, Any]] = None
               ) -> Dict[str, List[str]]:
    """Replace the pooling layers of ``model`` at ``pool_sites`` by method ``pool`` (in place).

    ``pool_sites="all"`` takes every site the model has, and leaves adaptive pools alone for a
    method without an adaptive form (``gated``); naming a site the model lacks, or asking for the
    global site with such a method, is a ValueError, as is a swap that would replace nothing.
    ``example_input`` (tensor(s) or shape(s)) is needed for methods with per-channel parameters.
    New modules get the device and dtype of the model's parameters and its train/eval mode.
    Returns ``{site: [replaced module names]}``.
    """
    cls = zoo.POOLS.get(pool)
    if cls is None:
        raise ValueError(f"unknown pooling method {pool!r}; valid names: {', '.join(zoo.POOLS)}")
    chosen = resolve_sites(pool_sites)
    explicit = not (isinstance(pool_sites, str) and pool_sites == "all")
    grouped = pools_by_site(model)
    if explicit:
        absent = [s for s in chosen if not grouped[s]]
        if absent:
            have = [s for s in SITES if grouped[s]]
            raise ValueError(f"the model has no pool at site(s) {absent}; its sites: {have}")
        if "global" in chosen and cls.adaptive is None:
            raise ValueError(f"pooling method {pool!r} has no adaptive/global form; drop 'global' "
                             f"from pool_sites or choose one of {zoo.adaptive_pool_names()}")
    targets = {name: site for site in chosen for name in grouped[site]
               if not (site == "global" and cls.adaptive is None)}
    if not targets:
        raise ValueError(f"swapping to {pool!r} at {chosen} replaces nothing in this model "
                         f"(its pools by site: { {s: n for s, n in grouped.items() if n} })")

    kwargs = dict(pool_kwargs or {})
    needs = [name for name, site in targets.items()
             if getattr(cls.adaptive if site == "global" else cls, "needs_channels", False)]
    channels: Dict[str, int] = {}
    if needs:
        if example_input is None:
            raise ValueError(f"pooling method {pool!r} has per-channel parameters: pass "
                             f"example_input (a tensor or shape the model accepts)")
        channels = pool_input_channels(model, example_input, needs)

    reference = next(iter(model.parameters()), None)
    replaced: Dict[str, List[str]] = {site: [] for site in chosen}
    for name, site in targets.items():
        old = model.get_submodule(name)
        new = _replacement(old, pool, dict(kwargs, channels=channels.get(name)))
        if reference is not None:
            new = new.to(reference.device)
            if reference.is_floating_point():
                new = new.to(reference.dtype)
        new.train(old.training)
        model.set_submodule(name, new)
        replaced[site].append(name)
    return replaced
