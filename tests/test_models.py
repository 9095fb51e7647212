"""softpool3d.models: registry, published architectures, pool sites and swapping, checkpoints."""
import argparse
import warnings

import pytest
import torch
from torch import nn

from softpool3d import pools as zoo
from softpool3d.models import (MODELS, SITES, build_model, find_pool_sites, fix_pytorchvideo,
                               get_spec, load_checkpoint, model_input_spec, pools_by_site,
                               swap_pools)

warnings.filterwarnings("ignore", message="softpool3d: .*reference")

HUB = ["slow_r50", "c2d_r50", "i3d_r50", "r2plus1d_r50", "csn_r101", "slowfast_r50",
       "slowfast_r101", "x3d_xs", "x3d_s", "x3d_m", "x3d_l"]
TINY = ["r3d_tiny", "i3d_tiny", "x3d_xs_tiny", "slowfast_tiny"]
# published parameter counts (400 classes), as the pytorchvideo hub / torchvision build them
PARAMS = {"slow_r50": 32454096, "c2d_r50": 24327632, "i3d_r50": 28043472,
          "r2plus1d_r50": 28107600, "csn_r101": 22213776, "slowfast_r50": 34566488,
          "slowfast_r101": 62826968, "x3d_xs": 3794274, "x3d_s": 3794274, "x3d_m": 3794274,
          "x3d_l": 6153384, "r3d_18": 33371472}
# number of pooling layers per site
_COUNTS = {  # stem, stage, head, global
    "slow_r50": (1, 0, 1, 1), "c2d_r50": (1, 1, 1, 1), "i3d_r50": (1, 1, 1, 1),
    "r3d_50": (1, 0, 1, 1), "csn_r101": (1, 0, 1, 1), "r2plus1d_r50": (0, 0, 1, 1),
    "slowfast_r50": (2, 0, 2, 1), "slowfast_r101": (2, 0, 2, 1), "x3d_xs": (0, 0, 1, 1),
    "x3d_l": (0, 0, 1, 1), "r3d_18": (0, 0, 0, 1), "r3d_tiny": (1, 0, 1, 1),
    "i3d_tiny": (1, 1, 1, 1), "x3d_xs_tiny": (0, 0, 1, 1), "slowfast_tiny": (2, 0, 2, 1),
}
SITE_COUNTS = {name: dict(zip(("stem", "stage", "head", "globl"), c))
               for name, c in _COUNTS.items()}
# cheap geometry for forward tests: (num_frames, crop_size)
SMALL = {"r3d_tiny": (4, 64), "i3d_tiny": (4, 64), "x3d_xs_tiny": (4, 64), "slowfast_tiny": (8, 64),
         "x3d_xs": (4, 64), "r3d_18": (4, 32)}


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def small_input(name, batch=2):
    frames, crop = SMALL[name]
    return get_spec(name).example_input(frames, crop, batch=batch)


def small_model(name, pool="original", sites="all", num_classes=5, **kw):
    frames, crop = SMALL[name]
    return build_model(name, num_classes, pool, sites, num_frames=frames, crop_size=crop, **kw)


def hub_model(name):
    from pytorchvideo.models import hub
    return getattr(hub, name)(pretrained=False)


def site_counts(model):
    return {("globl" if k == "global" else k): len(v) for k, v in pools_by_site(model).items()}


# ---------------------------------------------------------------------------------------------
# registry and specs

def test_registry_names_and_errors():
    assert set(MODELS) >= set(HUB) | set(TINY) | {"r3d_18", "r3d_50"}
    with pytest.raises(ValueError, match="unknown model 'resnet9000'; valid names: .*slow_r50"):
        build_model("resnet9000", 10)
    with pytest.raises(ValueError, match="unknown pooling method 'median'.*soft"):
        build_model("r3d_tiny", 10, pool="median")
    with pytest.raises(ValueError, match="pool_sites"):
        build_model("r3d_tiny", 10, pool="soft", pool_sites=("stem", "neck"))


def test_input_specs():
    keys = {"num_frames", "sampling_rate", "crop_size", "test_crop_size", "alpha", "num_clips",
            "num_crops", "train_scale"}
    for name in MODELS:
        spec = model_input_spec(name)
        assert set(spec) == keys, name
        assert (spec["alpha"] is not None) == name.startswith("slowfast"), name
    assert model_input_spec("slow_r50") == dict(num_frames=8, sampling_rate=8, crop_size=224,
                                                test_crop_size=256, alpha=None, num_clips=10, train_scale=None,
                                                num_crops=3)
    assert model_input_spec("slowfast_r50")["alpha"] == 4
    assert model_input_spec("slowfast_r50")["num_frames"] == 32
    assert (model_input_spec("x3d_xs")["num_frames"], model_input_spec("x3d_xs")["crop_size"]) \
        == (4, 160)
    assert model_input_spec("x3d_l")["test_crop_size"] == 356
    for name in TINY:
        assert model_input_spec(name)["crop_size"] == 112


# ---------------------------------------------------------------------------------------------
# the default build is the published architecture

@pytest.mark.parametrize("name", HUB)
def test_default_build_equals_hub_model(name):
    ours, ref = build_model(name, 400), hub_model(name)
    assert n_params(ours) == n_params(ref) == PARAMS[name]
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == \
        [(k, v.shape) for k, v in ref.state_dict().items()]
    ref_pools = {n: m for n, m in ref.named_modules() if "Pool" in type(m).__name__
                 and not isinstance(m, nn.ModuleList) and hasattr(m, "forward")
                 and type(m).__module__.startswith("torch.nn")}
    our_pools = {n: m for n, m in ours.named_modules() if n in ref_pools}
    assert set(our_pools) == set(ref_pools)
    for n, m in ref_pools.items():
        assert type(our_pools[n]) is type(m), n
        for attr in ("kernel_size", "stride", "padding", "output_size", "ceil_mode"):
            if hasattr(m, attr):
                theirs = getattr(m, attr)
                mine = getattr(our_pools[n], attr)
                norm = (lambda v: tuple(int(i) for i in v) if isinstance(v, (tuple, list)) else v)
                assert norm(mine) == norm(theirs), (n, attr)
    assert not any(isinstance(m, nn.Softmax) for m in ours.modules())


def test_r3d_18_equals_torchvision_and_r3d_50_builds():
    from torchvision.models.video import r3d_18
    ours, ref = build_model("r3d_18", 400), r3d_18(weights=None)
    assert n_params(ours) == n_params(ref) == PARAMS["r3d_18"]
    assert list(ours.state_dict()) == list(ref.state_dict())
    r3d_50 = build_model("r3d_50", 400)
    convs = [m for n, m in r3d_50.named_modules() if n.endswith("conv_b")]
    assert convs and all(c.kernel_size == (3, 3, 3) for c in convs), "full 3D bottlenecks"
    assert find_pool_sites(r3d_50) == find_pool_sites(build_model("slow_r50", 400))


def test_default_output_is_hub_logits():
    """pool="original" default: the hub X3D-XS with the same weights gives softmax(our logits)."""
    torch.manual_seed(0)
    ours, ref = build_model("x3d_xs", 400).eval(), hub_model("x3d_xs").eval()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(1, 3, 4, 160, 160)
    with torch.no_grad():
        logits, probs = ours(x), ref(x)
    torch.testing.assert_close(torch.softmax(logits, 1), probs)
    assert not torch.allclose(logits.sum(1), torch.ones(1))


def test_fix_pytorchvideo_on_hub_models():
    from pytorchvideo.models.net import MultiPathWayWithFuse
    x3d = hub_model("x3d_xs")
    assert any(type(v) is not int for v in x3d.blocks[5].pool.pool.kernel_size)
    assert isinstance(x3d.blocks[5].activation, nn.Softmax)
    fix_pytorchvideo(x3d)
    assert [type(v) for v in x3d.blocks[5].pool.pool.kernel_size] == [int] * 3
    assert x3d.blocks[5].activation is None
    slowfast = build_model("slowfast_tiny", 5)
    assert all(not m.inplace for m in slowfast.modules() if isinstance(m, MultiPathWayWithFuse))
    assert fix_pytorchvideo(fix_pytorchvideo(slowfast)) is slowfast


def test_geometry_sets_head_window():
    m = build_model("slow_r50", 10, num_frames=4, crop_size=112)
    assert tuple(m.blocks[5].pool.kernel_size) == (4, 4, 4)
    m = build_model("c2d_r50", 10)
    assert tuple(m.blocks[6].pool.kernel_size) == (4, 7, 7)
    m = build_model("slowfast_r50", 10, num_frames=16, crop_size=160)
    assert [tuple(p.kernel_size) for p in m.blocks[5].pool] == [(4, 5, 5), (16, 5, 5)]
    m = build_model("x3d_xs", 10, num_frames=8, crop_size=112)
    assert m.blocks[5].pool.pool.kernel_size == (8, 4, 4)
    assert all(type(v) is int for v in m.blocks[5].pool.pool.kernel_size)
    assert build_model("x3d_xs", 10, dropout_rate=0.0).blocks[5].dropout is None  # overrides


# ---------------------------------------------------------------------------------------------
# pool sites and swapping

@pytest.mark.parametrize("name", sorted(SITE_COUNTS))
def test_site_counts(name):
    assert site_counts(build_model(name, 10)) == SITE_COUNTS[name]


def _structure(model):
    """Module names and types outside pooling layers, and non-pool state keys."""
    pool_names = tuple(f"{n}." for n in find_pool_sites(model))
    pool_set = set(find_pool_sites(model))
    modules = [(n, type(m)) for n, m in model.named_modules()
               if n not in pool_set and not n.startswith(pool_names)]
    keys = [k for k in model.state_dict() if not k.startswith(pool_names)]
    return modules, keys


@pytest.mark.parametrize("name", ["i3d_tiny", "slowfast_tiny", "x3d_xs_tiny"])
@pytest.mark.parametrize("pool", ["soft", "lip", "gated", "avg"])
def test_swapping_changes_only_pool_modules(name, pool):
    base = small_model(name)
    base_sites = find_pool_sites(base)
    for site in SITES:
        count = SITE_COUNTS[name]["globl" if site == "global" else site]
        if count == 0:
            with pytest.raises(ValueError, match="no pool at site"):
                small_model(name, pool, (site,))
            continue
        if site == "global" and pool == "gated":
            with pytest.raises(ValueError, match="no adaptive/global form"):
                small_model(name, pool, (site,))
            continue
        model = small_model(name, pool, (site,))
        assert _structure(model) == _structure(base)
        sites = find_pool_sites(model)
        assert sites == base_sites, "same pool positions, same sites"
        cls = zoo.POOLS[pool]
        swapped = [n for n in sites if isinstance(model.get_submodule(n),
                                                  cls.adaptive if site == "global" else cls)]
        assert len(swapped) == count and all(sites[n] == site for n in swapped)
        for n in sites:
            if sites[n] != site:
                assert type(model.get_submodule(n)) is type(base.get_submodule(n))
        for n in swapped:
            old, new = base.get_submodule(n), model.get_submodule(n)
            if site != "global":
                assert tuple(new.kernel_size) == tuple(old.kernel_size)
                assert tuple(new.stride) == tuple(old.stride if not isinstance(old.stride, int)
                                                  else (old.stride,) * 3)


def test_default_original_keeps_published_pools_and_max_swaps():
    default = build_model("slow_r50", 10)
    assert build_model("slow_r50", 10, pool="original").state_dict().keys() == default.state_dict().keys()
    all_max = build_model("slow_r50", 10, pool="max", pool_sites="all")
    assert isinstance(all_max.blocks[5].pool, nn.MaxPool3d)  # max everywhere, head included
    paper_max = build_model("slow_r50", 10, pool="max")      # the paper's protocol: stem only,
    assert type(paper_max.blocks[5].pool) is nn.AvgPool3d    # with kernel = stride
    assert tuple(paper_max.blocks[0].pool.kernel_size) == (1, 2, 2)
    assert type(default.blocks[5].pool) is nn.AvgPool3d
    assert type(default.blocks[0].pool) is nn.MaxPool3d
    original = build_model("slow_r50", 10, pool="original", pool_sites=("head",))
    assert type(original.blocks[5].pool) is nn.AvgPool3d
    max_head = build_model("slow_r50", 10, pool="max", pool_sites=("head",))
    assert isinstance(max_head.blocks[5].pool, nn.MaxPool3d)
    assert tuple(max_head.blocks[5].pool.kernel_size) == (8, 7, 7)
    assert n_params(max_head) == n_params(default)


def test_swap_errors():
    with pytest.raises(ValueError, match="no pool at site.*'head', 'global'"):
        build_model("x3d_xs_tiny", 10, pool="soft", pool_sites=("stem",))
    with pytest.raises(ValueError, match="replaces nothing"):
        build_model("r3d_18", 10, pool="gated", pool_sites="all")   # its only pool is adaptive
    with pytest.raises(ValueError, match="replaces only max pools"):
        build_model("r3d_18", 10, pool="soft")            # no max pool for the paper's protocol
    with pytest.raises(ValueError, match="per-channel.*example_input"):
        swap_pools(build_model("r3d_tiny", 10), "lip", "all")


def test_lip_gets_each_pools_channel_count():
    model = build_model("slowfast_tiny", 10, pool="lip", pool_sites="all")
    seen = {}

    def record(name):
        def hook(_module, args):
            seen[name] = args[0].shape[1]
        return hook
    hooks = [model.get_submodule(n).register_forward_pre_hook(record(n))
             for n in find_pool_sites(model)]
    model(get_spec("slowfast_tiny").example_input(batch=1))
    for h in hooks:
        h.remove()
    for name, channels in seen.items():
        assert model.get_submodule(name).logit.conv.in_channels == channels, name
    assert len(set(seen.values())) >= 3  # slow stem, fast stem, slow head, fast head differ
    assert all(p.device.type == "cpu" for p in model.parameters())


def test_pool_kwargs_reach_the_pools():
    model = build_model("r3d_tiny", 10, pool="lp", pool_sites=("stem", "head"),
                        pool_kwargs={"p": 5})
    assert [model.get_submodule(n).p for n, s in find_pool_sites(model).items()
            if s != "global"] == [5.0, 5.0]


# ---------------------------------------------------------------------------------------------
# every cheap model x every pooling method: forward and backward

# the tiny models with every method; the full X3D-XS and R3D-18 (whose only pool is the global
# one, which the tiny models also have) with a few
CHEAP = [(name, pool) for name in TINY for pool in zoo.POOLS] + \
    [("x3d_xs", pool) for pool in ("soft", "lip", "gated")] + \
    [("r3d_18", pool) for pool in ("soft", "stochastic", "lip", "gated")]


@pytest.mark.parametrize("name,pool", CHEAP, ids=[f"{n}-{p}" for n, p in CHEAP])
def test_forward_backward_all_sites(name, pool):
    torch.manual_seed(0)
    if name == "r3d_18" and zoo.POOLS[pool].adaptive is None:
        with pytest.raises(ValueError, match="replaces nothing"):
            small_model(name, pool)
        return
    model = small_model(name, pool, num_classes=7)
    swapped = find_pool_sites(model)
    assert all(isinstance(model.get_submodule(n), (zoo.POOLS[pool], zoo.POOLS[pool].adaptive))
               for n, site in swapped.items()
               if not (site == "global" and zoo.POOLS[pool].adaptive is None)) or pool == "max"
    x = small_input(name)
    y = model(x)
    assert y.shape == (2, 7) and torch.isfinite(y).all()
    y.square().mean().backward()
    for pname, param in model.named_parameters():
        assert param.grad is not None, f"no gradient reaches {pname}"
        assert torch.isfinite(param.grad).all(), pname
    learned = [p for n, p in model.named_parameters()
               if any(n.startswith(f"{q}.") for q in swapped)]
    assert (len(learned) > 0) == (pool in ("mixed", "gated", "lip", "ada"))
    if learned:  # (a pool over a single cell, e.g. the global one here, has a zero gradient)
        assert sum(p.grad.abs().sum() for p in learned) > 0
    model.eval()
    with torch.no_grad():
        assert model(x).shape == (2, 7)


@pytest.mark.parametrize("name", TINY)
def test_tiny_models_at_published_view(name):
    model = build_model(name, 11, pool="soft", pool_sites="all").eval()
    x = get_spec(name).example_input(batch=2)
    with torch.no_grad():
        assert model(x).shape == (2, 11)


def test_slowfast_input_list_is_not_overwritten():
    model = small_model("slowfast_tiny").eval()
    x = small_input("slowfast_tiny")
    shapes = [t.shape for t in x]
    with torch.no_grad():
        a = model(x)
        assert [t.shape for t in x] == shapes
        b = model(x)
    torch.testing.assert_close(a, b)


def test_fresh_input_keeps_an_unfixed_slowfast_off_the_callers_list():
    from pytorchvideo.models.net import MultiPathWayWithFuse
    from softpool3d.engine.evaluate import forward
    from softpool3d.models import fresh_input
    model = small_model("slowfast_tiny").eval()
    for m in model.modules():  # undo pitfall 3's fix: the model writes into its input list again
        if isinstance(m, MultiPathWayWithFuse):
            m.inplace = True
    x = small_input("slowfast_tiny")
    kept = list(x)
    with torch.no_grad():
        a = forward(model, x)  # the engine's forward hands it fresh_input(x)
        assert all(t is k for t, k in zip(x, kept))
        b = model(fresh_input(x))
        assert all(t is k for t, k in zip(x, kept))
        model(x)  # unprotected: the caller's list is overwritten
    assert any(t is not k for t, k in zip(x, kept))
    torch.testing.assert_close(a, b)
    t = torch.zeros(1)
    assert fresh_input(t) is t
    nested = (t, [t])
    out = fresh_input(nested)
    assert type(out) is list and len(out) == 2 and out[0] is t
    assert type(out[1]) is list and out[1] is not nested[1] and out[1][0] is t


def test_stochastic_model_is_reproducible_under_seed():
    model = small_model("i3d_tiny", "stochastic")
    x = small_input("i3d_tiny")
    outs = []
    for _ in range(2):
        torch.manual_seed(5)
        outs.append(model(x))
    torch.testing.assert_close(outs[0], outs[1])


# ---------------------------------------------------------------------------------------------
# checkpoints

def _randomise(model):
    torch.manual_seed(123)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.1)
        for name, b in model.named_buffers():
            if b.is_floating_point():
                b.uniform_(0.5, 1.5)
    return model


def test_checkpoint_round_trip_with_swapped_pools(tmp_path, capsys):
    src = _randomise(small_model("i3d_tiny", "lip"))
    x = small_input("i3d_tiny")
    path = tmp_path / "ckpt.pyth"
    torch.save({"model_state": {f"model.{k}": v for k, v in src.state_dict().items()},
                "epoch": 3}, path)
    torch.manual_seed(999)
    dst = small_model("i3d_tiny", "lip")
    report = load_checkpoint(dst, str(path))
    assert report.exact and report.stripped_prefixes == ["model."]
    assert len(report.loaded) == len(src.state_dict())
    assert "exact match" in capsys.readouterr().out
    src.eval(), dst.eval()
    with torch.no_grad():
        torch.testing.assert_close(src(x), dst(x))


def test_checkpoint_of_original_into_swapped_model(tmp_path, capsys):
    original = _randomise(small_model("i3d_tiny", num_classes=400))
    path = tmp_path / "zoo.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in original.state_dict().items()}}, path)
    swapped = small_model("i3d_tiny", "mixed", num_classes=10)
    report = load_checkpoint(swapped, str(path))
    pool_keys = [k for k in swapped.state_dict() if "mix.theta" in k]
    assert sorted(report.missing_pool_keys) == sorted(pool_keys) and len(pool_keys) == 4
    assert sorted(report.missing) == sorted(pool_keys)
    assert {k for k, _, _ in report.mismatched} == {"blocks.6.proj.weight", "blocks.6.proj.bias"}
    assert report.unexpected == [] and not report.exact
    out = capsys.readouterr().out
    assert "new pooling parameters (4)" in out and "shape mismatch" in out
    conv = "blocks.0.conv.weight"
    torch.testing.assert_close(swapped.state_dict()[conv], original.state_dict()[conv])
    with pytest.raises(RuntimeError, match="strict"):
        load_checkpoint(swapped, str(path), strict=True, verbose=False)


def test_checkpoint_plain_state_dict_unexpected_keys_and_unsafe_pickles(tmp_path):
    model = small_model("x3d_xs_tiny")
    state = dict(model.state_dict())
    state["extra.weight"] = torch.zeros(3)
    path = tmp_path / "plain.pt"
    torch.save(state, path)
    report = load_checkpoint(model, str(path), verbose=False)
    assert report.unexpected == ["extra.weight"] and report.missing == []
    with pytest.raises(RuntimeError, match="strict"):
        load_checkpoint(model, str(path), strict=True, verbose=False)

    bad = tmp_path / "with_args.pt"   # e.g. a training script's argparse arguments
    torch.save({"model_state": model.state_dict(), "args": argparse.Namespace(lr=0.1)}, bad)
    with pytest.raises(RuntimeError, match="weights_only=True"):
        load_checkpoint(model, str(bad))
