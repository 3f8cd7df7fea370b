# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/deploy.yml checks the options a user sets before anything runs.

Runs the real playbook against the lab inventory: the request check runs on
the controller only, so a bad option fails there, naming the option, before
any app host or balancer is contacted (none of the lab's containers needs
to exist). Good options get past the check to the next step, the artifact
lookup of a release that does not exist.
"""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def deploy(*extra):
    """Run deploy.yml for release 9.9.9 (never built); returns (exit status, output)."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(
        [str(pathlib.Path(sys.executable).parent / "ansible-playbook"),
         "-i", str(ROOT / "inventories" / "lab" / "hosts.yml"), str(ROOT / "playbooks" / "deploy.yml"),
         "-e", "deploy_release=9.9.9", "-e", "deploy_build_command=", *extra],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("deploy_canary=maybe", "argument 'deploy_canary' is of type str and we were unable to convert to bool"),
        ("deploy_canary_soak_s=soon", "argument 'deploy_canary_soak_s' is of type str and we were unable to convert to float"),
        ("deploy_canary_min_requests=many", "argument 'deploy_canary_min_requests' is of type str"),
        ("deploy_strategy=hup", "deploy_strategy"),
        ("deploy_canary_on_inconclusive=ignore", "deploy_canary_on_inconclusive"),
        ("deploy_canary_weight=lots",
         "deploy_canary_weight must be a weight (0-256) or a percentage up to 100% such as 10% (got 'lots')."),
        ("deploy_canary_weight=150%", "a percentage up to 100% such as 10% (got '150%')."),
        ("deploy_canary_max_5xx_ratio=2", "Canary options out of range: deploy_canary_max_5xx_ratio must be between 0 and 1 (got 2).\n"),
        ("deploy_canary_rtime_factor=0.5", "Canary options out of range: deploy_canary_rtime_factor must be at least 1 (got 0.5).\n"),
        ("deploy_canary_soak_s=0", "Canary options out of range: deploy_canary_soak_s must be over 0 seconds (got 0).\n"),
        ("deploy_release=../etc", "Name the release to deploy with -e deploy_release=X.Y.Z (got '../etc')"),
        ('{"deploy_app_bind_addresses": {"lb": "10.0.0.1"}}',
         "argument 'deploy_app_bind_addresses' is of type dict and we were unable to convert to list"),
        ("deploy_app_bind_adresses=0.0.0.0",
         "Unknown option deploy_app_bind_adresses: did you mean deploy_app_bind_addresses?"),
    ],
)
def test_a_bad_option_fails_the_request_check_naming_it_before_any_host_is_contacted(option, expected):
    rc, out = deploy("-e", option)
    assert rc != 0
    assert expected in out, out[-3000:]
    # It stopped at the check: the next task, the artifact lookup, never ran.
    assert "TASK [zerodowntime.deploy.deploy : Look for the release's artifact on the controller]" not in out
    # Only the controller ran a task.
    for host in ("lb1", "app1", "db1"):
        assert f"[{host}]" not in out, host


def test_good_options_as_an_awx_survey_gives_them_pass_the_check():
    rc, out = deploy("-e", "deploy_canary=true", "-e", "deploy_serial=1,25%,100%", "-e", "deploy_canary_weight=10%",
                     "-e", "deploy_canary_soak_s=25", "-e", "deploy_strategy=reload",
                     "-e", "deploy_canary_on_inconclusive=promote", "-e", "deploy_app_bind_addresses=10.0.0.5, fd00::5")
    assert rc != 0
    assert "TASK [zerodowntime.deploy.deploy : Look for the release's artifact on the controller]" in out
    assert "Release 9.9.9 not found on the controller" in out, out[-3000:]


def playbook(name, inventory, *extra):
    """Run playbooks/<name> with another inventory; returns (exit status, output)."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(
        [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
         str(ROOT / "playbooks" / name), *extra],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    return proc.returncode, proc.stdout + proc.stderr


INVENTORIES = {
    "no balancers": "all:\n  children:\n    app:\n      hosts:\n        a1:\n",
    "no app hosts": "all:\n  children:\n    balancers:\n      hosts:\n        b1:\n",
    "neither": "all:\n  hosts:\n    x1:\n",
}
NO_APP = ("The inventory has no app hosts in group 'app': add them to it, or name their group with "
          "deploy_app_group.")
NO_BALANCERS = ("The inventory has no balancers in group 'balancers': add them to it, or name their group with "
                "deploy_balancer_group.")


@pytest.mark.parametrize("name", ["deploy.yml", "rollback.yml"])
@pytest.mark.parametrize(("case", "expected"), [
    ("no balancers", [NO_BALANCERS]), ("no app hosts", [NO_APP]), ("neither", [NO_APP, NO_BALANCERS])])
def test_a_missing_inventory_group_is_named_alone_in_one_sentence(tmp_path, name, case, expected):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(INVENTORIES[case])
    rc, out = playbook(name, inventory, "-e", "deploy_release=1.1.0")
    assert rc == 2, out[-3000:]
    error = next(line for line in out.splitlines() if line.startswith("[ERROR]: Task failed"))
    assert error.endswith("Action failed: " + " ".join(expected)), error
    for host in ("a1", "b1", "x1"):
        assert f"[{host}]" not in out, host
