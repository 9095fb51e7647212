"""The compiled SoftPool operator (CPU) against the float64 reference, torch's own pools and
hand-computed cases."""
import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st
from torch.autograd.gradcheck import GradcheckError

import softpool3d
from softpool3d import reference
from _pool_cases import (CASES, OPCHECK_DTYPES, against_reference, assert_close_to,
                         assert_grad_close_to, case_input, each_case, opcheck_input)

pytestmark = pytest.mark.skipif(not softpool3d.ops.has_kernel("cpu"),
                                reason="the compiled extension is required for these tests")


def run_both(x, kernel, stride, padding, ceil, grad="exact", seed=0):
    """Kernel and float64 reference on the same values; returns (y, y_ref, gx, gx_ref)."""
    y, y_ref, (gx,), (gx_ref,) = against_reference(
        softpool3d.soft_pool3d, reference.soft_pool3d, [x], kernel, stride, padding, ceil, grad,
        seed=seed)
    return y, y_ref, gx, gx_ref


@each_case(CASES, grad=["exact", "paper"])
def test_matches_float64_reference(case, grad, channels_last, dtype):
    shape, k, s, p, ceil = case
    x = case_input(shape, dtype, channels_last, torch.Generator().manual_seed(1))
    y, y_ref, gx, gx_ref = run_both(x, k, s, p, ceil, grad)
    assert y.dtype == dtype and y.shape == y_ref.shape
    assert y.shape == F.max_pool3d(x.double(), k, s, p, ceil_mode=ceil).shape
    assert_close_to(y, y_ref, dtype)
    assert_close_to(gx, gx_ref, dtype)
    if channels_last and shape[1] > 1:
        assert y.is_contiguous(memory_format=torch.channels_last_3d)
        assert gx.is_contiguous(memory_format=torch.channels_last_3d)


def test_reference_against_hand_computation():
    x = torch.tensor([1.0, 2.0, 3.0, -1.0, 0.5], dtype=torch.float64).view(1, 1, 5)
    # windows of 2 with stride 2, ceil_mode: [1, 2], [3, -1], [0.5] (the last cell alone)
    y = reference.soft_pool1d(x, 2, ceil_mode=True)

    def soft(vals):
        w = [math.exp(v) for v in vals]
        return sum(wi * v for wi, v in zip(w, vals)) / sum(w)

    expected = [soft([1, 2]), soft([3, -1]), soft([0.5])]
    assert torch.allclose(y.flatten(), torch.tensor(expected, dtype=torch.float64), rtol=1e-14)
    # padding cells get weight 0: a padded window over [1] is 1, not a mix with 0
    yp = reference.soft_pool1d(x, 3, 2, padding=1)
    assert yp.flatten()[0].item() == pytest.approx(soft([1, 2]), rel=1e-14)


def test_hand_computed_kernel_values():
    x = torch.tensor([[[[[0.0, 1.0], [2.0, 3.0]], [[4.0, 5.0], [6.0, 7.0]]]]])
    y = softpool3d.soft_pool3d(x, 2)
    w = torch.exp(torch.arange(8.0, dtype=torch.float64))
    expected = (w * torch.arange(8.0, dtype=torch.float64)).sum() / w.sum()
    assert y.item() == pytest.approx(expected.item(), rel=1e-6)


def test_exact_gradient_formula_by_hand():
    a = torch.tensor([0.3, -1.2, 2.0, 0.7], dtype=torch.float64)
    x = a.view(1, 1, 1, 1, 4).clone().requires_grad_()
    y = softpool3d.soft_pool3d(x, (1, 1, 4))
    y.backward()
    w = torch.softmax(a, 0)
    assert torch.allclose(x.grad.flatten(), w * (1 + a - (w * a).sum()), rtol=1e-12)
    x.grad = None
    softpool3d.soft_pool3d(x, (1, 1, 4), grad="paper").backward()
    assert torch.allclose(x.grad.flatten(), w, rtol=1e-12)


def test_gradcheck_exact_float64():
    gen = torch.Generator().manual_seed(3)
    for shape, k, s, p, ceil in [((2, 2, 4, 5, 5), 3, 2, 1, True), ((1, 3, 3, 4, 4), 2, 1, 0, False),
                                 ((1, 2, 3, 5, 4), (1, 3, 3), (1, 2, 2), (0, 1, 1), False)]:
        x = torch.randn(shape, dtype=torch.float64, generator=gen, requires_grad=True)
        assert torch.autograd.gradcheck(lambda t: softpool3d.soft_pool3d(t, k, s, p, ceil), (x,))
        xc = x.detach().contiguous(memory_format=torch.channels_last_3d).requires_grad_()
        assert torch.autograd.gradcheck(lambda t: softpool3d.soft_pool3d(t, k, s, p, ceil), (xc,))


def test_paper_gradient_is_not_the_derivative():
    x = torch.randn(1, 1, 2, 2, 2, dtype=torch.float64, requires_grad=True)
    with pytest.raises(GradcheckError):
        torch.autograd.gradcheck(lambda t: softpool3d.soft_pool3d(t, 2, grad="paper"), (x,))


pool_args = st.tuples(
    st.integers(1, 3), st.integers(1, 3), st.integers(1, 3),  # kernel
    st.integers(1, 3), st.integers(1, 3), st.integers(1, 3),  # stride
    st.booleans(), st.booleans())                              # pad, ceil_mode


def _args(draw_args, shape):
    kd, kh, kw, sd, sh, sw, pad, ceil = draw_args
    k, s = (kd, kh, kw), (sd, sh, sw)
    p = tuple(kk // 2 for kk in k) if pad else 0
    return k, s, p, ceil


@settings(max_examples=60, deadline=None)
@given(shape=st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(3, 6), st.integers(3, 6),
                       st.integers(3, 6)), args=pool_args, seed=st.integers(0, 10_000))
def test_random_shapes_float64(shape, args, seed):
    k, s, p, ceil = _args(args, shape)
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    y, y_ref, gx, gx_ref = run_both(x, k, s, p, ceil, seed=seed)
    assert_close_to(y, y_ref, torch.float64)
    assert_close_to(gx, gx_ref, torch.float64)


@settings(max_examples=60, deadline=None)
@given(shape=st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(3, 6), st.integers(3, 6),
                       st.integers(3, 6)), args=pool_args, seed=st.integers(0, 10_000),
       scale=st.sampled_from([1e-3, 1.0, 30.0, 1e4]), shift=st.floats(-50, 50))
def test_properties(shape, args, seed, scale, shift):
    """min <= y <= max; y(x + c) = y(x) + c; sum of d y / d a over each window = 1."""
    k, s, p, ceil = _args(args, shape)
    x = scale * torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    y = softpool3d.soft_pool3d(x, k, s, p, ceil)
    upper = F.max_pool3d(x, k, s, p, ceil_mode=ceil)
    lower = -F.max_pool3d(-x, k, s, p, ceil_mode=ceil)
    slack = 1e-12 * scale
    assert (y <= upper + slack).all() and (y >= lower - slack).all()
    y_shift = softpool3d.soft_pool3d(x + shift, k, s, p, ceil)
    assert torch.allclose(y_shift, y + shift, atol=1e-9 * (scale + abs(shift)), rtol=0)
    for grad in ("exact", "paper"):
        xg = x.clone().requires_grad_()
        softpool3d.soft_pool3d(xg, k, s, p, ceil, grad).sum().backward()
        assert xg.grad.sum().item() == pytest.approx(y.numel(), rel=1e-9)


def test_constant_windows_return_the_constant():
    for value in (-3.5, 0.0, 7.25, 1e4):
        x = torch.full((2, 3, 4, 6, 6), value)
        y = softpool3d.soft_pool3d(x, 3, 2, 1, True)
        assert (y == value).all()


@pytest.mark.parametrize("dtype,magnitude", [(torch.float32, 1e4), (torch.float32, 1e30),
                                             (torch.float32, 3e38), (torch.float16, 6e4),
                                             (torch.bfloat16, 3e38), (torch.float64, 1e300)])
def test_extreme_magnitudes(dtype, magnitude):
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(2, 3, 4, 6, 6, generator=gen) * 2 - 1).to(torch.float64) * magnitude
    x = x.to(dtype)
    y, y_ref, gx, gx_ref = run_both(x, 3, 2, 1, True)
    assert torch.isfinite(y).all() and torch.isfinite(gx).all()
    assert_close_to(y, y_ref, dtype)
    assert_grad_close_to(gx, gx_ref, x, dtype)


def test_nan_propagates_to_its_windows_only():
    x = torch.randn(1, 1, 4, 4, 4)
    x[0, 0, 0, 0, 0] = float("nan")
    y = softpool3d.soft_pool3d(x, 2)
    assert torch.isnan(y[0, 0, 0, 0, 0])
    assert torch.isfinite(y.flatten()[1:]).all()


def _both_layouts(x, *pool):
    """(output, input gradient) of soft_pool3d for ``x`` contiguous and channels_last_3d."""
    outs = []
    for t in (x, x.contiguous(memory_format=torch.channels_last_3d)):
        t = t.clone().requires_grad_()
        y = softpool3d.soft_pool3d(t, *pool)
        y.backward(torch.ones_like(y))
        outs.append((y.detach(), t.grad))
    assert outs[1][0].is_contiguous(memory_format=torch.channels_last_3d)
    return outs


@pytest.mark.parametrize("pool", [(2,), (3, 2, 1, True), ((1, 3, 3), (1, 2, 2), (0, 1, 1))],
                         ids=["k2s2", "k3s2p1-overlapping", "stem-overlapping"])
def test_channels_last_equals_contiguous_bitwise(pool):
    """The forward, and the backward where windows do not overlap (one term per input cell), are
    the same to the bit in both layouts."""
    (y, gx), (y_cl, gx_cl) = _both_layouts(torch.randn(2, 16, 5, 9, 9), *pool)
    assert torch.equal(y, y_cl)
    if pool == (2,):
        assert torch.equal(gx, gx_cl)


def test_channels_last_backward_of_overlapping_windows_differs_only_in_summation_order():
    """Where windows overlap, an input cell's gradient sums its windows' terms in the order its
    layout visits them: the two layouts agree to a few ulps of the gradient's scale, not to the
    bit (measured on this case: about 6 % of the cells differ, by at most 4.8e-7)."""
    (_, gx), (_, gx_cl) = _both_layouts(torch.randn(2, 16, 5, 9, 9), 3, 2, 1, True)
    eps = torch.finfo(torch.float32).eps
    assert (gx - gx_cl).abs().max() <= 8 * eps * gx.abs().max()


def test_other_strides_are_handled():
    base = torch.randn(2, 4, 6, 8, 10)
    for view in (base.transpose(3, 4), base[:, ::2], base[..., 1:-1], base.permute(0, 1, 2, 4, 3)):
        assert torch.allclose(softpool3d.soft_pool3d(view, 2),
                              reference.soft_pool3d(view.double(), 2).float(), rtol=1e-5, atol=1e-6)


def test_backward_is_deterministic():
    x = torch.randn(2, 8, 6, 12, 12, requires_grad=True)
    grads = []
    for _ in range(3):
        x.grad = None
        y = softpool3d.soft_pool3d(x, 3, 1, 1)
        y.backward(torch.ones_like(y) * 0.37)
        grads.append(x.grad.clone())
    assert all(torch.equal(grads[0], g) for g in grads[1:])


def test_unbatched_1d_2d_and_modules():
    x = torch.randn(3, 5, 7, 9, dtype=torch.float64)
    assert torch.allclose(softpool3d.soft_pool3d(x, 2), reference.soft_pool3d(x, 2))
    x2 = torch.randn(2, 3, 9, 10, dtype=torch.float64)
    assert torch.allclose(softpool3d.soft_pool2d(x2, 3, 2, 1, True),
                          reference.soft_pool2d(x2, 3, 2, 1, True))
    assert softpool3d.soft_pool2d(x2[0], 2).shape == F.max_pool2d(x2[0], 2).shape
    x1 = torch.randn(2, 3, 11, dtype=torch.float64)
    assert torch.allclose(softpool3d.soft_pool1d(x1, 3, 2, 1), reference.soft_pool1d(x1, 3, 2, 1))
    m = softpool3d.SoftPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))
    assert "kernel_size=(1, 3, 3)" in repr(m) and "grad='exact'" in repr(m)
    assert m(torch.randn(1, 2, 4, 8, 8)).shape == (1, 2, 4, 4, 4)
    assert softpool3d.SoftPool2d(2)(x2).shape == (2, 3, 4, 5)
    assert softpool3d.SoftPool1d(2, grad="paper")(x1).shape == (2, 3, 5)


def test_adaptive_global_and_fractional():
    x = torch.randn(2, 3, 4, 5, 6, dtype=torch.float64)
    y = softpool3d.adaptive_soft_pool3d(x, 1)
    flat = x.flatten(2)
    expected = (torch.softmax(flat, -1) * flat).sum(-1)
    assert y.shape == (2, 3, 1, 1, 1)
    assert torch.allclose(y.flatten(2).squeeze(-1), expected, rtol=1e-12)
    # (2, 5, 3): D divides (kernel path), H and W do not (window path): compare with a loop
    y = softpool3d.adaptive_soft_pool3d(x, (2, 3, 4))
    for od, (d0, d1) in enumerate([(0, 2), (2, 4)]):
        for oh, (h0, h1) in enumerate([(0, 2), (1, 4), (3, 5)]):
            for ow, (w0, w1) in enumerate([(0, 2), (1, 3), (3, 5), (4, 6)]):
                cell = x[:, :, d0:d1, h0:h1, w0:w1].flatten(2)
                want = (torch.softmax(cell, -1) * cell).sum(-1)
                assert torch.allclose(y[:, :, od, oh, ow], want, rtol=1e-12)
    assert softpool3d.AdaptiveSoftPool3d((None, 1, 1))(x).shape == (2, 3, 4, 1, 1)
    assert softpool3d.adaptive_soft_pool2d(x[:, :, 0], 2).shape == (2, 3, 2, 2)
    assert softpool3d.adaptive_soft_pool1d(x[:, :, 0, 0], 3).shape == (2, 3, 3)


def test_empty_batch():
    x = torch.randn(0, 3, 4, 4, 4, requires_grad=True)
    y = softpool3d.soft_pool3d(x, 2)
    assert y.shape == (0, 3, 2, 2, 2)
    y.sum().backward()
    assert x.grad.shape == x.shape


@pytest.mark.parametrize("call,error,match", [
    (lambda: softpool3d.soft_pool3d(torch.randn(2, 3, 4), 2), ValueError, "5D"),
    (lambda: softpool3d.soft_pool3d(torch.ones(1, 1, 4, 4, 4, dtype=torch.int64), 2), TypeError,
     "floating-point"),
    (lambda: softpool3d.soft_pool3d(torch.randn(1, 1, 4, 4, 4), (2, 2)), ValueError, "kernel_size"),
    (lambda: softpool3d.soft_pool3d(torch.randn(1, 1, 4, 4, 4), 0), ValueError, "kernel_size"),
    (lambda: softpool3d.soft_pool3d(torch.randn(1, 1, 4, 4, 4), 2, 0), ValueError, "stride"),
    (lambda: softpool3d.soft_pool3d(torch.randn(1, 1, 4, 4, 4), 2, -1), ValueError, "stride"),
    (lambda: softpool3d.soft_pool3d(torch.randn(1, 1, 4, 4, 4), 2, padding=2), ValueError,
     "at most half"),
    (lambda: softpool3d.soft_pool3d(torch.randn(1, 1, 4, 4, 4), 5), ValueError, "larger than"),
    (lambda: softpool3d.soft_pool3d(torch.randn(1, 1, 0, 4, 4), 1), ValueError, "non-empty"),
    (lambda: softpool3d.soft_pool3d(torch.randn(1, 1, 4, 4, 4), 2, grad="approx"), ValueError, "grad"),
    (lambda: softpool3d.soft_pool3d(torch.randn(1, 1, 4, 4, 4), 2.5), ValueError, "kernel_size"),
    (lambda: softpool3d.SoftPool3d(3, padding=2), ValueError, "at most half"),
    (lambda: softpool3d.adaptive_soft_pool3d(torch.randn(1, 1, 4, 4, 4), 0), ValueError,
     "output_size"),
    (lambda: torch.ops.softpool3d.soft_pool_forward(torch.randn(1, 1, 4, 4, 4), [5, 5, 5],
                                                    [1, 1, 1], [0, 0, 0], False, False),
     RuntimeError, "larger than"),
    (lambda: torch.ops.softpool3d.soft_pool_forward(torch.randn(1, 4, 4, 4), [2, 2, 2],
                                                    [1, 1, 1], [0, 0, 0], False, False),
     RuntimeError, "5D"),
])
def test_bad_input_is_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("dtype", OPCHECK_DTYPES, ids=str)
@pytest.mark.parametrize("channels_last", [False, True])
def test_opcheck(dtype, channels_last):
    x = opcheck_input(dtype, channels_last)
    args = (x, [3, 3, 3], [2, 2, 2], [1, 1, 1], True, False)
    torch.library.opcheck(torch.ops.softpool3d.soft_pool_forward.default, args)
    y, lse = torch.ops.softpool3d.soft_pool_forward(*args)
    torch.library.opcheck(torch.ops.softpool3d.soft_pool_backward.default,
                          (torch.randn_like(y), x.detach(), y.detach(), lse, [3, 3, 3], [2, 2, 2],
                           [1, 1, 1], False))


def test_torch_compile_fullgraph():
    def f(t):
        return softpool3d.soft_pool3d(torch.relu(t) * 2, (1, 3, 3), (1, 2, 2), (0, 1, 1)).sum()

    compiled = torch.compile(f, fullgraph=True)
    x = torch.randn(2, 3, 4, 9, 9, requires_grad=True)
    out = compiled(x)
    (gc,) = torch.autograd.grad(out, x)
    out_eager = f(x)
    (ge,) = torch.autograd.grad(out_eager, x)
    assert torch.allclose(out, out_eager) and torch.allclose(gc, ge)


def test_fallback_warns_once_and_matches_reference(monkeypatch):
    """Where the extension has no kernel for a device, the ops run softpool3d.reference: one
    RuntimeWarning per device type and process, whatever the number of calls, and the reference's
    values and gradients to the bit."""
    monkeypatch.setitem(softpool3d.ops._KERNELS, "cpu", False)  # as a build without CPU kernels
    monkeypatch.setattr(softpool3d.ops, "_warned", set())
    x = torch.randn(2, 3, 4, 6, 6, generator=torch.Generator().manual_seed(0))
    g = torch.randn(2, 3, 2, 3, 3, generator=torch.Generator().manual_seed(1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outs = []
        for _ in range(3):
            t = x.clone().requires_grad_()
            y = softpool3d.soft_pool3d(t, 3, 2, 1)
            y.backward(g)
            outs.append((y.detach(), t.grad))
    fallback = [w for w in caught if w.category is RuntimeWarning and "reference" in str(w.message)]
    assert len(fallback) == 1, [str(w.message) for w in caught]
    t = x.clone().requires_grad_()
    y_ref = reference.soft_pool3d(t, 3, 2, 1)
    y_ref.backward(g)
    for y, gx in outs:
        assert torch.equal(y, y_ref.detach()) and torch.equal(gx, t.grad)
    # the meta device has no compiled kernel at all: its first call warns too, shapes kept
    with pytest.warns(RuntimeWarning, match="reference"):
        y = softpool3d.soft_pool3d(torch.empty(2, 3, 4, 6, 6, device="meta"), 2)
    assert y.shape == (2, 3, 2, 3, 3) and y.device.type == "meta"


def test_double_backward_is_a_clear_error():
    x = torch.randn(1, 2, 4, 4, 4, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(softpool3d.soft_pool3d(x, 2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="double backward"):
        g.sum().backward()


def test_backward_checks_its_saved_tensors():
    x = torch.randn(2, 3, 4, 5, 5)
    args = ([2, 2, 2], [2, 2, 2], [0, 0, 0])
    y, lse = torch.ops.softpool3d.soft_pool_forward(x, *args, False, False)
    g = torch.ones_like(y)
    bwd = torch.ops.softpool3d.soft_pool_backward
    with pytest.raises(RuntimeError, match="must have the input's dtype"):
        bwd(g.double(), x, y, lse, *args, False)  # was silently converted
    with pytest.raises(RuntimeError, match="must have the input's dtype"):
        bwd(g, x, y.double(), lse, *args, False)
    with pytest.raises(RuntimeError, match="lse must be"):
        bwd(g, x, y, lse.double(), *args, False)
    with pytest.raises(RuntimeError, match="does not match input"):  # fewer channels: read past
        bwd(g[:, :2], x, y[:, :2], lse[:, :2], *args, False)
    with pytest.raises(RuntimeError, match="same shape"):
        bwd(g[..., :1], x, y, lse, *args, False)
    assert bwd(g, x, y, lse, *args, False).shape == x.shape
