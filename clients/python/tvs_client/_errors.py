"""The one error the client raises, and the codes it names failures of its own with."""

from typing import Optional

#: The client's own codes (the service's are in its answers): the same as the TypeScript client's.
UNREACHABLE = "TVS_ERR_UNREACHABLE"
TIMEOUT = "TVS_ERR_TIMEOUT"
NO_CREDENTIALS = "TVS_ERR_NO_CREDENTIALS"
INVALID_ANSWER = "TVS_ERR_INVALID_ANSWER"
FRONT_DOOR = "TVS_ERR_FRONT_DOOR"
TOKEN_EXPIRING = "TVS_ERR_TOKEN_EXPIRING"


class TokenServiceError(Exception):
    """The service refused (its RFC 6749 ``error`` and ``error_description``), or could not be reached.

    ``code`` names the failure: the service's stable code from its answer (``TVS_ERR_CALLER_BUDGET``, say;
    None from a service older than 3.1), or the client's own: ``TVS_ERR_UNREACHABLE`` or ``TVS_ERR_TIMEOUT``
    (``status`` 0, no answer), ``TVS_ERR_NO_CREDENTIALS`` (nothing to sign with), ``TVS_ERR_INVALID_ANSWER``
    (an answer that cannot be used), ``TVS_ERR_FRONT_DOOR`` (API Gateway or the function URL refused the
    call; ``error`` is its ``x-amzn-ErrorType``), ``TVS_ERR_TOKEN_EXPIRING`` (only a token about to expire
    came back). Branch on ``code``, never on the description. ``retry_after`` is the seconds the service
    asked to wait (``Retry-After``, with a 503), or None. Never holds a token or a secret.
    """

    def __init__(
        self,
        status: int,
        error: str,
        error_description: str,
        retry_after: Optional[int] = None,
        *,
        code: Optional[str] = None,
    ):
        super().__init__(f"{error_description} ({error}, HTTP {status})")
        self.status = status
        self.error = error
        self.error_description = error_description
        self.retry_after = retry_after
        self.code = code
