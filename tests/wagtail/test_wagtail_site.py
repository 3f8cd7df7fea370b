# SPDX-License-Identifier: GPL-3.0-or-later
"""A Wagtail site nobody here wrote, deployed over SSH (issue 13).

converge made the first deploy (1.0.0 on an empty database: Wagtail's own
migrations and the site's, not linted, since no release served yet). Then,
in order, under the load probe on `/` (Wagtail's home page, read from the
database on every request), through w-lb1 on 127.0.0.1:8081:
1.0.0 -> 1.1.0 (a model field added) -> the same deploy again (changes
nothing) -> rollback to 1.0.0, each with zero failed requests.
"""

import json
import re
import subprocess
import urllib.request

import lab_helpers as lab

testinfra_hosts = ["local://"]

INVENTORY = lab.ROOT / "inventories" / "wagtail" / "hosts.yml"
APP_HOSTS = ["w-app1", "w-app2"]
SITE = "http://127.0.0.1:8081"
# Wagtail's home page costs more than the demo app's /version: a lower
# rate keeps two shared CPUs from timing requests out on load alone.
PROBE_RATE = 15.0


def playbook(tmp_path, name, *extra):
    """Run playbooks/<name> against the Wagtail lab; returns (rc, output, report)."""
    report = tmp_path / ("%s-report.json" % name.split(".")[0])
    proc = subprocess.run(
        [lab.tool("ansible-playbook"), "-i", str(INVENTORY), str(lab.ROOT / "playbooks" / name), *extra],
        env=lab.clean_env(ANSIBLE_CONFIG=str(lab.ROOT / "ansible.cfg"),
                          ANSIBLE_CALLBACKS_ENABLED="zerodowntime.deploy.deploy_report",
                          ZERODOWNTIME_REPORT_PATH=str(report)),
        cwd=str(lab.ROOT), capture_output=True, text=True, timeout=1200, check=False)
    output = proc.stdout + proc.stderr
    return proc.returncode, output, json.loads(report.read_text()) if report.exists() else {}


def releases():
    """{host: (current, what /version answers on the host)}."""
    code = "import urllib.request as u; print(u.urlopen('http://127.0.0.1:8000/version', timeout=5).read().decode())"
    return {host: (lab.docker(host, "readlink", "/srv/mysite/current").strip().rsplit("/", 1)[-1],
                   lab.docker(host, "python3", "-c", code).strip()) for host in APP_HOSTS}


def get(path):
    with urllib.request.urlopen(SITE + path, timeout=10) as answer:
        return answer.status, answer.read().decode()


def subtitle_column():
    """Whether home_homepage has release 1.1.0's column."""
    return lab.docker("w-db1", "runuser", "-u", "postgres", "--", "psql", "-d", "mysite", "-tAc",
                      "SELECT count(*) FROM information_schema.columns"
                      " WHERE table_name = 'home_homepage' AND column_name = 'subtitle'").strip() == "1"


def test_the_first_deploy_made_the_site_on_an_empty_database_with_its_static_files():
    assert releases() == {host: ("1.0.0", "1.0.0") for host in APP_HOSTS}
    status, page = get("/")
    assert status == 200
    assert "Welcome to your new Wagtail site" in page
    # ManifestStaticFilesStorage, unchanged: the page names hashed files,
    # collected at stage and served by WhiteNoise.
    stylesheets = re.findall(r'href="(/static/css/welcome_page\.[0-9a-f]{12}\.css)"', page)
    assert stylesheets, page[:2000]
    assert get(stylesheets[0])[0] == 200
    assert not subtitle_column()


def test_a_model_field_rolls_out_under_load_without_a_failed_request(tmp_path):
    with lab.Probe(tmp_path, rate=PROBE_RATE, url=SITE + "/") as probe:
        rc, output, report = playbook(tmp_path, "deploy.yml", "-e", "deploy_release=1.1.0")
    assert rc == 0, output[-6000:]
    assert report["result"] == "ok"
    for host in APP_HOSTS:
        assert {"drain", "deploy", "health", "enable"} <= set(report["hosts"][host]["phases"]), host
    assert releases() == {host: ("1.1.0", "1.1.0") for host in APP_HOSTS}
    assert subtitle_column()
    assert probe.result["requests_total"] > 0
    assert probe.result["requests_failed"] == 0, probe.result["outcomes"]


def test_the_same_deploy_again_changes_nothing(tmp_path):
    rc, output, report = playbook(tmp_path, "deploy.yml", "-e", "deploy_release=1.1.0")
    assert rc == 0, output[-6000:]
    # Each host's turn only confirms it is healthy and in rotation: no drain,
    # no switch, no restart, no migration, and no task reports a change.
    for host in APP_HOSTS:
        entry = report["hosts"][host]
        assert not {"drain", "deploy"} & set(entry["phases"]), entry
        assert entry["stats"]["changed"] == 0, (host, entry["stats"])
    assert not report["hosts"]["w-app1"].get("migrations_applied")
    assert releases() == {host: ("1.1.0", "1.1.0") for host in APP_HOSTS}


def test_a_rollback_under_load_fails_no_request(tmp_path):
    with lab.Probe(tmp_path, rate=PROBE_RATE, url=SITE + "/") as probe:
        rc, output, report = playbook(tmp_path, "rollback.yml")
    assert rc == 0, output[-6000:]
    assert report["result"] == "ok"
    assert releases() == {host: ("1.0.0", "1.0.0") for host in APP_HOSTS}
    assert get("/")[0] == 200
    assert probe.result["requests_total"] > 0
    assert probe.result["requests_failed"] == 0, probe.result["outcomes"]
