"""Who may see what: every population, study, run and validation run belongs to the user who created
it; staff see all. Reference data (areas, polls, events) is shared and not filtered here.

Selectors take the requesting user and narrow their querysets with :func:`visible_to`; object
endpoints look objects up through those querysets, so another user's object is simply not found
(404), never "forbidden" (403), which would confirm that it exists.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model, QuerySet

M = TypeVar("M", bound=Model)


def sees_everything(user: Any) -> bool:
    return bool(user is not None and getattr(user, "is_staff", False) and user.is_active)


def visible_to(queryset: QuerySet[M], user: Any, *, owner_field: str = "created_by") -> QuerySet[M]:
    """`queryset` narrowed to the objects `user` owns (all of them for staff; none for anonymous).

    `owner_field` is the lookup path to the owning user, e.g. ``"run__created_by"``."""
    if sees_everything(user):
        return queryset
    if user is None or not getattr(user, "is_authenticated", False):
        return queryset.none()
    return queryset.filter(**{owner_field: user})
