"""The pooling zoo: SoftPool and the methods the SoftPool paper compares it with, one registry.

Every window method is an ``nn.Module`` built as ``Cls(kernel_size, stride=None, padding=0,
ceil_mode=False, **options)`` (``nn.MaxPool3d``'s conventions: ints or 3-tuples, ``stride=None``
means ``kernel_size``, ``padding <= kernel_size // 2``, the same output-size rule), takes
``(N, C, T, H, W)`` and returns ``(N, C, OT, OH, OW)`` of exactly the shape max pooling gives.
Padded and out-of-range (``ceil_mode``) cells never take part in a window: they are ignored, as
max pooling's -inf padding is (``sum`` counts them as 0, which is the same).

``cls.adaptive`` is the adaptive/global form (``Cls(output_size, **options)``, ``output_size=1`` is
global pooling), or None where the method has none. ``cls.needs_channels`` is True for methods with
per-channel parameters: they take ``channels=C``; :func:`build_pool` passes it only to those, so a
caller may always give it.

Names (window formula over a window R; ``a_i`` the activations):
  max         y = max_R a_i
  avg         y = mean_R a_i (padded cells not counted)
  sum         y = sum_R a_i
  lp          y = (mean_R |a_i|^p)^(1/p)                      power average (Gulcehre et al. 2014)
  soft        y = sum_R softmax(a)_i a_i, exact gradient       SoftPool (Stergiou et al. 2021)
  soft_paper  SoftPool with the paper's gradient rule g * w_i
  stochastic  train: y = a_j, j ~ relu(a)/sum relu(a); eval: y = sum p_i a_i (Zeiler & Fergus 2013)
  mixed       y = l*max + (1-l)*avg, l fixed or learned        (Yu et al. 2014; Lee et al. 2016)
  gated       y = s*max + (1-s)*avg, s = sigmoid(w . a_R)      (Lee et al. 2016), w per layer
  lip         y = sum_R e^{g(a)_i} a_i / sum_R e^{g(a)_i}, g a small conv   LIP (Gao et al. 2019)
  ada         y = b sum_R softmax(dsc)_i a_i + (1-b) sum_R softmax(a)_i a_i   AdaPool (Stergiou &
              Poppe 2023), dsc_i = 2|a_i m|/(a_i^2 + m^2), m = mean_R a, one learned b per layer
  edscw       y = sum_R softmax(dsc)_i a_i                     AdaPool's eDSCW half alone
"""
from __future__ import annotations

import math
from typing import Callable, Dict, Optional, Sequence, Tuple, Type

import torch
import torch.nn.functional as F
from torch import nn

from ._frontend import (adaptive_output_shape, adaptive_windows, check_ceil_mode, check_output_size,
                        edge_pads, even_kernel, pool_params, unfold_windows, upcast, window_args)
from .nn import AdaptiveSoftPool3d, SoftPool3d
from .adapool import AdaPool, EDSCWPool

__all__ = ["POOLS", "build_pool", "build_adaptive_pool", "pool_names", "adaptive_pool_names",
           "MaxPool", "AvgPool", "SumPool", "LpPool", "SoftPool", "SoftPoolPaper", "StochasticPool",
           "MixedPool", "GatedPool", "LipPool"]

Triple = Tuple[int, int, int]


# ---------------------------------------------------------------------------------------------
# shared helpers

def _window_args(kernel_size, stride, padding) -> Tuple[Triple, Triple, Triple]:
    return window_args(kernel_size, stride, padding, 3, "pool")


def _check_5d(x: torch.Tensor, who: str) -> None:
    if x.dim() != 5:
        raise ValueError(f"{who}: expected a 5D (N, C, T, H, W) input, got shape {tuple(x.shape)}")


def _windows(x: torch.Tensor, kernel, stride, padding, ceil_mode, who):
    """Every pooling window as a last dimension: ``values`` ``(N, C, OT, OH, OW, K)`` (zeros at
    padded cells) and ``valid`` ``(OT, OH, OW, K)`` in ``values``' dtype (1 real cell, 0 padding)."""
    _, _, _, out = pool_params(x.shape[2:], kernel, stride, padding, ceil_mode, who)
    values, valid = unfold_windows(x, kernel, stride, padding, out)
    return values, valid.to(x.dtype)


def _adaptive_sizes(spatial: Sequence[int], output_size) -> Triple:
    return adaptive_output_shape(spatial, output_size, 3, "adaptive pool")


def _adaptive_by_windows(x: torch.Tensor, output_size, fn: Callable) -> torch.Tensor:
    """Adaptive pooling from a window function ``fn(x, kernel, stride) -> y`` (padding 0).

    Sizes that divide the input are one call with kernel = stride = size // out; other sizes pool
    each bin separately (PyTorch's adaptive bins, which may overlap and differ in size).
    """
    _check_5d(x, "adaptive pool")
    spatial = tuple(x.shape[2:])
    out = _adaptive_sizes(spatial, output_size)
    kernel = even_kernel(spatial, out)
    if kernel is not None:
        return fn(x, kernel, kernel)
    planes = []
    for t0, t1 in adaptive_windows(spatial[0], out[0]):
        rows = []
        for h0, h1 in adaptive_windows(spatial[1], out[1]):
            cells = []
            for w0, w1 in adaptive_windows(spatial[2], out[2]):
                block = x[:, :, t0:t1, h0:h1, w0:w1]
                cells.append(fn(block, tuple(block.shape[2:]), tuple(block.shape[2:])))
            rows.append(torch.cat(cells, dim=4))
        planes.append(torch.cat(rows, dim=3))
    return torch.cat(planes, dim=2)


class _WindowPool(nn.Module):
    """Base of the zoo's own window methods: stores the normalised window arguments."""
    adaptive: Optional[Type[nn.Module]] = None
    needs_channels = False

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False):
        super().__init__()
        self.kernel_size, self.stride, self.padding = _window_args(kernel_size, stride, padding)
        self.ceil_mode = check_ceil_mode(ceil_mode, type(self).__name__)

    def _args(self):
        return self.kernel_size, self.stride, self.padding, self.ceil_mode

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"ceil_mode={self.ceil_mode}")


class _AdaptivePool(nn.Module):
    """Base of the zoo's own adaptive forms: stores ``output_size``."""

    def __init__(self, output_size):
        super().__init__()
        check_output_size(output_size, 3, type(self).__name__)
        self.output_size = output_size

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


# ---------------------------------------------------------------------------------------------
# max, avg, sum

class AdaptiveMaxPool(nn.AdaptiveMaxPool3d):
    """Adaptive max pooling (``nn.AdaptiveMaxPool3d``); ``output_size=1`` is global max pooling."""

    def __init__(self, output_size):
        super().__init__(output_size)


class MaxPool(nn.MaxPool3d):
    """y = max_R a_i -- max pooling (``nn.MaxPool3d``; padding acts as -inf)."""
    adaptive = AdaptiveMaxPool
    needs_channels = False

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False):
        kernel, stride_t, pad = _window_args(kernel_size, stride, padding)
        super().__init__(kernel, stride_t, pad, ceil_mode=bool(ceil_mode))


class AdaptiveAvgPool(nn.AdaptiveAvgPool3d):
    """Adaptive average pooling (``nn.AdaptiveAvgPool3d``); ``output_size=1`` is global average."""

    def __init__(self, output_size):
        super().__init__(output_size)


class AvgPool(nn.AvgPool3d):
    """y = mean_R a_i -- average pooling; padded cells are not counted (``count_include_pad=False``
    by default, so that padding means "no cell" as in every other method of the zoo)."""
    adaptive = AdaptiveAvgPool
    needs_channels = False

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = False):
        kernel, stride_t, pad = _window_args(kernel_size, stride, padding)
        super().__init__(kernel, stride_t, pad, ceil_mode=bool(ceil_mode),
                         count_include_pad=count_include_pad)


class AdaptiveSumPool(_AdaptivePool):
    """Adaptive sum pooling: the sum of each adaptive bin (adaptive average x bin volume)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_5d(x, "sum pool")
        spatial = tuple(x.shape[2:])
        out = _adaptive_sizes(spatial, self.output_size)
        y = F.adaptive_avg_pool3d(x, out)
        for dim, (size, o) in enumerate(zip(spatial, out)):
            lengths = torch.tensor([b - a for a, b in adaptive_windows(size, o)], dtype=y.dtype,
                                   device=y.device)
            y = y * lengths.view([-1 if d == dim else 1 for d in range(3)])
        return y


class SumPool(_WindowPool):
    """y = sum_R a_i -- sum pooling (as compared in the SoftPool paper); padded cells add 0."""
    adaptive = AdaptiveSumPool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_5d(x, "sum pool")
        k, s, p, ceil = self._args()
        return F.avg_pool3d(x, k, s, p, ceil, count_include_pad=True, divisor_override=1)


# ---------------------------------------------------------------------------------------------
# power average (Lp)

def lp_pool(x: torch.Tensor, kernel, stride, padding=(0, 0, 0), ceil_mode=False,
            p: float = 2.0) -> torch.Tensor:
    """y = (mean_R |a_i|^p)^(1/p) over each window of ``(N, C, T, H, W)``; padded cells excluded.

    Computed as ``m * (mean_R (|a_i|/m)^p)^(1/p)`` with ``m = max_R |a_i|`` (y is homogeneous in
    a, so a detached ``m`` keeps the exact gradient): no overflow or underflow for any p >= 1, and
    an all-zero window gives 0 with zero gradient. float16/bfloat16 are computed in float32.
    """
    xc = upcast(x)
    values, valid = _windows(xc, kernel, stride, padding, ceil_mode, "lp pool")
    mag = values.abs()
    tiny = torch.finfo(mag.dtype).tiny
    peak = mag.amax(-1, keepdim=True).detach()
    scale = peak.clamp_min(tiny)
    mean = ((mag / scale) ** p * valid).sum(-1) / valid.sum(-1)
    y = scale.squeeze(-1) * mean.clamp_min(tiny) ** (1.0 / p)
    return torch.where(peak.squeeze(-1) > 0, y, torch.zeros_like(y)).to(x.dtype)


def _check_p(p: float) -> float:
    p = float(p)
    if not (p >= 1.0 and math.isfinite(p)):
        raise ValueError(f"lp pooling needs a finite p >= 1, got {p}")
    return p


class AdaptiveLpPool(_AdaptivePool):
    """Adaptive power-average pooling; ``output_size=1`` is the global (mean |a|^p)^(1/p)."""

    def __init__(self, output_size, p: float = 2.0):
        super().__init__(output_size)
        self.p = _check_p(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _adaptive_by_windows(x, self.output_size,
                                    lambda v, k, s: lp_pool(v, k, s, p=self.p))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, p={self.p}"


class LpPool(_WindowPool):
    """y = (mean_R |a_i|^p)^(1/p) -- power-average pooling (Gulcehre et al., "Learned-norm pooling
    for deep feedforward and recurrent neural networks", ECML 2014): p = 1 is average pooling of
    |a|, p -> inf is max pooling of |a|. Meant for non-negative (post-ReLU) input: it pools
    magnitudes, so the sign of negative inputs is lost."""
    adaptive = AdaptiveLpPool

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 p: float = 2.0):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.p = _check_p(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_5d(x, "lp pool")
        k, s, pad, ceil = self._args()
        return lp_pool(x, k, s, pad, ceil, p=self.p)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, p={self.p}"


# ---------------------------------------------------------------------------------------------
# SoftPool

class AdaptiveSoftPool(AdaptiveSoftPool3d):
    """Adaptive SoftPool with the exact gradient; ``output_size=1`` is global SoftPool."""

    def __init__(self, output_size):
        super().__init__(output_size, grad="exact")


class SoftPool(SoftPool3d):
    """y = sum_R softmax(a)_i a_i -- SoftPool (Stergiou et al., "Refining activation downsampling
    with SoftPool", ICCV 2021) with its exact gradient w_i (1 + a_i - y)."""
    adaptive = AdaptiveSoftPool
    needs_channels = False

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False):
        super().__init__(kernel_size, stride, padding, ceil_mode=ceil_mode, grad="exact")


class AdaptiveSoftPoolPaper(AdaptiveSoftPool3d):
    """Adaptive SoftPool with the paper's gradient rule ``g * w_i``."""

    def __init__(self, output_size):
        super().__init__(output_size, grad="paper")


class SoftPoolPaper(SoftPool3d):
    """y = sum_R softmax(a)_i a_i with the paper's backward rule grad a_i = g * w_i (Stergiou et
    al., ICCV 2021; not the derivative of the forward -- for reproducing the paper only)."""
    adaptive = AdaptiveSoftPoolPaper
    needs_channels = False

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False):
        super().__init__(kernel_size, stride, padding, ceil_mode=ceil_mode, grad="paper")


# ---------------------------------------------------------------------------------------------
# stochastic pooling

def stochastic_pool(x: torch.Tensor, kernel, stride, padding=(0, 0, 0), ceil_mode=False,
                    sample: bool = True) -> torch.Tensor:
    """Stochastic pooling of ``(N, C, T, H, W)``.

    Cell i of a window gets probability ``p_i = relu(a_i) / sum_R relu(a_j)``; negative activations
    get probability 0, and a window without a positive activation uses the uniform distribution
    over its (non-padded) cells. ``sample=True`` returns the activation of one cell drawn from
    ``p`` (``torch.rand``: reproducible under ``torch.manual_seed``; the gradient goes to the drawn
    cell, as in max pooling); ``sample=False`` returns the expectation ``sum_R p_i a_i``.
    """
    xc = upcast(x)
    values, valid = _windows(xc, kernel, stride, padding, ceil_mode, "stochastic pool")
    weights = values.clamp_min(0) * valid
    total = weights.sum(-1, keepdim=True)
    weights = torch.where(total > 0, weights, valid.expand_as(weights))
    if not sample:
        y = (weights * values).sum(-1) / weights.sum(-1)
        return y.to(x.dtype)
    cdf = weights.detach().cumsum(-1)
    # u in (0, 1]: the first cell whose cdf reaches u * total has a positive probability
    u = 1.0 - torch.rand(cdf.shape[:-1] + (1,), dtype=cdf.dtype, device=cdf.device)
    index = torch.searchsorted(cdf.contiguous(), (u * cdf[..., -1:]).contiguous())
    index = index.clamp_max(cdf.shape[-1] - 1)
    return values.gather(-1, index).squeeze(-1).to(x.dtype)


class AdaptiveStochasticPool(_AdaptivePool):
    """Adaptive stochastic pooling: one cell per adaptive bin drawn by activation (train), the
    probability-weighted mean (eval)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _adaptive_by_windows(
            x, self.output_size, lambda v, k, s: stochastic_pool(v, k, s, sample=self.training))


class StochasticPool(_WindowPool):
    """train: y = a_j, j ~ p_i = relu(a_i)/sum_R relu(a); eval: y = sum_R p_i a_i -- stochastic
    pooling (Zeiler & Fergus, "Stochastic pooling for regularization of deep convolutional neural
    networks", ICLR 2013). Negative activations get probability 0; a window with no positive
    activation is sampled uniformly (its eval value is the window mean)."""
    adaptive = AdaptiveStochasticPool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_5d(x, "stochastic pool")
        k, s, p, ceil = self._args()
        return stochastic_pool(x, k, s, p, ceil, sample=self.training)


# ---------------------------------------------------------------------------------------------
# mixed and gated max-average pooling

class _MixingWeight(nn.Module):
    """lambda in [0, 1]: a constant, or sigmoid(theta) with a learned scalar theta."""

    def __init__(self, lam: float, learn: bool):
        super().__init__()
        lam = float(lam)
        if not 0.0 <= lam <= 1.0:
            raise ValueError(f"mixed pooling needs 0 <= lam <= 1, got {lam}")
        self.learn = bool(learn)
        if self.learn:
            if not 0.0 < lam < 1.0:
                raise ValueError(f"a learned mixing weight needs 0 < lam < 1, got {lam}")
            self.theta = nn.Parameter(torch.tensor(math.log(lam / (1.0 - lam))))
        else:
            self.lam = lam

    def value(self, like: torch.Tensor):
        return torch.sigmoid(self.theta).to(like.dtype) if self.learn else self.lam

    def extra_repr(self) -> str:
        return "learned" if self.learn else f"lam={self.lam}"


class AdaptiveMixedPool(_AdaptivePool):
    """Adaptive mixed pooling: lambda * adaptive max + (1 - lambda) * adaptive average."""

    def __init__(self, output_size, lam: float = 0.5, learn: bool = True):
        super().__init__(output_size)
        self.mix = _MixingWeight(lam, learn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lam = self.mix.value(x)
        return lam * F.adaptive_max_pool3d(x, self.output_size) + \
            (1 - lam) * F.adaptive_avg_pool3d(x, self.output_size)


class MixedPool(_WindowPool):
    """y = lambda * max_R a + (1 - lambda) * mean_R a -- mixed max-average pooling (Yu et al.,
    "Mixed pooling for CNNs", RSKT 2014; Lee, Gallagher & Tu, "Generalizing pooling functions in
    CNNs: mixed, gated, and tree", AISTATS 2016). ``learn=True`` (default): one lambda per layer,
    ``sigmoid(theta)``, starting at ``lam``; ``learn=False``: the constant ``lam``."""
    adaptive = AdaptiveMixedPool

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 lam: float = 0.5, learn: bool = True):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.mix = _MixingWeight(lam, learn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_5d(x, "mixed pool")
        k, s, p, ceil = self._args()
        lam = self.mix.value(x)
        return lam * F.max_pool3d(x, k, s, p, ceil_mode=ceil) + \
            (1 - lam) * F.avg_pool3d(x, k, s, p, ceil, count_include_pad=False)


class GatedPool(_WindowPool):
    """y = s * max_R a + (1 - s) * mean_R a, s = sigmoid(w . a_R) -- gated max-average pooling
    (Lee, Gallagher & Tu, AISTATS 2016): one learned gate vector w (the window's shape) per layer,
    shared by all channels, applied to each window's content (zero at padded cells). w starts at
    0 (s = 1/2). No adaptive form: w's size is the window's."""
    adaptive = None

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.gate = nn.Parameter(torch.zeros(1, 1, *self.kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_5d(x, "gated pool")
        k, s, p, ceil = self._args()
        _, _, _, out = pool_params(x.shape[2:], k, s, p, ceil, "gated pool")
        pads = edge_pads(x.shape[2:], k, s, p, out)
        n, c = x.shape[:2]
        padded = F.pad(x, pads)
        logits = F.conv3d(padded.reshape(n * c, 1, *padded.shape[2:]), self.gate.to(x.dtype),
                          stride=s)
        gate = torch.sigmoid(logits.reshape(n, c, *out))
        return gate * F.max_pool3d(x, k, s, p, ceil_mode=ceil) + \
            (1 - gate) * F.avg_pool3d(x, k, s, p, ceil, count_include_pad=False)


# ---------------------------------------------------------------------------------------------
# local importance pooling

class _LipLogits(nn.Module):
    """The logit module g: a depthwise conv + bias, squashed to (0, coeff) by coeff * sigmoid."""

    def __init__(self, channels: int, kernel: Triple, coeff: float):
        super().__init__()
        if not isinstance(channels, int) or isinstance(channels, bool) or channels < 1:
            raise ValueError(f"lip pooling needs channels=C (a positive int), got {channels!r}")
        self.conv = nn.Conv3d(channels, channels, kernel, padding=[k // 2 for k in kernel],
                              groups=channels, bias=True)
        self.coeff = float(coeff)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, T, H, W)`` -> importance weights ``exp(g(x))`` in ``[1, e^coeff]``, float32
        or float64."""
        logits = self.conv(x)
        return torch.exp(self.coeff * torch.sigmoid(upcast(logits)))


class AdaptiveLipPool(_AdaptivePool):
    """Adaptive LIP: adaptive_avg(x * e^g) / adaptive_avg(e^g), g from a 3x3x3 depthwise conv."""
    needs_channels = True

    def __init__(self, output_size, *, channels: int, coeff: float = 12.0):
        super().__init__(output_size)
        self.logit = _LipLogits(channels, (3, 3, 3), coeff)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_5d(x, "lip pool")
        w = self.logit(x)
        y = F.adaptive_avg_pool3d(upcast(x) * w, self.output_size) / \
            F.adaptive_avg_pool3d(w, self.output_size)
        return y.to(x.dtype)


class LipPool(_WindowPool):
    """y = sum_R e^{g(a)_i} a_i / sum_R e^{g(a)_i} -- local importance pooling (Gao, Wang & Wu,
    "LIP: Local Importance-based Pooling", ICCV 2019), g = coeff * sigmoid(depthwise conv(a)) (a
    small per-channel logit module: a 3-wide kernel along each dimension the window spans, LIP's
    soft gate with coeff = 12). Needs ``channels``."""
    adaptive = AdaptiveLipPool
    needs_channels = True

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, *,
                 channels: int, coeff: float = 12.0):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        logit_kernel = tuple(3 if k > 1 else 1 for k in self.kernel_size)
        self.logit = _LipLogits(channels, logit_kernel, coeff)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_5d(x, "lip pool")
        k, s, p, ceil = self._args()
        w = self.logit(x)
        # zero padding in both sums: padded cells get weight 0
        num = F.avg_pool3d(upcast(x) * w, k, s, p, ceil, count_include_pad=True)
        den = F.avg_pool3d(w, k, s, p, ceil, count_include_pad=True)
        return (num / den).to(x.dtype)


# ---------------------------------------------------------------------------------------------
# registry

POOLS: Dict[str, Type[nn.Module]] = {
    "max": MaxPool,
    "avg": AvgPool,
    "sum": SumPool,
    "lp": LpPool,
    "soft": SoftPool,
    "soft_paper": SoftPoolPaper,
    "stochastic": StochasticPool,
    "mixed": MixedPool,
    "gated": GatedPool,
    "lip": LipPool,
    "ada": AdaPool,
    "edscw": EDSCWPool,
}


def pool_names() -> Tuple[str, ...]:
    """Every registered pooling method."""
    return tuple(POOLS)


def adaptive_pool_names() -> Tuple[str, ...]:
    """The methods with an adaptive/global form."""
    return tuple(name for name, cls in POOLS.items() if getattr(cls, "adaptive", None) is not None)


def _lookup(name: str) -> Type[nn.Module]:
    try:
        return POOLS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown pooling method {name!r}; valid names: "
                         f"{', '.join(POOLS)}") from None


def _with_channels(cls, name: str, kw: dict) -> dict:
    kw = dict(kw)
    channels = kw.pop("channels", None)
    if getattr(cls, "needs_channels", False):
        if channels is None:
            raise ValueError(f"pooling method {name!r} has per-channel parameters: pass channels=C "
                             f"(the number of input channels)")
        kw["channels"] = int(channels)
    return kw


def build_pool(name: str, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               **kw) -> nn.Module:
    """A window pooling module of method ``name`` for ``(N, C, T, H, W)`` input, with max pooling's
    output shape for the same arguments. ``kw`` are the method's options (e.g. ``p`` for lp,
    ``lam``/``learn`` for mixed); ``channels`` is passed only to methods that need it."""
    cls = _lookup(name)
    return cls(kernel_size, stride, padding, ceil_mode, **_with_channels(cls, name, kw))


def build_adaptive_pool(name: str, output_size, **kw) -> nn.Module:
    """The adaptive form of method ``name`` (``output_size=1``: global pooling to ``(N, C, 1, 1,
    1)``); ValueError naming the methods that have one if ``name`` does not."""
    cls = _lookup(name)
    adaptive = getattr(cls, "adaptive", None)
    if adaptive is None:
        raise ValueError(f"pooling method {name!r} has no adaptive/global form; methods with one: "
                         f"{', '.join(adaptive_pool_names())}")
    return adaptive(output_size, **_with_channels(adaptive, name, kw))
