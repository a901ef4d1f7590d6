"""A throwaway PostgreSQL server for the tests: initdb + pg_ctl as a non-root user, on 127.0.0.1.

As root the server runs as the ``postgres`` system user (``setpriv``); its data
directory and socket live in a temporary directory removed at the end. Clients
log in with a password (scram-sha-256) read from a file, as the store does on
a cluster.
"""
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from typing import List, Optional

INSTALL = "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql"
PASSWORD = "s3cret-Test-Passw0rd"


def bin_dir() -> Optional[str]:
    """The directory of initdb and pg_ctl: on PATH, else Debian's /usr/lib/postgresql/N/bin (newest)."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return os.path.dirname(os.path.realpath(found))
    for directory in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(os.path.join(directory, "initdb"), os.X_OK):
            return directory
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``with Server() as server``: ``uri(dbname)``, ``create_database()``, ``admin(uri)``, ``password_file``.

    Stopped with ``-m immediate``: its data are thrown away, so no shutdown checkpoint is written.
    """

    def __init__(self):
        self.bin = bin_dir()
        self.count = 0
        self.password = PASSWORD

    def _run(self, *command: str) -> None:
        prefix: List[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            prefix = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups"]
        subprocess.run([*prefix, *command], check=True, capture_output=True, cwd=self.root, timeout=120)

    def __enter__(self) -> "Server":
        self.root = tempfile.mkdtemp(prefix="k8s-pg-", dir="/tmp")
        os.chmod(self.root, 0o755)
        self.password_file = os.path.join(self.root, "password")
        with open(self.password_file, "w") as handle:
            handle.write(PASSWORD + "\n")
        os.chmod(self.password_file, 0o644)
        self.data = os.path.join(self.root, "data")
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self._run(os.path.join(self.bin, "initdb"), "-D", self.data, "-U", "postgres", "--auth-local=trust",
                  "--auth-host=scram-sha-256", f"--pwfile={self.password_file}", "-E", "UTF8", "--no-sync")
        for attempt in range(1, 4):  # another process (an xdist worker's server) may take the free port first
            self.port = _free_port()
            options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
                       "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
            try:
                self._run(os.path.join(self.bin, "pg_ctl"), "start", "-w", "-D", self.data, "-l",
                          os.path.join(self.root, "log"), "-o", options)
                return self
            except subprocess.CalledProcessError:
                if attempt == 3:
                    raise

    def restart(self) -> None:
        """Restart the server (``-m fast``: every connection is dropped), as an upgrade or a failover does."""
        self._run(os.path.join(self.bin, "pg_ctl"), "restart", "-m", "fast", "-w", "-D", self.data, "-l",
                  os.path.join(self.root, "log"))

    def uri(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def admin(self, uri: str):
        """A superuser's psycopg connection (autocommit) to ``uri``, for what the tests set up by hand."""
        import psycopg

        return psycopg.connect(uri, password=PASSWORD, autocommit=True)

    def create_database(self) -> str:
        """A new empty database; its URI."""
        self.count += 1
        name = f"test{self.count}"
        with self.admin(self.uri()) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.uri(name)

    def __exit__(self, *exc) -> None:
        """Stop the server, then remove its files in a process of their own: a session's hundred databases are
        thousands of files, which the worker need not wait for."""
        try:
            self._run(os.path.join(self.bin, "pg_ctl"), "stop", "-m", "immediate", "-w", "-D", self.data)
        finally:
            subprocess.Popen(["rm", "-rf", "--", self.root], start_new_session=True, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
