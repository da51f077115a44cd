"""Loaded by every `aggregator` subprocess a test starts (run_cli puts this folder on
PYTHONPATH): name lookups fail as on a machine without network, except IP literals and
localhost, so no test ever sends a DNS query.

`AGGREGATOR_TEST_HOSTS="vm=127.0.0.1,*=10.0.0.1"` answers some names as a hosts file
does (`*`: every other name, as a hijacking resolver does); the answer is given as it
is, with no lookup. And whatever a test maps, no connection leaves this machine: one
to an address outside the loopback range fails as unreachable."""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from typing import Any

_real = socket.getaddrinfo
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_HOSTS = dict(
    item.split("=", 1)
    for item in os.environ.get("AGGREGATOR_TEST_HOSTS", "").split(",")
    if "=" in item
)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]").split("%")[0])
    except ValueError:
        return False
    return True


def _offline(host: Any, *args: Any, **kwargs: Any) -> Any:
    name = host.decode() if isinstance(host, bytes) else host
    if name is None or name == "localhost" or _is_ip(str(name)):
        return _real(host, *args, **kwargs)
    mapped = _HOSTS.get(str(name).lower().rstrip("."), _HOSTS.get("*"))
    if mapped is not None:
        return _real(mapped, *args, **kwargs)
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known (tests are offline)")


def _local(address: Any) -> bool:
    host = str(address[0]) if isinstance(address, tuple) and address else ""
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return host == "localhost"


def _connect(self: socket.socket, address: Any) -> None:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address):
        raise OSError(errno.ENETUNREACH, f"tests connect to this machine only, not {address}")
    _real_connect(self, address)


def _connect_ex(self: socket.socket, address: Any) -> int:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address):
        return errno.ENETUNREACH
    return _real_connect_ex(self, address)


socket.getaddrinfo = _offline
socket.socket.connect = _connect  # type: ignore[method-assign]
socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign]
