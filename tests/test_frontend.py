"""softpool3d._frontend, the one argument/window helper: argument errors raised early (at module
construction), adaptive windows against torch's own adaptive pooling, and tracing that cannot give
silently wrong results."""
import warnings

import pytest
import torch
import torch.nn.functional as F

import softpool3d
from softpool3d import reference
from softpool3d._frontend import adaptive_windows, check_output_size, unfold_windows, window_args


@pytest.mark.parametrize("bad", [0, -1, 1.0, "1", (1, 0, 1), (1, 2), (1, 1.5, 1), True, None])
def test_adaptive_output_size_checked_at_construction(bad):
    with pytest.raises(ValueError, match="output_size"):
        softpool3d.AdaptiveSoftPool3d(bad)


def test_output_size_none_keeps_the_input_size():
    assert check_output_size((None, 2, 1), 3, "f") == (None, 2, 1)
    x = torch.randn(1, 2, 3, 4, 5)
    assert softpool3d.AdaptiveSoftPool3d((None, 2, 1))(x).shape == (1, 2, 3, 2, 1)


@pytest.mark.parametrize("args, match", [((3, None, 2), "padding"), ((0, None, 0), "kernel_size"),
                                         ((2, 0, 0), "stride"), ((2, (1, 1), 0), "stride")])
def test_window_args_errors(args, match):
    with pytest.raises(ValueError, match=match):
        softpool3d.SoftPool3d(*args)
    with pytest.raises(ValueError, match=match):
        window_args(*args, 3, "f")


@pytest.mark.parametrize("size", range(1, 9))
@pytest.mark.parametrize("out", range(1, 5))
def test_adaptive_windows_match_torch(size, out):
    # torch's adaptive average of a ramp gives each window's mean index: compare with ours
    x = torch.arange(size, dtype=torch.float64).view(1, 1, size)
    expected = F.adaptive_avg_pool1d(x, out).flatten().tolist()
    got = [sum(range(a, b)) / (b - a) for a, b in adaptive_windows(size, out)]
    assert got == pytest.approx(expected)


def test_unfold_windows_marks_padding():
    x = torch.arange(5, dtype=torch.float64).view(1, 1, 1, 1, 5)
    values, valid = unfold_windows(x, (1, 1, 3), (1, 1, 2), (0, 0, 1), (1, 1, 3))
    assert values.flatten(0, -2).tolist() == [[0, 0, 1], [1, 2, 3], [3, 4, 0]]
    assert valid.flatten(0, -2).tolist() == [[False, True, True], [True, True, True],
                                             [True, True, False]]


def test_trace_of_global_soft_pool_is_shape_generic():
    pool = softpool3d.AdaptiveSoftPool3d(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(pool, torch.randn(2, 3, 4, 8, 8))
    for shape in [(2, 3, 8, 16, 16), (1, 3, 6, 10, 10), (2, 3, 1, 1, 1)]:
        x = torch.randn(shape, dtype=torch.float64).float()
        y = traced(x)
        assert y.shape == shape[:2] + (1, 1, 1)
        torch.testing.assert_close(y, reference.adaptive_soft_pool3d(x, 1), rtol=1e-5, atol=1e-6)


def test_trace_of_shape_dependent_adaptive_pool_raises_at_trace_time():
    with pytest.raises(RuntimeError, match="shape-generically"):
        torch.jit.trace(softpool3d.AdaptiveSoftPool3d(2), torch.randn(1, 2, 4, 8, 8))


@pytest.mark.parametrize("n", [1, 2, 3])
def test_modules_take_max_pooling_arguments_in_the_same_places(n):
    import inspect
    from torch import nn
    ours, theirs = getattr(softpool3d, f"SoftPool{n}d"), getattr(nn, f"MaxPool{n}d")
    names = [p for p in inspect.signature(ours).parameters if p != "grad"]
    assert names == list(inspect.signature(theirs).parameters)
    assert inspect.signature(ours).parameters["grad"].kind is inspect.Parameter.KEYWORD_ONLY
    a_ours = getattr(softpool3d, f"AdaptiveSoftPool{n}d")
    a_theirs = getattr(nn, f"AdaptiveMaxPool{n}d")
    assert [p for p in inspect.signature(a_ours).parameters if p != "grad"] == \
        list(inspect.signature(a_theirs).parameters)
    # nn.MaxPool3d(3, 2, 1, 1): the fourth positional argument is dilation, not ceil_mode
    x = torch.randn((1, 2) + (6,) * n)
    assert ours(3, 2, 1, 1)(x).shape == theirs(3, 2, 1, 1)(x).shape
    assert ours(3, 2, 1, 1, False, True)(x).shape == theirs(3, 2, 1, 1, False, True)(x).shape
    with pytest.raises(ValueError, match="dilation"):
        ours(3, 2, 1, 2)
    with pytest.raises(ValueError, match="return_indices"):
        ours(3, return_indices=True)
    with pytest.raises(ValueError, match="return_indices"):
        a_ours(1, True)


@pytest.mark.parametrize("size, k, s, p", [(1, 2, 2, 0), (2, 3, 2, 0), (3, 6, 2, 1), (4, 5, 3, 0)])
def test_kernel_larger_than_padded_input_follows_max_pooling(size, k, s, p):
    x = torch.randn(1, 2, size, 3, 3, dtype=torch.float64, requires_grad=True)
    args = ((k, 1, 1), (s, 1, 1), (p, 0, 0))
    with pytest.raises(RuntimeError):
        F.max_pool3d(x, *args)
    with pytest.raises(ValueError, match="larger than the padded input"):
        softpool3d.soft_pool3d(x, *args)
    y = softpool3d.soft_pool3d(x, *args, ceil_mode=True)
    assert y.shape == F.max_pool3d(x, *args, ceil_mode=True).shape
    y_ref = reference.soft_pool3d(x, *args, ceil_mode=True)
    torch.testing.assert_close(y, y_ref)
    g = torch.randn_like(y)
    torch.testing.assert_close(torch.autograd.grad(y, x, g)[0], torch.autograd.grad(y_ref, x, g)[0])


def test_torch_export_of_softpool_modules():
    from torch import nn
    model = nn.Sequential(nn.Conv3d(2, 4, 1), softpool3d.SoftPool3d(2, 2, 1, ceil_mode=True),
                          softpool3d.AdaptiveSoftPool3d(1))
    x = torch.randn(1, 2, 4, 5, 5)
    exported = torch.export.export(model, (x,))
    torch.testing.assert_close(exported.module()(x), model(x))


@pytest.mark.parametrize("value", ["no", "", 2, None, 0.5])
@pytest.mark.parametrize("make", [
    lambda v: softpool3d.soft_pool3d(torch.randn(1, 1, 4, 4, 4), 2, ceil_mode=v),
    lambda v: softpool3d.SoftPool3d(2, ceil_mode=v),
    lambda v: softpool3d.ada_pool3d(torch.randn(1, 1, 4, 4, 4), torch.tensor(0.5), 2, ceil_mode=v),
    lambda v: softpool3d.AdaPool3d(2, ceil_mode=v),
], ids=["soft_pool3d", "SoftPool3d", "ada_pool3d", "AdaPool3d"])
def test_ceil_mode_that_is_not_a_bool_is_refused(make, value):
    """As F.max_pool3d: a string or another number is a TypeError, not a truthy True."""
    with pytest.raises(TypeError, match="ceil_mode must be a bool"):
        make(value)


@pytest.mark.parametrize("value,expected", [(True, 2), (False, 1), (1, 2), (0, 1)])
def test_ceil_mode_accepts_bools_and_zero_one(value, expected):
    x = torch.randn(1, 1, 3, 3, 3)
    assert softpool3d.soft_pool3d(x, 2, ceil_mode=value).shape[-1] == expected
    assert softpool3d.SoftPool3d(2, ceil_mode=value)(x).shape[-1] == expected
