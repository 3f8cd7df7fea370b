# SPDX-License-Identifier: GPL-3.0-or-later
"""``patch_module_args`` on every ansible-core that meta/runtime.yml allows.

ansible-core 2.19 ships ``ansible.module_utils.testing.patch_module_args``;
before it, a module read its arguments from
``ansible.module_utils.basic._ANSIBLE_ARGS`` (JSON bytes), which unit tests
set themselves (the ``set_module_args`` helper of ansible-core's own unit
tests up to 2.18).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    from ansible.module_utils.testing import patch_module_args  # pylint: disable=unused-import
except ImportError:  # ansible-core before 2.19
    import contextlib
    import json
    from unittest import mock

    from ansible.module_utils import basic
    from ansible.module_utils.common.text.converters import to_bytes

    @contextlib.contextmanager
    def patch_module_args(args=None):
        """Give the next AnsibleModule built in this context ``args`` as its arguments.

        args: the module's arguments, a dict (None: none).
        Yields nothing; restores the previous arguments on exit.
        """
        serialized = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}))
        with mock.patch.object(basic, "_ANSIBLE_ARGS", serialized):
            yield
