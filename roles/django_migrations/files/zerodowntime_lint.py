# SPDX-License-Identifier: GPL-3.0-or-later
"""Run django-migration-linter's ``lintmigrations`` on the project's own apps.

Copied into the release directory by the django_migrations role and run by
the release's own Python with DJANGO_SETTINGS_MODULE set, from the release
directory (where manage.py is)::

    python zerodowntime_lint.py SCOPE [lintmigrations arguments...]

SCOPE ``own`` lints the apps that ship in the project's own distribution,
the one that provides the settings module's top-level package (a generated
Django or Wagtail project's ``home`` and ``search`` apps, for instance), and
leaves third-party apps out: their migrations were written against their own
history, and some (taggit's) do not lint against a database (issue 13).
SCOPE ``all`` lints every installed app, as ``manage.py lintmigrations`` does.
The exit status is lintmigrations' own: 0 when nothing breaks the running
release, 1 when an operation does.
"""

import importlib.metadata
import os
import pathlib
import sys


def own_app_labels(app_configs, settings_module, distributions):
    """Labels of the apps that belong to the project.

    Args:
        app_configs: iterable of objects with ``label``, ``name`` (the app's
            dotted module name) and ``path`` (its directory, a str), as
            ``django.apps.apps.get_app_configs()`` returns.
        settings_module: DJANGO_SETTINGS_MODULE, e.g. ``mysite.settings.production``.
        distributions: mapping of top-level module name to the names of the
            distributions that provide it
            (``importlib.metadata.packages_distributions()``).

    Returns:
        list of str, in the order of ``app_configs``. When the settings
        package comes from an installed distribution, the apps whose
        top-level module that distribution provides; otherwise (a project
        run from its source tree) the apps under the directory that holds
        the settings package, which must then be imported (``sys.modules``).
    """
    top = settings_module.split(".", 1)[0]
    project = set(distributions.get(top, ()))
    configs = list(app_configs)
    if project:
        return [app.label for app in configs
                if project & set(distributions.get(app.name.split(".", 1)[0], ()))]
    module = sys.modules.get(top)
    if module is None or not getattr(module, "__file__", None):
        return []
    root = str(pathlib.Path(module.__file__).resolve().parent.parent)
    return [app.label for app in configs if str(pathlib.Path(app.path).resolve()).startswith(root + os.sep)]


def main(argv):
    """Entry point: ``argv`` is [SCOPE, lintmigrations arguments...]; exits
    with lintmigrations' status (2 for a bad SCOPE)."""
    if not argv or argv[0] not in ("own", "all"):
        sys.stderr.write("usage: zerodowntime_lint.py own|all [lintmigrations arguments...]\n")
        return 2
    scope, rest = argv[0], list(argv[1:])
    sys.path.insert(0, os.getcwd())
    import django  # pylint: disable=import-outside-toplevel
    from django.apps import apps  # pylint: disable=import-outside-toplevel
    from django.core.management import execute_from_command_line  # pylint: disable=import-outside-toplevel

    django.setup()
    if scope == "own":
        __import__(os.environ["DJANGO_SETTINGS_MODULE"])
        labels = own_app_labels(apps.get_app_configs(), os.environ["DJANGO_SETTINGS_MODULE"],
                                importlib.metadata.packages_distributions())
        if not labels:
            sys.stdout.write("No app of the project's own to lint.\n")
            return 0
        rest += ["--include-apps", *labels]
    execute_from_command_line(["manage.py", "lintmigrations", *rest])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
