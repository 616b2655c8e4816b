"""Start the real app under gunicorn on a free local port (used by tests and benchmarks)."""
import os
import signal
import socket
import subprocess
import sys
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class GunicornServer:
    """gunicorn wsgi:app with gunicorn.conf.py, a database URL and a few overrides."""

    def __init__(self, database_url, workers=2, threads=4, worker_class="gthread", env=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        overrides = {"WEB_CONCURRENCY": workers, "GUNICORN_THREADS": threads,
                     "GUNICORN_WORKER_CLASS": worker_class}
        self.env = dict(os.environ, DATABASE_URL=database_url, BIND=f"127.0.0.1:{self.port}",
                        LOG_LEVEL="WARNING", **(env or {}))
        # None keeps gunicorn.conf.py's own setting.
        self.env.update({name: str(value) for name, value in overrides.items()
                         if value is not None})
        self.process = None

    def start(self, timeout=30):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True)  # its own process group: kill() reaches every worker
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("gunicorn exited: " + self.process.stderr.read().decode()[-2000:])
            try:
                if requests.get(self.url + "/livez", timeout=1).status_code == 200:
                    return self
            except (requests.ConnectionError, requests.Timeout):  # booting, or busy booting
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("gunicorn did not answer in time")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self):
        """SIGKILL the master and every worker at once, as a power cut would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
