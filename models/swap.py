"""Where a model's pooling layers sit, and replacing them by a method of the pooling zoo.

Sites (a pooling module's site follows from where it is, never from the model's name):
  stem    a window pool inside a stem (pytorchvideo ``ResNetBasicStem``): the ResNets' 3x3 max pool
  stage   any other window pool outside stem and head: C2D/I3D's temporal max pool after res2
  head    a window pool inside a head (``ResNetBasicHead``, X3D's ``ProjectedPool``, SlowFast's
          ``PoolConcatPathway``): the average over the last feature map
  global  an adaptive pool: pytorchvideo's output pool over the class scores, torchvision
          R3D-18's pool before its classifier

Which pools a swap replaces (``pool_sites``):
  "paper"  the SoftPool paper's protocol, the default: only the down-sampling **max** pools inside
           the network (stem and stage sites), each rebuilt with kernel = stride and no padding;
           the head and global averages are kept. The original code's ResNet (repository
           alexandrosstergiou/SoftPool, ``main/models/resnet.py``) replaces its stem
           ``MaxPool2d(kernel_size=3, stride=2, padding=1)`` by ``SoftPool2d(kernel_size=2,
           stride=2)`` and keeps ``AdaptiveAvgPool2d`` before the classifier; in 3D the stem
           ``MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))`` becomes ``(1, 2, 2)`` / ``(1, 2, 2)``, and
           I3D/C2D's stage ``MaxPool3d((2, 1, 1))`` (already kernel = stride) keeps its geometry.
           ``ceil_mode`` is set where the old pool was padded, so the output size equals the old
           pool's for every input size. X3D and R(2+1)D have no max pool: the protocol replaces
           nothing there, and asking for it is an error (name sites for a labelled variant).
  "all"    every site the model has (adaptive pools too, where the method has an adaptive form),
           each keeping the old module's geometry;
  sites    a subset of ``SITES``, each keeping the old module's geometry.

Window pools are rebuilt with ``softpool3d.pools.build_pool(method, kernel_size, stride, padding,
ceil_mode)`` of the old module (or the paper's geometry above), adaptive pools with
``build_adaptive_pool(method, output_size)``.
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

__all__ = ["SITES", "PAPER", "is_pool", "paper_pools", "describe_pool", "find_pool_sites", "pools_by_site", "swap_pools",
           "pool_input_channels", "resolve_sites"]

SITES = ("stem", "stage", "head", "global")
PAPER = "paper"
ALL = "all"

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
    """``"paper"``, ``"all"``, a site name or an iterable of site names -> a tuple of valid site
    names (``"paper"`` -> the sites its max pools may sit at: stem, stage)."""
    if isinstance(pool_sites, str):
        chosen = {PAPER: ("stem", "stage"), ALL: SITES}.get(pool_sites, (pool_sites,))
    else:
        chosen = tuple(pool_sites)
    bad = [s for s in chosen if not isinstance(s, str) or s not in SITES]
    if bad or not chosen:
        raise ValueError(f"pool_sites must be '{PAPER}', '{ALL}' or a non-empty subset of {SITES}, "
                         f"got {pool_sites!r}")
    return tuple(dict.fromkeys(chosen))


def _is_max(module: nn.Module) -> bool:
    return isinstance(module, (nn.MaxPool3d, zoo.MaxPool))


def paper_pools(model: nn.Module) -> List[str]:
    """The module names the paper's protocol replaces: the max pools at the stem and stage sites."""
    return [name for name, site in find_pool_sites(model).items()
            if site in ("stem", "stage") and _is_max(model.get_submodule(name))]


def describe_pool(module: nn.Module) -> str:
    """A one-line description of a pooling module: class and geometry (or output size)."""
    if _is_adaptive(module):
        return f"{type(module).__name__}(output_size={module.output_size})"
    args = ", ".join(f"{k}={_triple(getattr(module, k, None))}"
                     for k in ("kernel_size", "stride", "padding"))
    return f"{type(module).__name__}({args}, ceil_mode={bool(getattr(module, 'ceil_mode', False))})"


def _triple(v):
    return tuple(v) if isinstance(v, (list, tuple)) else (v,) * 3


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


def _replacement(module: nn.Module, method: str, kwargs: Mapping[str, Any],
                 paper: bool = False) -> nn.Module:
    if _is_adaptive(module):
        return zoo.build_adaptive_pool(method, module.output_size, **kwargs)
    dilation = getattr(module, "dilation", 1)
    if dilation not in (1, (1, 1, 1), [1, 1, 1]):
        raise ValueError(f"cannot replace a dilated pool ({module}): the zoo has no dilation")
    if paper:
        stride = _triple(module.stride if module.stride is not None else module.kernel_size)
        padded = any(_triple(module.padding))
        return zoo.build_pool(method, stride, stride, 0, bool(module.ceil_mode) or padded,
                              **kwargs)
    return zoo.build_pool(method, module.kernel_size, module.stride, module.padding,
                          module.ceil_mode, **kwargs)


def swap_pools(model: nn.Module, pool: str, pool_sites: Union[str, Iterable[str]] = PAPER, *,
               example_input=None, pool_kwargs: Optional[Mapping[str, Any]] = None
               ) -> Dict[str, List[str]]:
    """Replace the pooling layers of ``model`` at ``pool_sites`` by method ``pool`` (in place).

    ``pool_sites="paper"`` (the default) replaces the max pools at the stem/stage sites with the
    paper's geometry (module docstring); a model without one is a ValueError.
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
    paper = isinstance(pool_sites, str) and pool_sites == PAPER
    explicit = not (isinstance(pool_sites, str) and pool_sites in (ALL, PAPER))
    grouped = pools_by_site(model)
    if paper:
        grouped = {site: [n for n in names if n in set(paper_pools(model))]
                   for site, names in grouped.items()}
        if not any(grouped.values()):
            have = {s: n for s, n in pools_by_site(model).items() if n}
            raise ValueError(f"the paper's protocol replaces only max pools inside the network, "
                             f"and this model has none (its pools by site: {have}); name the "
                             f"sites to replace for a labelled variant, e.g. pool_sites=[head]")
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
    descriptions: Dict[str, str] = {}
    replaced: Dict[str, List[str]] = {site: [] for site in chosen}
    for name, site in targets.items():
        old = model.get_submodule(name)
        new = _replacement(old, pool, dict(kwargs, channels=channels.get(name)), paper=paper)
        if reference is not None:
            new = new.to(reference.device)
            if reference.is_floating_point():
                new = new.to(reference.dtype)
        new.train(old.training)
        model.set_submodule(name, new)
        replaced[site].append(name)
        descriptions[name] = f"{describe_pool(old)} -> {describe_pool(new)}"
    # what was replaced, module by module (results.json's "pool_swaps"); merged over repeated swaps
    model.pool_swaps = {**getattr(model, "pool_swaps", {}), **descriptions}
    return replaced
