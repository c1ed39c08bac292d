"""AWS SDK errors, translated into what the user should do about them."""

from __future__ import annotations

from botocore import exceptions as aws

from keel.tasks import TaskError

from .errors import KeelError

_CREDENTIALS_HINT = (
    "use the standard AWS chain: AWS_PROFILE (after `aws sso login` or `aws configure`), "
    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or an instance/OIDC role"
)
_BAD_CREDENTIALS = {
    "ExpiredToken", "ExpiredTokenException", "UnrecognizedClientException", "InvalidClientTokenId",
    "InvalidSignatureException", "SignatureDoesNotMatch",
}
_DENIED = {"AccessDenied", "AccessDeniedException"}


def explain(error: Exception) -> KeelError | None:
    """A KeelError for AWS failures the user can fix, or None for a genuinely unexpected error."""
    if isinstance(error, TaskError):
        # The runner's message names the call; the AWS error under it may say what to do.
        underlying = explain(error.__context__) if isinstance(error.__context__, Exception) else None
        return underlying if underlying and underlying.hint else KeelError(str(error))
    if isinstance(error, aws.NoCredentialsError | aws.PartialCredentialsError | aws.CredentialRetrievalError):
        return KeelError("no usable AWS credentials found", hint=_CREDENTIALS_HINT)
    if isinstance(error, aws.TokenRetrievalError | aws.SSOTokenLoadError | aws.UnauthorizedSSOTokenError):
        return KeelError("your AWS SSO session has expired", hint="run `aws sso login` and try again")
    if isinstance(error, aws.EndpointConnectionError | aws.ConnectTimeoutError):
        return KeelError(
            f"cannot reach AWS at {error.kwargs.get('endpoint_url', 'its endpoint')}",
            hint="check your network, and AWS_ENDPOINT_URL if you set one",
        )
    if isinstance(error, aws.ClientError):
        return _client_error(error)
    return None


def _client_error(error: aws.ClientError) -> KeelError:
    details = error.response.get("Error", {})
    code = details.get("Code", "Unknown")
    message = details.get("Message", "")
    operation = error.operation_name
    if code in _BAD_CREDENTIALS:
        return KeelError(f"AWS rejected your credentials ({code}) on {operation}", hint=_CREDENTIALS_HINT)
    if code in _DENIED:
        return KeelError(
            f"AWS denied {operation}: {message}",
            hint="use a role allowed to run and read this stack's tasks (the deploy role, or an admin role)",
        )
    return KeelError(f"AWS {operation} failed: {code}: {message}")
