"""An `openai.OpenAI` client for an environment's gateway, its requests signed with SigV4.

    from rft.client import openai_client

    client = openai_client("staging")                     # region from AWS_REGION / the profile
    answer = client.chat.completions.create(model="prod", messages=[{"role": "user", "content": "Hi"}])

The gateway (stacks/serving_stack.py) authorizes with IAM: every request carries a SigV4 signature
for the service `execute-api`, made from the caller's AWS credentials, and the caller needs
`execute-api:Invoke` on the API. The signature is added by an httpx event hook that runs on the
final request just before it is sent (after the SDK has set its headers, on every retry), so the
SDK is otherwise used unchanged. The gateway's URL is the `GatewayUrl` output of the environment's
`<env>-Serving` stack (`rft.environment`). An environment configured with a JWT authorizer instead
takes `openai.OpenAI(base_url=..., api_key=<the JWT>)`; this helper is for IAM.

``openai`` and ``botocore`` are imported inside the functions, like the rest of ``rft``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rft.environment import connect, resolve_region

SERVICE = "execute-api"
# The SDK insists on an API key; the signer replaces the `Authorization` header it makes from it.
PLACEHOLDER_API_KEY = "sigv4-signed"
_SIGNING_HEADERS = ("authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256")


class SigV4Signer:
    """An httpx request hook that signs the request with SigV4 (botocore's SigV4Auth).

    Only `host` and the `x-amz-*` headers are signed: the SDK's other headers (user agent,
    retry counters, `connection`) may be rewritten on the way and must not break the signature;
    the body is always covered by its hash.
    """

    def __init__(self, credentials: Callable[[], Any], region: str, service: str = SERVICE) -> None:
        self._credentials = credentials
        self.region = region
        self.service = service

    def __call__(self, request: Any) -> None:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        credentials = self._credentials()
        if credentials is None:
            from rft.errors import RftError

            raise RftError("No AWS credentials found to sign gateway requests (set a profile or a role).")
        body = request.read()
        signed = AWSRequest(method=request.method, url=str(request.url), data=body)
        SigV4Auth(credentials, self.service, self.region).add_auth(signed)
        for name in _SIGNING_HEADERS:
            request.headers.pop(name, None)
        for name, value in signed.headers.items():
            if name.lower() in _SIGNING_HEADERS:
                request.headers[name] = value


def session_credentials(session: Any) -> Callable[[], Any]:
    """Frozen credentials of ``session`` at each call (refreshable credentials stay fresh)."""

    def load() -> Any:
        credentials = session.get_credentials()
        return credentials.get_frozen_credentials() if credentials is not None else None

    return load


def signed_openai_client(base_url: str, *, region: str, session: Any | None = None, **options: Any) -> Any:
    """An `openai.OpenAI` for ``base_url`` (ending in `/v1`) whose requests are signed for ``region``.

    ``options`` go to `openai.OpenAI` (`timeout`, `max_retries`, `default_headers`, ...).
    """
    import openai

    if session is None:
        import boto3

        session = boto3.session.Session(region_name=region)
    signer = SigV4Signer(session_credentials(session), region)
    # No redirects: the gateway never redirects, and a signed request must not follow one elsewhere.
    http_client = openai.DefaultHttpxClient(event_hooks={"request": [signer]}, follow_redirects=False)
    return openai.OpenAI(base_url=base_url, api_key=PLACEHOLDER_API_KEY, http_client=http_client, **options)


def gateway_base_url(environment: str, *, region: str | None = None, session: Any | None = None) -> str:
    """The gateway's OpenAI base URL (`.../v1`) of ``environment``, from its stack's outputs."""
    if session is None:
        import boto3

        session = boto3.session.Session(region_name=region)
    deployed = connect(environment, region=region, session_factory=lambda **_: session)
    return deployed.gateway_url.rstrip("/") + "/v1"


def openai_client(
    environment: str, *, region: str | None = None, session: Any | None = None, **options: Any
) -> Any:
    """An `openai.OpenAI` pointed at ``environment``'s gateway, signing with ``session``'s credentials.

    ``region`` defaults to AWS_REGION, then the session's region; ``session`` to a new boto3 session
    (the default credential chain). ``options`` go to `openai.OpenAI`.
    """
    if session is None:
        import boto3

        session = boto3.session.Session(region_name=region)
    resolved = resolve_region(region, session)
    base_url = gateway_base_url(environment, region=resolved, session=session)
    return signed_openai_client(base_url, region=resolved, session=session, **options)
