# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection as users install it deploys to the lab.

The tarball `ansible-galaxy collection build` makes is installed offline
into an empty collections path. A user's project outside the work tree holds
what a user of the installed collection has: the lab's inventory (hosts and
group variables, without the lines that point into this checkout) and the
release artifacts in build/artifacts, where deploy_artifact_dir's default
must find them. From that directory, with ANSIBLE_COLLECTIONS_PATH naming
only the installed copy and no ansible.cfg, `ansible-playbook
zerodowntime.deploy.deploy` (the playbook by its FQCN: the installed copy's)
deploys the release of the main job that the lab does not run now, so every
host is drained and switched, under the load probe; the session ends with
the lab back on 1.1.0 (conftest.py).

The inventory is a user's (issue 13): hosts reached over SSH as an
unprivileged user with sudo, no `ansible_connection` anywhere and no
`localhost` entry (the controller is Ansible's implicit localhost), and
deploy_artifact_dir written with `{{ inventory_dir }}`, the pattern of our
own docs. With a play-level `connection: local`, the lock tasks delegated
to lb1 would run on the controller (what issue 13 found): the test asserts
that the lock was on lb1 and never on the controller.

The project has the two hooks docs/hooks.md shows, set in its
group_vars as a user sets them, with paths relative to the project: a cache
warm-up before each host's enable and a notification after the deploy. A
second deploy with a before_enable hook that fails must roll that host
back and stop the deploy, with no failed request and the lock released.
"""

import json
import pathlib
import re
import shutil
import subprocess
import time

import pytest
import yaml

import lab_helpers as lab

testinfra_hosts = ["local://"]
REDEPLOYS_LAB = True

# Lines of the lab inventory that locate this checkout (its artifacts and
# the demo app's build script); a user's project has its own.
CHECKOUT_VARIABLES = ("lab_root", "deploy_artifact_dir", "deploy_build_command")
# deploy_lock_dir's default, on the lock host (the first balancer).
LOCK_DIR = "/var/lib/zerodowntime/locks"
# Where the warm-up hook records, on each app host, what it warmed.
WARMED = "/var/tmp/zerodowntime-warmed"

# The hooks of docs/hooks.md, as a user writes them.
WARM_CACHE_HOOK = """---
- name: Ask the new release for its version on the host itself, before it takes traffic
  ansible.builtin.uri:
    url: "http://127.0.0.1:{{ deploy_app_port | default(8000) }}/version"
    return_content: true
  register: warm_cache_version

- name: Record what was warmed
  ansible.builtin.copy:
    dest: %s
    content: "{{ deploy_hook_name }} {{ deploy_hook_release }} {{ warm_cache_version.content | trim }}\\n"
    mode: "0644"
""" % WARMED
NOTIFY_HOOK = """---
- name: Tell the team that the deploy is done
  ansible.builtin.lineinfile:
    path: %(log)s
    line: "{{ deploy_app_name | default('app') }} {{ deploy_hook_release }} deployed to {{ ansible_play_hosts_all | join(',') }}"
    create: true
    mode: "0644"
  delegate_to: localhost
  become: false
"""
FAILING_HOOK = """---
- name: Fail, as a cache warm-up that cannot reach its cache would
  ansible.builtin.fail:
    msg: "cache warm-up refused on {{ inventory_hostname }}"
"""


@pytest.fixture(name="installed", scope="module")
def fixture_installed(collection_tarball, tmp_path_factory):
    """(collections path, the installed collection's directory)."""
    path = lab.install_collection(collection_tarball, tmp_path_factory.mktemp("galaxy-install") / "collections")
    return path, path / "ansible_collections" / "zerodowntime" / "deploy"


def user_project(dest, releases):
    """A project directory as a user of the installed collection has one:
    inventory/ (the lab's, minus CHECKOUT_VARIABLES) and build/artifacts/
    with the given releases' artifacts, copied from the lab's (releases are
    immutable: the hosts keep the checksum of what they installed)."""
    inventory = dest / "inventory"
    shutil.copytree(str(lab.INVENTORY.parent), str(inventory))
    all_vars = inventory / "group_vars" / "all.yml"
    variables = yaml.safe_load(all_vars.read_text())
    for name in CHECKOUT_VARIABLES:
        variables.pop(name)
    variables["deploy_artifact_dir"] = "{{ inventory_dir }}/../build/artifacts"
    # The hooks, by paths relative to the project, where ansible-playbook runs.
    (dest / "hooks").mkdir(parents=True)
    (dest / "hooks" / "warm_cache.yml").write_text(WARM_CACHE_HOOK)
    (dest / "hooks" / "notify.yml").write_text(NOTIFY_HOOK % {"log": dest / "notifications.log"})
    (dest / "hooks" / "refuse.yml").write_text(FAILING_HOOK)
    variables["deploy_hooks"] = {"before_enable": "hooks/warm_cache.yml", "after_deploy": "hooks/notify.yml"}
    all_vars.write_text("---\n" + yaml.safe_dump(variables, sort_keys=False))
    # The lab's SSH key and host key, by their absolute paths, as a user
    # names their own.
    hosts = (inventory / "hosts.yml").read_text().replace("{{ lab_root }}", str(lab.ROOT))
    assert not set(_keys(yaml.safe_load(hosts))) & {"ansible_connection", "localhost"}, hosts
    (inventory / "hosts.yml").write_text(hosts)
    artifacts = dest / "build" / "artifacts"
    artifacts.mkdir(parents=True)
    for release in releases:
        for suffix in (".tar.gz", ".tar.gz.sha256"):
            name = "%s-%s%s" % (lab.APP, release, suffix)
            shutil.copy2(str(lab.ROOT / "build" / "artifacts" / name), str(artifacts / name))
    return dest


def _keys(node):
    """Every mapping key at any depth of a loaded YAML document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from _keys(value)


def run(installed, cwd, *argv, report=None, timeout=900):
    """Run argv in cwd with only the installed copy on the collections path."""
    collections_path, _collection = installed
    env = lab.clean_env(ANSIBLE_COLLECTIONS_PATH=str(collections_path))
    if report:
        env.update(ANSIBLE_CALLBACKS_ENABLED="zerodowntime.deploy.deploy_report", ZERODOWNTIME_REPORT_PATH=str(report))
    return subprocess.run(list(argv), cwd=str(cwd), env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_the_installed_copy_is_the_only_zerodowntime_deploy_ansible_finds(installed, tmp_path):
    proc = run(installed, tmp_path, lab.tool("ansible-galaxy"), "collection", "list", "zerodowntime.deploy",
               "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert list(json.loads(proc.stdout)) == [str(installed[0] / "ansible_collections")]


def test_the_installed_deploy_playbook_deploys_a_release_under_load_without_a_failed_request(
        installed, lab_restored, tmp_path):
    before = lab.lab_releases()
    release = lab.other_release()
    project = user_project(tmp_path / "project", [release])
    # No ansible.cfg, no callback enabled: what a user types. The summary and
    # the report come from the callback beside the installed playbooks.
    report = pathlib.Path("~/.ansible/zerodowntime/reports/deploy.json").expanduser()
    started = time.time()

    with lab.Probe(tmp_path) as probe:
        proc = run(installed, project, lab.tool("ansible-playbook"), "-i", "inventory/hosts.yml",
                   "zerodowntime.deploy.deploy", "-e", "deploy_release=%s" % release)

    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert proc.stdout.count("DEPLOY REPORT [ok in ") == 1, proc.stdout[-3000:]
    summary = proc.stdout[proc.stdout.index("DEPLOY REPORT"):]
    for host in lab.APP_HOSTS:
        assert re.search(r"^%s\s+%s -> %s\s" % (host, re.escape(before[host][0]), re.escape(release)), summary,
                         re.M), summary
    assert "deploy report written to %s" % report in summary, summary
    assert report.stat().st_mtime >= started
    # The lock was taken on the balancer and released there: none is left
    # on lb1, none was ever made on the controller.
    assert lab.docker("lb1", "ls", "-A", LOCK_DIR).split() == []
    assert not pathlib.Path(LOCK_DIR, lab.APP).exists()
    deployed = json.loads(report.read_text())
    assert deployed["result"] == "ok", deployed.get("hosts")
    for host in lab.APP_HOSTS:
        assert {"drain", "deploy", "health", "enable"} <= set(deployed["hosts"][host]["phases"]), host

    after = lab.lab_releases()
    assert {h: served for h, (_current, _previous, served) in after.items()} == {h: release for h in lab.APP_HOSTS}
    assert {h: current for h, (current, _previous, _served) in after.items()} == {h: release for h in lab.APP_HOSTS}
    assert {h: previous for h, (_current, previous, _served) in after.items()} == {
        h: current for h, (current, _previous, _served) in before.items()}

    result = probe.result
    assert result["requests_total"] > 0
    assert result["requests_failed"] == 0, result["outcomes"]
    assert result["releases_seen"] == [before["app1"][2], release], result["releases_seen"]

    # The hooks: each host was warmed on the new release (its /version
    # answered it before the enable), and one notification was sent.
    for host in lab.APP_HOSTS:
        assert lab.docker(host, "cat", WARMED).split() == ["before_enable", release, release], host
    notified = (project / "notifications.log").read_text().splitlines()
    assert notified == ["%s %s deployed to app1" % (lab.APP, release)], notified


def test_a_before_enable_hook_that_fails_rolls_the_host_back_and_stops_the_deploy(installed, lab_restored, tmp_path):
    before = lab.lab_releases()
    release = lab.other_release()
    project = user_project(tmp_path / "project", [release])

    with lab.Probe(tmp_path) as probe:
        proc = run(installed, project, lab.tool("ansible-playbook"), "-i", "inventory/hosts.yml",
                   "zerodowntime.deploy.deploy", "-e", "deploy_release=%s" % release,
                   "-e", '{"deploy_hooks": {"before_enable": "hooks/refuse.yml"}}')

    out = lab.plain(proc.stdout)
    assert proc.returncode == 2, out[-6000:] + proc.stderr[-3000:]
    assert "app1 failed in phase enable at 'Fail, as a cache warm-up that cannot reach its cache would'" in out, (
        out[-6000:])
    assert "cache warm-up refused on app1" in out
    assert "The host was rolled back to %s and is back in rotation." % before["app1"][0] in out, out[-3000:]
    # app1 is back on what it ran; the others were never touched.
    assert lab.lab_releases() == before
    assert lab.docker("lb1", "ls", "-A", LOCK_DIR).split() == []
    assert not (project / "notifications.log").exists()
    result = probe.result
    assert result["requests_total"] > 0
    assert result["requests_failed"] == 0, result["outcomes"]
