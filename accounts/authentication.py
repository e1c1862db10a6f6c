"""``Authorization: Bearer pl_…`` for the API, ``Bearer <token>`` beside ``Token <token>`` for
tokens (`accounts.models.Token`, stored hashed), and each key's scope as a permission."""

from __future__ import annotations

from rest_framework import authentication, exceptions, permissions

from accounts.models import ApiKey
from accounts.services import KEY_PREFIX, api_key_authenticate, token_authenticate


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(errors="replace")
        parts = header.split()
        if not parts or parts[0] != self.keyword:
            return None
        if len(parts) == 2 and not parts[1].startswith(KEY_PREFIX):
            return None  # a DRF token sent as Bearer: BearerTokenAuthentication reads it
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "Send the key as 'Authorization: Bearer pl_<prefix>_<secret>' (one space, no "
                "quotes)."
            )
        key = api_key_authenticate(parts[1])
        if key is None:
            raise exceptions.AuthenticationFailed(
                "This API key is unknown, revoked or expired. Create a new one at "
                "/api/v1/keys/ (signed in) or in the admin."
            )
        return key.user, key

    def authenticate_header(self, request) -> str:
        return self.keyword


class TokenAuthentication(authentication.TokenAuthentication):
    """``Authorization: Token <key>``, as DRF's TokenAuthentication reads it, against the hashed
    tokens of `accounts.models.Token`."""

    def authenticate_credentials(self, key):
        token = token_authenticate(key)
        if token is None:
            raise exceptions.AuthenticationFailed(
                "This token is unknown, revoked or expired: create one with "
                "'manage.py create_token <username>', or use an API key (pl_…, from "
                "/api/v1/keys/), sent as 'Authorization: Bearer <key>'."
            )
        return token.user, token


class BearerTokenAuthentication(TokenAuthentication):
    """A token sent as ``Authorization: Bearer <key>``, the form most HTTP clients use."""

    keyword = "Bearer"


class ApiKeyScope(permissions.BasePermission):
    """What a key's scope allows: ``read`` only safe methods; ``run`` everything except views
    marked ``required_scope = "admin"``; ``admin`` everything. Sessions and tokens are not
    limited by scope."""

    message = "This API key's scope does not allow this request."

    def has_permission(self, request, view) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            return True
        needed = getattr(view, "required_scope", None)
        if key.scope == ApiKey.Scope.ADMIN:
            return True
        if needed == ApiKey.Scope.ADMIN:
            self.message = (
                f"This request needs an API key with the admin scope; key '{key.name}' has "
                f"'{key.scope}'."
            )
            return False
        if key.scope == ApiKey.Scope.READ and request.method not in permissions.SAFE_METHODS:
            self.message = (
                f"API key '{key.name}' has the read scope: it can only read (GET). Use a key with "
                "the run scope to create or start work."
            )
            return False
        return True
