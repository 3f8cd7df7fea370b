"""The demoapp fixture: its release patch stack and the artifact build.

Fast and offline: nothing here builds wheels, reaches an index or needs a
database. The artifact checks read what `examples/demoapp/build.sh` left in
build/artifacts and skip when it has not been run.
"""

import ast
import hashlib
import io
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile

import pytest
from packaging.version import Version

ROOT = pathlib.Path(__file__).resolve().parents[3]
DEMOAPP = ROOT / "examples" / "demoapp"
ORDER = DEMOAPP / "releases" / "ORDER"
BUILD = DEMOAPP / "build.sh"
ARTIFACTS = ROOT / "build" / "artifacts"

# The contract marker: a migration whose name contains it runs after every
# host serves the new release (docs/deploy.md, "Expand/contract in practice").
POST_DEPLOY = "postdeploy"

# Operations that break a release still running the old code when applied
# before it is gone; only a post-deploy migration may contain them.
CONTRACT_OPERATIONS = {"RemoveField", "DeleteModel", "RenameField", "RenameModel"}

LINE = re.compile(r"\s*([0-9][a-z0-9.-]*)(?:\s+from\s+([0-9][a-z0-9.-]*))?\s*")


def parse_order(text):
    """{release: parent} in ORDER's order; the base's parent is None.

    The same rules as build.sh: a plain line continues the main line (its
    parent is the plain line above it), "RELEASE from BASE" branches off a
    release named on an earlier line.
    """
    parents, mainline = {}, None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = LINE.fullmatch(line)
        if not match:
            raise ValueError(f"line {number}: expected 'RELEASE' or 'RELEASE from BASE': {line!r}")
        name, base = match.groups()
        if name in parents:
            raise ValueError(f"line {number}: {name} is listed twice")
        if base is None:
            base, mainline = mainline, name
        elif base not in parents:
            raise ValueError(f"line {number}: {name} is from {base}, which no line above names")
        parents[name] = base
    return parents


def order():
    return parse_order(ORDER.read_text())


def releases():
    return list(order())


def chain(release, parents=None):
    """The releases whose patches make `release`'s tree, base first."""
    parents = order() if parents is None else parents
    steps = []
    while release is not None:
        steps.insert(0, release)
        release = parents[release]
    return steps


def wheel_version(release):
    """The release's wheel version: its first "-" becomes a "+"."""
    return release.replace("-", "+", 1)


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def apply_patch(patch, tree, *extra):
    result = subprocess.run(
        ["patch", "-p1", "--batch", "--forward", "--fuzz=0", "--no-backup-if-mismatch", *extra],
        cwd=tree,
        stdin=patch.open("rb"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"{patch.name} does not apply cleanly:\n{result.stdout}{result.stderr}"
    # Offsets are legal but mean the patch was made against another tree
    # than the one it now lands on.
    assert "offset" not in result.stdout and "fuzz" not in result.stdout, result.stdout


def release_tree(release, dest):
    """src/ with the patch of every release on `release`'s chain, as build.sh
    builds it (without the generated demoapp/_release.py)."""
    tree = dest / f"tree-{release}"
    if tree.exists():  # built already by this test
        return tree
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    shutil.copytree(DEMOAPP / "src", tree, ignore=ignore)
    for step in chain(release):
        patch = DEMOAPP / "releases" / f"{step}.patch"
        if patch.exists():
            apply_patch(patch, tree)
    return tree


def migration_names(tree):
    return {p.stem for p in (tree / "visits" / "migrations").glob("[0-9][0-9][0-9][0-9]_*.py")}


def new_migrations(release, tmp_path):
    """{name: path} of the migrations `release` adds over its parent."""
    tree = release_tree(release, tmp_path)
    parent = order()[release]
    before = migration_names(release_tree(parent, tmp_path)) if parent else set()
    return {
        name: tree / "visits" / "migrations" / f"{name}.py"
        for name in sorted(migration_names(tree) - before)
    }


def run_build(*args, script=BUILD, **env):
    return subprocess.run(
        ["bash", str(script), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env},
        timeout=60,
    )


# --- releases/ORDER -------------------------------------------------------


def test_order_starts_with_the_base_and_its_plain_lines_are_the_main_line():
    assert releases()[:2] == ["1.0.0", "1.1.0"]
    plain = [
        line.strip()
        for line in ORDER.read_text().splitlines()
        if line.strip() and not line.startswith("#") and " from " not in line
    ]
    assert plain == ["1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0"]
    assert chain("1.4.0") == plain


@pytest.mark.parametrize(
    ("release", "expected"),
    [
        ("1.0.0", ["1.0.0"]),
        ("1.1.0", ["1.0.0", "1.1.0"]),
        ("1.1.1-unhealthy", ["1.0.0", "1.1.0", "1.1.1-unhealthy"]),
        ("1.2.0", ["1.0.0", "1.1.0", "1.2.0"]),
        ("1.2.9-unsafe", ["1.0.0", "1.1.0", "1.2.0", "1.2.9-unsafe"]),
        ("1.3.0", ["1.0.0", "1.1.0", "1.2.0", "1.3.0"]),
        ("1.4.0", ["1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0"]),
        ("1.4.0-faulty", ["1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0-faulty"]),
        ("1.4.0-slow", ["1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0-slow"]),
    ],
)
def test_order_resolves_each_release_to_its_chain_of_patches(release, expected):
    assert chain(release) == expected


def test_a_plain_line_continues_the_main_line_and_a_from_line_branches_off_it():
    parents = parse_order(
        "# comment\n"
        "\n"
        "1.0.0\n"
        "1.1.0\n"
        "1.1.1-hotfix from 1.1.0\n"
        "1.2.0\n"
        "1.1.2-hotfix from 1.1.1-hotfix\n"
        "  1.3.0  \n"
    )
    assert parents == {
        "1.0.0": None,
        "1.1.0": "1.0.0",
        "1.1.1-hotfix": "1.1.0",
        # The branch above does not move the main line.
        "1.2.0": "1.1.0",
        "1.1.2-hotfix": "1.1.1-hotfix",
        "1.3.0": "1.2.0",
    }
    assert chain("1.1.2-hotfix", parents) == ["1.0.0", "1.1.0", "1.1.1-hotfix", "1.1.2-hotfix"]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("1.0.0\n1.1.0 on 1.0.0\n", "expected 'RELEASE' or 'RELEASE from BASE'"),
        ("1.0.0\n1.1.0-Bad\n", "expected 'RELEASE' or 'RELEASE from BASE'"),
        ("1.0.0\n1.0.0\n", "1.0.0 is listed twice"),
        ("1.0.0\n1.1.0 from 1.2.0\n1.2.0\n", "1.1.0 is from 1.2.0, which no line above names"),
        ("1.0.0 from 0.9.0\n", "1.0.0 is from 0.9.0, which no line above names"),
    ],
)
def test_order_errors_are_named_by_the_parser_and_by_build_sh(text, error, tmp_path):
    with pytest.raises(ValueError, match=re.escape(error)):
        parse_order(text)

    # build.sh reads ORDER beside itself: give a copy a broken one.
    demoapp = tmp_path / "examples" / "demoapp"
    (demoapp / "releases").mkdir(parents=True)
    shutil.copy(BUILD, demoapp / "build.sh")
    (demoapp / "releases" / "ORDER").write_text(text)
    result = run_build("--chain", "1.0.0", script=demoapp / "build.sh", PYTHON="/nonexistent/python")
    assert result.returncode != 0
    assert error in result.stderr
    assert "examples/demoapp/releases/ORDER:" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("release", releases())
def test_build_sh_resolves_the_same_chain_as_order_documents(release):
    result = run_build("--chain", release, PYTHON="/nonexistent/python")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == chain(release)


def test_order_documents_its_format_in_comments():
    comments = "\n".join(line for line in ORDER.read_text().splitlines() if line.startswith("#"))
    assert "RELEASE from BASE" in comments
    assert "1.2.9-unsafe is 1.1.0.patch, 1.2.0.patch, 1.2.9-unsafe.patch" in comments


@pytest.mark.parametrize("release", releases())
def test_every_release_name_makes_a_canonical_pep440_wheel_version(release):
    version = wheel_version(release)
    assert str(Version(version)) == version
    if "-" in release:
        # A suffix becomes a local version: never a pre-, post- or dev-release
        # that would sort among the real releases.
        assert Version(version).local == release.split("-", 1)[1]


# --- the patch stack -------------------------------------------------------


def test_the_base_release_is_src_itself_with_no_patch():
    assert order()["1.0.0"] is None
    assert not (DEMOAPP / "releases" / "1.0.0.patch").exists()
    assert tomllib.loads((DEMOAPP / "src" / "pyproject.toml").read_text())["project"]["version"] == "1.0.0"


def test_every_patch_file_belongs_to_a_release_in_order():
    patches = {p.name.removesuffix(".patch") for p in (DEMOAPP / "releases").glob("*.patch")}
    assert patches <= set(releases())


def test_src_has_no_generated_release_module():
    # build.sh writes it into the tree it builds; one in src/ would make
    # every release report the same name.
    assert not (DEMOAPP / "src" / "demoapp" / "_release.py").exists()


@pytest.mark.parametrize("release", releases())
def test_patch_chain_applies_cleanly_and_sets_the_wheel_version(release, tmp_path):
    tree = release_tree(release, tmp_path)
    project = tomllib.loads((tree / "pyproject.toml").read_text())["project"]
    assert project["name"] == "demoapp"
    assert project["version"] == wheel_version(release)


@pytest.mark.parametrize("release", releases())
def test_release_module_reports_the_name_build_sh_writes(release, tmp_path):
    tree = release_tree(release, tmp_path)
    # What build.sh writes; demoapp.release must prefer it to the metadata.
    (tree / "demoapp" / "_release.py").write_text(f"RELEASE = {release!r}\n")
    result = subprocess.run(
        [sys.executable, "-c", "from demoapp.release import RELEASE; print(RELEASE)"],
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{release}\n"


def test_release_module_without_the_generated_module_does_not_invent_a_release(tmp_path):
    tree = release_tree("1.0.0", tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", "from demoapp.release import RELEASE; print(RELEASE)"],
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "0+unknown\n"


def test_every_release_ships_the_migration_linter():
    pins = _top_level_pins()
    assert "django-migration-linter" in pins
    settings = (DEMOAPP / "src" / "demoapp" / "settings.py").read_text()
    assert "'django_migration_linter'," in settings
    dependencies = tomllib.loads((DEMOAPP / "src" / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(canonical(re.split(r"[<>=!~ ]", d, maxsplit=1)[0]) == "django-migration-linter" for d in dependencies)
    # No patch may take it out again.
    for release in releases():
        patch = DEMOAPP / "releases" / f"{release}.patch"
        if patch.exists():
            assert "-    'django_migration_linter'," not in patch.read_text()


# --- migrations ------------------------------------------------------------


def _calls(tree, func_attr):
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == func_attr
    ]


def _kwargs(call):
    return {kw.arg: kw.value for kw in call.keywords}


def _operations(module):
    """The names of the migrations.X(...) operations, in source order."""
    return [
        node.func.attr
        for node in ast.walk(module)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "migrations"
    ]


def _dependencies(module):
    for node in ast.walk(module):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "dependencies" for t in node.targets):
            return {dependency[1] for dependency in ast.literal_eval(node.value)}
    return set()


MIGRATIONS_PER_RELEASE = {
    "1.0.0": ["0001_initial"],
    "1.1.0": ["0002_visit_user_agent"],
    "1.1.1-unhealthy": [],
    "1.2.0": ["0003_alter_visit_path_null", "0004_backfill_user_agent_postdeploy"],
    "1.2.9-unsafe": ["0005_remove_visit_user_agent"],
    "1.3.0": ["0005_remove_visit_path_postdeploy"],
    "1.4.0": [],
    "1.4.0-faulty": [],
    "1.4.0-slow": [],
}


def test_every_release_in_order_has_its_migrations_listed_here():
    assert set(MIGRATIONS_PER_RELEASE) == set(releases())


@pytest.mark.parametrize("release", releases())
def test_release_adds_exactly_its_migrations(release, tmp_path):
    assert list(new_migrations(release, tmp_path)) == MIGRATIONS_PER_RELEASE[release]


@pytest.mark.parametrize("release", [r for r in releases() if r != "1.2.9-unsafe"])
def test_pre_deploy_migrations_never_remove_or_rename_what_the_running_release_uses(release, tmp_path):
    for name, path in new_migrations(release, tmp_path).items():
        if POST_DEPLOY in name:
            continue
        operations = set(_operations(ast.parse(path.read_text())))
        assert not operations & CONTRACT_OPERATIONS, (
            f"{release}: {name} runs before the old release is gone and does {operations & CONTRACT_OPERATIONS}"
        )


@pytest.mark.parametrize("release", releases())
def test_no_pre_deploy_migration_depends_on_a_post_deploy_one_of_its_release(release, tmp_path):
    # The deploy applies a release's pre-deploy migrations with
    # `migrate visits <last pre-deploy one>`; that target must not pull in a
    # post-deploy migration through its dependencies.
    added = new_migrations(release, tmp_path)
    post = {name for name in added if POST_DEPLOY in name}
    for name, path in added.items():
        if name not in post:
            assert not _dependencies(ast.parse(path.read_text())) & post, name


def test_release_1_1_0_adds_user_agent_as_a_nullable_column_without_default(tmp_path):
    migrations = new_migrations("1.1.0", tmp_path)
    (path,) = migrations.values()
    module = ast.parse(path.read_text())

    # Expand only: nothing that rewrites, renames or drops what 1.0.0 uses.
    assert _operations(module) == ["AddField"]

    (add_field,) = _calls(module, "AddField")
    args = _kwargs(add_field)
    assert ast.literal_eval(args["model_name"]) == "visit"
    assert ast.literal_eval(args["name"]) == "user_agent"
    field = args["field"]
    assert isinstance(field, ast.Call) and field.func.attr == "CharField"
    field_args = {k: ast.literal_eval(v) for k, v in _kwargs(field).items()}
    # No default: the column is added without rewriting the table or
    # blocking 1.0.0's inserts.
    assert field_args == {"max_length": 256, "null": True}
    assert _dependencies(module) == {"0001_initial"}


def test_release_1_1_0_writes_the_user_agent_and_1_0_0_does_not(tmp_path):
    base = (DEMOAPP / "src" / "visits" / "views.py").read_text()
    patched = (release_tree("1.1.0", tmp_path) / "visits" / "views.py").read_text()
    assert "user_agent" not in base
    assert "user_agent=" in patched


def test_release_1_2_0_makes_path_nullable_and_adds_the_counter_before_deploy(tmp_path):
    path = new_migrations("1.2.0", tmp_path)["0003_alter_visit_path_null"]
    module = ast.parse(path.read_text())
    assert sorted(_operations(module)) == ["AlterField", "CreateModel"]

    (alter,) = _calls(module, "AlterField")
    args = _kwargs(alter)
    assert (ast.literal_eval(args["model_name"]), ast.literal_eval(args["name"])) == ("visit", "path")
    assert {k: ast.literal_eval(v) for k, v in _kwargs(args["field"]).items()} == {"max_length": 255, "null": True}

    (create,) = _calls(module, "CreateModel")
    assert ast.literal_eval(_kwargs(create)["name"]) == "DeployCounter"
    fields = {ast.literal_eval(f.elts[0]): f.elts[1] for f in _kwargs(create)["fields"].elts}
    assert {k: ast.literal_eval(v) for k, v in _kwargs(fields["name"]).items()} == {"max_length": 100, "unique": True}
    assert fields["value"].func.attr == "IntegerField"


def test_release_1_2_0_backfills_after_deploy_and_counts_each_run(tmp_path):
    path = new_migrations("1.2.0", tmp_path)["0004_backfill_user_agent_postdeploy"]
    source = path.read_text()
    module = ast.parse(source)
    assert _operations(module) == ["RunPython"]
    (run_python,) = _calls(module, "RunPython")
    forward, backward = run_python.args
    assert ast.unparse(backward) == "migrations.RunPython.noop"
    # Historical models only (the linter's RUNPYTHON_MODEL_IMPORT check),
    # the backfill, and the counter bumped in the same transaction.
    assert "apps.get_model('visits', 'Visit')" in source
    assert "apps.get_model('visits', 'DeployCounter')" in source
    assert ".filter(user_agent__isnull=True).update(user_agent='unknown')" in source
    assert "update(value=F('value') + 1)" in source
    assert f"COUNTER = '{path.stem}'" in source
    assert ast.unparse(forward) == "backfill_user_agent"


def test_release_1_2_0_reads_the_user_agent_column(tmp_path):
    tree = release_tree("1.2.0", tmp_path)
    views = (tree / "visits" / "views.py").read_text()
    assert "'user_agent_known'" in views
    assert ".values('user_agent')" in views
    assert "path('stats', stats, name='stats')" in (tree / "demoapp" / "urls.py").read_text()


def test_release_1_2_9_unsafe_drops_a_column_in_a_pre_deploy_migration(tmp_path):
    ((name, path),) = new_migrations("1.2.9-unsafe", tmp_path).items()
    # What the linter must stop: a RemoveField the deploy would apply while
    # 1.2.0 still reads and writes the column.
    assert POST_DEPLOY not in name
    module = ast.parse(path.read_text())
    assert _operations(module) == ["RemoveField"]
    args = _kwargs(_calls(module, "RemoveField")[0])
    assert (ast.literal_eval(args["model_name"]), ast.literal_eval(args["name"])) == ("visit", "user_agent")
    assert _dependencies(module) == {"0004_backfill_user_agent_postdeploy"}


def test_release_1_3_0_drops_path_only_after_deploy(tmp_path):
    ((name, path),) = new_migrations("1.3.0", tmp_path).items()
    assert POST_DEPLOY in name
    module = ast.parse(path.read_text())
    assert _operations(module) == ["RemoveField"]
    args = _kwargs(_calls(module, "RemoveField")[0])
    assert (ast.literal_eval(args["model_name"]), ast.literal_eval(args["name"])) == ("visit", "path")

    # The code of 1.3.0 no longer names the column, so it runs beside 1.2.0
    # (which still writes it) before 0005, and alone after it.
    tree = release_tree("1.3.0", tmp_path)
    assert "path=" not in (tree / "visits" / "views.py").read_text()
    assert "path = models" not in (tree / "visits" / "models.py").read_text()


def test_release_1_1_1_unhealthy_fails_its_health_check_and_nothing_else(tmp_path):
    tree = release_tree("1.1.1-unhealthy", tmp_path)
    base = release_tree("1.1.0", tmp_path)
    module = ast.parse((tree / "demoapp" / "views.py").read_text())
    (healthz,) = [f for f in module.body if isinstance(f, ast.FunctionDef) and f.name == "healthz"]
    # One way out, and it is a 503: no branch answers 200.
    (response,) = [
        c for c in ast.walk(healthz) if isinstance(c, ast.Call) and getattr(c.func, "id", None) == "HttpResponse"
    ]
    assert ast.literal_eval(_kwargs(response)["status"]) == 503
    for unchanged in ["visits/views.py", "visits/models.py", "demoapp/urls.py", "demoapp/settings.py"]:
        assert (tree / unchanged).read_text() == (base / unchanged).read_text(), unchanged


@pytest.mark.parametrize(
    ("release", "setting", "default"),
    [("1.4.0-faulty", "DEMOAPP_FAULT_RATIO", "0.2"), ("1.4.0-slow", "DEMOAPP_EXTRA_LATENCY_MS", "300.0")],
)
def test_misbehaving_releases_read_their_knob_from_the_environment(release, setting, default, tmp_path):
    tree = release_tree(release, tmp_path)
    settings = (tree / "demoapp" / "settings.py").read_text()
    assert f"{setting} = _env_number('{setting}', {default}," in settings
    assert f"settings.{setting}" in (tree / "visits" / "views.py").read_text()
    # /healthz is the same as in the release they branch from.
    assert (tree / "demoapp" / "views.py").read_text() == (release_tree("1.3.0", tmp_path) / "demoapp" / "views.py").read_text()


# --- build.sh ----------------------------------------------------------------


def test_build_rejects_an_unknown_release_before_building_anything(tmp_path):
    # PYTHON points nowhere: a script that got past the check would fail with
    # another message, so this proves the check comes first.
    result = run_build("9.9.9", str(tmp_path / "out"), PYTHON="/nonexistent/python")
    assert result.returncode != 0
    assert "release 9.9.9 is not in examples/demoapp/releases/ORDER" in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "out").exists()


def test_build_without_a_release_prints_usage():
    result = run_build(PYTHON="/nonexistent/python")
    assert result.returncode != 0
    assert "usage:" in result.stderr
    result = run_build("--chain", PYTHON="/nonexistent/python")
    assert result.returncode != 0
    assert "usage:" in result.stderr


def test_build_skips_a_release_whose_artifact_exists_and_prints_its_path(tmp_path):
    artifact = tmp_path / "demoapp-1.2.9-unsafe.tar.gz"
    artifact.write_bytes(b"stand-in")
    (tmp_path / "demoapp-1.2.9-unsafe.tar.gz.sha256").write_text("0  demoapp-1.2.9-unsafe.tar.gz\n")
    result = run_build("1.2.9-unsafe", str(tmp_path), PYTHON="/nonexistent/python")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{artifact}\n"
    assert artifact.read_bytes() == b"stand-in"


def test_build_with_force_does_not_skip_an_existing_artifact(tmp_path):
    artifact = tmp_path / "demoapp-1.0.0.tar.gz"
    artifact.write_bytes(b"stand-in")
    (tmp_path / "demoapp-1.0.0.tar.gz.sha256").write_text("0  demoapp-1.0.0.tar.gz\n")
    # With no usable interpreter the rebuild fails; what matters is that it
    # was attempted and the old artifact was left alone.
    result = run_build("1.0.0", str(tmp_path), PYTHON="/nonexistent/python", FORCE="1")
    assert result.returncode != 0
    assert "skipping" not in result.stderr
    assert artifact.read_bytes() == b"stand-in"


def _pins(requirements):
    """{canonical name: (version, sha256)} from a requirements.txt with hashes."""
    text = requirements.replace("\\\n", " ")
    pins = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)\s+--hash=sha256:([0-9a-f]{64})", line)
        assert match, f"not an exact pin with a hash: {line!r}"
        pins[canonical(match[1])] = (match[2], match[3])
    return pins


def _top_level_pins():
    pins = {}
    for line in (DEMOAPP / "requirements.in").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[canonical(re.sub(r"\[.*\]", "", name))] = version
    return pins


@pytest.mark.parametrize("release", releases())
def test_artifact_holds_the_release_wheel_its_pinned_dependencies_and_their_hashes(release, tmp_path):
    artifact = ARTIFACTS / f"demoapp-{release}.tar.gz"
    if not artifact.exists():
        pytest.skip(f"{artifact.relative_to(ROOT)} not built (examples/demoapp/build.sh {release})")

    checksum = (ARTIFACTS / f"demoapp-{release}.tar.gz.sha256").read_text().split()
    assert checksum == [hashlib.sha256(artifact.read_bytes()).hexdigest(), artifact.name]

    with tarfile.open(artifact) as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        assert "requirements.txt" in members
        wheels = {
            name.removeprefix("wheels/"): tar.extractfile(m).read()
            for name, m in members.items()
            if name.startswith("wheels/")
        }
        assert set(members) == {"manage.py", "requirements.txt"} | {f"wheels/{w}" for w in wheels}
        # manage.py runs migrations from the release's virtualenv.
        assert members["manage.py"].mode & 0o111
        assert tar.extractfile(members["manage.py"]).readline() == b"#!/usr/bin/env python\n"
        assert wheels and all(w.endswith(".whl") for w in wheels)
        pins = _pins(tar.extractfile(members["requirements.txt"]).read().decode())

    # The wheel carries the PEP 440 form, and requirements.txt pins exactly it.
    assert pins["demoapp"][0] == wheel_version(release)
    for name, version in _top_level_pins().items():
        assert pins[name][0] == version, f"{name} is not pinned to {version}"
    assert pins["psycopg-binary"][0] == pins["psycopg"][0]

    # Every wheel is pinned and every pin is a wheel, byte for byte.
    by_name = {
        canonical(w.split("-")[0]): (w.split("-")[1], hashlib.sha256(data).hexdigest())
        for w, data in wheels.items()
    }
    assert by_name == pins

    (app_wheel,) = [data for w, data in wheels.items() if w.startswith(f"demoapp-{wheel_version(release)}-")]
    wheel = zipfile.ZipFile(io.BytesIO(app_wheel))
    names = wheel.namelist()
    assert "demoapp/settings.py" in names and "demoapp/wsgi.py" in names
    assert "manage.py" not in names
    migrations = {
        n.removeprefix("visits/migrations/").removesuffix(".py")
        for n in names
        if re.fullmatch(r"visits/migrations/\d{4}_\w+\.py", n)
    }
    assert migrations == {m for step in chain(release) for m in MIGRATIONS_PER_RELEASE[step]}

    # /version and X-Release answer what demoapp/_release.py says, and that
    # is the name in ORDER, suffix and all, not the wheel's version.
    (assignment,) = ast.parse(wheel.read("demoapp/_release.py").decode()).body
    assert [t.id for t in assignment.targets] == ["RELEASE"]
    assert ast.literal_eval(assignment.value) == release
