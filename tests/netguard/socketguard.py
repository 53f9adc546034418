"""What "no network" means in the tests, said once: which socket functions are replaced, and by what.

Used in the test process (``conftest.py``: the session-wide guard, which lets loopback through, and
the ``no_network`` fixture, which refuses everything) and in the child processes ``run_offline``
starts where ``unshare -n`` is not allowed (``sitecustomize.py`` beside this file, on their
``PYTHONPATH``: everything refused, as in a network namespace whose loopback is down).
"""

import socket

LOOPBACK = ("127.0.0.1", "::1", "localhost")
MESSAGE = "network disabled by the tlcourse tests"


def refuse(*_args, **_kwargs):
    raise OSError(MESSAGE)


def _loopback_only(original):
    """Wrap a socket function so it refuses any address that is not loopback (or a Unix socket)."""

    def guarded(*args, **kwargs):
        address = args[1] if original.__name__ == "connect" else args[0]
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and host not in LOOPBACK:
            raise OSError(f"{MESSAGE} (tried {address})")
        return original(*args, **kwargs)

    return guarded


def replacements(loopback: bool) -> list[tuple[object, str, object]]:
    """``(owner, attribute, replacement)`` for each socket function the guard replaces.

    ``loopback=True``: connections to this machine still work (the suite's local servers), outside
    ones fail at once; ``False``: every connection and every name lookup fails at once.
    """
    if loopback:
        return [
            (socket.socket, "connect", _loopback_only(socket.socket.connect)),
            (socket, "create_connection", _loopback_only(socket.create_connection)),
        ]
    return [(socket.socket, "connect", refuse), (socket, "create_connection", refuse), (socket, "getaddrinfo", refuse)]


def install(loopback: bool = False) -> None:
    """Replace the socket functions for the rest of this process."""
    for owner, name, replacement in replacements(loopback):
        setattr(owner, name, replacement)
