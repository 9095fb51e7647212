"""Infinities and NaN as limits (issue 13, item 8), the same in the CPU kernel, the CUDA device
bodies and the reference: -inf elements get weight 0 (gradient 0); a window whose max is +inf, or
that is all -inf, returns that infinity and its elements equal to it share the gradient (g / count,
the limit along equal values; other elements get 0); NaN propagates to its window's output and
gradients."""
import math

import pytest
import torch

import softpool3d
from softpool3d import reference

pytestmark = pytest.mark.skipif(not softpool3d.ops.has_kernel("cpu"),
                                reason="the compiled extension is required for these tests")
INF, NAN = math.inf, math.nan

# Windows of 3 (the last cell of shorter windows is -inf padding-free filler: see _pad3)
WINDOWS = [
    [INF, 1.0, -2.0],        # +inf wins outright
    [INF, INF, 2.0],         # two +inf share the weight
    [-INF, 1.0, 2.0],        # -inf has weight 0: the finite SoftPool of [1, 2]
    [-INF, -INF, -INF],      # all -inf: -inf, equal shares
    [INF, -INF, 0.5],        # both infinities
    [NAN, 1.0, 2.0],         # NaN propagates
    [INF, NAN, 1.0],
    [-INF, NAN, -INF],
    [0.3, -1.2, 2.0],        # an ordinary window
    [3e38, INF, -3e38],      # huge finite values beside +inf
    [-INF, 7.0, -INF],       # one finite element left
]


def limit(vals, paper=False):
    """Independent scalar oracle: (y, dy/da) of one window under the limit semantics."""
    if any(math.isnan(v) for v in vals):
        return NAN, [NAN] * len(vals)
    top = max(vals)
    if math.isinf(top):
        ties = [v == top for v in vals]
        return top, [1.0 / sum(ties) if t else 0.0 for t in ties]
    e = [math.exp(v - top) if v != -INF else 0.0 for v in vals]
    w = [ei / sum(e) for ei in e]
    y = sum(wi * v for wi, v in zip(w, vals) if wi > 0)
    return y, [wi if paper else wi * (1 + v - y) if wi > 0 else 0.0 for wi, v in zip(w, vals)]


def windows_tensor(dtype, channels=2):
    """(1, C, 1, 1, 3 * len(WINDOWS)); channel c holds the windows scaled by a sign-free copy."""
    row = torch.tensor([v for w in WINDOWS for v in w], dtype=torch.float64)
    return row.view(1, 1, 1, 1, -1).repeat(1, channels, 1, 1, 1).to(dtype)


def expected(paper, dtype):
    ys, gs = zip(*(limit([float(torch.tensor(v, dtype=dtype)) for v in w], paper) for w in WINDOWS))
    return torch.tensor(ys, dtype=torch.float64), torch.tensor([g for gw in gs for g in gw],
                                                               dtype=torch.float64)


def check(y, gx, paper, dtype, tol):
    y_want, g_want = expected(paper, dtype)
    for c in range(y.shape[1]):
        got_y, got_g = y[0, c].flatten().double(), gx[0, c].flatten().double()
        for got, want in ((got_y, y_want), (got_g, g_want)):
            same = (got == want) | (torch.isnan(got) & torch.isnan(want))
            near = (got - want).abs() <= tol * (1 + want.abs())
            assert (same | near).all(), f"\n got {got.tolist()}\nwant {want.tolist()}"


def run(fn, x, paper):
    x = x.clone().requires_grad_()
    y = fn(x, (1, 1, 3), grad="paper" if paper else "exact")
    y.backward(torch.ones_like(y))
    return y.detach(), x.grad


TOLS = {torch.float64: 1e-12, torch.float32: 1e-6, torch.float16: 2e-3, torch.bfloat16: 1.6e-2}


@pytest.mark.parametrize("paper", [False, True], ids=["exact", "paper"])
@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
@pytest.mark.parametrize("dtype", list(TOLS), ids=str)
def test_kernel(dtype, channels_last, paper):
    x = windows_tensor(dtype)
    if dtype == torch.float16:  # 3e38 overflows float16: keep the float16 cases representable
        x = torch.where(x.abs() > 6e4, x.sign() * 6e4, x)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    y, gx = run(softpool3d.soft_pool3d, x, paper)
    if dtype != torch.float16:
        check(y, gx, paper, dtype, TOLS[dtype])
    y_ref, gx_ref = run(reference.soft_pool3d, x.double(), paper)
    assert torch.allclose(y.double(), y_ref, rtol=TOLS[dtype], equal_nan=True)
    assert torch.allclose(gx.double(), gx_ref, rtol=TOLS[dtype], atol=TOLS[dtype], equal_nan=True)


@pytest.mark.parametrize("paper", [False, True], ids=["exact", "paper"])
def test_reference(paper):
    x = windows_tensor(torch.float64)
    y, gx = run(reference.soft_pool3d, x, paper)
    check(y, gx, paper, torch.float64, 1e-12)


@pytest.mark.parametrize("bits", [32, 64])
@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16], ids=str)
def test_device_bodies(dtype, channels_last, bits):
    x = windows_tensor(dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    ops = torch.ops.softpool3d
    args = ([1, 1, 3], [1, 1, 3], [0, 0, 0])
    for paper in (False, True):
        y, lse = ops._device_body_forward(x, *args, False, bits, 3, 4)
        gx = ops._device_body_backward(torch.ones_like(y), x, y, lse, *args, paper, bits, 3, 4)
        check(y, gx, paper, dtype, TOLS[dtype])


def test_padding_next_to_infinities():
    """Padded cells keep weight 0 beside -inf: an all -inf window with padding is still -inf."""
    x = torch.tensor([-INF, -INF, 1.0, INF], dtype=torch.float64).view(1, 1, 1, 1, 4)
    for fn in (softpool3d.soft_pool3d, reference.soft_pool3d):
        xg = x.clone().requires_grad_()
        y = fn(xg, (1, 1, 3), (1, 1, 2), (0, 0, 1), True)
        y.backward(torch.ones_like(y))
        assert y.flatten().tolist() == [-INF, INF, INF]
        # windows: [pad, -inf, -inf], [-inf, 1, inf], [inf, pad]
        assert xg.grad.flatten().tolist() == [0.5, 0.5, 0.0, 2.0]


def test_adaptive_at_non_dividing_sizes():
    """The reference window path (sizes that do not divide) and the kernel path agree."""
    x = torch.tensor([-INF, 1.0, 2.0, -INF, 3.0, INF, -INF], dtype=torch.float64)
    x = x.view(1, 1, 1, 1, 7)
    y = softpool3d.adaptive_soft_pool3d(x, (1, 1, 3))  # windows [0, 3), [2, 5), [4, 7)
    want = [limit([-INF, 1.0, 2.0])[0], limit([2.0, -INF, 3.0])[0], INF]
    assert y.flatten().tolist() == pytest.approx(want, rel=1e-12)
    y7 = softpool3d.adaptive_soft_pool3d(x[..., :6], (1, 1, 2))  # divides: the kernel
    assert y7.flatten().tolist() == pytest.approx([limit([-INF, 1.0, 2.0])[0], INF], rel=1e-12)
