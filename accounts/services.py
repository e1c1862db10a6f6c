"""Writes for API keys and the audit log."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import pickle
import secrets
from datetime import datetime, timedelta
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import models
from django.utils import timezone

from accounts.models import ApiKey, AuditEvent, Token
from config.errors import DomainError
from config.process_cache import ProcessCache

KEY_PREFIX = "pl_"

logger = logging.getLogger(__name__)
# last_used_at is written at most this often per key, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _client_ip(request) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def audit_record(
    *,
    actor,
    action: str,
    obj: models.Model | None = None,
    owner=None,
    via: str = "api",
    request=None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event: `actor` did `action` to `obj` (owned by `owner`, by default the object's
    ``created_by``)."""
    if owner is None and obj is not None:
        owner = getattr(obj, "created_by", None)
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    return AuditEvent.objects.create(
        actor=actor,
        actor_name=getattr(actor, "username", "") if actor else "",
        owner=owner,
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=str(obj)[:200] if obj is not None else "",
        via=via,
        ip_address=_client_ip(request),
        detail=detail or {},
    )


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(
    *,
    user,
    name: str,
    scope: str = ApiKey.Scope.RUN,
    expires_at: datetime | None = None,
    request=None,
    actor=None,
    via: str = "api",
) -> tuple[ApiKey, str]:
    """A new key for `user`; returns the row and the full key, which is never shown again.
    `actor`: who issued it (the user themselves unless staff issued it, in the admin)."""
    name = name.strip()
    if not name:
        raise DomainError(
            "Give the key a name, e.g. 'laptop' or 'nightly-job'.", fields={"name": ["required"]}
        )
    if scope not in ApiKey.Scope.values:
        raise DomainError(
            f"scope must be one of {', '.join(ApiKey.Scope.values)}; got {scope!r}.",
            fields={"scope": ["unknown scope"]},
        )
    if expires_at is not None and expires_at <= timezone.now():
        raise DomainError(
            "expires_at is in the past; give a future time or none.",
            fields={"expires_at": ["in the past"]},
        )
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        user=user,
        name=name,
        prefix=prefix,
        hashed_secret=_hash(secret),
        scope=scope,
        expires_at=expires_at,
    )
    audit_record(
        actor=actor or user,
        action=AuditEvent.Action.KEY_CREATE,
        obj=key,
        owner=user,
        via=via,
        request=request,
        detail={"scope": scope},
    )
    return key, f"{KEY_PREFIX}{prefix}_{secret}"


def api_key_revoke(*, key: ApiKey, actor, request=None, via: str = "api") -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor,
            action=AuditEvent.Action.KEY_REVOKE,
            obj=key,
            owner=key.user,
            via=via,
            request=request,
        )
    return key


# Credentials this web process verified lately (a token's or a key's row with its user, pickled),
# so a burst of requests from one client costs no Redis or database read to authenticate. A change
# made in this process (`accounts.signals`) drops them at once; one made in another process (a key
# revoked there, a user deactivated) reaches this one within AUTH_PROCESS_CACHE_SECONDS.
_verified = ProcessCache(max_bytes=4 * 1024 * 1024)


def _verified_get(cache_key: str) -> Any:
    kept = _verified.get(cache_key)
    return None if kept is None else pickle.loads(kept)


def _verified_keep(cache_key: str, credential: Token | ApiKey) -> None:
    _verified.set(cache_key, pickle.dumps(credential), seconds=settings.AUTH_PROCESS_CACHE_SECONDS)


def verified_forget_all() -> None:
    """Forget every credential this process verified (a user changed: any of theirs may be in)."""
    _verified.clear()


def api_key_cache_key(prefix: str) -> str:
    return f"auth:api-key:{prefix}"


def api_key_authenticate(raw: str) -> ApiKey | None:
    """The active key `raw` names, or None (unknown, wrong secret, revoked or expired). The secret
    and the expiry are checked on every request; the row may come from this process's cache."""
    if not raw.startswith(KEY_PREFIX):
        return None
    prefix, _, secret = raw[len(KEY_PREFIX) :].partition("_")
    if not prefix or not secret:
        return None
    cache_key = api_key_cache_key(prefix)
    key = _verified_get(cache_key)
    if key is None:
        key = ApiKey.objects.select_related("user").filter(prefix=prefix).first()
        if key is None:
            return None
        cached = False
    else:
        cached = True
    if not secrets.compare_digest(key.hashed_secret, _hash(secret)):
        return None
    if not key.is_active or not key.user.is_active:
        _verified.delete(cache_key)
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
        cached = False
    if not cached:
        _verified_keep(cache_key, key)
    return key


def api_key_forget(*, prefix: str) -> None:
    """Drop this process's verified copy of a key (revoked, changed or deleted here)."""
    _verified.delete(api_key_cache_key(prefix))


def token_digest(key: str) -> str:
    """What is stored for a token: the SHA-256 of its key, hex."""
    return hashlib.sha256(key.encode()).hexdigest()


def token_create(*, user) -> tuple[Token, str]:
    """A new token for `user`, replacing any previous one (whose key stops working); returns the
    row and the key, which is not stored and cannot be shown again."""
    Token.objects.filter(user=user).delete()
    token = Token.objects.create(user=user)
    assert token.key is not None
    return token, token.key


# A token's resolution (its row with its user) is kept in the cache, so an API request costs no
# query to authenticate. Deleting or replacing a token, or saving or deleting its user (deactivation),
# drops the entry at once (`accounts.signals`); the lifetime only bounds what a bulk
# ``QuerySet.update`` of users, which sends no signal, can leave behind.
TOKEN_CACHE_SECONDS = 60


def token_cache_key(digest: str) -> str:
    return f"auth:token:{digest}"


def token_authenticate(key: str) -> Token | None:
    """The token whose key is `key`, of an active user, or None. Looked up in this process's
    cache of verified credentials, then the shared cache, then the database."""
    if not key:
        return None
    digest = token_digest(key)
    cache_key = token_cache_key(digest)
    token = _verified_get(cache_key)
    if token is not None:
        return token
    try:
        token = cache.get(cache_key)
    except (redis.RedisError, OSError):
        token = None  # cache unreachable: the database answers alone
    if token is None:
        token = Token.objects.select_related("user").filter(digest=digest).first()
        if token is not None and token.user.is_active:
            with contextlib.suppress(redis.RedisError, OSError):
                cache.set(cache_key, token, TOKEN_CACHE_SECONDS)
    if token is None or not token.user.is_active:
        return None
    _verified_keep(cache_key, token)
    return token


def token_cache_forget(*, digests: list[str]) -> None:
    """Drop cached token resolutions, so a revoked token or a deactivated user stops at once (in
    other web processes, within AUTH_PROCESS_CACHE_SECONDS)."""
    if not digests:
        return
    for digest in digests:
        _verified.delete(token_cache_key(digest))
    try:
        cache.delete_many([token_cache_key(d) for d in digests])
    except (redis.RedisError, OSError):
        logger.warning("Cached tokens not dropped, the cache is unreachable")
