"""The production deployment, `make serve`: nginx in front of gunicorn, in the foreground.

    .venv/bin/python deploy/serve.py [--listen 0.0.0.0:8080] [--prefix DIR]

1. `ar-ingest db upgrade`;
2. renders deploy/nginx.conf into the runtime prefix (PREFIX/nginx.conf) and checks it;
3. starts two gunicorn pools (gunicorn.conf.py), each on a unix socket in the prefix unless
   --upstream / --bulk-upstream say otherwise: one for every route, and one of BULK_WORKERS
   niced workers for the bulk routes (batches, matching upserts, link lists, email events),
   so that one tenant's batches never share a worker, or its GIL, with another's quick
   reads; waits until both answer /livez;
4. starts nginx on the public address, not as a daemon; it sends the bulk routes' paths
   (read off the app's route declarations) to the bulk pool.

SIGTERM or SIGINT stops nginx gracefully (it finishes the requests it holds), then gunicorn;
a second one stops all at once. When one exits on its own, the others are stopped and
this exits nonzero. Without nginx it says so and exits 2. --print-config prints the
rendered configuration instead, for an nginx run otherwise (a system service, a container).

Settings (options, else the environment): LISTEN (default 127.0.0.1:8000), UPSTREAM,
BULK_UPSTREAM (not UPSTREAM's), BULK_WORKERS (default one per core; 0: one pool for every
route), BULK_NICE (0 to 19, default 10), SERVE_PREFIX (default instance/serve; one launcher
each), NGINX (the binary; else PATH, /usr/sbin), NGINX_USER (nginx's workers when started as
root; default www-data). gunicorn and the app read theirs as always (WEB_CONCURRENCY,
GUNICORN_THREADS, DATABASE_URL, ...); BIND is each pool's upstream. Both pools write their
metrics to PREFIX/metrics, which /metrics reads.
"""
import argparse
import ctypes
import fcntl
import multiprocessing
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


def bulk_paths_pattern():
    """A regular expression of the bulk routes' paths, from the app's route declarations."""
    sys.path.insert(0, ROOT)
    from app import create_app
    from app.api.policy import bulk_rules

    # The routes do not depend on the database: an in-memory one is never opened.
    rules = bulk_rules(create_app({"DATABASE_URL": "sqlite:///:memory:"}))
    paths = ["[^/]+".join(re.escape(part) for part in re.split(r"<[^>]+>", rule))
             for rule in rules]
    return "^(?:" + "|".join(paths) + ")$"


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


def lock_prefix(prefix):
    """Hold PREFIX/serve.lock while this launcher runs (the kernel lets go when it dies): a
    second launcher on the same prefix would take over the first one's sockets."""
    descriptor = os.open(os.path.join(prefix, "serve.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise ServeError(f"another deploy/serve.py is running with the prefix {prefix}: stop "
                         "it, or give this one a --prefix of its own") from None
    return descriptor


def integer_setting(name, value, low, high):
    """A whole number from an option or the environment, within [low, high]."""
    try:
        number = int(str(value).strip())
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        raise ServeError(f"{name}={value!r}: expected a whole number from {low} to {high}")
    return number


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


def _stop(processes, sig, timeout):
    """Send `sig` to each process still running, wait up to `timeout` for all (they stop side
    by side), then SIGKILL the rest; their exit codes."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(sig)
    deadline = time.monotonic() + timeout
    codes = []
    for process in processes:
        try:
            codes.append(process.wait(timeout=max(0.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            process.kill()
            codes.append(process.wait())
    return codes


def _kill_group(process):
    """SIGKILL what is left of a child's process group: nginx's workers outlive a master that
    was killed, and would hold the port against the next start."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # nothing left of it


def template_values(listen, upstream, bulk_upstream=None):
    """Every value deploy/nginx.conf takes; without a bulk pool its routes go to `upstream`."""
    return dict(settings(), listen=_check_address("LISTEN", listen),
                upstream=_check_address("UPSTREAM", upstream),
                bulk_upstream=_check_address("BULK_UPSTREAM", bulk_upstream or upstream),
                bulk_paths=bulk_paths_pattern())


def rendered_config(listen, upstream, bulk_upstream=None):
    """deploy/nginx.conf with this deployment's values."""
    with open(TEMPLATE) as template:
        return render(template.read(), template_values(listen, upstream, bulk_upstream))


def _empty_directory(directory):
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)


def pool_environments(upstream, bulk_upstream, bulk_workers, prefix, environ=None,
                      bulk_nice=10):
    """{pool name: its gunicorn's environment}: every route's pool, and the bulk pool unless
    `bulk_workers` is 0. Both write their metrics to one directory (emptied by serve)."""
    environ = dict(os.environ if environ is None else environ,
                   PROMETHEUS_MULTIPROC_DIR=os.path.join(prefix, "metrics"),
                   METRICS_DIR_SHARED="1")
    pools = {"gunicorn": dict(environ, BIND=upstream)}
    if bulk_workers:
        pools["gunicorn-bulk"] = dict(environ, BIND=bulk_upstream,
                                      WEB_CONCURRENCY=str(bulk_workers),
                                      GUNICORN_NICE=str(bulk_nice))
    return pools


def upstreams(prefix, upstream, bulk_upstream, bulk_workers):
    """(every route's upstream, the bulk pool's): the prefix's sockets unless given; without a
    bulk pool both are the first. Two pools on one address would split its connections."""
    upstream = _check_address("UPSTREAM", upstream or f"unix:{prefix}/gunicorn.sock")
    if not bulk_workers:
        return upstream, upstream
    bulk_upstream = _check_address("BULK_UPSTREAM",
                                   bulk_upstream or f"unix:{prefix}/gunicorn-bulk.sock")
    if bulk_upstream == upstream:
        raise ServeError(f"UPSTREAM and BULK_UPSTREAM are both {upstream}: each pool needs an "
                         "address of its own (or BULK_WORKERS=0 for one pool)")
    return upstream, bulk_upstream


def serve(listen, upstream, prefix, nginx, bulk_upstream=None, bulk_workers=0, bulk_nice=10):
    user = _nginx_user()
    prefix = os.path.abspath(prefix)
    upstream, bulk_upstream = upstreams(prefix, upstream, bulk_upstream, bulk_workers)
    listen = _check_address("LISTEN", listen)
    prepare_prefix(prefix, user)
    prefix_lock = lock_prefix(prefix)
    config = os.path.join(prefix, "nginx.conf")
    with open(config, "w") as rendered:
        rendered.write(rendered_config(listen, upstream, bulk_upstream))
    checked = subprocess.run(_nginx_command(nginx, prefix, config, user, "-t", "-q"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if checked.returncode:
        raise ServeError(f"nginx refuses {config}:\n{checked.stderr.strip()}")

    pools = pool_environments(upstream, bulk_upstream, bulk_workers, prefix,
                              bulk_nice=bulk_nice)
    _empty_directory(pools["gunicorn"]["PROMETHEUS_MULTIPROC_DIR"])
    subprocess.run([sys.executable, "-c", "import sys; from app.cli import main; "
                    "sys.argv[0] = 'ar-ingest'; main()", "db", "upgrade"],
                   cwd=ROOT, env=pools["gunicorn"], check=True)

    stopping = []
    children = {}

    def on_signal(signum, frame):
        stopping.append(signum)
        if len(stopping) > 1:  # a second one: stop now
            for name, process in children.items():
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM if name == "nginx" else signal.SIGINT)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    common = {"cwd": ROOT, "start_new_session": True, "preexec_fn": _die_with_parent}
    for name, env in pools.items():
        children[name] = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", os.path.join(ROOT, "gunicorn.conf.py"),
             "wsgi:app"], env=env, **common)
    try:
        waiting = dict(pools)
        while waiting:
            if stopping or any(process.poll() is not None for process in children.values()):
                return 0 if stopping and all(process.poll() in (None, 0)
                                             for process in children.values()) else 1
            waiting = {name: env for name, env in waiting.items()
                       if not _answers_livez(env["BIND"])}
            if waiting:
                time.sleep(0.2)
        nginx_process = children["nginx"] = subprocess.Popen(
            _nginx_command(nginx, prefix, config, user), env=pools["gunicorn"], **common)
        bulk = f", bulk routes -> {bulk_upstream}" if bulk_workers else ""
        print(f"serve: http://{listen} (nginx, prefix {prefix}) -> gunicorn at {upstream}"
              f"{bulk}", file=sys.stderr, flush=True)
        while not stopping and all(process.poll() is None for process in children.values()):
            time.sleep(0.2)
        if not stopping:
            dead = next(name for name, process in children.items() if process.poll() is not None)
            print(f"serve: {dead} exited with {children[dead].returncode}; stopping the others",
                  file=sys.stderr, flush=True)
        # nginx first, gracefully: the requests it holds still need gunicorn.
        nginx_codes = _stop([nginx_process], signal.SIGQUIT, timeout=40)
        _kill_group(nginx_process)
    finally:
        names = [name for name in children if name != "nginx"]
        gunicorns = [children[name] for name in names]
        # Each pool finishes its requests within graceful_timeout (20 s).
        gunicorn_codes = _stop(gunicorns, signal.SIGTERM, timeout=40)
        for name, code in zip(names, gunicorn_codes):
            if code and stopping:
                print(f"serve: {name} stopped with exit code {code}", file=sys.stderr,
                      flush=True)
        for process in gunicorns:
            _kill_group(process)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.close(prefix_lock)
    return 0 if stopping and not any(nginx_codes + gunicorn_codes) else 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", default=os.environ.get("LISTEN", "127.0.0.1:8000"),
                        help="the public address (LISTEN; default 127.0.0.1:8000)")
    parser.add_argument("--upstream", default=os.environ.get("UPSTREAM"),
                        help="where gunicorn listens for nginx (UPSTREAM; default "
                             "unix:PREFIX/gunicorn.sock)")
    parser.add_argument("--bulk-upstream", default=os.environ.get("BULK_UPSTREAM"),
                        help="where the bulk pool listens (BULK_UPSTREAM; default "
                             "unix:PREFIX/gunicorn-bulk.sock)")
    parser.add_argument("--bulk-workers",
                        default=os.environ.get("BULK_WORKERS", str(multiprocessing.cpu_count())),
                        help="workers of the bulk pool (BULK_WORKERS; default one per core; "
                             "0: no bulk pool)")
    parser.add_argument("--bulk-nice", default=os.environ.get("BULK_NICE", "10"),
                        help="niceness of the bulk pool's workers (BULK_NICE, 0 to 19; "
                             "default 10)")
    parser.add_argument("--prefix", default=os.environ.get("SERVE_PREFIX")
                        or os.path.join(ROOT, "instance", "serve"),
                        help="nginx's runtime directory (SERVE_PREFIX; default instance/serve)")
    parser.add_argument("--nginx", default=None, help="the nginx binary (NGINX)")
    parser.add_argument("--print-config", action="store_true",
                        help="print the rendered nginx.conf (for an nginx of your own) and exit")
    args = parser.parse_args(argv)
    try:
        bulk_workers = integer_setting("BULK_WORKERS", args.bulk_workers, 0, 256)
        bulk_nice = integer_setting("BULK_NICE", args.bulk_nice, 0, 19)
        if args.print_config:
            sys.stdout.write(rendered_config(args.listen, *upstreams(
                os.path.abspath(args.prefix), args.upstream, args.bulk_upstream, bulk_workers)))
            return 0
        nginx = find_nginx(args.nginx)
        if nginx is None:
            print("serve: nginx is not installed (looked for NGINX, then nginx on PATH, "
                  "/usr/sbin and /usr/local/sbin). On Debian: apt-get install nginx. "
                  "`make run` serves without it, for development only.", file=sys.stderr)
            return 2
        return serve(args.listen, args.upstream, args.prefix, nginx,
                     bulk_upstream=args.bulk_upstream, bulk_workers=bulk_workers,
                     bulk_nice=bulk_nice)
    except ServeError as error:
        print(f"serve: {error}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as error:
        print(f"serve: {' '.join(error.cmd[-2:])} failed ({error.returncode})", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
