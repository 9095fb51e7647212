"""The source distribution holds everything the extension build needs (without its headers,
`pip install softpool3d-*.tar.gz` cannot compile). Builds the sdist into a temporary
folder and inspects the tarball; compiling it is left to CI's full install."""
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # builds the sdist
ROOT = Path(__file__).resolve().parent.parent
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


@pytest.fixture(scope="module")
def sdist_names(tmp_path_factory):
    if not (ROOT / "setup.py").is_file() or not (ROOT / "csrc").is_dir():
        pytest.skip("not a source checkout")
    out = tmp_path_factory.mktemp("sdist")
    # egg_info into the temporary folder: nothing is written into the checkout.
    subprocess.run([sys.executable, "setup.py", "-q", "egg_info", "--egg-base", str(out),
                    "sdist", "--dist-dir", str(out)], cwd=ROOT, check=True,
                   capture_output=True, timeout=300)
    (tarball,) = out.glob("softpool3d-*.tar.gz")
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
        top = names[0].split("/")[0]
        sources = {n[len(top) + 1:]: tar.extractfile(n).read().decode()
                   for n in names if re.search(r"\.(h|cpp|cu|cuh)$", n)}
    return {n[len(top) + 1:] for n in names if "/" in n}, sources


def test_every_extension_source_is_in_the_sdist(sdist_names):
    names, _ = sdist_names
    on_disk = {str(p.relative_to(ROOT)) for p in (ROOT / "csrc").rglob("*")
               if p.suffix in (".h", ".cpp", ".cu", ".cuh")}
    assert on_disk, "no sources found under csrc/"
    assert not on_disk - names, f"missing from the sdist: {sorted(on_disk - names)}"
    assert {"setup.py", "pyproject.toml", "README.md", "softpool3d/__init__.py",
            "softpool3d/ops.py", "softpool3d/reference.py"} <= names


def test_every_quoted_include_resolves_inside_the_sdist(sdist_names):
    names, sources = sdist_names
    unresolved = []
    for path, text in sources.items():
        for inc in INCLUDE.findall(text):
            # the build's include path: the including file's folder, then csrc/
            candidates = {os.path.normpath(os.path.join(os.path.dirname(path), inc)),
                          os.path.normpath(os.path.join("csrc", inc))}
            if not candidates & names:
                unresolved.append(f"{path}: {inc}")
    assert not unresolved, unresolved
