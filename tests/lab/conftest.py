# SPDX-License-Identifier: GPL-3.0-or-later
"""Order and fixtures of the lab verifier.

Most lab tests read what the main job left (every app host on 1.1.0, 1.0.0
its previous release). The modules that set REDEPLOYS_LAB = True deploy
again; they run after every other test, and the session ends by putting the
lab back where the main job left it if they did not.
"""

import subprocess

import pytest

import lab_helpers as lab


def pytest_collection_modifyitems(items):
    """Move the tests of REDEPLOYS_LAB modules after all others (stable)."""
    items.sort(key=lambda item: bool(getattr(item.module, "REDEPLOYS_LAB", False)))


@pytest.fixture(scope="session")
def collection_tarball(tmp_path_factory):
    """The collection as `ansible-galaxy collection build` makes it from the
    work tree (galaxy.yml's build_ignore leaves out build/ and .venv)."""
    out = tmp_path_factory.mktemp("galaxy-build")
    proc = subprocess.run([lab.tool("ansible-galaxy"), "collection", "build", "--output-path", str(out), str(lab.ROOT)],
                          cwd=str(out), env=lab.clean_env(), capture_output=True, text=True, check=False,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tarballs = list(out.glob("*.tar.gz"))
    assert len(tarballs) == 1, tarballs
    return tarballs[0]


@pytest.fixture(scope="session")
def lab_restored(tmp_path_factory):
    """Yields; at the end of the session deploys the main job's release again
    (from the work tree) unless every app host already runs it with the
    previous release behind it, so the lab is left as the main job left it."""
    yield
    expected = {h: (lab.MAIN_RELEASE, lab.PREVIOUS_RELEASE, lab.MAIN_RELEASE) for h in lab.APP_HOSTS}
    if lab.lab_releases() == expected:
        return
    proc = subprocess.run(
        [lab.tool("ansible-playbook"), "-i", str(lab.INVENTORY), str(lab.ROOT / "playbooks" / "deploy.yml"),
         "-e", "deploy_release=%s" % lab.MAIN_RELEASE],
        env=lab.clean_env(ANSIBLE_CONFIG=str(lab.ROOT / "ansible.cfg")), cwd=str(lab.ROOT),
        capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert lab.lab_releases() == expected
