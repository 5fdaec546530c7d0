"""Throwaway PostgreSQL and mosquitto servers from Debian's packages, on loopback, for the tests and
the site benchmark: real servers with password authentication and ACLs, started in a temporary
folder and removed with it. Production servers are set up as docs/site.md says, never with this.

PostgreSQL refuses to run as root, so as root the cluster runs as Debian's `postgres` user.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from kiosk.errors import FacegateError
from kiosk.site.collector import SITE_SERVICE_USER

POSTGRES_BIN = Path("/usr/lib/postgresql")


class ServiceError(FacegateError):
    """Raised when a throwaway server cannot be started (its package missing, a port taken)."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _postgres_bin(name: str) -> str:
    versions = sorted(POSTGRES_BIN.glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]))
    if not versions:
        raise ServiceError(f"PostgreSQL's {name} is not installed: run scripts/setup.sh (it installs Debian's "
                           f"postgresql)")
    return str(versions[-1])


def _as_user(user: str) -> dict:
    """Popen arguments that run a server as `user` when this process is root (signals reach it directly)."""
    if os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _wait_for_port(port: int, process: subprocess.Popen, what: str, log: Path, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceError(f"{what} exited at start: {log.read_text(errors='replace')[-800:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise ServiceError(f"{what} did not listen on port {port} within {timeout_s:g} s")


@dataclass
class ThrowawayPostgres:
    """A fresh cluster with an owner role (administrators, `site serve`) and a kiosk role that the
    site's schema grants read access to the gallery only; it offers TLS with a certificate from a
    throwaway CA (`ca_file`) and takes plain connections too."""

    owner: str = "facegate"
    owner_password: str = "owner-pw"
    kiosk_role: str = "facegate_kiosk"
    kiosk_password: str = "kiosk-pw"
    dbname: str = "facegate"
    port: int = field(default_factory=free_port)
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="facegate-pg-")))
    _process: subprocess.Popen | None = None

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def ca_file(self) -> Path:
        """The throwaway CA that signed the server's certificate (for sslmode verify-full)."""
        return self.folder / "tls" / "ca.pem"

    def __enter__(self) -> "ThrowawayPostgres":
        user = "postgres"
        if os.geteuid() == 0:
            entry = pwd.getpwnam(user)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        password_file = self.folder / "superuser"
        password_file.write_text("super-pw\n")
        if os.geteuid() == 0:
            os.chown(password_file, pwd.getpwnam(user).pw_uid, -1)
        subprocess.run([_postgres_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth-local=trust",
                        "--auth-host=scram-sha-256", f"--pwfile={password_file}", "--no-sync", "-E", "UTF8"],
                       check=True, capture_output=True, **_as_user(user))
        tls = self.folder / "tls"
        tls.mkdir()
        _, cert, key = make_test_certificates(tls)
        if os.geteuid() == 0:
            for path in (tls, cert, key):
                os.chown(path, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
        self.start()
        sql = (f"CREATE ROLE {self.owner} LOGIN PASSWORD '{self.owner_password}';"
               f"CREATE ROLE {self.kiosk_role} LOGIN PASSWORD '{self.kiosk_password}';"
               f"CREATE DATABASE {self.dbname} OWNER {self.owner};")
        for statement in sql.split(";")[:-1]:
            subprocess.run([_postgres_bin("psql"), "-h", str(self.folder), "-p", str(self.port), "-U", "postgres",
                            "-d", "postgres", "-q", "-c", statement], check=True, capture_output=True, **_as_user(user))
        return self

    def start(self) -> None:
        """Start (or start again) the server; the cluster's data survives a stop."""
        log = self.folder / "server.log"
        command = [_postgres_bin("postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.folder),
                   "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=50",
                   "-c", "ssl=on", "-c", f"ssl_cert_file={self.folder / 'tls/server.pem'}",
                   "-c", f"ssl_key_file={self.folder / 'tls/server.key'}"]
        with open(log, "ab") as out:
            self._process = subprocess.Popen(command, stdout=out, stderr=out, **_as_user("postgres"))
        _wait_for_port(self.port, self._process, "PostgreSQL", log)
        self._wait_ready()

    def _wait_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + 20
        while True:
            try:
                psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", password="super-pw",
                                dbname="postgres", connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        """A fast shutdown (SIGINT): clients are disconnected, committed data is kept."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
            self._process.wait(timeout=30)
        self._process = None

    def __exit__(self, *exc_info) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def make_test_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it: (CA, server cert, key)."""
    if not shutil.which("openssl"):
        raise ServiceError("openssl is not installed: run scripts/setup.sh (it installs Debian's openssl)")
    ca_key, ca, key, request, cert = (folder / name for name in ("ca.key", "ca.pem", "server.key", "server.csr",
                                                                  "server.pem"))
    extensions = folder / "server.ext"
    extensions.write_text("subjectAltName = IP:127.0.0.1\n")
    for command in (
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2",
             "-subj", "/CN=facegate throwaway CA"],
            ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", request, "-subj", "/CN=127.0.0.1"],
            ["x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
             "-days", "2", "-extfile", extensions]):
        subprocess.run(["openssl", *map(str, command)], check=True, capture_output=True)
    key.chmod(0o600)  # PostgreSQL refuses a key others may read
    return ca, cert, key


@dataclass
class ThrowawayBroker:
    """mosquitto with a password file and ACLs: each kiosk may publish only under its own id, the
    site service may read every kiosk's topics, every login's client id is its user name (so no
    login can take over another's session); persistent sessions survive a restart. A second
    listener speaks TLS with a certificate from a throwaway CA (`ca_file`)."""

    kiosks: dict[str, str]  # kiosk id -> password
    site_password: str = "site-pw"
    topic_prefix: str = "facegate"
    port: int = field(default_factory=free_port)
    tls_port: int = field(default_factory=free_port)
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="facegate-mqtt-")))
    _process: subprocess.Popen | None = None

    def __enter__(self) -> "ThrowawayBroker":
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not os.path.exists(binary) or not shutil.which("mosquitto_passwd"):
            raise ServiceError("mosquitto is not installed: run scripts/setup.sh (it installs Debian's mosquitto)")
        passwords = self.folder / "passwords"
        for number, (user, password) in enumerate({SITE_SERVICE_USER: self.site_password, **self.kiosks}.items()):
            subprocess.run(["mosquitto_passwd", *(["-c"] if number == 0 else []), "-b", str(passwords), user, password],
                           check=True, capture_output=True)
        acl = self.folder / "acl"
        acl.write_text(f"user {SITE_SERVICE_USER}\ntopic read {self.topic_prefix}/kiosk/#\n\n"
                       f"pattern write {self.topic_prefix}/kiosk/%u/#\n")
        _, cert, key = make_test_certificates(self.folder)
        (self.folder / "mosquitto.conf").write_text(
            f"allow_anonymous false\npassword_file {passwords}\nacl_file {acl}\n"
            f"persistence true\npersistence_location {self.folder}/\nmax_queued_messages 100000\n"
            f"log_dest file {self.folder}/broker.log\n"
            # each login is its own client id: no login can take over another's (persistent) session
            f"listener {self.port} 127.0.0.1\nuse_username_as_clientid true\n"
            f"listener {self.tls_port} 127.0.0.1\nuse_username_as_clientid true\ncertfile {cert}\nkeyfile {key}\n")
        if os.geteuid() == 0:
            entry = pwd.getpwnam("mosquitto")
            for path in (self.folder, passwords, acl, cert, key):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self.start()
        return self

    @property
    def ca_file(self) -> Path:
        return self.folder / "ca.pem"

    def start(self) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self._process = subprocess.Popen([binary, "-c", str(self.folder / "mosquitto.conf")],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for port in (self.port, self.tls_port):
            _wait_for_port(port, self._process, "mosquitto", self.folder / "broker.log")

    def stop(self) -> None:
        """SIGTERM: mosquitto saves its persistent sessions and queued messages, then exits."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=30)
        self._process = None

    def __exit__(self, *exc_info) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
