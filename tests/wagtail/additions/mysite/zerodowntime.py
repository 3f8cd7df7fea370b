"""/healthz and /version: what docs/artifact.md tells every user to add."""

from pathlib import Path

from django.db import connection
from django.http import HttpResponse


def healthz(request):
    """200 when the database answers, 503 otherwise."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # pylint: disable=broad-except
        return HttpResponse("database unreachable", status=503, content_type="text/plain")
    return HttpResponse("ok", content_type="text/plain")


def version(request):
    """The release name the build wrote to RELEASE (the working directory is the release)."""
    release = Path("RELEASE")
    return HttpResponse(release.read_text().strip() if release.exists() else "unknown", content_type="text/plain")
