"""One sentence for every error a user can cause or meet; the CLI's only error handler uses it.

Exit codes: 0 success; 1 the thing checked is bad (invalid data or run request, a taken run name, a
failed run); 2 the command could not do its work (usage, credentials, region, environment not
deployed, unknown model, a service refusing); 3 a bug in rft (the sentence says how to see the traceback).
"""

from __future__ import annotations

from typing import Any

from rft.errors import RftError, ValidationError

EXIT_CHECK_FAILED = 1
EXIT_ERROR = 2
EXIT_BUG = 3

_CREDENTIAL_CODES = {
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
}
_INVALID_CREDENTIAL_CODES = {
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "AuthFailure",
}
_ACCESS_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Forbidden"}
_THROTTLE_CODES = {"Throttling", "ThrottlingException", "TooManyRequestsException", "SlowDown"}


def describe(exc: BaseException) -> tuple[str, int] | None:
    """(sentence, exit code) for a known error; None for anything else (a bug)."""
    if isinstance(exc, ValidationError):  # the data or request checked is bad, as the help says
        return _sentence(str(exc)), EXIT_CHECK_FAILED
    if isinstance(exc, RftError):
        return _sentence(str(exc)), EXIT_ERROR
    from rft.preflight import PreflightError

    if isinstance(exc, PreflightError):
        # As written: a message may start with a file name, whose case is part of the name.
        return _sentence(str(exc)), EXIT_ERROR
    described = _describe_botocore(exc) or _describe_openai(exc)
    if described is not None:
        return _sentence(described), EXIT_ERROR
    if isinstance(exc, FileNotFoundError):
        return _sentence(f"No such file: {exc.filename}"), EXIT_ERROR
    if isinstance(exc, PermissionError):
        return _sentence(f"Permission denied: {exc.filename}"), EXIT_ERROR
    if isinstance(exc, IsADirectoryError):
        return _sentence(f"{exc.filename} is a directory, not a file"), EXIT_ERROR
    return None


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if text.endswith((".", "?", "!")) else text + "."


def _describe_botocore(exc: BaseException) -> str | None:
    try:
        from botocore import exceptions as bx
    except ImportError:  # pragma: no cover - botocore is a dependency
        return None
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError | bx.CredentialRetrievalError):
        return (
            "No AWS credentials were found: run 'aws configure' or 'aws sso login', "
            "or set AWS_PROFILE to a profile that has them"
        )
    if isinstance(exc, bx.TokenRetrievalError | bx.SSOTokenLoadError | bx.UnauthorizedSSOTokenError):
        return "Your AWS SSO session has expired or is missing: run 'aws sso login'"
    if isinstance(exc, bx.ProfileNotFound):
        return f"{exc}: check AWS_PROFILE or --profile against ~/.aws/config"
    if isinstance(exc, bx.NoRegionError):
        return "No AWS region is set: pass --region (e.g. --region us-west-2) or set AWS_REGION"
    if isinstance(exc, bx.EndpointConnectionError):
        return (
            f"Cannot reach AWS at {exc.kwargs.get('endpoint_url', 'its endpoint')}: "
            "check the region (--region) and your network connection"
        )
    if isinstance(exc, bx.ConnectTimeoutError | bx.ReadTimeoutError):
        return f"AWS did not answer in time ({exc}); try again"
    if isinstance(exc, bx.ParamValidationError):
        return f"A request to AWS was refused before sending: {exc}"
    if isinstance(exc, bx.ClientError):
        return _describe_client_error(exc)
    return None


def _describe_client_error(exc: Any) -> str:
    error = exc.response.get("Error", {})
    code = error.get("Code", "Unknown")
    message = (error.get("Message") or "").rstrip(".")
    operation = getattr(exc, "operation_name", "the call")
    if code in _CREDENTIAL_CODES:
        return "Your AWS credentials have expired: refresh them (e.g. 'aws sso login') and try again"
    if code in _INVALID_CREDENTIAL_CODES:
        return (
            f"AWS refused your credentials for {operation} ({code}): check the profile, "
            "or whether the region is enabled for your account"
        )
    if code in _ACCESS_CODES:
        return f"Access denied to {operation}: {message or code}"
    if code in _THROTTLE_CODES:
        return f"AWS is throttling {operation} ({code}); wait a moment and try again"
    return f"AWS {operation} failed ({code}): {message or 'no message'}"


def _describe_openai(exc: BaseException) -> str | None:
    try:
        import openai
    except ImportError:  # pragma: no cover - openai is a dependency
        return None
    if isinstance(exc, openai.APITimeoutError):
        return f"The model endpoint did not answer in time ({exc.request.url.host})"
    if isinstance(exc, openai.APIConnectionError):
        url = exc.request.url
        where = f"{url.scheme}://{url.netloc.decode()}"
        return f"Cannot reach the model endpoint {where}: check the URL and the network"
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return f"The model endpoint refused the credentials ({exc.status_code}): {_openai_message(exc)}"
    if isinstance(exc, openai.NotFoundError):
        return f"The model endpoint does not know it (404): {_openai_message(exc)}"
    if isinstance(exc, openai.RateLimitError):
        return f"The model endpoint is throttling (429): {_openai_message(exc)}; wait and try again"
    if isinstance(exc, openai.APIStatusError):
        return f"The model endpoint answered {exc.status_code}: {_openai_message(exc)}"
    return None


def _openai_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"]).rstrip(".")
    return str(getattr(exc, "message", exc)).rstrip(".")
