"""The one error the client raises."""

from typing import Optional


class TokenServiceError(Exception):
    """The service refused (its RFC 6749 ``error`` and ``error_description``), or could not be reached.

    ``status`` is the HTTP status, 0 when there was no answer (``error`` is then ``unreachable`` or
    ``timeout``, or ``no_credentials`` when there was nothing to sign with). ``retry_after`` is the seconds
    the service asked to wait (``Retry-After``, with a 503), or None. Never holds a token or a secret.
    """

    def __init__(self, status: int, error: str, error_description: str, retry_after: Optional[int] = None):
        super().__init__(f"{error_description} ({error}, HTTP {status})")
        self.status = status
        self.error = error
        self.error_description = error_description
        self.retry_after = retry_after
