"""A non-editable install: the wheel built from a copy of the checkout (as a fresh clone) holds
softpool3d.datasets / softpool3d.models / softpool3d.configs mapped from the top-level folders (each
config once), no top-level ``datasets``/``models`` modules, and every tool as a console command;
installed on its own, it imports from outside the repository, and installed in a fresh virtual
environment its demo runs in any folder. Built without the extension (SOFTPOOL_NO_EXTENSION=1) to
stay quick: the packaging, not the compiler, is under test here (the installed package runs on the
pure-PyTorch reference)."""
import configparser
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from _tiny_run import tool_env

pytestmark = pytest.mark.slow  # builds and installs a wheel
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True)
    if files.returncode != 0:
        pytest.skip("not a git checkout")
    src = tmp_path_factory.mktemp("clone")
    for name in files.stdout.splitlines():
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("wheel")
    env = dict(os.environ, SOFTPOOL_NO_EXTENSION="1")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                           "--no-build-isolation", str(src), "-w", str(out)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = out.glob("softpool3d-*.whl")
    return path


def test_wheel_maps_the_top_level_folders(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for module in ("softpool3d/datasets/__init__.py", "softpool3d/datasets/video_dataset.py",
                   "softpool3d/models/__init__.py", "softpool3d/models/factory.py",
                   "softpool3d/engine/__init__.py", "softpool3d/cli/train.py",
                   "softpool3d/report.py"):
        assert module in names, module
    assert not [n for n in names if n.startswith(("datasets/", "models/", "tools/", "tests/"))]


def test_wheel_declares_every_tool(wheel):
    archive = zipfile.ZipFile(wheel)
    (entry,) = [n for n in archive.namelist() if n.endswith("entry_points.txt")]
    parser = configparser.ConfigParser()
    parser.read_string(archive.read(entry).decode())
    commands = dict(parser["console_scripts"])
    shims = [p.stem for p in (ROOT / "tools").glob("*.py")]
    assert commands == {f"softpool3d-{s.replace('_', '-')}": f"softpool3d.cli.{s}:main"
                        for s in shims}


def test_installed_wheel_imports_outside_the_repository(wheel, tmp_path):
    target = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                           "--target", str(target), str(wheel)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    code = ("import softpool3d, softpool3d.datasets, softpool3d.models, softpool3d.cli.train;"
            "print(softpool3d.__file__); print(softpool3d.datasets.__file__);"
            "print(softpool3d.models.build_model('r3d_tiny', 3).__class__.__name__)")
    env = dict(os.environ, PYTHONPATH=str(target))
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.split()
    assert all(line.startswith(str(target)) for line in lines[:2]), lines


def test_wheel_ships_every_config_once(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    configs = sorted(f"softpool3d/{p.relative_to(ROOT).as_posix()}"
                     for p in (ROOT / "configs").rglob("*.yaml"))
    assert configs and sorted(n for n in names if n.endswith(".yaml")) == configs
    assert "softpool3d/configs/__init__.py" in names


def _stamps(folder: Path):
    """``{path: mtime}`` of everything under ``folder``, or None when it does not exist."""
    if not folder.exists():
        return None
    return {p: p.stat().st_mtime_ns for p in [folder, *folder.rglob("*")]}


def test_installed_demo_runs_in_any_folder(wheel, tmp_path):
    """``softpool3d-demo --quick`` (tiny sizes) from a fresh virtual environment outside the
    checkout, in an empty folder: the configs come from the installed package, data/ and runs/ are
    written there and nothing under the checkout. The dependencies are this environment's (a .pth
    file; nothing is downloaded)."""
    venv, work = tmp_path / "venv", tmp_path / "work"
    work.mkdir()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    proc = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                           str(wheel)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # added after the install, so that pip saw only the fresh environment
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path("
                           "'purelib'))"], capture_output=True, text=True, check=True).stdout.strip()
    deps = dict.fromkeys(sysconfig.get_path(k) for k in ("purelib", "platlib"))
    Path(site, "test_dependencies.pth").write_text("".join(f"{d}\n" for d in deps))
    env = tool_env()
    env.pop("PYTHONPATH", None)
    code = "import softpool3d.config, softpool3d.configs as c; print(c.__file__)"
    where = subprocess.run([str(python), "-c", code], cwd=work, env=env, capture_output=True,
                           text=True, timeout=300)
    assert where.stdout.startswith(site), where.stdout + where.stderr[-3000:]

    watched = [ROOT / "data" / "synthetic_demo", ROOT / "runs" / "demo_quick"]
    before = [_stamps(p) for p in watched]
    proc = subprocess.run([str(venv / "bin" / "softpool3d-demo"), "--quick", "--seeds", "0",
                           "--jobs", "1", "--train-per-class", "2", "--test-per-class", "1",
                           "--epochs", "1", "--no-profile", "train.tensorboard=false"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    runs = work / "runs" / "demo_quick"
    for pool in ("original", "soft"):
        assert (runs / "r3d_tiny" / pool / "seed0" / "results.json").is_file(), pool
    assert (runs / "report" / "report.md").is_file()
    assert any((work / "data" / "synthetic_demo").iterdir())
    assert sorted(p.name for p in work.iterdir()) == ["data", "runs"]
    assert [_stamps(p) for p in watched] == before, "the demo wrote into the checkout"
