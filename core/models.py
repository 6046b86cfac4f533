from django.db import models


class TimeStampedModel(models.Model):
    """Base for every model: created and updated times, timezone-aware UTC."""

    created_at = models.DateTimeField(auto_now_add=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True, editable=False)

    class Meta:
        abstract = True
