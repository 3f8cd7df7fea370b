"""Deployment settings: what docs/artifact.md tells every user to add.

Wagtail's production settings, plus what differs between environments, read
from the environment the deploy writes (deploy_app_environment). The
inventory names this module in deploy_django_settings.
"""

import os

from .production import *  # noqa: F401,F403 pylint: disable=wildcard-import,unused-wildcard-import
from .production import INSTALLED_APPS, MIDDLEWARE

SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
ALLOWED_HOSTS = [host.strip() for host in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost").split(",")]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": os.environ["DATABASE_HOST"],
        "PORT": os.environ.get("DATABASE_PORT", "5432"),
        "NAME": os.environ["DATABASE_NAME"],
        "USER": os.environ["DATABASE_USER"],
        "PASSWORD": os.environ["DATABASE_PASSWORD"],
    }
}
# The pre-deploy lint of pending migrations.
INSTALLED_APPS = INSTALLED_APPS + ["django_migration_linter"]
# The release's collected static files, served by the app itself.
MIDDLEWARE = list(MIDDLEWARE)
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
                  "whitenoise.middleware.WhiteNoiseMiddleware")
