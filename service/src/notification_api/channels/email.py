"""E-mail over SMTP (aiosmtplib): host, port, credentials and TLS from the settings."""

from __future__ import annotations

import logging
from email.message import EmailMessage

import aiosmtplib

from ..settings import Settings
from .base import DeliveryError, Message

__all__ = ["EmailChannel"]

logger = logging.getLogger("notification_api.email")


class EmailChannel:
    """Sends each message as a plain-text e-mail, one SMTP connection per message.

    Example:
        >>> channel = EmailChannel(Settings(api_env="test", jwt_secret="s" * 32))
        >>> channel.sender
        'notification-api@localhost'
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sender = settings.smtp_sender

    async def send(self, message: Message) -> None:
        """Deliver ``message`` to ``message.recipient``; any SMTP failure is a DeliveryError."""
        settings = self.settings
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.recipient
        mail["Subject"] = message.subject
        mail["X-Notification-Id"] = str(message.id)
        mail.set_content(message.body)
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        try:
            await aiosmtplib.send(
                mail,
                hostname=settings.smtp_host,
                port=settings.smtp_port,
                username=settings.smtp_username,
                password=password,
                use_tls=settings.smtp_use_tls,
                start_tls=settings.smtp_start_tls,
                timeout=settings.smtp_timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = ", ".join(sorted({str(refusal.code) for refusal in error.recipients}))
            logger.warning("notification %s: SMTP refused: %r", message.id, error.recipients)
            raise DeliveryError(
                f"delivery failed: the mail server refused the recipient ({codes or 'no code'})"
            ) from error
        except aiosmtplib.SMTPResponseException as error:
            # The mail server's reply code is the caller's business (a 550 says
            # the mailbox does not exist); its text and any network error stay
            # in the log (they name hosts, ports and software).
            logger.warning("notification %s: SMTP %s: %s", message.id, error.code, error.message)
            raise DeliveryError(
                f"delivery failed: the mail server answered {error.code}"
            ) from error
        except (aiosmtplib.SMTPException, OSError) as error:
            logger.warning("notification %s: SMTP failed: %r", message.id, error)
            raise DeliveryError("delivery failed: the mail server could not be reached") from error
