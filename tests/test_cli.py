"""The command-line tools: every ``tools/<name>.py`` is a thin shim over ``softpool3d.cli.<name>``,
installed as the ``softpool3d-<name>`` console command; both forms run (``--help``); the repository
holds no symlink, and only ``tools/profile.py`` touches ``sys.path`` (to drop its own folder, where
it would shadow the standard library's ``profile``); it runs ``softpool3d.cli.profile``."""
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import entry_points
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIMS = sorted(p.stem for p in (ROOT / "tools").glob("*.py"))
STDLIB_NAMES = {"profile"}   # shims whose name is also a standard-library module
COMMANDS = {ep.name: ep.value for ep in entry_points(group="console_scripts")
            if ep.value.startswith("softpool3d.cli.")}


def test_every_shim_has_a_console_command_and_a_library_main():
    assert SHIMS, "no tools found"
    assert {f"softpool3d-{m.replace('_', '-')}" for m in SHIMS} == set(COMMANDS)
    for name in SHIMS:
        module = name
        assert COMMANDS[f"softpool3d-{module.replace('_', '-')}"] == \
            f"softpool3d.cli.{module}:main"
        text = (ROOT / "tools" / f"{name}.py").read_text()
        code = [line for line in text.splitlines() if line.strip()
                and not line.lstrip().startswith("#")]
        assert f"from softpool3d.cli.{module} import main" in text, name
        if name in STDLIB_NAMES:   # the standard-library name's fix (see the file)
            assert len(code) <= 20 and len(PATH_SURGERY.findall(text)) == 1, name
            continue
        assert len(text.splitlines()) <= 12, f"tools/{name}.py is more than a shim"
        assert "sys.path" not in text and len(code) <= 10, name


def _run(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=str(ROOT))
    return cmd, proc


def test_help_both_ways():
    bindir = Path(sys.executable).parent
    cmds = [[sys.executable, str(ROOT / "tools" / f"{name}.py"), "--help"] for name in SHIMS]
    cmds += [[str(bindir / name), "--help"] for name in COMMANDS]
    with ThreadPoolExecutor(2) as pool:
        for cmd, proc in pool.map(_run, cmds):
            assert proc.returncode == 0, (cmd, proc.stderr[-2000:])
            assert "usage:" in proc.stdout, cmd


# sys.path edits: .insert/.append/.extend, item or slice assignment, rebinding
PATH_SURGERY = re.compile(r"\bsys\.path\s*(\.(insert|append|extend)\b|\[|=)")


def test_no_symlinks_and_no_sys_path_surgery():
    listed = subprocess.run(["git", "ls-files", "-s"], capture_output=True, text=True, cwd=str(ROOT))
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    links = [line.split("\t")[1] for line in listed.stdout.splitlines() if line.startswith("120000")]
    assert links == []
    offenders = []
    for folder in ("softpool3d", "datasets", "models", "tools", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text()
            if path.name != "test_cli.py" and PATH_SURGERY.search(text):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == ["tools/profile.py"]   # drops only its own folder (see the docstring)


def test_tools_folder_does_not_shadow_the_standard_library():
    """Only tools/profile.py carries a standard-library name, and run as a script it removes its
    folder from sys.path first: cProfile then imports the real profile module."""
    stdlib = set(sys.stdlib_module_names)
    assert [name for name in SHIMS if name in stdlib] == ["profile"]
    assert not os.path.exists(ROOT / "tools" / "__init__.py")
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "profile.py"), "--help"],
                          capture_output=True, text=True, timeout=300, cwd=str(ROOT / "tools"))
    assert proc.returncode == 0 and "usage:" in proc.stdout, proc.stderr[-2000:]
    # code run with tools/ first on the import path (`python -c` there puts its working folder
    # first, as a script in tools/ has its own folder) still gets the real module
    probe = ("import cProfile, profile, torch; "
             "print(profile.run.__module__, profile.Profile.__name__)")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=300, cwd=str(ROOT / "tools"))
    assert proc.returncode == 0 and proc.stdout.split() == ["profile", "Profile"], proc.stderr
    # torch.compile through the shim: tests/test_profile.py (--compile)
