"""A private Mosquitto for tests and benches: the demo's broker plus an ACL, reload (SIGHUP) and kill -9."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator

import pytest

from edge.demo import DemoBroker
from tests.support import IN_CI

__all__ = ["MosquittoProcess", "running_broker"]


class MosquittoProcess(DemoBroker):
    """A private Mosquitto on a free loopback port, with an optional ACL (Mosquitto ``acl_file`` text;
    anonymous clients obey its lines before any ``user``)."""

    def __init__(self, port: int | None = None, acl: str | None = None) -> None:
        super().__init__(port)
        self.acl = acl

    def config_lines(self) -> list[str]:
        lines = super().config_lines()
        if self.acl is not None:
            self.write_acl(self.acl)
            lines.append(f"acl_file {self.folder / 'acl'}")
            if os.geteuid() == 0:  # as root Mosquitto becomes user mosquitto, who cannot read this folder
                lines.append("user root")
        return lines

    def write_acl(self, acl: str) -> None:
        """Replace the ACL; a running broker reads it again on :meth:`reload`."""
        self.acl = acl
        (self.folder / "acl").write_text(acl)

    def reload(self) -> None:
        """SIGHUP: Mosquitto reloads its configuration and ACL, keeping its clients connected."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGHUP)

    def kill(self) -> None:
        """Stop it abruptly (kill -9), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)


@contextlib.contextmanager
def running_broker(acl: str | None = None) -> Iterator[MosquittoProcess]:
    """A started private broker (with an ACL, if given); in CI a missing mosquitto fails the test instead of
    skipping it."""
    broker = MosquittoProcess(acl=acl)
    if not broker.available:
        message = "mosquitto is not installed (scripts/install.sh installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    broker.start()
    try:
        yield broker
    finally:
        broker.cleanup()
