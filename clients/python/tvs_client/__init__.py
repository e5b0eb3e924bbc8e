"""Client of the Token Vending Service, for Python services and scheduled jobs.

    from tvs_client import TokenClient

    tokens = TokenClient(os.environ["TVS_ENDPOINT"])
    token = tokens.get_token("webhooks-us", ".:webhooks/**")
    ...  # call the API with f"Bearer {token.access_token}"
    # the API answered 401 (or 403 "Forbidden"): report it, and the next get_token replaces it once
    tokens.reject(token.access_token)

The same semantics as the TypeScript client: tokens kept in memory per (client, canonical scope) and
refreshed in the background once inside their refresh margin (the smaller of 300 s and a quarter of the
token's whole lifetime, ``expires_at - issued_at``, the service's rule), so a caller holding a token never
waits on the network; expiry from ``expires_at`` (never later than the request was sent plus
``expires_in - 1`` s), and never a token within the safety margin of it; one request in flight per key;
one exchange per ``get_token`` when the service answers 503, raising :class:`TokenServiceError` with the
answer's ``retry_after``. Standard library and botocore (credentials and SigV4) only.
"""

from ._client import TokenClient, VendedToken, canonical_scope, fingerprint_of
from ._errors import TokenServiceError

__all__ = ["TokenClient", "TokenServiceError", "VendedToken", "canonical_scope", "fingerprint_of"]
