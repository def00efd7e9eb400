"""The built wheel works outside the checkout: schemas and the example site ship inside
the package (archive/core/packagedata.py) and nothing reads a path into a checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from servers import ARTICLE

from archive.core import packagedata

ROOT = Path(__file__).resolve().parent.parent
# what a source distribution would hold: the checkout without its caches and data
_NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "data", "build", "*.egg-info",
                                     "__pycache__", ".*_cache", ".hypothesis", "bench",
                                     "test-output")


def test_each_schema_has_one_copy_read_through_the_package() -> None:
    """schemas/ stays at the top (the fixed layout); archive/schemas is a link to it, not
    a second copy, and the loader reads every schema there is."""
    top = sorted(p.name for p in (ROOT / "schemas").glob("*.schema.json"))
    assert (ROOT / "archive" / "schemas").resolve() == (ROOT / "schemas").resolve()
    assert (ROOT / "archive" / "examples").resolve() == (ROOT / "examples").resolve()
    assert packagedata.schema_names() == top
    for name in top:
        assert packagedata.load_schema(name)["$schema"].startswith("https://json-schema.org/")


def test_no_module_reads_a_path_relative_to_the_checkout() -> None:
    """Paths climbing out of the package (``parents[N]``, ``.parent.parent``) only work in
    a checkout; the package's own files come from importlib.resources."""
    offenders = []
    for path in [*(ROOT / "archive").rglob("*.py"), *(ROOT / "pipelines").rglob("*.py")]:
        text = path.read_text("utf-8")
        if "parents[" in text or ".parent.parent" in text:
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, f"{cmd[:3]} exited {done.returncode}:\n{done.stdout}\n" \
                                 f"{done.stderr}"
    return done


@pytest.mark.slow
def test_the_wheel_installed_in_a_fresh_venv_extracts_captures_and_verifies(
        tmp_path: Path, http_server) -> None:
    """Build the wheel from a copy of the sources, install it (``--no-deps``) into a new
    virtual environment, and run extract, capture (loopback), verify, bundle and
    verify-bundle from an unrelated folder.

    Offline and honest: the dependencies are those already installed for the tests,
    reached through a plain ``.pth`` path entry (which runs none of that directory's
    ``.pth`` files, so the checkout's editable install is not on the path), and
    PYTHONPATH is cleared; the test asserts that ``archive`` is imported from the venv.
    """
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, symlinks=True, ignore=_NOT_SOURCE)
    wheels = tmp_path / "wheels"
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("ARCHIVE_")}
    _run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "-q",
          "--disable-pip-version-check", "-w", str(wheels)], cwd=tmp_path, env=env)
    (wheel,) = wheels.glob("provenance_archive-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in packagedata.schema_names():
        assert f"archive/schemas/{name}" in names
    assert {"archive/examples/sources.yaml", "archive/examples/site/index.html"} <= names

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path, env=env)
    py = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps",
          "--no-index", "-q", "--disable-pip-version-check", str(wheel)],
         cwd=tmp_path, env=env)
    site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                     cwd=tmp_path, env=env).stdout.strip())
    shared = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (site / "zz_shared_dependencies.pth").write_text("".join(f"{p}\n" for p in sorted(shared)))

    work = tmp_path / "elsewhere"
    work.mkdir()
    env.update(ARCHIVE_HOME=str(work / "home"), PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}")
    where = json.loads(_run([str(py), "-c", (
        "import json, archive, archive.core.packagedata as p; print(json.dumps("
        "[archive.__file__, str(p.examples_dir())]))")], cwd=work, env=env).stdout)
    assert all(Path(w).resolve().is_relative_to(venv.resolve()) for w in where), where

    archive = str(venv / "bin" / "archive")
    page = work / "page.html"
    page.write_bytes(ARTICLE)
    extracted = json.loads(_run([archive, "extract", "--json", str(page), "--url",
                                 "https://news.example/a"], cwd=work, env=env).stdout)
    assert extracted["title"]["value"] == "Storm closes the harbour for a second day"

    (item,) = json.loads(_run([archive, "capture", "--json", "--allow-private-networks",
                               http_server.url("/article")], cwd=work, env=env).stdout)
    assert item["status"] == "complete"
    assert item["metadata"]["title"] == "Storm closes the harbour for a second day"
    assert Path(item["warc_path"]).resolve().is_relative_to((work / "home").resolve())
    report = json.loads(_run([archive, "verify", "--json"], cwd=work, env=env).stdout)
    assert report["ok"] is True and report["captures"] == 1

    key = json.loads(_run([archive, "init", "--json"], cwd=work, env=env).stdout)
    _run([archive, "bundle", item["capture_id"], "-o", "cap.bundle.json"], cwd=work, env=env)
    checked = _run([archive, "verify-bundle", "cap.bundle.json", "--key", key["fingerprint"]],
                   cwd=work, env=env).stdout
    assert "proof-bundle.schema.json" in checked
