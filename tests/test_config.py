"""The config schema: YAML + overrides, unknown keys with suggestions, wrong types named, _base_."""
import glob
import os

import pytest

from softpool3d.config import (Config, ConfigError, load_config, parse_override, read_yaml,
                               resolve_from_model_spec, save_config)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_defaults_and_overrides():
    cfg = load_config(None, ["optim.lr=1e-3", "model.pool=soft", "data.train_scale=[40, 50]",
                             "optim.clip_grad=null", "train.amp=bf16", "model.pool_sites=[stem, head]",
                             "model.overrides.dropout_rate=0.2", "data.fold=2"])
    assert isinstance(cfg, Config)
    assert cfg.optim.lr == pytest.approx(1e-3) and isinstance(cfg.optim.lr, float)
    assert cfg.model.pool == "soft"
    assert cfg.data.train_scale == [40, 50]
    assert cfg.optim.clip_grad is None
    assert cfg.train.amp == "bf16"
    assert cfg.model.pool_sites == ["stem", "head"]
    assert cfg.model.overrides == {"dropout_rate": 0.2}
    assert cfg.data.fold == 2


def test_int_accepted_for_float_and_yaml_exponent(tmp_path):
    path = write(tmp_path, "a.yaml", "optim:\n  lr: 1e-2\n  weight_decay: 0\n")
    cfg = load_config(path)
    assert cfg.optim.lr == pytest.approx(0.01) and cfg.optim.weight_decay == 0.0


def test_unknown_key_suggests_closest(tmp_path):
    with pytest.raises(ConfigError, match=r"'optim.lr'.*did you mean 'optim.lr'|optim\.lrr") as e:
        load_config(None, ["optim.lrr=0.1"])
    assert "did you mean 'optim.lr'" in str(e.value)
    path = write(tmp_path, "b.yaml", "train:\n  batchsize: 4\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert "'train.batchsize'" in str(e.value) and "'train.batch_size'" in str(e.value)
    with pytest.raises(ConfigError, match="'modle'.*'model'"):
        load_config(None, ["modle.name=x"])


def test_wrong_type_names_the_key():
    with pytest.raises(ConfigError, match="'train.batch_size'.*int"):
        load_config(None, ["train.batch_size=abc"])
    with pytest.raises(ConfigError, match="'train.batch_size'"):
        load_config(None, ["train.batch_size=2.5"])
    with pytest.raises(ConfigError, match="'optim.lr'"):
        load_config(None, ["optim.lr=fast"])
    with pytest.raises(ConfigError, match="'train.amp'.*'bf16'"):
        load_config(None, ["train.amp=fp8"])
    with pytest.raises(ConfigError, match=r"'data.train_scale\[1\]'"):
        load_config(None, ["data.train_scale=[1, x]"])
    with pytest.raises(ConfigError, match="'train.precise_bn'"):
        load_config(None, ["train.precise_bn=3"])
    with pytest.raises(ConfigError, match="'optim'.*mapping"):
        load_config(None, ["optim=3"])


def test_bad_override_syntax():
    with pytest.raises(ConfigError, match="key.sub=value"):
        parse_override("optim.lr")
    with pytest.raises(ConfigError, match="bad key"):
        parse_override("optim..lr=1")


def test_base_inheritance_and_roundtrip(tmp_path):
    write(tmp_path, "base.yaml", "optim:\n  lr: 0.5\n  epochs: 7\nmodel:\n  name: r3d_18\n")
    (tmp_path / "sub").mkdir()
    path = write(tmp_path, "sub/child.yaml", "_base_: ../base.yaml\noptim:\n  lr: 0.25\n")
    cfg = load_config(path, ["train.seed=3"])
    assert (cfg.optim.lr, cfg.optim.epochs, cfg.model.name, cfg.train.seed) == (0.25, 7, "r3d_18", 3)
    out = str(tmp_path / "saved.yaml")
    save_config(cfg, out)
    assert load_config(out) == cfg


def test_resolve_from_model_spec():
    cfg = load_config(None, ["data.crop_size=112"])
    spec = dict(num_frames=16, sampling_rate=4, crop_size=224, test_crop_size=256, alpha=None,
                num_clips=10, num_crops=3)
    resolve_from_model_spec(cfg, spec)
    d = cfg.data
    assert (d.num_frames, d.sampling_rate, d.crop_size, d.test_crop_size) == (16, 4, 112, 256)
    assert (d.num_clips, d.num_crops, d.test_scale) == (10, 3, 256)
    assert d.train_scale is None  # build_dataset's default (crop x [8/7, 10/7]): one place


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "configs", "**", "*.yaml"),
                                               recursive=True)))
def test_shipped_configs_parse(path):
    if os.path.basename(path).startswith("_"):
        read_yaml(path)  # shared bases may be partial
        return
    from softpool3d.datasets import DATASETS
    from softpool3d.models import list_models
    cfg = load_config(path)
    assert cfg.model.name in list_models(), cfg.model.name
    assert cfg.data.name in DATASETS, cfg.data.name
    if cfg.data.train_scale:
        assert cfg.data.crop_size <= cfg.data.train_scale[0] <= cfg.data.train_scale[1]
