"""The Notification API: a small multi-tenant notification gateway built on sqlrecord.

Users register and log in, keep API key pairs with IP whitelists, and other
systems call signed service endpoints to queue e-mail and webhook
notifications, which a background worker delivers. Run it with
``python -m notification_api`` (see ``docs/notification-api.md``).

Example:
    >>> from notification_api import Settings, create_app
    >>> callable(create_app) and Settings.model_fields["max_api_keys"].default
    3
"""

from .app import create_app
from .settings import Settings

__all__ = ["Settings", "create_app"]
