"""AdaPool's CUDA kernels against the float64 reference (input and beta gradients), every dtype
and layout, determinism, opcheck and torch.compile. Skipped without a GPU (the bodies they launch
are tested on the CPU by test_adapool_exhaustive.py)."""
import os

import pytest
import torch

import softpool3d
from softpool3d import adapool, reference
from _pool_cases import CASES, ada_case_inputs, assert_close_to, each_case

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.mark.skipif(os.environ.get("SOFTPOOL_EXPECT_CUDA") != "1",
                    reason="set SOFTPOOL_EXPECT_CUDA=1 where the build had a CUDA toolkit (CI does)")
def test_cuda_kernels_are_built():
    assert adapool.has_ada_kernel("cuda"), "the extension was built without AdaPool's CUDA kernels"


@cuda
@each_case(CASES)
def test_cuda_matches_reference(case, channels_last, dtype):
    shape, k, s, p, ceil = case
    x, beta, gen = ada_case_inputs(shape, dtype, channels_last)
    xr, br = x.double().requires_grad_(), beta.double().requires_grad_()
    y_ref = reference.ada_pool3d(xr, br, k, s, p, ceil)
    g = torch.randn(y_ref.shape, dtype=torch.float64, generator=gen)
    y_ref.backward(g)
    xc = x.cuda().requires_grad_()
    bc = beta.cuda().requires_grad_()
    y = softpool3d.ada_pool3d(xc, bc, k, s, p, ceil)
    y.backward(g.to(device="cuda", dtype=dtype))
    assert y.dtype == dtype
    assert_close_to(y.cpu(), y_ref, dtype)
    assert_close_to(xc.grad.cpu(), xr.grad, dtype)
    assert_close_to(bc.grad.cpu(), br.grad, dtype)


@cuda
def test_cuda_deterministic_gradcheck_opcheck_compile():
    x = torch.randn(2, 8, 6, 12, 12, device="cuda", dtype=torch.float64, requires_grad=True)
    beta = torch.tensor(0.3, device="cuda", dtype=torch.float64, requires_grad=True)
    grads = []
    for _ in range(2):
        x.grad = None
        softpool3d.ada_pool3d(x, beta, 3, 1, 1).sum().backward()
        grads.append(x.grad.clone())
    assert torch.equal(grads[0], grads[1])
    xs = x.detach()[:1, :2, :3, :5, :5].clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda t, b: softpool3d.ada_pool3d(t, b, 3, 2, 1, True),
                                    (xs, beta))
    args = (x.detach().float(), torch.tensor(0.3, device="cuda", requires_grad=True),
            [3, 3, 3], [2, 2, 2], [1, 1, 1], True)
    torch.library.opcheck(torch.ops.softpool3d.ada_pool_forward.default, args)
    f = torch.compile(lambda t: softpool3d.ada_pool3d(t, 0.5, 2).sum(), fullgraph=True)
    assert torch.allclose(f(x.detach().float()), softpool3d.ada_pool3d(x.detach().float(), 0.5, 2).sum())
