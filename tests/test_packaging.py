"""A non-editable install: the wheel built from a copy of the checkout (as a fresh clone) holds
softpool3d.datasets / softpool3d.models mapped from the top-level folders, no top-level
``datasets``/``models`` modules, and every tool as a console command; installed on its own, it
imports from outside the repository. Built without the extension (SOFTPOOL_NO_EXTENSION=1) to stay
quick: the packaging, not the compiler, is under test here."""
import configparser
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

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
    shims = [{"profile": "profile_model"}.get(p.stem, p.stem)
             for p in (ROOT / "tools").glob("*.py")]
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
