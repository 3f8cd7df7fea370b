from django.db import models


class Visit(models.Model):
    """One request to ``/``: written on every hit, so a deploy that breaks
    writes (a migration that locks or drops what the old release uses) shows
    up as failed requests, not only as a failed health check."""

    created_at = models.DateTimeField(auto_now_add=True)
    path = models.CharField(max_length=255)
