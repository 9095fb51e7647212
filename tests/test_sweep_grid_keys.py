"""tools/sweep.py refuses overrides of the keys its grid sets for each run (a max run filed as
the soft cell, then skipped as finished), with exit status 2 and nothing run."""
import pytest

from softpool3d.cli import sweep


@pytest.mark.parametrize("override, option", [
    ("model.pool=max", "--pools"), ("model.name=x3d_xs_tiny", "--models"),
    ("train.seed=7", "--seeds"), ("model.pool_sites=[head]", "--sites"),
    ("model={pool: max}", "--pools"), ("data.name=ucf101", "--dataset"),
    ("train.output_dir=elsewhere", "--out"),
])
def test_an_override_of_a_grid_key_is_refused(tmp_path, capsys, override, option):
    out = tmp_path / "sweep"
    code = sweep.main(["--pools", "soft", "--seeds", "0", "--out", str(out), "--dry-run",
                       override])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: override") and option in err, err
    assert not out.exists()


def test_other_overrides_pass(capsys):
    assert sweep.main(["--pools", "soft", "--seeds", "0", "--dry-run", "optim.lr=0.1",
                       "model.pool_kwargs={}"]) == 0
    assert "optim.lr=0.1" in capsys.readouterr().out
