# SPDX-License-Identifier: GPL-3.0-or-later
"""The recorded-answer HAProxy (haproxy_fake.FakeHAProxy) the unit tests
talk to leaves nothing behind: closing it removes the directory of its unix
socket (each unit run used to leave hundreds of fake-haproxy-* directories
in /tmp).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.zerodowntime.deploy.plugins.module_utils.haproxy_runtime import HAProxyRuntime
from ansible_collections.zerodowntime.deploy.tests.unit.plugins.module_utils.haproxy_fake import (
    FakeHAProxy,
    load_fixture,
)


def test_the_fake_answers_on_its_unix_socket_and_close_removes_its_directory():
    info = load_fixture("haproxy-2.6", "show_info--steady.txt")
    fake = FakeHAProxy({"show info": info})
    try:
        assert fake.address == fake.path
        assert HAProxyRuntime(fake.address).execute("show info") == info
    finally:
        fake.close()
    assert fake.dir is not None
    assert not os.path.exists(fake.dir)
