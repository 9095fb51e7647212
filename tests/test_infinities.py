"""Infinities and NaN as limits, the same in the CPU kernel, the CUDA device
bodies and the reference: -inf elements get weight 0 (gradient 0); a window whose max is +inf, or
that is all -inf, returns that infinity and its elements equal to it share the gradient (g / count,
the limit along equal values; other elements get 0); NaN propagates to its window's output and
gradients."""
import pytest
import torch

import softpool3d
from softpool3d import reference
from _infinity_cases import INF, check, limit, run, windows_tensor
from _pool_cases import TOL
from _testing_ops import ops, require

pytestmark = pytest.mark.skipif(not softpool3d.ops.has_kernel("cpu"),
                                reason="the compiled extension is required for these tests")


@pytest.mark.parametrize("paper", [False, True], ids=["exact", "paper"])
@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
@pytest.mark.parametrize("dtype", list(TOL), ids=str)
def test_kernel(dtype, channels_last, paper):
    x = windows_tensor(dtype)
    if dtype == torch.float16:  # 3e38 overflows float16: keep the float16 cases representable
        x = torch.where(x.abs() > 6e4, x.sign() * 6e4, x)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    y, gx = run(softpool3d.soft_pool3d, x, paper)
    if dtype != torch.float16:
        check(y, gx, paper, dtype, TOL[dtype])
    y_ref, gx_ref = run(reference.soft_pool3d, x.double(), paper)
    assert torch.allclose(y.double(), y_ref, rtol=TOL[dtype], equal_nan=True)
    assert torch.allclose(gx.double(), gx_ref, rtol=TOL[dtype], atol=TOL[dtype], equal_nan=True)


@pytest.mark.parametrize("paper", [False, True], ids=["exact", "paper"])
def test_reference(paper):
    x = windows_tensor(torch.float64)
    y, gx = run(reference.soft_pool3d, x, paper)
    check(y, gx, paper, torch.float64, 1e-12)


@pytest.mark.parametrize("bits", [32, 64])
@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16], ids=str)
def test_device_bodies(dtype, channels_last, bits):
    require()
    x = windows_tensor(dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    args = ([1, 1, 3], [1, 1, 3], [0, 0, 0])
    for paper in (False, True):
        y, lse = ops.device_body_forward(x, *args, False, bits, 3, 4)
        gx = ops.device_body_backward(torch.ones_like(y), x, y, lse, *args, paper, bits, 3, 4)
        check(y, gx, paper, dtype, TOL[dtype])


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
