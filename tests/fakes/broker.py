"""A real Mosquitto broker for tests, on a free loopback port, persistence on.

``scripts/setup.sh`` installs Debian's ``mosquitto`` when it is missing. Each broker gets its
own directory: a generated config (listener on 127.0.0.1 only, persistence to that directory,
saved after every change so that even a SIGKILL loses nothing that was acknowledged, ``user``
set to the current user so that a broker started as root does not drop to ``nobody`` and
silently fail to write its store), an optional password file, and its log.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Mosquitto:
    """``start()``, ``stop(sig)``, ``restart()``; the same port and store across restarts."""

    def __init__(self, workdir: Path, users: dict[str, str] | None = None, extra: str = "") -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.dir / "mosquitto.log"
        user = pwd.getpwuid(os.getuid()).pw_name
        lines = [
            f"listener {self.port} 127.0.0.1",
            f"user {user}",
            "persistence true",
            f"persistence_location {self.dir}/",
            "autosave_on_changes true",
            "autosave_interval 1",
            "max_queued_messages 100000",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
        ]
        if users:
            pw = self.dir / "passwd"
            pw.write_text("")
            for name, password in users.items():
                subprocess.run([PASSWD, "-b", str(pw), name, password], check=True)
            pw.chmod(0o600)
            lines += [f"password_file {pw}", "allow_anonymous false"]
        else:
            lines.append("allow_anonymous true")
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n" + extra)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout: float = 5.0) -> Mosquitto:
        log = self.log.open("ab")
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)], stdout=log, stderr=log, stdin=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log.read_text()[-2000:]}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return self
            time.sleep(0.02)
        raise RuntimeError(f"mosquitto did not listen on {self.port}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def restart(self, sig: int = signal.SIGTERM) -> None:
        self.stop(sig)
        self.start()


@contextlib.contextmanager
def broker(workdir: Path, **kwargs: object) -> Iterator[Mosquitto]:
    b = Mosquitto(workdir, **kwargs)  # type: ignore[arg-type]
    b.start()
    try:
        yield b
    finally:
        b.stop()


def tls_files(workdir: Path) -> tuple[Path, str]:
    """A CA and a server certificate for 127.0.0.1 (openssl); returns the CA file and the
    mosquitto listener lines of a TLS listener on a new port (``listener`` first)."""
    workdir.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, csr, crt = (
        workdir / n for n in ("ca.key", "ca.pem", "s.key", "s.csr", "s.pem")
    )
    ext = workdir / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca),
        "-days", "2", "-subj", "/CN=posecog test CA")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
        "-subj", "/CN=127.0.0.1")  # fmt: skip
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(crt), "-days", "2", "-extfile", str(ext))  # fmt: skip
    port = free_port()
    lines = f"listener {port} 127.0.0.1\ncafile {ca}\ncertfile {crt}\nkeyfile {key}\n"
    return ca, lines
