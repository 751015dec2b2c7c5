"""A private Mosquitto process: for the tests, and for ``auasu demo`` when no broker is configured.

:class:`MosquittoProcess` writes a complete configuration with :func:`write_broker_config` into
its own directory, starts ``mosquitto -c`` on a free loopback port and waits until the port
accepts connections. :meth:`~MosquittoProcess.restart` keeps the port and the persistence
directory, so persistent sessions and queued QoS 1 messages survive it (Mosquitto saves its
state on SIGTERM).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from hub.sta.mqtt.broker import BrokerFiles, BrokerOptions, BrokerUser, write_broker_config

_SEARCH = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/opt/homebrew/sbin/mosquitto")


class BrokerStartError(RuntimeError):
    """Mosquitto did not start or did not listen in time; the message ends with its log tail."""


def find_mosquitto() -> str | None:
    """The ``mosquitto`` binary: on PATH, or where Debian and Homebrew install it."""
    found = shutil.which("mosquitto")
    if found is not None:
        return found
    for candidate in _SEARCH:
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the usual bind-to-0 trick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class MosquittoProcess:
    """One Mosquitto child process with its generated configuration in ``directory``."""

    def __init__(
        self,
        directory: Path,
        hub: BrokerUser,
        users: Sequence[BrokerUser] = (),
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        binary: str | None = None,
        options: BrokerOptions | None = None,
    ) -> None:
        found = binary or find_mosquitto()
        if found is None:
            raise BrokerStartError("mosquitto is not installed (apt-get install mosquitto)")
        self.binary = found
        self.directory = directory
        self.hub = hub
        self.users = list(users)
        self.host = host
        self.port = port or free_port(host)
        self.options = options or BrokerOptions(port=self.port, host=host)
        self.files: BrokerFiles | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Write the configuration, start Mosquitto and wait until it listens."""
        if self.running:
            return
        self.files = write_broker_config(self.directory, self.options, self.users, self.hub)
        with self.files.log_file.open("ab") as log_file:
            self._process = subprocess.Popen(
                [self.binary, "-c", str(self.files.config)],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                start_new_session=True,  # a Ctrl-C aimed at the tests must not reach it first
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrokerStartError(f"mosquitto exited at start: {self.log_tail()}")
            if _accepts(self.host, self.port):
                return
            time.sleep(0.02)
        self.stop()
        raise BrokerStartError(f"mosquitto did not listen on port {self.port}: {self.log_tail()}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (Mosquitto saves its state and exits), SIGKILL if it does not."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: a crash, without the state save a clean stop makes."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def restart(self, timeout: float = 10.0) -> None:
        """Stop and start again on the same port with the same persistence directory."""
        self.stop(timeout)
        self.start(timeout)

    def update_users(self, users: Sequence[BrokerUser]) -> None:
        """Rewrite the password and ACL files and make the running broker re-read them."""
        self.users = list(users)
        self.files = write_broker_config(self.directory, self.options, self.users, self.hub)
        self.reload()

    def reload(self) -> None:
        """SIGHUP: Mosquitto re-reads its configuration, password file and ACL file."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGHUP)

    def log_tail(self, lines: int = 20) -> str:
        """The end of the broker's log (stderr), for error messages."""
        if self.files is None:
            return ""
        with contextlib.suppress(OSError):
            text = self.files.log_file.read_text(encoding="utf-8", errors="replace")
            return " | ".join(text.strip().splitlines()[-lines:])
        return ""

    def __enter__(self) -> MosquittoProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
