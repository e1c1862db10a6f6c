"""List populations, studies or runs from the shell."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db.models import Count

from config.cli import command_user, scoped, write_json
from personas.models import Population
from studies.models import Run, Study


def _populations(owner, limit: int) -> list[dict]:
    rows = scoped(Population.objects.all(), owner).order_by("-created_at", "-id")[:limit]
    return [
        {"id": p.id, "name": p.name, "size": p.size, "seed": p.seed, "created_at": p.created_at}
        for p in rows
    ]


def _studies(owner, limit: int) -> list[dict]:
    rows = (
        scoped(Study.objects.all(), owner)
        .annotate(item_count=Count("items", distinct=True), run_count=Count("runs", distinct=True))
        .order_by("-created_at", "-id")[:limit]
    )
    return [
        {
            "id": s.id,
            "title": s.title,
            "kind": s.kind,
            "items": s.item_count,
            "runs": s.run_count,
            "created_at": s.created_at,
        }
        for s in rows
    ]


def _runs(owner, limit: int) -> list[dict]:
    rows = scoped(Run.objects.all(), owner).order_by("-created_at", "-id")[:limit]
    return [
        {
            "id": r.id,
            "study": r.study_id,
            "population": r.population_id,
            "backend": r.backend,
            "status": r.status,
            "personas_done": r.personas_done,
            "personas_total": r.personas_total,
            "created_at": r.created_at,
        }
        for r in rows
    ]


LISTS = {"populations": _populations, "studies": _studies, "runs": _runs}


class Command(BaseCommand):
    help = "List populations, studies or runs, newest first (--json for scripts)."

    def add_arguments(self, parser):
        parser.add_argument("what", choices=sorted(LISTS))
        parser.add_argument("--limit", type=int, default=50)
        parser.add_argument("--user", help="only this user's objects")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, what, limit, user, json, **options):
        rows = LISTS[what](command_user(user), limit)
        if json:
            write_json(self.stdout, rows)
            return
        if not rows:
            self.stdout.write(f"No {what}.")
            return
        columns = [c for c in rows[0] if c != "created_at"]
        widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
        self.stdout.write("  ".join(_cell(c, c, widths[c]) for c in columns))
        for row in rows:
            self.stdout.write("  ".join(_cell(c, row[c], widths[c]) for c in columns))


def _cell(column: str, value, width: int) -> str:
    # Names and titles read left-aligned; ids, counts and codes right-aligned.
    text = str(value)
    return f"{text:<{width}}" if column in ("name", "title") else f"{text:>{width}}"
