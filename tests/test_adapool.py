"""AdaPool and eDSCW pooling (softpool3d.adapool): the compiled CPU kernel against the float64
reference, hand-computed values, exact gradients for the input and beta, stability, layouts,
modules, the dispatcher registration (opcheck, torch.compile) and the zoo entries."""
import math
import warnings

import pytest
import torch
import torch.nn.functional as F

import softpool3d
from softpool3d import adapool, reference
from softpool3d.pools import build_adaptive_pool, build_pool
from _pool_cases import (CASES, OPCHECK_DTYPES, TOL, ada_case_inputs, against_reference,
                         assert_close_to, each_case, opcheck_input)

warnings.filterwarnings("ignore", message="softpool3d: .*reference")
needs_kernel = pytest.mark.skipif(not adapool.has_ada_kernel("cpu"),
                                  reason="the compiled AdaPool kernel is required")
ops = torch.ops.softpool3d

# most of the shared cases (the CPU kernel's three paths: few channels, channels as lanes, long
# rows with lanes along W); test_adapool_exhaustive covers every small geometry
SOME_CASES = [CASES[i] for i in (0, 1, 2, 3, 5, 6, 7, 9, 10, 11, 12)]


def run_both(x, beta, k, s, p, ceil, seed=0):
    """Kernel and float64 reference of AdaPool on the same values: (y, y_ref, gx, gx_ref, gb,
    gb_ref)."""
    y, y_ref, (gx, gb), (gx_ref, gb_ref) = against_reference(
        softpool3d.ada_pool3d, reference.ada_pool3d, [x, beta], k, s, p, ceil, seed=seed)
    return y, y_ref, gx, gx_ref, gb, gb_ref


def hand_adapool(vals, b):
    m = sum(vals) / len(vals)
    dsc = [1.0 if v == 0 and m == 0 else 2 * abs(v * m) / (v * v + m * m) for v in vals]
    ed = [math.exp(d) for d in dsc]
    em = [math.exp(v) for v in vals]
    yd = sum(e * v for e, v in zip(ed, vals)) / sum(ed)
    ym = sum(e * v for e, v in zip(em, vals)) / sum(em)
    return b * yd + (1 - b) * ym, yd


def test_reference_against_hand_computation():
    x = torch.tensor([1.0, 2.0, 3.0, -1.0, 0.5], dtype=torch.float64).view(1, 1, 5)
    y = reference.ada_pool1d(x, 0.3, 2, ceil_mode=True)
    want = [hand_adapool(w, 0.3)[0] for w in ([1, 2], [3, -1], [0.5])]
    assert y.flatten().tolist() == pytest.approx(want, rel=1e-14)
    # padded cells are not part of the window nor of its mean
    yp = reference.ada_pool1d(x, 0.7, 3, 2, padding=1)
    assert yp.flatten()[0].item() == pytest.approx(hand_adapool([1, 2], 0.7)[0], rel=1e-14)
    ye = reference.edscw_pool1d(x, 3, 2, padding=1)
    assert ye.flatten()[0].item() == pytest.approx(hand_adapool([1, 2], 0.7)[1], rel=1e-14)


@needs_kernel
def test_hand_computed_kernel_values_and_beta_endpoints():
    vals = [0.3, -1.2, 2.0, 0.7, 0.0, 1.5, -0.4, 0.9]
    x = torch.tensor(vals, dtype=torch.float64).view(1, 1, 2, 2, 2)
    for b in (0.0, 0.25, 1.0):
        assert softpool3d.ada_pool3d(x, b, 2).item() == pytest.approx(hand_adapool(vals, b)[0],
                                                                      rel=1e-13)
    assert torch.allclose(softpool3d.ada_pool3d(x, 0.0, 2), softpool3d.soft_pool3d(x, 2),
                          rtol=1e-14)
    assert torch.allclose(softpool3d.ada_pool3d(x, 1.0, 2), softpool3d.edscw_pool3d(x, 2),
                          rtol=1e-14)
    # beta is clamped to [0, 1]
    assert torch.equal(softpool3d.ada_pool3d(x, 7.0, 2), softpool3d.ada_pool3d(x, 1.0, 2))
    assert torch.equal(softpool3d.ada_pool3d(x, -2.0, 2), softpool3d.ada_pool3d(x, 0.0, 2))


@needs_kernel
@each_case(SOME_CASES)
def test_matches_float64_reference(case, channels_last, dtype):
    shape, k, s, p, ceil = case
    x, beta, _ = ada_case_inputs(shape, dtype, channels_last)  # beta per channel
    y, y_ref, gx, gx_ref, gb, gb_ref = run_both(x, beta, k, s, p, ceil)
    assert y.dtype == dtype and y.shape == F.max_pool3d(x.double(), k, s, p, ceil_mode=ceil).shape
    assert_close_to(y, y_ref, dtype)
    assert_close_to(gx, gx_ref, dtype)
    assert_close_to(gb, gb_ref, dtype)
    assert gx.dtype == dtype and gb.dtype == beta.dtype
    if channels_last and shape[1] > 1:
        assert gx.is_contiguous(memory_format=torch.channels_last_3d)


@needs_kernel
def test_gradcheck_input_and_beta_float64():
    gen = torch.Generator().manual_seed(3)
    for shape, k, s, p, ceil, bshape in [((2, 2, 4, 5, 5), 3, 2, 1, True, ()),
                                         ((1, 3, 3, 4, 4), 2, 1, 0, False, (3, 1, 1, 1)),
                                         ((1, 2, 3, 5, 4), (1, 3, 3), (1, 2, 2), (0, 1, 1),
                                          False, (3, 3, 2))]:
        x = torch.randn(shape, dtype=torch.float64, generator=gen, requires_grad=True)
        beta = (0.1 + 0.8 * torch.rand(bshape, dtype=torch.float64, generator=gen)).requires_grad_()

        def f(t, b):
            return softpool3d.ada_pool3d(t, b, k, s, p, ceil)
        assert torch.autograd.gradcheck(f, (x, beta))
        xc = x.detach().contiguous(memory_format=torch.channels_last_3d).requires_grad_()
        assert torch.autograd.gradcheck(f, (xc, beta))
        assert torch.autograd.gradcheck(lambda t: softpool3d.edscw_pool3d(t, k, s, p, ceil), (x,))


@needs_kernel
def test_relu_input_zero_windows_and_the_kink():
    """x_i = m = 0 gives dsc = 1 (not 0/0), |x m|'s derivative at x m = 0 is torch.abs's (0):
    kernel and reference agree on ReLU outputs, with finite gradients."""
    gen = torch.Generator().manual_seed(5)
    x = torch.relu(torch.randn(2, 3, 4, 6, 6, dtype=torch.float64, generator=gen))
    x[:, :, :2] = 0  # whole windows of zeros
    y, y_ref, gx, gx_ref, gb, gb_ref = run_both(x, torch.tensor(0.4, dtype=torch.float64),
                                                 3, 2, 1, True)
    assert torch.isfinite(y).all() and torch.isfinite(gx).all()
    assert_close_to(y, y_ref, torch.float64)
    assert_close_to(gx, gx_ref, torch.float64)
    assert_close_to(gb, gb_ref, torch.float64)
    z = torch.zeros(1, 1, 2, 2, 2, dtype=torch.float64, requires_grad=True)
    out = softpool3d.edscw_pool3d(z, 2)
    out.backward()
    assert out.item() == 0 and torch.allclose(z.grad, torch.full_like(z, 1 / 8))


@needs_kernel
def test_properties():
    """min <= y <= max; eDSCW is odd and homogeneous (the dsc is scale-invariant):
    edscw(c x) = c edscw(x) for any c != 0, so by Euler sum_i x_i d(sum edscw)/d x_i = sum edscw
    (a check of the gradient through the dsc and the mean); a constant window returns the
    constant (the dsc is not shift-invariant, so AdaPool is not: y(x + c) != y(x) + c)."""
    gen = torch.Generator().manual_seed(2)
    for scale in (1e-3, 1.0, 30.0, 1e4):
        x = (scale * torch.randn(2, 3, 5, 6, 6, dtype=torch.float64, generator=gen)).requires_grad_()
        y = softpool3d.ada_pool3d(x, 0.6, 3, 2, 1, True)
        upper = F.max_pool3d(x, 3, 2, 1, ceil_mode=True)
        lower = -F.max_pool3d(-x, 3, 2, 1, ceil_mode=True)
        assert (y <= upper + 1e-12 * scale).all() and (y >= lower - 1e-12 * scale).all()
        yd = softpool3d.edscw_pool3d(x, 3, 2, 1, True)
        for c in (-2.5, 0.125, 1e6):
            torch.testing.assert_close(softpool3d.edscw_pool3d(c * x, 3, 2, 1, True), c * yd,
                                       rtol=1e-12, atol=0)
        (gx,) = torch.autograd.grad(yd.sum(), x)
        assert (gx * x).sum().item() == pytest.approx(yd.sum().item(), rel=1e-9, abs=1e-12 * scale)
    for value in (-3.5, 0.0, 7.25, 1e4):
        c = torch.full((2, 3, 4, 6, 6), value)
        assert (softpool3d.ada_pool3d(c, 0.5, 3, 2, 1, True) == value).all()
        assert (softpool3d.ada_pool3d(c.double(), 0.3, (1, 3, 3), 1, (0, 1, 1)) == value).all()


@needs_kernel
@pytest.mark.parametrize("dtype,magnitude", [(torch.float32, 1e4), (torch.float32, 1e30),
                                             (torch.float32, 3e37), (torch.float16, 6e4),
                                             (torch.bfloat16, 3e37), (torch.float64, 1e300)])
def test_extreme_magnitudes(dtype, magnitude):
    gen = torch.Generator().manual_seed(0)
    x = ((torch.rand(2, 3, 4, 6, 6, generator=gen) * 2 - 1).double() * magnitude).to(dtype)
    beta = torch.tensor(0.5, dtype=torch.float64 if dtype == torch.float64 else torch.float32)
    y, y_ref, gx, gx_ref, gb, gb_ref = run_both(x, beta, 3, 2, 1, True)
    assert torch.isfinite(y).all() and torch.isfinite(gx).all()
    assert_close_to(y, y_ref, dtype)
    # beta's gradient sums g * (edscw - em) over every output: beyond float32 at 3e37
    if gb_ref.abs().max() < torch.finfo(gb.dtype).max / 4:
        assert_close_to(gb, gb_ref, dtype)  # g reaches beta rounded to the input's dtype
    # as for SoftPool, (1 + x - y) inherits y's rounding: about eps * |x| * |g|
    eps = torch.finfo(dtype).eps
    g_scale = gx_ref.abs().max().item()
    bound = TOL[dtype] * (gx_ref.abs() + g_scale) + 4 * eps * float(x.abs().max()) * g_scale
    assert ((gx.double() - gx_ref).abs() <= bound).all()


@needs_kernel
def test_nan_propagates_to_its_windows_only():
    x = torch.randn(1, 1, 4, 4, 4)
    x[0, 0, 0, 0, 0] = float("nan")
    y = softpool3d.ada_pool3d(x, 0.5, 2)
    assert torch.isnan(y[0, 0, 0, 0, 0]) and torch.isfinite(y.flatten()[1:]).all()


@needs_kernel
def test_backward_is_deterministic_and_layouts_agree():
    x = torch.randn(2, 8, 6, 12, 12, requires_grad=True)
    beta = torch.tensor(0.3, requires_grad=True)
    grads = []
    for t in (x, x, x.detach().contiguous(memory_format=torch.channels_last_3d).requires_grad_()):
        t.grad, beta.grad = None, None
        y = softpool3d.ada_pool3d(t, beta, 3, 1, 1)
        y.backward(torch.ones_like(y) * 0.37)
        grads.append((y.detach(), t.grad.clone(), beta.grad.clone()))
    assert all(torch.equal(a, b) for a, b in zip(grads[0], grads[1]))
    for a, b in zip(grads[0], grads[2]):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-5)


@needs_kernel
def test_other_strides_are_handled():
    base = torch.randn(2, 4, 6, 8, 10)
    for view in (base.transpose(3, 4), base[:, ::2], base[..., 1:-1]):
        assert torch.allclose(softpool3d.ada_pool3d(view, 0.5, 2),
                              reference.ada_pool3d(view.double(), 0.5, 2).float(), rtol=1e-5,
                              atol=1e-6)


@needs_kernel
def test_unbatched_1d_2d_beta_shapes_and_modules():
    x = torch.randn(3, 5, 7, 9, dtype=torch.float64)
    assert torch.allclose(softpool3d.ada_pool3d(x, 0.2, 2), reference.ada_pool3d(x, 0.2, 2))
    x2 = torch.randn(2, 3, 9, 10, dtype=torch.float64)
    b2 = torch.rand(5, 6, dtype=torch.float64)  # per output location, as in the original code
    assert torch.allclose(softpool3d.ada_pool2d(x2, b2, 3, 2, 1, True),
                          reference.ada_pool2d(x2, b2, 3, 2, 1, True))
    assert softpool3d.ada_pool2d(x2[0], 0.5, 2).shape == F.max_pool2d(x2[0], 2).shape
    x1 = torch.randn(2, 3, 11, dtype=torch.float64)
    assert torch.allclose(softpool3d.ada_pool1d(x1, 0.9, 3, 2, 1), reference.ada_pool1d(x1, 0.9, 3, 2, 1))
    assert torch.allclose(softpool3d.edscw_pool1d(x1, 3, 2, 1), reference.edscw_pool1d(x1, 3, 2, 1))
    assert torch.allclose(softpool3d.edscw_pool2d(x2, 2), reference.edscw_pool2d(x2, 2))
    m = softpool3d.AdaPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))
    assert [n for n, _ in m.named_parameters()] == ["beta"] and m.beta.shape == ()
    assert m.beta.item() == 0.5 and "beta_shape=()" in repr(m)
    y = m(torch.randn(1, 2, 4, 8, 8))
    assert y.shape == (1, 2, 4, 4, 4)
    y.sum().backward()
    assert m.beta.grad is not None
    per_channel = softpool3d.AdaPool2d(2, beta_shape=(3, 1, 1), beta_init=0.1)
    assert per_channel(x2.float()).shape == (2, 3, 4, 5) and per_channel.beta.shape == (3, 1, 1)
    assert softpool3d.AdaPool1d(2)(x1.float()).shape == (2, 3, 5)
    assert softpool3d.EDSCWPool3d(2, ceil_mode=True)(torch.randn(1, 2, 3, 5, 5)).shape == \
        (1, 2, 2, 3, 3)
    assert len(list(softpool3d.EDSCWPool3d(2).parameters())) == 0


@needs_kernel
def test_adaptive_forms():
    x = torch.randn(2, 3, 4, 6, 6, dtype=torch.float64)
    for out in (1, (2, 3, 3), (3, 4, 5)):  # kernel path, kernel path, window path
        torch.testing.assert_close(softpool3d.adaptive_ada_pool3d(x, 0.3, out),
                                   reference.adaptive_ada_pool3d(x, 0.3, out))
    flat = x.flatten(2)
    y = softpool3d.adaptive_edscw_pool3d(x, 1).flatten(2)[..., 0]
    torch.testing.assert_close(y, reference.edscw_pool1d(flat, flat.shape[-1])[..., 0])
    assert softpool3d.AdaptiveAdaPool3d((None, 1, 1))(x.float()).shape == (2, 3, 4, 1, 1)
    assert softpool3d.adaptive_ada_pool2d(x[:, :, 0], 0.5, 2).shape == (2, 3, 2, 2)
    assert softpool3d.AdaptiveEDSCWPool1d(3)(x[:, :, 0, 0]).shape == (2, 3, 3)


@pytest.mark.parametrize("call,error,match", [
    (lambda: softpool3d.ada_pool3d(torch.randn(2, 3, 4), 0.5, 2), ValueError, "5D"),
    (lambda: softpool3d.ada_pool3d(torch.randn(1, 2, 4, 4, 4), torch.ones(3), 2), ValueError,
     "broadcast"),
    (lambda: softpool3d.ada_pool3d(torch.randn(1, 2, 4, 4, 4), "a", 2), TypeError, "beta"),
    (lambda: softpool3d.ada_pool3d(torch.randn(1, 1, 4, 4, 4), 0.5, 2, padding=2), ValueError,
     "at most half"),
    (lambda: softpool3d.ada_pool3d(torch.randn(1, 1, 4, 4, 4), 0.5, 5), ValueError, "larger than"),
    (lambda: softpool3d.AdaPool3d(2, dilation=2), ValueError, "dilation"),
    (lambda: softpool3d.AdaPool3d(2, beta_init=2.0), ValueError, "beta_init"),
    (lambda: softpool3d.EDSCWPool3d(2, return_indices=True), ValueError, "return_indices"),
])
def test_bad_input_is_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


@needs_kernel
def test_op_checks_its_arguments():
    x = torch.randn(2, 3, 4, 5, 5)
    args = ([2, 2, 2], [2, 2, 2], [0, 0, 0])
    b = torch.tensor(0.5)
    y, st = ops.ada_pool_forward(x, b, *args, False)
    assert y.dtype == torch.float32 and st.shape == (12, 3, 2, 2, 2)
    with pytest.raises(RuntimeError, match="beta must be Float"):
        ops.ada_pool_forward(x, b.double(), *args, False)
    with pytest.raises(RuntimeError, match="does not broadcast"):
        ops.ada_pool_forward(x, torch.rand(3, 3), *args, False)
    g = torch.ones_like(y)
    with pytest.raises(RuntimeError, match="stats must be"):
        ops.ada_pool_backward(g, x, b, st.double(), *args)
    with pytest.raises(RuntimeError, match="do not match"):
        ops.ada_pool_backward(g, x, b, st[:4], *args)
    assert ops.ada_pool_backward(g, x, b, st, *args).shape == x.shape


@needs_kernel
@pytest.mark.parametrize("per_output", [False, True], ids=["one_beta", "beta_per_output"])
def test_op_mixes_with_one_weight_or_one_per_output(per_output):
    """The op's output is lerp(em, edscw, b) of its saved halves; b = 0 and 1 give the halves."""
    x = torch.randn(2, 9, 4, 7, 7, dtype=torch.float64)
    args = ([3, 3, 3], [2, 2, 2], [1, 1, 1], True)
    b = torch.tensor(0.3, dtype=torch.float64)
    if per_output:
        b = torch.rand(ops.ada_pool_forward(x, b, *args)[0].shape, dtype=torch.float64)
    y, st = ops.ada_pool_forward(x, b, *args)
    em, edscw = st.unflatten(0, (adapool.N_STATS, -1))[4:6]
    torch.testing.assert_close(y, torch.lerp(em, edscw, b), rtol=0, atol=1e-15)
    assert torch.equal(ops.ada_pool_forward(x, b * 0, *args)[0], em)
    assert torch.equal(ops.ada_pool_forward(x, b * 0 + 1, *args)[0], edscw)


@needs_kernel
@pytest.mark.parametrize("dtype", OPCHECK_DTYPES, ids=str)
@pytest.mark.parametrize("channels_last", [False, True])
def test_opcheck(dtype, channels_last):
    x = opcheck_input(dtype, channels_last)
    acc = torch.float64 if dtype == torch.float64 else torch.float32
    for beta in (torch.tensor(0.3, dtype=acc, requires_grad=True),
                 torch.rand(x.shape[1], 1, 1, 1, dtype=acc, requires_grad=True)):
        args = (x, beta, [3, 3, 3], [2, 2, 2], [1, 1, 1], True)
        torch.library.opcheck(ops.ada_pool_forward.default, args)
    y, st = ops.ada_pool_forward(*args)
    torch.library.opcheck(ops.ada_pool_backward.default,
                          (torch.randn_like(y), x.detach(), beta.detach(), st, [3, 3, 3],
                           [2, 2, 2], [1, 1, 1]))


@needs_kernel
def test_torch_compile_fullgraph():
    beta = torch.tensor(0.3, requires_grad=True)

    def f(t, b):
        return softpool3d.ada_pool3d(torch.relu(t) * 2, b, (1, 3, 3), (1, 2, 2), (0, 1, 1)).sum()

    compiled = torch.compile(f, fullgraph=True)
    x = torch.randn(2, 3, 4, 9, 9, requires_grad=True)
    out = compiled(x, beta)
    gc = torch.autograd.grad(out, (x, beta))
    out_eager = f(x, beta)
    ge = torch.autograd.grad(out_eager, (x, beta))
    assert torch.allclose(out, out_eager) and all(torch.allclose(a, b) for a, b in zip(gc, ge))


def test_fallback_warns_once_on_a_device_without_kernel():
    x = torch.empty(2, 3, 4, 6, 6, device="meta")
    softpool3d.ops._warned.discard("ada:meta")
    with pytest.warns(RuntimeWarning, match="reference"):
        y = softpool3d.ada_pool3d(x, 0.5, 2)
    assert y.shape == (2, 3, 2, 3, 3) and y.device.type == "meta"


@needs_kernel
def test_zoo_entries_and_flops():
    from softpool3d.flops import adapool_flops, count_flops
    x = torch.randn(2, 3, 5, 6, 7, dtype=torch.float64)
    ada = build_pool("ada", 3, 2, 1, True, channels=3).double()
    assert [n for n, _ in ada.named_parameters()] == ["beta"]
    torch.testing.assert_close(ada(x), reference.ada_pool3d(x, 0.5, 3, 2, 1, True))
    torch.testing.assert_close(build_pool("edscw", 2)(x), reference.edscw_pool3d(x, 2))
    torch.testing.assert_close(build_adaptive_pool("ada", 1).double()(x),
                               reference.adaptive_ada_pool3d(x, 0.5, 1))
    torch.testing.assert_close(build_adaptive_pool("edscw", (2, 3, 4))(x),
                               reference.adaptive_edscw_pool3d(x, (2, 3, 4)))
    total, by_op, unsupported = count_flops(build_pool("ada", 2).eval(), torch.randn(1, 2, 4, 4, 4),
                                            convention="full")
    assert by_op.get("adapool") == adapool_flops(8, 16) and not unsupported


@needs_kernel
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32], ids=str)
@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
def test_global_pool_many_cells(channels_last, dtype):
    """A global window of 3200 cells over 16 channels (the channel-lane path; a contiguous input
    goes through channels_last), against the reference, with both gradients."""
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(2, 16, 8, 20, 20, generator=gen).to(dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    xk, xr = x.clone().requires_grad_(), x.double().requires_grad_()
    bk, br = torch.tensor(0.7, requires_grad=True), torch.tensor(0.7, dtype=torch.float64,
                                                                  requires_grad=True)
    y = softpool3d.adaptive_ada_pool3d(xk, bk, 1)
    y_ref = reference.adaptive_ada_pool3d(xr, br, 1)
    g = torch.randn(y_ref.shape, generator=gen, dtype=torch.float64)
    y.backward(g.to(dtype))
    y_ref.backward(g)
    assert y.shape == (2, 16, 1, 1, 1)
    cells = 8 * 20 * 20
    assert_close_to(y, y_ref, dtype, cells)
    assert_close_to(xk.grad, xr.grad, dtype, cells)
    assert_close_to(bk.grad, br.grad, dtype, cells)
