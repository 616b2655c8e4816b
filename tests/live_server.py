"""Start the real app under gunicorn on a free local port (used by tests and benchmarks)."""
import os
import signal
import socket
import subprocess
import sys
import tempfile
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
        # The port is held from here on: gunicorn inherits this listening socket (fd://)
        # rather than binding a port that free_port() let go of, which another process
        # (or any outgoing connection) on a busy machine could take in between.
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(2048)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        overrides = {"WEB_CONCURRENCY": workers, "GUNICORN_THREADS": threads,
                     "GUNICORN_WORKER_CLASS": worker_class}
        # No rate limit (gunicorn.conf.py sets one for production) unless a test asks.
        self.env = dict(os.environ, DATABASE_URL=database_url, BIND=self._inherited_bind(),
                        LOG_LEVEL="WARNING", RATE_LIMIT=os.environ.get("RATE_LIMIT", ""))
        self.env.update(env or {})
        for name in [name for name, value in self.env.items() if value is None]:
            del self.env[name]  # None: not set at all, as in production
        # None keeps gunicorn.conf.py's own setting.
        self.env.update({name: str(value) for name, value in overrides.items()
                         if value is not None})
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
