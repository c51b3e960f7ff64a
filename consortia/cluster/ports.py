"""Choosing free loopback ports for local etcd members and nodes."""

from __future__ import annotations

import errno
import socket


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports that were free a moment ago. The sockets are held
    open together while choosing: one at a time, the kernel may hand out the same port twice."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def port_free(port: int) -> bool:
    """Whether nothing listens on loopback ``port``. Connections of a stopped process linger
    in TIME_WAIT; etcd and uvicorn bind with SO_REUSEADDR, so those do not count."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
        return True
