"""The one argument/window helper of softpool3d: argument normalisation and checks, output sizes,
pooling and adaptive windows, and the shape handling that lets 1D/2D/unbatched inputs run through a
5D backend. Shared by the compiled ops, the reference, the modules and the pooling zoo.

Conventions follow ``torch.nn.functional.max_pool3d``: ints or tuples, ``stride=None`` means
``stride=kernel_size``, ``padding <= kernel_size // 2``, the same output-size rule with ``ceil_mode``.
Every error is raised here, early, with a message that names the offending argument.

A backend is ``pool5d(x, kernel, stride, padding, ceil_mode, out_shape, paper) -> y``, with
3-tuples and a 5D input; ``out_shape`` is the validated ``(OD, OH, OW)``.
"""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

IntOrTuple = Union[int, Sequence[int]]
GRAD_MODES = ("exact", "paper")


def to_tuple(value: IntOrTuple, n: int, name: str, minimum: int) -> Tuple[int, ...]:
    """``value`` as an ``n``-tuple of ints, each ``>= minimum``; ValueError naming ``name`` otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an int or a tuple of {n} ints, got {value!r}")
    if isinstance(value, int) or (isinstance(value, torch.SymInt)):
        values = (value,) * n
    else:
        try:
            values = tuple(value)
        except TypeError:
            raise ValueError(f"{name} must be an int or a tuple of {n} ints, got {value!r}") from None
        if len(values) == 1:
            values = values * n
    if len(values) != n:
        raise ValueError(f"{name} must have {n} values (or 1), got {len(values)}: {value!r}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, torch.SymInt)):
            # any integer-like (numpy integers: whatever has __index__) is an int, as in torch's pools
            if hasattr(v, "__index__"):
                v = int(v.__index__())
            else:
                raise ValueError(f"{name} must contain ints, got {value!r}")
        if v < minimum:
            raise ValueError(f"{name} values must be >= {minimum}, got {value!r}")
        out.append(v)
    return tuple(out)


def pooled_size(size: int, kernel: int, stride: int, padding: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output-size rule (aten/src/ATen/native/Pool.h, dilation 1)."""
    numerator = size + 2 * padding - kernel + ((stride - 1) if ceil_mode else 0)
    out = numerator // stride + 1
    # With ceil_mode the last window must start inside the input or the left padding.
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def check_input(input: torch.Tensor, spatial_dims: int, fn: str) -> bool:
    """Validate dtype/ndim of an ``(N, C, *spatial)`` or ``(C, *spatial)`` input; return ``batched``."""
    if not isinstance(input, torch.Tensor):
        raise TypeError(f"{fn}: input must be a torch.Tensor, got {type(input).__name__}")
    if not input.is_floating_point():
        raise TypeError(f"{fn}: input must be a floating-point tensor (float16, bfloat16, float32, "
                        f"float64), got {input.dtype}")
    if input.dim() not in (spatial_dims + 1, spatial_dims + 2):
        names = "DHW"[3 - spatial_dims:]
        raise ValueError(f"{fn}: expected a {spatial_dims + 2}D (N, C, {', '.join(names)}) or "
                         f"{spatial_dims + 1}D (C, {', '.join(names)}) input, got shape "
                         f"{tuple(input.shape)}")
    return input.dim() == spatial_dims + 2


def window_args(kernel_size: IntOrTuple, stride, padding, n: int, fn: str):
    """Normalised ``(kernel, stride, padding)`` ``n``-tuples, with max pooling's padding rule."""
    kernel = to_tuple(kernel_size, n, "kernel_size", 1)
    stride_t = kernel if stride is None or (not isinstance(stride, int) and len(stride) == 0) \
        else to_tuple(stride, n, "stride", 1)
    pad = to_tuple(padding, n, "padding", 0)
    for k, p in zip(kernel, pad):
        if p > k // 2:
            raise ValueError(f"{fn}: padding {pad} must be at most half of kernel_size {kernel}")
    return kernel, stride_t, pad


def check_dilation(dilation: IntOrTuple, n: int, fn: str) -> Tuple[int, ...]:
    """``dilation`` as an ``n``-tuple; SoftPool windows are dense, so only 1 is accepted."""
    values = to_tuple(dilation, n, "dilation", 1)
    if any(d != 1 for d in values):
        raise ValueError(f"{fn}: dilation must be 1 (SoftPool windows are dense), got {dilation!r}")
    return values


def check_no_indices(return_indices: bool, fn: str) -> None:
    """SoftPool has no argmax: every cell of a window contributes to the output."""
    if return_indices:
        raise ValueError(f"{fn}: return_indices must be False (SoftPool has no indices: every "
                         "cell of a window contributes)")


def check_ceil_mode(ceil_mode, fn: str) -> bool:
    """``ceil_mode`` as a bool; anything but a bool (or a numpy bool, 0, 1) is a TypeError, as in
    ``F.max_pool3d`` (a string such as ``'no'`` would otherwise read as True)."""
    if isinstance(ceil_mode, bool) or type(ceil_mode).__name__ == "bool_":
        return bool(ceil_mode)
    if isinstance(ceil_mode, int) and ceil_mode in (0, 1):
        return bool(ceil_mode)
    raise TypeError(f"{fn}: ceil_mode must be a bool, got {ceil_mode!r}")


class PoolModuleArgs:
    """Mixin of the pooling modules (before ``nn.Module``): ``class X(Base, dims=n, fn=f)`` sets
    the number of spatial dims and the function ``forward`` calls (a subclass naming neither keeps
    its parent's); it sets and shows the checked window or adaptive output size."""
    _dims = 3
    _fn = None

    def __init_subclass__(cls, dims: Optional[int] = None, fn: Optional[Callable] = None,
                          **kwargs):
        super().__init_subclass__(**kwargs)
        if dims is not None:
            cls._dims = dims
        if fn is not None:
            cls._fn = staticmethod(fn)

    def _set_window(self, kernel_size, stride, padding, dilation, return_indices, ceil_mode):
        """The window attributes, checked as ``F.max_pool{n}d``'s (dilation 1, no indices)."""
        fn = type(self).__name__
        self.kernel_size, self.stride, self.padding = window_args(
            kernel_size, stride, padding, self._dims, fn)
        self.dilation = check_dilation(dilation, self._dims, fn)
        check_no_indices(return_indices, fn)
        self.return_indices = False
        self.ceil_mode = check_ceil_mode(ceil_mode, fn)

    def _set_output_size(self, output_size, return_indices):
        """An adaptive module's checked ``output_size`` (no indices)."""
        fn = type(self).__name__
        check_output_size(output_size, self._dims, fn)
        check_no_indices(return_indices, fn)
        self.output_size = output_size
        self.return_indices = False

    def _window_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"ceil_mode={self.ceil_mode}")


def pool_params(spatial_shape: Sequence[int], kernel_size: IntOrTuple, stride, padding,
                ceil_mode: bool, fn: str):
    """Normalise and validate pooling arguments for the given spatial shape.

    Returns ``(kernel, stride, padding, output_shape)`` as tuples with ``len(spatial_shape)`` entries.
    """
    ceil_mode = check_ceil_mode(ceil_mode, fn)
    kernel, stride_t, pad = window_args(kernel_size, stride, padding, len(spatial_shape), fn)
    out_shape = []
    if any(size <= 0 for size in spatial_shape):
        raise ValueError(f"{fn}: spatial dimensions must be non-empty, got {tuple(spatial_shape)}")
    for size, k, s, p in zip(spatial_shape, kernel, stride_t, pad):
        # As in max pooling, a kernel larger than the padded input is legal where ceil_mode still
        # gives an output (its one window holds every real cell); else the output would be empty.
        out = pooled_size(size, k, s, p, ceil_mode)
        if out < 1:
            raise ValueError(f"{fn}: kernel_size {kernel} is larger than the padded input "
                             f"{tuple(spatial_shape)} (padding {pad}, ceil_mode={ceil_mode}): "
                             "the output would be empty")
        out_shape.append(out)
    return kernel, stride_t, pad, tuple(out_shape)


def check_grad_mode(grad: str) -> bool:
    """Return True for the paper's gradient rule, False for the exact derivative."""
    if grad not in GRAD_MODES:
        raise ValueError(f"grad must be one of {GRAD_MODES}, got {grad!r}")
    return grad == "paper"


def memory_format_of(input: torch.Tensor) -> torch.memory_format:
    """The layout the kernels compute in (and give the output): channels_last_3d or contiguous.

    Mirrors ``softpool::memory_format_of`` in csrc/softpool.h; any other strides are copied first.
    """
    if input.dim() == 5 and not input.is_contiguous() and \
            input.is_contiguous(memory_format=torch.channels_last_3d):
        return torch.channels_last_3d
    return torch.contiguous_format


def acc_dtype(dtype: torch.dtype) -> torch.dtype:
    """The kernels' accumulation dtype for an input dtype (``at::toOpMathType``): float64 for
    float64, else float32; the dtype of their saved statistics."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def upcast(x: torch.Tensor) -> torch.Tensor:
    """float16/bfloat16 computed in float32 (rounded once by the caller); other dtypes as they are."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def edge_pads(spatial: Sequence[int], kernel, stride, padding, out_shape) -> List[int]:
    """``F.pad`` amounts (last dim first) that put every window of a pooling output of
    ``out_shape`` inside the padded tensor (left: ``padding``; right: what ``ceil_mode`` needs)."""
    pads = [(p, max(0, (o - 1) * s + k - size - p))
            for size, k, s, p, o in zip(spatial, kernel, stride, padding, out_shape)]
    return [v for pair in reversed(pads) for v in pair]


def unfold_windows(x: torch.Tensor, kernel, stride, padding, out_shape, fill: float = 0.0):
    """Every 3D pooling window of ``x`` ``(N, C, D, H, W)`` as a last dimension.

    Returns ``values`` ``(N, C, OD, OH, OW, K)`` (``fill`` at padded cells) and ``valid``
    ``(OD, OH, OW, K)`` bool (False at padded cells), K = kD*kH*kW.
    """
    pads = edge_pads(x.shape[2:], kernel, stride, padding, out_shape)
    values = F.pad(x, pads, value=fill)
    valid = F.pad(torch.ones(x.shape[2:], dtype=torch.bool, device=x.device), pads, value=False)
    for dim, (k, s, o) in enumerate(zip(kernel, stride, out_shape)):
        values = values.unfold(2 + dim, k, s).narrow(2 + dim, 0, o)
        valid = valid.unfold(dim, k, s).narrow(dim, 0, o)
    return values.flatten(-3), valid.flatten(-3)


Backend = Callable[..., torch.Tensor]


def _to_5d(input: torch.Tensor, n: int, batched: bool) -> torch.Tensor:
    x = input if batched else input.unsqueeze(0)
    for _ in range(3 - n):  # (N, C, H, W) -> (N, C, 1, H, W); (N, C, L) -> (N, C, 1, 1, L)
        x = x.unsqueeze(2)
    return x


def _from_5d(y: torch.Tensor, n: int, batched: bool) -> torch.Tensor:
    for _ in range(3 - n):
        y = y.squeeze(2)
    return y if batched else y.squeeze(0)


def soft_pool_nd(backend: Backend, input: torch.Tensor, n: int, kernel_size, stride, padding,
                 ceil_mode: bool, grad: str, fn: str) -> torch.Tensor:
    """Validate, lift to 5D, run ``backend``, restore the caller's shape."""
    batched = check_input(input, n, fn)
    paper = check_grad_mode(grad)
    kernel, stride_t, pad, out_shape = pool_params(input.shape[-n:], kernel_size, stride, padding,
                                                   ceil_mode, fn)
    lift = (1,) * (3 - n)
    x = _to_5d(input, n, batched)
    y = backend(x, lift + kernel, lift + stride_t, (0,) * (3 - n) + pad, bool(ceil_mode),
                lift + out_shape, paper)
    return _from_5d(y, n, batched)


def even_kernel(spatial: Sequence[int], out: Sequence[int]) -> Optional[Tuple[int, ...]]:
    """Adaptive pooling's fast case: kernel = stride = ``in // out`` where every size divides
    evenly (one windowed call), else None (the bins of ``adaptive_windows``, pooled one by one)."""
    if all(i % o == 0 for i, o in zip(spatial, out)):
        return tuple(i // o for i, o in zip(spatial, out))
    return None


def adaptive_windows(in_size: int, out_size: int):
    """Adaptive pooling windows ``[start, end)`` (torch's rule: floor / ceil of i * in / out)."""
    return [((i * in_size) // out_size, -((-(i + 1) * in_size) // out_size)) for i in range(out_size)]


def check_output_size(output_size, n: int, fn: str) -> Tuple[Optional[int], ...]:
    """An adaptive ``output_size`` (an int >= 1, or ``n`` values each an int >= 1 or None, None
    keeping the input's size) as an ``n``-tuple; ValueError naming it otherwise."""
    bad = ValueError(f"{fn}: output_size must be an int >= 1 or a tuple of {n} ints >= 1 or None, "
                     f"got {output_size!r}")
    if output_size is None or isinstance(output_size, (bool, float, str)):
        raise bad
    try:
        sizes = (output_size,) * n if not hasattr(output_size, "__iter__") else tuple(output_size)
    except TypeError:
        raise bad from None
    if len(sizes) == 1:
        sizes = sizes * n
    if len(sizes) != n:
        raise bad
    for s in sizes:
        if s is not None and (isinstance(s, (bool, float)) or not hasattr(s, "__index__")
                              or s.__index__() < 1):
            raise bad
    return tuple(None if s is None else int(s.__index__()) for s in sizes)


def adaptive_output_shape(spatial: Sequence[int], output_size, n: int, fn: str) -> Tuple[int, ...]:
    """The adaptive output shape for an input of spatial shape ``spatial`` (None keeps a size)."""
    sizes = check_output_size(output_size, n, fn)
    if any(s <= 0 for s in spatial):
        raise ValueError(f"{fn}: spatial dimensions must be non-empty, got {tuple(spatial)}")
    return tuple(dim if s is None else s for s, dim in zip(sizes, spatial))


def adaptive_soft_pool_nd(backend: Backend, generic: Callable, input: torch.Tensor, n: int,
                          output_size, grad: str, fn: str) -> torch.Tensor:
    """Adaptive SoftPool. Evenly dividing sizes run ``backend`` with kernel = stride = in // out;
    other sizes run ``generic(x5, windows_per_dim, paper)`` (the reference's window loop)."""
    batched = check_input(input, n, fn)
    paper = check_grad_mode(grad)
    spatial = tuple(input.shape[-n:])
    out = adaptive_output_shape(spatial, output_size, n, fn)
    x = _to_5d(input, n, batched)
    if torch.jit.is_tracing():
        return _from_5d(_traced_adaptive(x, out, n, paper, fn), n, batched)
    full_spatial = tuple(x.shape[2:])
    full_out = (1,) * (3 - n) + out
    kernel = even_kernel(full_spatial, full_out)
    if kernel is not None:
        y = backend(x, kernel, kernel, (0, 0, 0), False, full_out, paper)
    else:
        windows = [adaptive_windows(i, o) for i, o in zip(full_spatial, full_out)]
        y = generic(x, windows, paper)
    return _from_5d(y, n, batched)


def _traced_adaptive(x: torch.Tensor, out: Sequence[int], n: int, paper: bool,
                     fn: str) -> torch.Tensor:
    """Adaptive SoftPool under ``torch.jit.trace`` (also fvcore's FLOP counting).

    A trace freezes every window computed from the input's shape, so a graph traced at one size
    would silently give wrong values at another. Global pooling (every output size 1) is traced
    as a softmax over the flattened window, a graph valid at every size; other output sizes cannot
    be traced shape-generically and raise here, at trace time.
    """
    if any(o != 1 for o in out):
        raise RuntimeError(
            f"{fn}: torch.jit.trace cannot record adaptive SoftPool to output_size {tuple(out)} "
            "shape-generically (its windows depend on the input size); use output_size=1, "
            "torch.compile, or eager mode")
    flat = upcast(x).flatten(2)
    weights = torch.softmax(flat, dim=-1)
    if paper:
        weights = weights.detach()
    y = (weights * flat).sum(-1).to(x.dtype)
    return y.reshape(y.shape + (1,) * 3)
