"""Loaded by child processes of the tests where ``unshare -n`` is unavailable: no sockets."""

import socket


def _refuse(*_args, **_kwargs):
    raise OSError("network disabled by the tlcourse tests")


socket.socket.connect = _refuse
socket.create_connection = _refuse
socket.getaddrinfo = _refuse
