"""Start the real app under gunicorn on a free local port (used by tests and benchmarks)."""
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# deploy/serve.py, the production launcher, as a module (deploy/ is not a package).
_spec = importlib.util.spec_from_file_location("serve", os.path.join(ROOT, "deploy", "serve.py"))
serve = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(serve)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_environment(database_url, env, **overrides):
    """The environment of a test server: `env` over the defaults (None removes a variable:
    not set at all, as in production), then `overrides` (None keeps gunicorn.conf.py's own)."""
    # No rate limit (gunicorn.conf.py sets one for production) unless a test asks.
    environment = dict(os.environ, DATABASE_URL=database_url, LOG_LEVEL="WARNING",
                       RATE_LIMIT=os.environ.get("RATE_LIMIT", ""))
    environment.update(env)
    for name in [name for name, value in environment.items() if value is None]:
        del environment[name]
    environment.update({name: str(value) for name, value in overrides.items()
                        if value is not None})
    return environment


class GunicornServer:
    """gunicorn wsgi:app with gunicorn.conf.py, a database URL and a few overrides."""

    def __init__(self, database_url, workers=2, threads=4, worker_class="gthread", env=None):
        # The port is held from here on: gunicorn inherits this listening socket (fd://)
        # rather than binding a port that free_port() let go of, which another process
        # (or any outgoing connection) on a busy machine could take in between.
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(2048)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = server_environment(database_url, {"BIND": self._inherited_bind(), **(env or {})},
                                      WEB_CONCURRENCY=workers, GUNICORN_THREADS=threads,
                                      GUNICORN_WORKER_CLASS=worker_class)
        self.process = None

    def start(self, timeout=180):
        """Boot and wait for /livez. The deadline only bounds a server that never comes up:
        a busy machine can take many seconds to import the app in the first worker."""
        # stderr (gunicorn's and the app's warnings) goes to a file, not a pipe: nobody reads
        # a pipe while the server runs, and once its buffer is full every worker that logs
        # blocks, which under load (more warnings, slower requests) looks like a hang.
        self.log = tempfile.TemporaryFile()
        inherit = self.env.get("BIND") == self._inherited_bind()  # unless BIND was changed
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=self.log,
            pass_fds=(self.listener.fileno(),) if inherit else (),
            start_new_session=True)  # its own process group: kill() reaches every worker
        self._release()  # gunicorn holds it now; once gunicorn is gone, the port is free
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("gunicorn exited: " + self.log_tail())
            try:
                if requests.get(self.url + "/livez", timeout=5).status_code == 200:
                    return self
            except (requests.ConnectionError, requests.Timeout):  # booting, or busy booting
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("gunicorn did not answer in time: " + self.log_tail())

    def _inherited_bind(self):
        return f"fd://{self.listener.fileno()}" if self.listener is not None else None

    def _release(self):
        if self.listener is not None:
            self.listener.close()
            self.listener = None

    def log_tail(self, size=2000):
        """The end of what the server wrote to stderr so far."""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-size:]

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)  # graceful_timeout is 20 s; load slows it
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self):
        """SIGKILL the master and every worker at once, as a power cut would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class ServedDeployment:
    """The production deployment as `make serve` runs it (deploy/serve.py): nginx on a free
    port in front of gunicorn (gunicorn.conf.py) on a unix socket in a fresh runtime prefix."""

    def __init__(self, database_url, workers=2, threads=4, env=None, bulk_workers=None):
        # Short, under the temporary directory: the socket's path must fit a sun_path, and as
        # root nginx's workers (www-data) must reach it.
        self.prefix = tempfile.mkdtemp(prefix="ar-serve-")
        self.env = server_environment(database_url, env or {}, WEB_CONCURRENCY=workers,
                                      GUNICORN_THREADS=threads, BULK_WORKERS=bulk_workers)
        self.process = self.log = None
        self.port = self.url = None

    def start(self, timeout=180, tries=3):
        """Boot and wait for /livez through nginx; a port taken meanwhile is tried again."""
        for _ in range(tries):
            self.port = free_port()  # nginx binds it itself: another may take it in between
            self.url = f"http://127.0.0.1:{self.port}"
            self.log = tempfile.TemporaryFile()
            self.process = subprocess.Popen(
                [sys.executable, os.path.join(ROOT, "deploy", "serve.py"),
                 "--listen", f"127.0.0.1:{self.port}", "--prefix", self.prefix],
                cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=self.log,
                start_new_session=True)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.process.poll() is None:
                try:
                    if requests.get(self.url + "/livez", timeout=5).status_code == 200:
                        return self
                except (requests.ConnectionError, requests.Timeout):
                    time.sleep(0.2)
            if self.process.poll() is None:
                self.stop()
                raise RuntimeError("the deployment did not answer in time: " + self.log_tail())
            if "Address already in use" not in self.log_tail():
                raise RuntimeError("deploy/serve.py exited: " + self.log_tail())
        raise RuntimeError("no free port for nginx: " + self.log_tail())

    def log_tail(self, size=3000):
        """The end of what the launcher, gunicorn and nginx wrote to stderr so far."""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-size:]

    def stop(self):
        """SIGTERM, as an init system stops it: nginx finishes, then gunicorn. The exit code."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # its children die with it
                self.process.wait()
        shutil.rmtree(self.prefix, ignore_errors=True)
        return self.process.returncode if self.process is not None else None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
