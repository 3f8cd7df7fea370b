# SPDX-License-Identifier: GPL-3.0-or-later
"""The master-worker HAProxy the integration tests reload (ha_helpers) takes
every reload it is sent, however soon after its start or its last reload.

HAProxy ignores SIGUSR2 until its master process enters its event loop, and
the master re-executes itself at each reload: a reload signalled as soon as
the worker answers on the admin socket was dropped now and then (CI of
stop 25: "no HAProxy worker as expected within 10s", the master's log with
no "Reexecuting Master process"). Twenty reloads back to back, under a real
HAProxy, each must hand over to a new worker and keep a drained server
drained (the state file the helper saves).
"""

import os
import shutil
import tempfile

import pytest

from ha_helpers import HAPROXY, MasterWorkerHAProxy, free_port

RELOADS = 20


@pytest.fixture(name="haproxy")
def fixture_haproxy():
    if not os.path.exists(HAPROXY):
        pytest.skip("%s is not installed" % HAPROXY)
    tmp = tempfile.mkdtemp(prefix="zdt-reloads-")
    haproxy = None
    try:
        haproxy = MasterWorkerHAProxy(tmp, """
frontend fe
    bind 127.0.0.1:%d
    default_backend app

backend app
    server web1 127.0.0.1:%d
""" % (free_port(), free_port()))
        yield haproxy
    finally:
        if haproxy is not None:
            haproxy.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_reloads_back_to_back_each_start_a_new_worker(haproxy):
    haproxy.ask("set server app/web1 state drain")
    workers = [haproxy.worker_pid()]
    for reload in range(RELOADS):
        old, new = haproxy.reload()
        assert old == workers[-1], reload
        workers.append(new)
        assert haproxy.master_catches_reload()
    assert len(set(workers)) == RELOADS + 1, workers
    assert haproxy.server("app", "web1")["srv_admin_state"] == "8"
