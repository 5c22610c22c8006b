"""A private PostgreSQL cluster for tests, run from Debian's server binaries."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import uuid
from pathlib import Path

__all__ = ["PostgresCluster"]


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class PostgresCluster:
    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self.data = root / "data"
        self.sock = root / "sock"
        self.bin = _bin_dir()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"

    @staticmethod
    def available() -> bool:
        return _bin_dir() is not None

    def _as_owner(self, args: list[str]) -> list[str]:
        # PostgreSQL refuses to run as root; run it as the 'postgres' system user then.
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *args]
        return args

    def start(self) -> None:
        assert self.bin is not None
        self.sock.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            for path in (self.root, self.sock):
                os.chown(path, pw.pw_uid, pw.pw_gid)
        subprocess.run(self._as_owner([str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                                       "-A", "trust", "-E", "UTF8", "--no-sync"]),
                       check=True, capture_output=True)
        opts = f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        subprocess.run(self._as_owner([str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", opts, "-w",
                                       "-l", str(self.root / "pg.log"), "start"]), check=True, capture_output=True)

    def stop(self) -> None:
        if self.bin and self.data.exists():
            subprocess.run(self._as_owner([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                                           "stop"]), capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)

    @staticmethod
    def fresh_database(base_url: str) -> str:
        """Create an empty database on the server at ``base_url`` and return its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        plain = base_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return base_url.rsplit("/", 1)[0] + "/" + name
