"""A wheel built from the repository installs and runs: the CLI, the schema, the client and the
importer against a server started from that virtualenv."""
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile

import pytest
import requests
import setuptools

from live_server import ROOT, free_port

pytestmark = pytest.mark.slow


def _build_wheel(tmp_path):
    """Build from a copy of the sources (the checkout gets no build/ directory); offline when
    the virtualenv can build wheels itself (setuptools >= 70.1, or the wheel package)."""
    source = tmp_path / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("app", "schemas"):
        shutil.copytree(os.path.join(ROOT, name), source / name, ignore=ignore)
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(os.path.join(ROOT, name), source / name)
    offline = importlib.util.find_spec("wheel") is not None or \
        tuple(map(int, setuptools.__version__.split(".")[:2])) >= (70, 1)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    *(["--no-build-isolation"] if offline else []), "-w", str(tmp_path / "dist"),
                    str(source)], check=True, capture_output=True, timeout=300)
    [wheel] = (tmp_path / "dist").glob("ar_ingest-*.whl")
    return wheel


def _fresh_virtualenv(tmp_path, wheel):
    """A new virtualenv holding the wheel. Its dependencies come from the test virtualenv's
    site-packages, named in a .pth file: a path line adds the directory but runs none of its
    own .pth files, so the editable install of the checkout stays out of sight."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    python = str(venv / "bin" / "python")
    subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet",
                    "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True,
                   timeout=300)
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                              "['purelib'])"], check=True, capture_output=True, text=True
                             ).stdout.strip()
    with open(os.path.join(purelib, "test-dependencies.pth"), "w") as handle:
        handle.write(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def test_a_wheel_installs_and_runs_everywhere(tmp_path):
    wheel = _build_wheel(tmp_path)
    packaged = {name for name in zipfile.ZipFile(wheel).namelist() if name.endswith(".py")}
    sources = {os.path.relpath(os.path.join(folder, name), ROOT)
               for top in ("app", "schemas") for folder, _, names in os.walk(
                   os.path.join(ROOT, top)) for name in names if name.endswith(".py")}
    assert sources - packaged == set()  # every module ships: app.services, app.client, ...

    venv = _fresh_virtualenv(tmp_path, wheel)
    bin_dir = venv / "bin"
    work = tmp_path / "work"  # away from the checkout, so nothing imports from it
    work.mkdir()
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    env.update(DATABASE_URL=f"sqlite:///{work / 'wheel.sqlite3'}", LOG_LEVEL="WARNING")

    def run(*command, check=True):
        done = subprocess.run([str(bin_dir / command[0]), *command[1:]], cwd=work, env=env,
                              capture_output=True, text=True, timeout=120)
        assert not check or done.returncode == 0, done.stdout + done.stderr
        return done

    located = run("python", "-c", "import app, app.services.tenants, app.client; "
                                  "from app.client import IngestClient; print(app.__file__)")
    assert located.stdout.strip().startswith(str(venv))
    helped = run("ar-ingest", "--help").stdout
    assert all(name in helped for name in ("import", "db", "tenants", "keys"))
    assert "--full-sync" in run("ar-ingest", "import", "--help").stdout
    assert "Applied migrations" in run("ar-ingest", "db", "upgrade").stdout
    run("ar-ingest", "tenants", "create", "wheel")
    key = run("ar-ingest", "keys", "create", "wheel").stdout.strip().splitlines()[-1]

    port = free_port()
    server = subprocess.Popen([str(bin_dir / "python"), "-m", "gunicorn", "--workers", "1",
                               "--bind", f"127.0.0.1:{port}", "app:create_app()"],
                              cwd=work, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.poll() is None:
            try:
                if requests.get(url + "/livez", timeout=1).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):  # still booting
                time.sleep(0.2)
        assert server.poll() is None, server.stderr.read().decode()[-2000:]
        (work / "accounts.csv").write_text("account_number;name\nW-1;Wheel one\nW-2;Two\n")
        env["AR_INGEST_API_KEY"] = key
        imported = run("ar-ingest", "import", "accounts", "accounts.csv", "--url", url)
        assert "2 created" in imported.stdout
        fetched = requests.get(url + "/api/v1/ingest/accounts/W-1",
                               headers={"X-API-Key": key}, timeout=10)
        assert fetched.json()["name"] == "Wheel one"
    finally:
        server.terminate()
        server.wait(timeout=30)
