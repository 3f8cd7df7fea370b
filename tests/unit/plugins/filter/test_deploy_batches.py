# SPDX-License-Identifier: GPL-3.0-or-later
"""The deploy_batches filter: deploy_serial as the serial keyword's list."""

import pytest

from ansible_collections.zerodowntime.deploy.plugins.filter.deploy_batches import deploy_batches


@pytest.mark.parametrize(
    ("serial", "expected"),
    [
        (1, ["1"]),
        ("2", ["2"]),
        ("25%", ["25%"]),
        ("1, 25%,100%", ["1", "25%", "100%"]),
        ([1, "25%", "100%"], [1, "25%", "100%"]),
        ((1, 2), [1, 2]),
    ],
    ids=["int", "str", "percent", "survey-string", "list", "tuple"],
)
def test_batches(serial, expected):
    assert deploy_batches(serial) == expected
