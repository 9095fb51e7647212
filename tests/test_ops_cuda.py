"""The CUDA kernels: against the float64 reference and the CPU kernel, every dtype and layout,
gradcheck, determinism, extreme values, 64-bit indexing, opcheck and torch.compile.
Skipped without a GPU (tools/gpu_check.sh runs them on a lent H100/H200)."""
import os

import pytest
import torch

import softpool3d
from softpool3d import reference
from _infinity_cases import check, run, windows_tensor
from _pool_cases import CASES, TOL, assert_close_to, case_input, each_case

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.mark.skipif(os.environ.get("SOFTPOOL_EXPECT_CUDA") != "1",
                    reason="set SOFTPOOL_EXPECT_CUDA=1 where the build had a CUDA toolkit (CI does)")
def test_cuda_kernels_are_built():
    assert softpool3d.ops.has_kernel("cuda"), "the extension was built without its CUDA kernels"


def _run(x, k, s, p, ceil, grad, g):
    x = x.detach().clone().requires_grad_()
    y = softpool3d.soft_pool3d(x, k, s, p, ceil, grad)
    y.backward(g.to(device=x.device, dtype=x.dtype))
    return y, x.grad


@cuda
@each_case(CASES, grad=["exact", "paper"])
def test_cuda_matches_reference_and_cpu(case, grad, channels_last, dtype):
    shape, k, s, p, ceil = case
    x = case_input(shape, dtype, channels_last, torch.Generator().manual_seed(1))
    xr = x.double().requires_grad_()
    y_ref = reference.soft_pool3d(xr, k, s, p, ceil, grad)
    g = torch.randn(y_ref.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    y_ref.backward(g)
    y, gx = _run(x.cuda(), k, s, p, ceil, grad, g)
    assert y.is_cuda and y.dtype == dtype
    assert_close_to(y.cpu(), y_ref, dtype)
    assert_close_to(gx.cpu(), xr.grad, dtype)
    y_cpu, gx_cpu = _run(x, k, s, p, ceil, grad, g)
    assert_close_to(y.cpu(), y_cpu.double(), dtype)
    assert_close_to(gx.cpu(), gx_cpu.double(), dtype)
    if channels_last and shape[1] > 1:
        assert y.is_contiguous(memory_format=torch.channels_last_3d)
        assert gx.is_contiguous(memory_format=torch.channels_last_3d)


@cuda
def test_cuda_gradcheck_float64():
    x = torch.randn(2, 3, 4, 5, 5, dtype=torch.float64, device="cuda", requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: softpool3d.soft_pool3d(t, 3, 2, 1, True), (x,))
    xc = x.detach().contiguous(memory_format=torch.channels_last_3d).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: softpool3d.soft_pool3d(t, 2, 1), (xc,))


@cuda
@pytest.mark.parametrize("channels_last", [False, True])
def test_cuda_backward_bitwise_deterministic(channels_last):
    x = torch.randn(4, 32, 8, 28, 28, device="cuda")
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    x.requires_grad_()
    grads = []
    for _ in range(3):
        x.grad = None
        y = softpool3d.soft_pool3d(x, 3, 1, 1)
        y.backward(torch.full_like(y, 0.37))
        grads.append(x.grad.clone())
    assert all(torch.equal(grads[0], g) for g in grads[1:])


@cuda
@pytest.mark.parametrize("dtype,magnitude", [(torch.float32, 1e4), (torch.float32, 1e30),
                                             (torch.float16, 6e4), (torch.bfloat16, 3e38)])
def test_cuda_extreme_magnitudes(dtype, magnitude):
    x = ((torch.rand(2, 3, 4, 6, 6, generator=torch.Generator().manual_seed(0)) * 2 - 1)
         .double() * magnitude).to(dtype)
    y = softpool3d.soft_pool3d(x.cuda(), 3, 2, 1, True)
    assert torch.isfinite(y).all()
    assert_close_to(y.cpu(), reference.soft_pool3d(x.double(), 3, 2, 1, True), dtype)


@cuda
def test_cuda_int64_indexing():
    """More than 2^31 elements: windows at the far end must be right (32-bit offsets would wrap)."""
    free, _ = torch.cuda.mem_get_info()
    shape = (1, 2, 64, 4096, 4100)  # 2.15e9 elements, 4.3 GB in float16
    need = 2 * (2 * 64 * 4096 * 4100) * 2
    if free < need * 1.5:
        pytest.skip(f"needs {need * 1.5 / 2**30:.1f} GiB free GPU memory")
    x = torch.randn(shape, device="cuda", dtype=torch.float16)
    assert x.numel() > 2**31
    x.requires_grad_()
    y = softpool3d.soft_pool3d(x, 2)
    y.backward(torch.ones_like(y))
    tail = x.detach()[:, :, -2:, -2:, -4:].double()
    assert_close_to(y[:, :, -1:, -1:, -2:].detach().cpu(), reference.soft_pool3d(tail.cpu(), 2),
                    torch.float16)
    # exact gradient of a window with grad_output 1 sums to 1
    assert x.grad[:, :, -2:, -2:, -2:].double().sum().item() == pytest.approx(2.0, rel=1e-2)


@cuda
def test_cuda_32bit_indexing_past_2_30():
    """2^30 < numel < 2^31 takes the 32-bit path, and a one-pass grid makes i + gridDim*blockDim
    exceed 2^31: with a 32-bit loop counter that wrapped negative."""
    free, _ = torch.cuda.mem_get_info()
    shape = (1, 2, 64, 4096, 2100)  # 1.10e9 elements, 2.2 GB in bfloat16
    numel = 2 * 64 * 4096 * 2100
    assert 2**30 < numel < 2**31
    if free < 3 * numel * 2 * 1.5:
        pytest.skip("needs about 10 GiB free GPU memory")
    x = torch.randn(shape, device="cuda", dtype=torch.bfloat16).requires_grad_()
    y = softpool3d.soft_pool3d(x, 2)
    y.backward(torch.ones_like(y))
    torch.cuda.synchronize()
    assert torch.isfinite(y).all() and torch.isfinite(x.grad).all()
    tail = x.detach()[:, :, -2:, -2:, -4:].double().cpu()
    assert_close_to(y[:, :, -1:, -1:, -2:].detach().cpu(), reference.soft_pool3d(tail, 2),
                    torch.bfloat16)
    # the exact gradients of each window sum to 1 (grad_output 1): total = number of windows
    assert x.grad.double().sum().item() == pytest.approx(y.numel(), rel=1e-2)


@cuda
def test_cuda_backward_checks_devices():
    x = torch.randn(1, 2, 4, 4, 4, device="cuda")
    args = ([2, 2, 2], [2, 2, 2], [0, 0, 0])
    y, lse = torch.ops.softpool3d.soft_pool_forward(x, *args, False, False)
    with pytest.raises(RuntimeError, match="device"):
        torch.ops.softpool3d.soft_pool_backward(torch.ones_like(y).cpu(), x, y, lse, *args, False)
    with pytest.raises(RuntimeError, match="device"):
        torch.ops.softpool3d.soft_pool_backward(torch.ones_like(y), x, y, lse.cpu(), *args, False)


@cuda
@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
def test_cuda_infinities_as_limits(channels_last):
    for dtype in (torch.float64, torch.float32, torch.bfloat16):
        x = windows_tensor(dtype).cuda()
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        for paper in (False, True):
            y, gx = run(softpool3d.soft_pool3d, x, paper)
            check(y.cpu(), gx.cpu(), paper, dtype, TOL[dtype])


@cuda
def test_cuda_opcheck_and_compile():
    x = torch.randn(2, 3, 5, 6, 7, device="cuda", requires_grad=True)
    torch.library.opcheck(torch.ops.softpool3d.soft_pool_forward.default,
                          (x, [3, 3, 3], [2, 2, 2], [1, 1, 1], True, False))
    f = torch.compile(lambda t: softpool3d.soft_pool3d(t.relu(), 2).sum(), fullgraph=True)
    (g1,) = torch.autograd.grad(f(x), x)
    (g2,) = torch.autograd.grad(softpool3d.soft_pool3d(x.relu(), 2).sum(), x)
    assert torch.allclose(g1, g2)


@cuda
def test_cuda_empty_and_stream():
    x = torch.randn(0, 3, 4, 4, 4, device="cuda")
    assert softpool3d.soft_pool3d(x, 2).shape == (0, 3, 2, 2, 2)
    stream = torch.cuda.Stream()
    x = torch.randn(2, 3, 8, 8, 8, device="cuda")
    with torch.cuda.stream(stream):
        y = softpool3d.soft_pool3d(x, 2)
    stream.synchronize()
    assert torch.allclose(y, softpool3d.soft_pool3d(x, 2))
