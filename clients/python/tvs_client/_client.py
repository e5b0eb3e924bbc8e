"""The client: signed calls, the in-process cache and its background refresh."""

import email.utils
import hashlib
import json
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Dict, List, Optional

from ._errors import (
    FRONT_DOOR,
    INVALID_ANSWER,
    NO_CREDENTIALS,
    TIMEOUT,
    TOKEN_EXPIRING,
    UNREACHABLE,
    TokenServiceError,
)

#: The largest refresh margin, seconds (the service's rule: the smaller of this and a quarter of the lifetime).
MAX_REFRESH_MARGIN_SECONDS = 300
#: The shortest and longest ``Retry-After`` acted on, seconds.
MIN_RETRY_AFTER_SECONDS = 1
MAX_RETRY_AFTER_SECONDS = 3600
#: The longest scope string the service takes.
MAX_SCOPE_STRING_LENGTH = 1024
#: A background refresh that got no newer token is tried again after this long, seconds.
RETRY_REFRESH_SECONDS = 1.0

_EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$")
_LAMBDA_URL_HOST = re.compile(r"^[a-z0-9]+\.lambda-url\.([a-z0-9-]+)\.on\.aws$")


def refresh_margin_seconds(lifetime_seconds: float, fixed_seconds: Optional[float] = None) -> float:
    """The refresh margin of a token that lives ``lifetime_seconds`` in all: the service's rule."""
    if fixed_seconds is not None:
        return fixed_seconds
    return min(MAX_REFRESH_MARGIN_SECONDS, lifetime_seconds / 4)


def fingerprint_of(access_token: str) -> str:
    """SHA-256 hex of a token: what ``reject`` sends, and what the service logs instead of the token."""
    return hashlib.sha256(access_token.encode("utf-8")).hexdigest()


def canonical_scope(scope: str) -> Optional[str]:
    """Scopes de-duplicated, sorted and joined by one space, or None for a string not to answer from the
    cache (one with another whitespace than spaces, or longer than the service takes): the service gets
    such a string as it is, and its refusal reaches the caller."""
    if len(scope) > MAX_SCOPE_STRING_LENGTH or re.search(r"[^\S ]", scope):
        return None
    items = sorted(set(part for part in scope.split(" ") if part))
    return " ".join(items) if items else None


def _clamp_retry_after(value: Optional[str]) -> Optional[int]:
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        seconds = int(text)
    elif re.match(r"^[A-Za-z]{3}", text):
        try:
            seconds = int(email.utils.parsedate_to_datetime(text).timestamp() - time.time() + 0.999)
        except (TypeError, ValueError):
            return None
    else:
        return None
    return max(MIN_RETRY_AFTER_SECONDS, min(MAX_RETRY_AFTER_SECONDS, seconds))


def _parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class VendedToken:
    """A token as the client hands it out. ``expires_at`` and ``issued_at`` are epoch seconds."""

    access_token: str = field(repr=False)
    token_type: str
    scope: str
    client: str
    expires_at: float
    issued_at: float


@dataclass
class _Entry:
    token: VendedToken
    fingerprint: str
    refresh_at: float
    unusable_at: float
    used: bool = False
    retry_at: float = 0.0
    timer: Optional[threading.Timer] = None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D401 - urllib's signature
        return None


_OPENER = urllib.request.build_opener(_NoRedirect())


class TokenClient:
    """A client of the Token Vending Service. Create one per process and share it between threads.

    :param endpoint: the service's base URL (``https://abc123.execute-api.us-east-1.amazonaws.com/prod``,
        ``https://abc123.lambda-url.us-east-1.on.aws``, or ``http://127.0.0.1:8787`` for ``tvs serve``)
    :param region: the region to sign for; default the one in an ``execute-api`` or ``lambda-url`` host
        name, else ``AWS_REGION``, else ``us-east-1``
    :param service: the SigV4 service to sign for, ``execute-api`` or ``lambda``; default ``lambda`` for
        a ``*.lambda-url.<region>.on.aws`` host, else ``TVS_SIGNING_SERVICE``, else ``execute-api``
    :param credentials: botocore credentials; default botocore's chain (environment, profile, role, ...)
    :param refresh_margin_seconds: a fixed refresh margin (the deployment's, when it sets one); default
        the service's rule over the token's whole lifetime
    :param safety_margin_seconds: never hand out a token with less than this left (at most half the
        refresh margin)
    :param timeout: seconds one exchange with the service may take: the service's own deadline
    :param clock: epoch seconds (tests)
    """

    def __init__(
        self,
        endpoint: str,
        *,
        region: Optional[str] = None,
        service: Optional[str] = None,
        credentials=None,
        refresh_margin_seconds: Optional[float] = None,
        safety_margin_seconds: float = 5,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ):
        parsed = urllib.parse.urlsplit(endpoint)
        if parsed.scheme not in ("http", "https"):
            raise ValueError(f"endpoint must be an http(s) URL, not {parsed.scheme}:")
        self._endpoint = endpoint.rstrip("/")
        host = (parsed.hostname or "").lower()
        host_region = _EXECUTE_API_HOST.match(host) or _LAMBDA_URL_HOST.match(host)
        self._region = (
            region
            or (host_region.group(1) if host_region else None)
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or "us-east-1"
        )
        self._service = service or (
            "lambda" if _LAMBDA_URL_HOST.match(host) else os.environ.get("TVS_SIGNING_SERVICE", "execute-api")
        )
        self._credentials = credentials
        self._fixed_margin = refresh_margin_seconds
        self._safety = safety_margin_seconds
        self._timeout = timeout
        self._clock = clock
        self._lock = threading.RLock()
        self._cache: Dict[str, _Entry] = {}
        self._in_flight: Dict[str, Future] = {}
        self._rejected: Dict[str, str] = {}

    # --- what callers use

    def get_token(self, client: str, scope: str, min_ttl: Optional[int] = None) -> VendedToken:
        """A token for ``client`` and ``scope``, valid at least ``min_ttl`` seconds and the safety margin.

        From memory while it has that; inside its refresh margin it is still handed out at once, and
        replaced in the background. Without a usable token, one exchange with the service: a refusal or a
        503 raises :class:`TokenServiceError` (with ``retry_after``) at once.
        """
        wanted = min_ttl or 0
        canonical = canonical_scope(scope)
        if canonical is None:
            return self._usable_or_raise(self._fetch(None, client, scope, min_ttl), 0).token
        key = f"{client}\n{canonical}"
        with self._lock:
            entry = self._cache.get(key)
            if entry is not None and self._usable(entry, wanted):
                entry.used = True
                if self._clock() >= entry.refresh_at:
                    self._refresh_in_background(key, client, scope)
                return entry.token
        entry = self._shared(key, client, scope, min_ttl)
        # A request already in flight may have asked for less time than this caller needs.
        if not self._usable(entry, wanted):
            entry = self._shared(key, client, scope, min_ttl)
        return self._usable_or_raise(entry, wanted).token

    def reject(self, access_token: str) -> bool:
        """Report a token the API refused (401, or 403 "Forbidden"): its cached copy is dropped and the
        next request for it carries ``reject``, so the service replaces it once however many callers
        report it. False when the token is not (or no longer) cached here."""
        fingerprint = fingerprint_of(access_token)
        known = False
        with self._lock:
            for key, entry in list(self._cache.items()):
                if entry.fingerprint == fingerprint:
                    self._forget(key)
                    self._rejected[key] = fingerprint
                    known = True
        return known

    def list_clients(self) -> List[dict]:
        """What this caller may ask for (``GET /v1/clients``): ``[{"client", "scopes"}]``."""
        body = self._ok_json(self._send("GET", "/v1/clients", None))
        clients = body.get("clients") if isinstance(body, dict) else None
        if not isinstance(clients, list):
            raise TokenServiceError(
                200, "invalid_response", "the token service answered 200 without a clients list", code=INVALID_ANSWER
            )
        return clients

    def clear(self) -> None:
        """Forget every cached token, and stop refreshing them."""
        with self._lock:
            for key in list(self._cache):
                self._forget(key)
            self._rejected.clear()

    # --- the cache

    def _usable(self, entry: _Entry, min_ttl: float) -> bool:
        now = self._clock()
        return now < entry.unusable_at and entry.token.expires_at - now > min_ttl

    def _usable_or_raise(self, entry: _Entry, min_ttl: float) -> _Entry:
        if self._usable(entry, min_ttl):
            return entry
        raise TokenServiceError(
            503,
            "temporarily_unavailable",
            "the token service answered with a token about to expire; try again",
            1,
            code=TOKEN_EXPIRING,
        )

    def _forget(self, key: str) -> None:
        entry = self._cache.pop(key, None)
        if entry is not None and entry.timer is not None:
            entry.timer.cancel()

    def _shared(self, key: str, client: str, scope: str, min_ttl: Optional[int]) -> _Entry:
        """One request per key at a time: a caller arriving while one is out waits for its answer."""
        with self._lock:
            pending = self._in_flight.get(key)
            owner = pending is None
            if owner:
                pending = Future()
                self._in_flight[key] = pending
        if owner:
            try:
                pending.set_result(self._fetch(key, client, scope, min_ttl))
            except BaseException as error:  # handed to every waiter, raised below
                pending.set_exception(error)
            finally:
                with self._lock:
                    if self._in_flight.get(key) is pending:
                        del self._in_flight[key]
        return pending.result()

    def _refresh_in_background(self, key: str, client: str, scope: str) -> None:
        """Replace ``key``'s token without anyone waiting; a failure is kept from the caller, who still
        holds a usable token, and the next try waits for its ``Retry-After`` (1 s at least)."""
        with self._lock:
            current = self._cache.get(key)
            if current is None or key in self._in_flight or self._clock() < current.retry_at:
                return

        def refresh() -> None:
            try:
                entry = self._shared(key, client, scope, None)
            except TokenServiceError as error:
                self._retry_later(key, current.fingerprint, max(1, error.retry_after or 1), client, scope)
                return
            except Exception:  # noqa: BLE001 - a background failure must not end the thread loudly
                self._retry_later(key, current.fingerprint, RETRY_REFRESH_SECONDS, client, scope)
                return
            # The service may hand out its current token while it refreshes it: ask again shortly.
            if entry.fingerprint == current.fingerprint or self._clock() >= entry.refresh_at:
                self._retry_later(key, entry.fingerprint, RETRY_REFRESH_SECONDS, client, scope)

        threading.Thread(target=refresh, name="tvs-refresh", daemon=True).start()

    def _retry_later(self, key: str, fingerprint: str, delay: float, client: str, scope: str) -> None:
        with self._lock:
            entry = self._cache.get(key)
            if entry is None or entry.fingerprint != fingerprint:
                return
            entry.retry_at = self._clock() + delay
            self._schedule(key, entry, delay, client, scope)

    def _schedule(self, key: str, entry: _Entry, delay: float, client: str, scope: str) -> None:
        """Refresh ``entry`` in the background ``delay`` s from now, if it is in use by then."""
        if entry.timer is not None:
            entry.timer.cancel()

        def due() -> None:
            with self._lock:
                if self._cache.get(key) is entry and entry.used and self._usable(entry, 0):
                    self._refresh_in_background(key, client, scope)

        entry.timer = threading.Timer(max(0.0, delay), due)
        entry.timer.daemon = True  # a pending refresh never keeps the process alive
        entry.timer.start()

    # --- the service

    def _fetch(self, key: Optional[str], client: str, scope: str, min_ttl: Optional[int]) -> _Entry:
        with self._lock:
            reject = self._rejected.get(key) if key is not None else None
        fields = {"client": client, "scope": scope}
        if min_ttl is not None:
            fields["min_ttl"] = min_ttl
        if reject:
            fields["reject"] = reject
        sent_at = self._clock()
        answer = self._token_answer(self._ok_json(self._send("POST", "/v1/token", json.dumps(fields))))
        stated = _parse_time(answer["expires_at"])
        expires_at = min(stated, sent_at + answer["expires_in"] - 1)
        issued_at = _parse_time(answer["issued_at"]) if "issued_at" in answer else stated - answer["expires_in"]
        margin = refresh_margin_seconds(stated - issued_at, self._fixed_margin)
        entry = _Entry(
            token=VendedToken(
                access_token=answer["access_token"],
                token_type="Bearer",
                scope=answer["scope"],
                client=answer["client"],
                expires_at=expires_at,
                issued_at=issued_at,
            ),
            fingerprint=fingerprint_of(answer["access_token"]),
            refresh_at=expires_at - margin,
            unusable_at=expires_at - min(self._safety, margin / 2),
        )
        if key is None:
            return entry
        with self._lock:
            if reject and self._rejected.get(key) == reject:
                del self._rejected[key]
            # A token reported refused while this request was out is not taken back into the cache; nor
            # one whose canonical scope is not the key (a rule this client does not know).
            if self._rejected.get(key) == entry.fingerprint or f"{answer['client']}\n{answer['scope']}" != key:
                return entry
            self._forget(key)
            self._cache[key] = entry
            self._schedule(key, entry, entry.refresh_at - self._clock(), client, scope)
        return entry

    def _signing_credentials(self):
        credentials = self._credentials
        if credentials is None:
            import botocore.session

            credentials = self._credentials = botocore.session.get_session().get_credentials()
        if credentials is None:
            raise TokenServiceError(
                0, "no_credentials", "no AWS credentials found to sign the request with", code=NO_CREDENTIALS
            )
        return credentials.get_frozen_credentials()

    def _send(self, method: str, path: str, body: Optional[str]):
        """One SigV4-signed exchange: ``(status, headers, text)``; no answer at all raises status 0."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = body.encode("utf-8")
        request = AWSRequest(method=method, url=f"{self._endpoint}{path}", data=data, headers=headers)
        SigV4Auth(self._signing_credentials(), self._service, self._region).add_auth(request)
        prepared = urllib.request.Request(request.url, data=data, headers=dict(request.headers), method=method)
        try:
            with _OPENER.open(prepared, timeout=self._timeout) as answer:
                return answer.status, answer.headers, answer.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as refused:
            with refused:
                return refused.code, refused.headers, refused.read().decode("utf-8", "replace")
        except (socket.timeout, TimeoutError):
            raise TokenServiceError(0, "timeout", "the token service did not answer in time", code=TIMEOUT) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise TokenServiceError(
                0,
                "unreachable",
                f"the token service could not be reached ({type(reason).__name__})",
                code=UNREACHABLE,
            ) from None

    @staticmethod
    def _ok_json(answer) -> object:
        status, headers, text = answer
        if status != 200:
            raise TokenClient._error_of(status, headers, text)
        try:
            return json.loads(text)
        except ValueError:
            raise TokenServiceError(
                200, "invalid_response", "the token service answered 200 but not with JSON", code=INVALID_ANSWER
            ) from None

    @staticmethod
    def _error_of(status: int, headers, text: str) -> TokenServiceError:
        retry_after = _clamp_retry_after(headers.get("Retry-After"))
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        fields = body if isinstance(body, dict) else {}
        if isinstance(fields.get("error"), str):
            description = fields.get("error_description")
            code = fields.get("code")
            return TokenServiceError(
                status,
                fields["error"],
                description if isinstance(description, str) else fields["error"],
                retry_after,
                code=code if isinstance(code, str) else None,
            )
        # The front door's own refusal: {"message"} from API Gateway, {"Message"} from a function URL.
        gateway_type = (headers.get("x-amzn-errortype") or "").split(":")[0]
        message = fields.get("message", fields.get("Message"))
        return TokenServiceError(
            status,
            gateway_type or f"http_{status}",
            message if isinstance(message, str) else f"HTTP {status}",
            retry_after,
            code=FRONT_DOOR,
        )

    @staticmethod
    def _token_answer(body: object) -> dict:
        """The 200 answer of ``POST /v1/token``, validated field by field."""

        def invalid(reason: str) -> TokenServiceError:
            return TokenServiceError(
                200, "invalid_response", f"the token service answered 200 but {reason}", code=INVALID_ANSWER
            )

        if not isinstance(body, dict):
            raise invalid("not with a JSON object")
        if not isinstance(body.get("access_token"), str) or not body["access_token"]:
            raise invalid("without an access_token")
        if not isinstance(body.get("token_type"), str) or body["token_type"].lower() != "bearer":
            raise invalid("with a token_type other than Bearer")
        expires_in = body.get("expires_in")
        if not isinstance(expires_in, int) or isinstance(expires_in, bool) or expires_in < 0:
            raise invalid("without a valid expires_in")
        for name in ("expires_at", "issued_at"):
            if name == "issued_at" and name not in body:
                continue
            try:
                _parse_time(body[name])
            except (KeyError, TypeError, ValueError, AttributeError):
                raise invalid(f"without a valid {name}") from None
        if not isinstance(body.get("scope"), str) or not isinstance(body.get("client"), str):
            raise invalid("without scope and client")
        return body
