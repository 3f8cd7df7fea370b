import socket

from django.http import JsonResponse
from django.views.decorators.http import require_GET

from demoapp.release import RELEASE

from .models import Visit


@require_GET
def index(request):
    """Record the visit and answer ``{"release", "host", "visits"}``.

    ``visits`` is the new row's id, not a COUNT(*): it grows with the table
    all the same and costs one index lookup instead of a full scan.
    """
    visit = Visit.objects.create(path=request.path[:255])
    return JsonResponse({
        'release': RELEASE,
        'host': socket.gethostname(),
        'visits': visit.id,
    })
