"""models.swap's "paper" protocol (the default): only the max pools inside the network are replaced,
with kernel = stride and no padding (the original code's ResNet: MaxPool(3, 2, 1) -> SoftPool(2, 2)),
the head and global averages are kept; other site sets are labelled variants with the old geometry."""
import pytest
import torch
from torch import nn

from softpool3d import pools as zoo
from softpool3d.models import build_model, find_pool_sites

STEM = "blocks.0.pool"


def _pools(model):
    return {name: model.get_submodule(name) for name in find_pool_sites(model)}


def test_soft_in_r3d_replaces_only_the_stem_max_pool_with_kernel_equal_to_stride():
    original = _pools(build_model("r3d_tiny", 8, pool="original", num_frames=4, crop_size=64))
    model = build_model("r3d_tiny", 8, pool="soft", num_frames=4, crop_size=64)
    swapped = _pools(model)
    assert list(model.pool_swaps) == [STEM]
    stem = swapped[STEM]
    assert isinstance(stem, zoo.SoftPool)
    assert (stem.kernel_size, stem.stride, stem.padding) == ((1, 2, 2), (1, 2, 2), (0, 0, 0))
    assert "MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)" in \
        model.pool_swaps[STEM] and "-> SoftPool(kernel_size=(1, 2, 2)" in model.pool_swaps[STEM]
    for name, old in original.items():   # the head and global averages are the published ones
        if name != STEM:
            assert type(swapped[name]) is type(old) and repr(swapped[name]) == repr(old)


@pytest.mark.parametrize("crop", [64, 66, 70])
def test_paper_geometry_keeps_every_output_shape(crop):
    """ceil_mode where the old pool was padded: the same feature-map sizes for odd sizes too."""
    x = torch.randn(1, 3, 4, crop, crop)
    ref = build_model("r3d_tiny", 8, pool="original", num_frames=4, crop_size=crop).eval()
    soft = build_model("r3d_tiny", 8, pool="soft", num_frames=4, crop_size=crop).eval()
    shapes = {}
    for tag, model in (("ref", ref), ("soft", soft)):
        seen = []
        hook = model.get_submodule(STEM).register_forward_hook(
            lambda _m, _i, out, seen=seen: seen.append(tuple(out.shape)))
        with torch.no_grad():
            assert model(x).shape == (1, 8)
        hook.remove()
        shapes[tag] = seen[0]
    assert shapes["ref"] == shapes["soft"]


def test_i3d_stage_pool_keeps_its_kernel_equal_to_stride_geometry():
    model = build_model("i3d_tiny", 8, pool="soft", num_frames=4, crop_size=64)
    assert len(model.pool_swaps) == 2
    stage = [m for n, m in _pools(model).items() if n != STEM and isinstance(m, zoo.SoftPool)]
    assert len(stage) == 1 and (stage[0].kernel_size, stage[0].stride) == ((2, 1, 1), (2, 1, 1))


def test_a_family_without_max_pools_refuses_the_paper_protocol():
    with pytest.raises(ValueError, match="replaces only max pools.*has none.*pool_sites=\\[head\\]"):
        build_model("x3d_xs_tiny", 8, pool="soft", num_frames=4, crop_size=64)
    model = build_model("x3d_xs_tiny", 8, pool="soft", pool_sites=["head"], num_frames=4,
                        crop_size=64)   # the labelled variant
    assert list(model.pool_swaps) == ["blocks.5.pool.pool"]


def test_other_site_sets_keep_the_old_geometry():
    model = build_model("r3d_tiny", 8, pool="soft", pool_sites="all", num_frames=4, crop_size=64)
    stem = model.get_submodule(STEM)
    assert (stem.kernel_size, stem.stride, stem.padding) == ((1, 3, 3), (1, 2, 2), (0, 1, 1))
    assert len(model.pool_swaps) == 3          # stem, head and global
    assert build_model("r3d_tiny", 8, num_frames=4, crop_size=64).pool_swaps == {}


def test_max_under_the_paper_protocol_is_a_different_model_from_the_published_one():
    model = build_model("r3d_tiny", 8, pool="max", num_frames=4, crop_size=64)
    stem = model.get_submodule(STEM)
    assert isinstance(stem, (nn.MaxPool3d, zoo.MaxPool)) and stem.kernel_size in ((1, 2, 2), [1, 2, 2])
