import logging

from django.db import connection
from django.http import HttpResponse
from django.views.decorators.http import require_GET

from .release import RELEASE

logger = logging.getLogger(__name__)


@require_GET
def healthz(request):
    """200 ``ok`` when ``SELECT 1`` succeeds, else 503 with a one-line reason.

    Balancers and the deploy poll this; a 500 with a traceback would tell them
    nothing more and leak internals, so every failure becomes a short 503 and
    the detail goes to the log.
    """
    try:
        with connection.cursor() as cursor:
            cursor.execute('SELECT 1')
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means "not healthy"
        logger.warning('health check failed: %s: %s', type(exc).__name__, exc)
        return HttpResponse(
            f'database unavailable: {type(exc).__name__}\n',
            status=503,
            content_type='text/plain; charset=utf-8',
        )
    return HttpResponse('ok', content_type='text/plain; charset=utf-8')


@require_GET
def version(request):
    """The release string alone, e.g. ``1.1.0``."""
    return HttpResponse(RELEASE, content_type='text/plain; charset=utf-8')
