# SPDX-License-Identifier: GPL-3.0-or-later
"""The AWX job templates of playbooks/awx/surveys.yml ask only for what their
playbooks read, in a shape AWX accepts, and playbooks/awx_setup.yml (which
loads them) passes ansible-playbook --syntax-check.

A survey variable the playbook does not read would be accepted by AWX and
silently ignored by the job: an operator would choose "canary: on" and get a
plain rolling deploy. So every survey variable must occur, as a read (not as
a key being defined), in the playbook or in a file it loads (vars_files,
include_tasks/import_tasks, import_playbook).
"""

import os
import pathlib
import re
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
PLAYBOOKS = ROOT / "playbooks"
SURVEYS = PLAYBOOKS / "awx" / "surveys.yml"
TEMPLATES = yaml.safe_load(SURVEYS.read_text())["awx_job_templates"]

# Survey variables that no playbook may read yet, on purpose, and the issue
# that makes them real. Not strict, so the test stays green whichever lands
# first; once the issue has landed (the test reports XPASS), remove the entry.
EXPECTED_MISSING = {
}
SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}


def loaded_files(playbook, seen=None):
    """The playbook and every file it loads, by relative path, recursively."""
    seen = set() if seen is None else seen
    if playbook in seen or not playbook.exists():
        return seen
    seen.add(playbook)
    text = playbook.read_text()
    names = re.findall(r"vars_files:\s*\[([^\]]*)\]", text)
    names = [n.strip().strip("'\"") for group in names for n in group.split(",")]
    names += re.findall(r"^\s*-\s*([\w./-]+\.ya?ml)\s*$", "\n".join(
        block for block in re.findall(r"vars_files:\s*\n((?:\s+-\s*.*\n)+)", text)), re.M)
    names += re.findall(r"(?:include_tasks|import_tasks|import_playbook):\s*([\w./-]+\.ya?ml)", text)
    names += re.findall(r"^\s*file:\s*([\w./-]+\.ya?ml)\s*$", text, re.M)
    # A role of this collection, by its entry point (tasks_from, or main).
    for role, block_entry, flow_entry in re.findall(
            r"name:\s*zerodowntime\.deploy\.(\w+)(?:\s*\n\s+tasks_from:\s*(\w+)|,\s*tasks_from:\s*(\w+))?", text):
        entry = block_entry or flow_entry or "main"
        names.append(str(ROOT / "roles" / role / "tasks" / ("%s.yml" % entry)))
    # A playbook's own task files, named from a role by {{ playbook_dir }}.
    names += re.findall(r"include_tasks:\s*\"\{\{ playbook_dir \}\}/([\w./-]+\.ya?ml)\"", text)
    for name in names:
        for base in (playbook.parent, PLAYBOOKS):
            candidate = (base / name).resolve()
            if candidate.exists():
                loaded_files(candidate, seen)
                break
    return seen


def reads(variable, playbook):
    """True when `variable` is read (not only defined) in the playbook or a
    file it loads; comment lines do not count."""
    pattern = re.compile(r"(?<![\w.])%s(?!\w)" % re.escape(variable))
    definition = re.compile(r"^\s*(?:-\s+)?%s\s*:(?!:)" % re.escape(variable))
    for path in loaded_files(playbook):
        for line in path.read_text().splitlines():
            if line.lstrip().startswith("#"):
                continue
            for match in pattern.finditer(line):
                if definition.match(line) and match.start() == line.index(variable):
                    continue
                return True
    return False


def survey_variables():
    for template in TEMPLATES:
        playbook = ROOT / template["playbook"]
        for question in (template.get("survey") or {}).get("spec") or []:
            variable = question["variable"]
            marks = []
            if variable in EXPECTED_MISSING:
                marks.append(pytest.mark.xfail(strict=False, reason=EXPECTED_MISSING[variable]))
            elif not playbook.exists():
                marks.append(pytest.mark.xfail(
                    strict=True, reason="%s does not exist yet; its job template is defined ahead of it"
                    % template["playbook"]))
            yield pytest.param(template, variable, id="%s:%s" % (template["name"], variable), marks=marks)


def test_deploy_rollback_and_switch_have_job_templates():
    by_name = {t["name"]: t for t in TEMPLATES}
    assert {"deploy", "rollback", "switch"} <= set(by_name)
    assert by_name["deploy"]["playbook"] == "playbooks/deploy.yml"
    assert by_name["rollback"]["playbook"] == "playbooks/rollback.yml"
    assert by_name["switch"]["playbook"] == "playbooks/switch.yml"
    assert len(by_name) == len(TEMPLATES), "job template names repeat"


def test_deploy_survey_asks_for_release_batch_size_and_canary():
    spec = {q["variable"]: q for q in next(t for t in TEMPLATES if t["name"] == "deploy")["survey"]["spec"]}
    assert spec["deploy_release"]["type"] == "text" and spec["deploy_release"]["required"] is True
    assert "default" not in spec["deploy_release"], "a default release would deploy it by accident"
    assert spec["deploy_serial"]["type"] == "text" and spec["deploy_serial"]["default"] == "1"
    assert spec["deploy_canary"]["type"] == "multiplechoice"
    assert sorted(spec["deploy_canary"]["choices"]) == ["off", "on"]


@pytest.mark.parametrize("template", TEMPLATES, ids=[t["name"] for t in TEMPLATES])
def test_survey_is_in_a_shape_awx_accepts(template):
    assert template["playbook"].startswith("playbooks/") and template["playbook"].endswith(".yml")
    survey = template.get("survey")
    if survey is None:
        return
    assert survey.get("name") and "description" in survey, "AWX requires name and description"
    variables = [q["variable"] for q in survey["spec"]]
    assert len(variables) == len(set(variables)), "variables repeat: %s" % variables
    for question in survey["spec"]:
        where = "%s:%s" % (template["name"], question.get("variable"))
        assert question.get("question_name"), where
        assert re.fullmatch(r"[a-z_][a-z0-9_]*", question["variable"]), where
        assert question["type"] in SURVEY_TYPES, where
        assert isinstance(question["required"], bool), where
        if question["type"] in ("multiplechoice", "multiselect"):
            choices = question["choices"]
            assert isinstance(choices, list) and all(isinstance(c, str) for c in choices), where
            if "default" in question:
                assert question["default"] in choices, where
        if question["type"] in ("text", "textarea") and "default" in question:
            assert isinstance(question["default"], str), "%s: AWX text defaults are strings" % where
            assert question.get("min", 0) <= len(question["default"]) <= question.get("max", 1024), where


@pytest.mark.parametrize("template, variable", survey_variables())
def test_every_survey_variable_is_read_by_its_playbook(template, variable):
    playbook = ROOT / template["playbook"]
    assert playbook.exists(), "%s does not exist" % template["playbook"]
    assert reads(variable, playbook), "%s asks for %s, which %s never reads (files searched: %s)" % (
        template["name"], variable, template["playbook"],
        sorted(str(p.relative_to(ROOT)) for p in loaded_files(playbook)))


def test_the_read_check_tells_reads_from_definitions(tmp_path):
    (tmp_path / "vars").mkdir()
    (tmp_path / "vars" / "v.yml").write_text("---\nfoo_defined: 1\nbar: \"{{ foo_read | default(1) }}\"\n")
    playbook = tmp_path / "p.yml"
    playbook.write_text("---\n# foo_comment\n- hosts: all\n  vars_files: [vars/v.yml]\n  tasks: []\n")
    assert reads("foo_read", playbook)
    assert not reads("foo_defined", playbook)
    assert not reads("foo_comment", playbook)


def test_awx_setup_loads_the_survey_file():
    plays = yaml.safe_load((PLAYBOOKS / "awx_setup.yml").read_text())
    assert any("awx/surveys.yml" in (play.get("vars_files") or []) for play in plays)


def test_awx_setup_passes_syntax_check():
    bin_dir = pathlib.Path(sys.executable).parent
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH="%s%s%s" % (bin_dir, os.pathsep, os.environ.get("PATH", "")))
    proc = subprocess.run([str(bin_dir / "ansible-playbook"), "--syntax-check", "playbooks/awx_setup.yml"],
                          cwd=str(ROOT), env=env, capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
