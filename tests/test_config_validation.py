"""Config values of the wrong shape or out of range end as ``error: ...`` naming the key (or the
file), exit status 2, before anything is trained: _base_ of the wrong type, non-UTF-8 files, deep
_base_ chains, unknown or mistyped pool options, model overrides, data options, pool sites, betas,
factors and probabilities outside their ranges, non-finite numbers, too few classes."""
import pytest

from softpool3d.config import ConfigError, load_config
from softpool3d.engine import compose

from _tiny_run import CONFIG, train


def write(tmp_path, name, text):
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(p)


def refused(capsys, code, *needles):
    err = capsys.readouterr().err
    assert code == 2, err
    assert "\nerror: " in "\n" + err.replace("\r", "\n") and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


@pytest.mark.parametrize("base, needle", [
    ("5", "'_base_': expected a file path or a list of file paths"),
    ("{a: 1}", "'_base_': expected a file path or a list of file paths"),
    ("[base.yaml, 3]", "'_base_'"),
    ("''", "'_base_'"),
])
def test_a_base_of_the_wrong_type_names_base_and_the_file(tmp_path, capsys, base, needle):
    path = write(tmp_path, "c.yaml", f"_base_: {base}\nmodel: {{name: r3d_tiny}}\n")
    write(tmp_path, "base.yaml", "model: {name: r3d_tiny}\n")
    from softpool3d.cli import train as train_tool
    refused(capsys, train_tool.main([path, "--output-dir", str(tmp_path / "r")]), needle, path)
    assert not (tmp_path / "r").exists()


def test_a_config_that_is_not_utf8_names_the_file_and_line(tmp_path, capsys):
    path = write(tmp_path, "latin1.yaml", "model: {name: r3d_tiny}\n# caf\xe9\n".encode("latin-1"))
    from softpool3d.cli import train as train_tool
    refused(capsys, train_tool.main([path]), f"{path}:2: not UTF-8")


def test_a_base_chain_1200_deep_is_refused_with_its_depth(tmp_path, capsys):
    write(tmp_path, "c0.yaml", "model: {name: r3d_tiny}\n")
    for i in range(1, 1200):
        write(tmp_path, f"c{i}.yaml", f"_base_: c{i - 1}.yaml\noptim: {{lr: 0.1}}\n")
    from softpool3d.cli import train as train_tool
    refused(capsys, train_tool.main([str(tmp_path / "c1199.yaml")]), "_base_ chain is deeper")


def test_a_missing_base_names_the_file_that_asks_for_it(tmp_path, capsys):
    path = write(tmp_path, "c.yaml", "_base_: nowhere.yaml\nmodel: {name: r3d_tiny}\n")
    from softpool3d.cli import train as train_tool
    refused(capsys, train_tool.main([path]), f"{path}: _base_ names", "nowhere.yaml")


@pytest.mark.parametrize("override, needle", [
    ("optim.warmup_start_factor=-1", "'optim.warmup_start_factor': must be in (0, 1]"),
    ("optim.warmup_start_factor=0", "'optim.warmup_start_factor'"),
    ("optim.warmup_start_factor=1.5", "'optim.warmup_start_factor'"),
    ("optim.momentum=1.0", "'optim.momentum': must be in [0, 1)"),
    ("optim.momentum=-0.1", "'optim.momentum'"),
    ("optim.betas=[2,3]", "'optim.betas': must be [beta1, beta2], each in [0, 1)"),
    ("optim.betas=[0.9]", "'optim.betas'"),
    ("optim.betas=[0.9,1.0]", "'optim.betas'"),
    ("optim.label_smoothing=1", "'optim.label_smoothing'"),
    ("optim.layer_decay=0", "'optim.layer_decay'"),
    ("optim.head_lr_mult=0", "'optim.head_lr_mult'"),
    ("optim.min_lr=1", "'optim.min_lr': must be at most optim.lr"),
    ("train.ema_decay=1", "'train.ema_decay'"),
    ("train.mixup_alpha=-1", "'train.mixup_alpha'"),
    ("optim.lr=.nan", "'optim.lr'"),
    ("optim.lr=.inf", "'optim.lr': must be a finite number"),
    ("optim.clip_grad=.inf", "'optim.clip_grad'"),
    ("train.cutmix_alpha=.inf", "'train.cutmix_alpha': must be a finite number"),
    ("train.dist_timeout_s=.inf", "'train.dist_timeout_s': must be a finite number"),
])
def test_numbers_outside_their_range_are_refused(capsys, override, needle):
    with pytest.raises(ConfigError, match="config key"):
        load_config(CONFIG, [override])
    from softpool3d.cli import train as train_tool
    refused(capsys, train_tool.main([CONFIG, override]), needle)


def _ranged_fields():
    from softpool3d.config import Config, _ranged_fields
    return list(_ranged_fields(Config()))


def test_every_default_lies_in_the_range_its_field_states():
    fields = _ranged_fields()
    assert len(fields) >= 30  # the ranges live beside the defaults, one per field
    for key, value, (ok, need) in fields:
        assert ok(value), f"{key}: default {value!r} is not {need}"


@pytest.mark.parametrize("key", [k for k, _, (_, need) in _ranged_fields()
                                 if need in ("at least 1", "null or at least 1")])
def test_every_count_below_1_is_refused_naming_its_key(key):
    with pytest.raises(ConfigError, match=f"config key '{key}': must be .*at least 1, got 0"):
        load_config(CONFIG, [f"{key}=0"])


def test_numbers_inside_their_ranges_pass():
    cfg = load_config(CONFIG, ["optim.warmup_start_factor=1", "optim.momentum=0",
                               "optim.betas=[0,0.999]", "optim.min_lr=0.1", "optim.lr=0.1"])
    assert cfg.optim.warmup_start_factor == 1 and cfg.optim.betas == [0, 0.999]


@pytest.mark.parametrize("overrides, needle", [
    (["model.pool=soft", "model.pool_kwargs={bogus: 1}"],
     "'model.pool_kwargs.bogus': pool 'soft' has no option 'bogus'"),
    (["model.pool=lp", "model.pool_kwargs={q: 3}"], "'model.pool_kwargs.q'"),
    (["model.pool=mixed", "model.pool_kwargs={learn: 'no'}"],
     "'model.pool_kwargs.learn': must be true or false, got 'no'"),
    (["model.pool=lp", "model.pool_kwargs={p: three}"], "'model.pool_kwargs.p': must be a number"),
    (["model.pool=soft", "model.pool_kwargs={ceil_mode: 'no'}"],
     "'model.pool_kwargs.ceil_mode': the window arguments"),
    (["model.pool=original", "model.pool_kwargs={p: 3}"], "'model.pool_kwargs'"),
    (["model.pool_sites=[bogus]"], "'model.pool_sites'"),
    (["model.pool_sites=[]"], "'model.pool_sites'"),
    (["model.pool_sites=nowhere"], "'model.pool_sites'"),
    (["data.options={strict: 3}"], "'data.options.strict': must be true or false"),
    (["data.options={mean: 0.5}"], "'data.options.mean': must be a list of 3 numbers"),
    (["data.options={std: [1, 0, 1]}"], "'data.options.std'"),
    (["data.options={short: wrap}"], "'data.options.short'"),
    (["data.options={max_retries: -1}"], "'data.options.max_retries'"),
    (["data.options={decode_threads: two}"], "'data.options.decode_threads'"),
    (["data.options={hflip: maybe}"], "'data.options.hflip'"),
    (["data.options={annotation_file: 5}"], "'data.options.annotation_file'"),
    (["data.options={frame_cache: 5}"], "'data.options.frame_cache'"),
    (["data.fold=2"], "'data.fold': synthetic has one fold"),
])
def test_options_of_the_wrong_shape_are_refused_before_any_data_is_read(tmp_path, capsys,
                                                                        overrides, needle):
    cfg = load_config(CONFIG, overrides)
    with pytest.raises(ConfigError):
        compose.resolve(cfg)
    from softpool3d.cli import train as train_tool
    out = tmp_path / "run"
    refused(capsys, train_tool.main([CONFIG, *overrides, f"data.root={tmp_path / 'none'}",
                                     "--output-dir", str(out)]), needle)
    assert not out.exists()


def test_pool_options_of_the_right_shape_pass():
    for overrides in (["model.pool=lp", "model.pool_kwargs={p: 3}"],
                      ["model.pool=mixed", "model.pool_kwargs={learn: false}"],
                      ["model.pool_sites=[stem, head]"]):
        compose.resolve(load_config(CONFIG, overrides))


def test_unknown_model_overrides_are_refused_before_the_first_step(data_root, tmp_path, capsys):
    out = tmp_path / "run"
    refused(capsys, train(data_root, out, "model.overrides={bogus_argument: 1}"),
            "'model.overrides'", "bogus_argument")
    assert not (out / "last.pth").exists()


def test_too_few_classes_for_the_dataset_is_refused_before_the_first_step(data_root, tmp_path,
                                                                          capsys):
    out = tmp_path / "run"
    refused(capsys, train(data_root, out, "model.num_classes=1"),
            "'model.num_classes': 1 is fewer than the 2 classes")
    assert not (out / "last.pth").exists() and not (out / "metrics.jsonl").exists()


def test_base_cannot_be_set_by_an_override(capsys):
    from softpool3d.cli import train as train_tool
    refused(capsys, train_tool.main([CONFIG, "_base_=other.yaml"]), "'_base_'")
