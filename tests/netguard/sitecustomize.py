"""Loaded by child processes of the tests where ``unshare -n`` is unavailable (``conftest.offline``): no sockets."""

import socketguard

socketguard.install(loopback=False)
