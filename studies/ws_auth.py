"""WebSocket authentication: the browser's session, or an API key or token as ?token=<key>."""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware


@database_sync_to_async
def _user_for_token(key: str):
    from accounts.services import api_key_authenticate, token_authenticate

    api_key = api_key_authenticate(key)
    if api_key is not None:
        return api_key.user

    token = token_authenticate(key)
    return token.user if token is not None else None


class _TokenMiddleware(BaseMiddleware):
    async def __call__(self, scope, receive, send):
        params = parse_qs(scope.get("query_string", b"").decode())
        key = (params.get("token") or [""])[0]
        if key:
            user = await _user_for_token(key)
            if user is not None:
                scope = dict(scope, user=user)
        return await super().__call__(scope, receive, send)


def TokenOrSessionAuthMiddleware(inner):  # CamelCase: reads like the middleware classes it wraps
    # Session auth runs first and sets scope["user"]; a valid token then takes precedence.
    return AuthMiddlewareStack(_TokenMiddleware(inner))
