"""The production deployment, `make serve`: nginx in front of gunicorn, in the foreground.

    .venv/bin/python deploy/serve.py [--listen 0.0.0.0:8080] [--prefix DIR]

1. `ar-ingest db upgrade`;
2. renders deploy/nginx.conf into the runtime prefix (PREFIX/nginx.conf) and checks it;
3. starts gunicorn (gunicorn.conf.py, BIND set to the upstream: a unix socket in the prefix
   unless --upstream says otherwise) and waits until it answers /livez;
4. starts nginx on the public address, not as a daemon.

SIGTERM or SIGINT stops nginx gracefully (it finishes the requests it holds), then gunicorn;
a second one stops both at once. When either exits on its own, the other is stopped and
this exits nonzero. Without nginx it says so and exits 2. --print-config prints the
rendered configuration instead, for an nginx run otherwise (a system service, a container).

Settings (options, else the environment): LISTEN (default 127.0.0.1:8000), UPSTREAM,
SERVE_PREFIX (default instance/serve), NGINX (the binary; else PATH, /usr/sbin), NGINX_USER
(nginx's workers when started as root; default www-data). gunicorn and the app read theirs
as always (WEB_CONCURRENCY, GUNICORN_THREADS, DATABASE_URL, ...); BIND is the upstream's.
"""
import argparse
import ctypes
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TEMPLATE = os.path.join(HERE, "nginx.conf")
_PLACEHOLDER = re.compile(r"\{\{(\w*)\}\}")
_ADDRESS = re.compile(r"^(unix:/[^\s;{}'\"]+|[\w.\-]+:\d+|\[[0-9A-Fa-f:.]+\]:\d+|\d+)$")
_UNIX_PATH_MAX = 107  # sun_path holds 108 bytes with its terminating NUL


class ServeError(Exception):
    """Something the operator must fix; its message says what."""


def find_nginx(configured=None):
    """The nginx binary: NGINX, else PATH, else /usr/sbin and /usr/local/sbin (Debian puts it in
    /usr/sbin, which an unprivileged user's PATH lacks). None when there is none."""
    configured = configured or os.environ.get("NGINX")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
    return shutil.which("nginx", path=path)


def render(template, values):
    """Replace each `{{name}}` outside comment lines; an unknown name is an error."""
    def replace(match):
        if match.group(1) not in values:
            raise ServeError(f"deploy/nginx.conf: no value for {match.group(0)}")
        return str(values[match.group(1)])
    return "".join(line if line.lstrip().startswith("#") else _PLACEHOLDER.sub(replace, line)
                   for line in template.splitlines(keepends=True))


def settings(environ=None):
    """The values the template takes from the app's and gunicorn's settings."""
    sys.path.insert(0, ROOT)
    from app.config import DEFAULTS, from_environment

    environ = os.environ if environ is None else environ
    config = dict(DEFAULTS, **from_environment(environ))
    # gunicorn closes an idle connection after GUNICORN_KEEPALIVE seconds: nginx lets go of
    # its idle ones half a second before, so it never sends a request down a closing one.
    keepalive = int(environ.get("GUNICORN_KEEPALIVE", "5"))
    return {"max_body_bytes": int(config["MAX_BATCH_BODY_BYTES"]),
            "upstream_keepalive_timeout": f"{max(500, keepalive * 1000 - 500)}ms"}


def _check_address(name, value):
    if not _ADDRESS.match(value):
        raise ServeError(f"{name}={value!r}: expected host:port, [v6]:port, a port or "
                         "unix:/absolute/path")
    if value.startswith("unix:") and len(value[5:].encode()) > _UNIX_PATH_MAX:
        raise ServeError(f"{name}: the socket path {value[5:]!r} is longer than a unix socket "
                         f"path may be ({_UNIX_PATH_MAX} bytes); choose a shorter --prefix")
    return value


def _nginx_user():
    """As root, nginx's workers run as NGINX_USER (www-data); unprivileged, as the caller."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get("NGINX_USER") or "www-data"
    try:
        pwd.getpwnam(name)
    except KeyError:
        raise ServeError(f"nginx's workers would run as {name!r}, which does not exist: "
                         "set NGINX_USER") from None
    return name


def prepare_prefix(prefix, user):
    """The runtime directory: nginx.conf, nginx.pid, logs/, temp/ and gunicorn's socket."""
    for directory in (prefix, os.path.join(prefix, "logs"), os.path.join(prefix, "temp")):
        os.makedirs(directory, exist_ok=True)
    if user is None:
        return
    # Workers of another user must reach temp/ (nginx gives them its subdirectories) and
    # the socket: every directory on the way needs search permission for others.
    os.chmod(prefix, os.stat(prefix).st_mode | 0o711)
    directory = prefix
    while True:
        if not os.stat(directory).st_mode & stat.S_IXOTH:
            raise ServeError(f"nginx's workers (user {user}) cannot enter {directory}: "
                             "choose a --prefix they can reach, or chmod o+x it")
        parent = os.path.dirname(directory)
        if parent == directory:
            return
        directory = parent


def _nginx_command(nginx, prefix, config, user, *extra):
    directives = "daemon off;" + (f" user {user};" if user else "")
    return [nginx, "-p", prefix + os.sep, "-c", config, "-g", directives, *extra]


def _answers_livez(upstream, timeout=2.0):
    """Whether gunicorn answers GET /livez with 200 on its socket."""
    try:
        if upstream.startswith("unix:"):
            sock = socket.socket(socket.AF_UNIX)
            sock.settimeout(timeout)
            sock.connect(upstream[5:])
        else:
            host, _, port = upstream.rpartition(":")
            sock = socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)),
                                            timeout=timeout)
        with sock:
            sock.sendall(b"GET /livez HTTP/1.0\r\nHost: localhost\r\n\r\n")
            return sock.recv(64).startswith((b"HTTP/1.0 200", b"HTTP/1.1 200"))
    except OSError:
        return False


def _die_with_parent():
    """In the child: SIGTERM when the launcher dies, so no server outlives it (Linux)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


def _stop(process, sig, timeout):
    """Send `sig`, wait up to `timeout`, then SIGKILL; the exit code."""
    if process.poll() is None:
        try:
            process.send_signal(sig)
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


def _kill_group(process):
    """SIGKILL what is left of a child's process group: nginx's workers outlive a master that
    was killed, and would hold the port against the next start."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # nothing left of it


def rendered_config(listen, upstream):
    """deploy/nginx.conf with this deployment's values."""
    with open(TEMPLATE) as template:
        return render(template.read(), dict(settings(), listen=_check_address("LISTEN", listen),
                                            upstream=_check_address("UPSTREAM", upstream)))


def serve(listen, upstream, prefix, nginx):
    user = _nginx_user()
    prefix = os.path.abspath(prefix)
    upstream = _check_address("UPSTREAM", upstream or f"unix:{prefix}/gunicorn.sock")
    listen = _check_address("LISTEN", listen)
    prepare_prefix(prefix, user)
    config = os.path.join(prefix, "nginx.conf")
    with open(config, "w") as rendered:
        rendered.write(rendered_config(listen, upstream))
    checked = subprocess.run(_nginx_command(nginx, prefix, config, user, "-t", "-q"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if checked.returncode:
        raise ServeError(f"nginx refuses {config}:\n{checked.stderr.strip()}")

    env = dict(os.environ, BIND=upstream)
    subprocess.run([sys.executable, "-c", "import sys; from app.cli import main; "
                    "sys.argv[0] = 'ar-ingest'; main()", "db", "upgrade"],
                   cwd=ROOT, env=env, check=True)

    stopping = []
    children = {}

    def on_signal(signum, frame):
        stopping.append(signum)
        if len(stopping) > 1:  # a second one: stop now
            for process, sig in ((children.get("nginx"), signal.SIGTERM),
                                 (children.get("gunicorn"), signal.SIGINT)):
                if process is not None and process.poll() is None:
                    process.send_signal(sig)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    common = {"cwd": ROOT, "start_new_session": True, "preexec_fn": _die_with_parent}
    gunicorn = children["gunicorn"] = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", os.path.join(ROOT, "gunicorn.conf.py"),
         "wsgi:app"], env=env, **common)
    try:
        while not _answers_livez(upstream):
            if stopping or gunicorn.poll() is not None:
                return 0 if stopping and gunicorn.poll() in (None, 0) else 1
            time.sleep(0.2)
        nginx_process = children["nginx"] = subprocess.Popen(
            _nginx_command(nginx, prefix, config, user), env=env, **common)
        print(f"serve: http://{listen} (nginx, prefix {prefix}) -> gunicorn at {upstream}",
              file=sys.stderr, flush=True)
        while not stopping and nginx_process.poll() is None and gunicorn.poll() is None:
            time.sleep(0.2)
        if not stopping:
            dead = "nginx" if nginx_process.poll() is not None else "gunicorn"
            print(f"serve: {dead} exited with {children[dead].returncode}; stopping the other",
                  file=sys.stderr, flush=True)
        # nginx first, gracefully: the requests it holds still need gunicorn.
        nginx_code = _stop(nginx_process, signal.SIGQUIT, timeout=40)
        _kill_group(nginx_process)
    finally:
        gunicorn_code = _stop(gunicorn, signal.SIGTERM, timeout=40)  # graceful_timeout: 20 s
        _kill_group(gunicorn)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    return 0 if stopping and nginx_code == 0 and gunicorn_code == 0 else 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", default=os.environ.get("LISTEN", "127.0.0.1:8000"),
                        help="the public address (LISTEN; default 127.0.0.1:8000)")
    parser.add_argument("--upstream", default=os.environ.get("UPSTREAM"),
                        help="where gunicorn listens for nginx (UPSTREAM; default "
                             "unix:PREFIX/gunicorn.sock)")
    parser.add_argument("--prefix", default=os.environ.get("SERVE_PREFIX")
                        or os.path.join(ROOT, "instance", "serve"),
                        help="nginx's runtime directory (SERVE_PREFIX; default instance/serve)")
    parser.add_argument("--nginx", default=None, help="the nginx binary (NGINX)")
    parser.add_argument("--print-config", action="store_true",
                        help="print the rendered nginx.conf (for an nginx of your own) and exit")
    args = parser.parse_args(argv)
    if args.print_config:
        upstream = args.upstream or f"unix:{os.path.abspath(args.prefix)}/gunicorn.sock"
        try:
            sys.stdout.write(rendered_config(args.listen, upstream))
        except ServeError as error:
            print(f"serve: {error}", file=sys.stderr)
            return 2
        return 0
    nginx = find_nginx(args.nginx)
    if nginx is None:
        print("serve: nginx is not installed (looked for NGINX, then nginx on PATH, "
              "/usr/sbin and /usr/local/sbin). On Debian: apt-get install nginx. "
              "`make run` serves without it, for development only.", file=sys.stderr)
        return 2
    try:
        return serve(args.listen, args.upstream, args.prefix, nginx)
    except ServeError as error:
        print(f"serve: {error}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as error:
        print(f"serve: {' '.join(error.cmd[-2:])} failed ({error.returncode})", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
