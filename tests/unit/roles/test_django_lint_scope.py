# SPDX-License-Identifier: GPL-3.0-or-later
"""Which apps' migrations the pre-deploy lint checks (issue 13): only the
project's own, found through the distribution that provides the settings
package, so that a third-party app's migrations (taggit's, which do not lint
against a database) never stop a deploy."""

import importlib.util
import pathlib
import subprocess
import sys
import types

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "roles" / "django_migrations" / "files" / "zerodowntime_lint.py"


@pytest.fixture(name="lint", scope="module")
def fixture_lint():
    spec = importlib.util.spec_from_file_location("zerodowntime_lint", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def app(label, name, path="/nowhere"):
    return types.SimpleNamespace(label=label, name=name, path=path)


# What a `wagtail start mysite` project installed as the wheel "mysite"
# has: its own apps home and search at the top level beside mysite, and
# third-party apps from their own distributions.
WAGTAIL_APPS = [
    app("home", "home"), app("search", "search"),
    app("wagtailcore", "wagtail"), app("taggit", "taggit"),
    app("contenttypes", "django.contrib.contenttypes"), app("django_migration_linter", "django_migration_linter"),
]
DISTRIBUTIONS = {
    "mysite": ["mysite"], "home": ["mysite"], "search": ["mysite"],
    "wagtail": ["wagtail"], "taggit": ["django-taggit"], "django": ["Django"],
    "django_migration_linter": ["django-migration-linter"],
}


def test_the_apps_of_the_project_s_distribution_are_its_own(lint):
    assert lint.own_app_labels(WAGTAIL_APPS, "mysite.settings.production", DISTRIBUTIONS) == ["home", "search"]


def test_a_project_whose_package_no_distribution_provides_has_its_apps_found_by_directory(lint, tmp_path, monkeypatch):
    project = tmp_path / "src"
    (project / "mysite").mkdir(parents=True)
    (project / "mysite" / "__init__.py").write_text("")
    (project / "blog").mkdir()
    monkeypatch.setitem(sys.modules, "mysite", types.SimpleNamespace(__file__=str(project / "mysite" / "__init__.py")))
    apps = [app("blog", "blog", str(project / "blog")), app("taggit", "taggit", str(tmp_path / "venv" / "taggit"))]
    assert lint.own_app_labels(apps, "mysite.settings", {"taggit": ["django-taggit"]}) == ["blog"]


def test_no_project_package_means_no_app_of_its_own(lint):
    assert lint.own_app_labels(WAGTAIL_APPS, "elsewhere.settings", DISTRIBUTIONS) == []


def test_a_scope_other_than_own_or_all_is_refused_before_django_is_loaded():
    proc = subprocess.run([sys.executable, str(SCRIPT), "mine"], capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert "own|all" in proc.stderr
