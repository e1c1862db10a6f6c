"""The OpenAPI description of API-key authentication (drf-spectacular)."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "pl_<prefix>_<secret>",
            "description": "An API key from /api/v1/keys/ or the admin; its scope (read, run, "
            "admin) limits what it may do.",
        }


class BearerTokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.BearerTokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A token (the one `Authorization: Token <key>` takes) sent as "
            "`Authorization: Bearer <key>`.",
        }


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A token from `manage.py create_token <username>`, sent as "
            "`Authorization: Token <key>` (only its hash is stored: it is shown once).",
        }
