"""Create a study from poll questions, from the shell."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.utils.text import slugify

from config.cli import ExitCode, command_user, fail, refused, write_json
from config.errors import DomainError
from polls.models import Question
from studies.models import Study
from studies.services import ItemSpec, study_create


def _question(spec: str) -> Question:
    """A poll question by id, or by `poll-slug:question-code`."""
    questions = Question.objects.select_related("poll")
    if spec.isdigit():
        found = questions.filter(pk=int(spec)).first()
    else:
        slug, _, code = spec.partition(":")
        found = questions.filter(poll__slug=slug, code=code).first()
    if found is None:
        raise fail(
            f"No poll question {spec!r}: give its id or poll-slug:question-code "
            "(list them at /api/v1/polls/).",
            ExitCode.NOT_FOUND,
        )
    return found


class Command(BaseCommand):
    help = (
        "Create a study whose items are poll questions (by id or poll-slug:question-code); the "
        "items take the questions' wording and options. Prints its id; --json the study."
    )

    def add_arguments(self, parser):
        parser.add_argument("title")
        parser.add_argument("--question", "-q", action="append", required=True, dest="questions")
        parser.add_argument("--kind", default=Study.Kind.POLICY_SUPPORT)
        parser.add_argument("--description", default="")
        parser.add_argument("--user", help="owner (username); default: none (operator data)")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, title, questions, kind, description, user, json, **options):
        owner = command_user(user)
        if kind not in Study.Kind.values:
            raise fail(
                f"kind must be one of {', '.join(Study.Kind.values)}; got {kind!r}.",
                ExitCode.INVALID,
            )
        items = []
        for spec in questions:
            question = _question(spec)
            code = slugify(question.code)[:80] or f"q{question.id}"
            items.append(ItemSpec(code=code, text=question.text, poll_question_id=question.id))
        try:
            study = study_create(
                title=title, description=description, kind=kind, items=items, created_by=owner
            )
        except DomainError as exc:
            raise refused(exc) from exc
        if json:
            write_json(
                self.stdout,
                {
                    "id": study.id,
                    "title": study.title,
                    "kind": study.kind,
                    "items": [
                        {"code": i.code, "poll_question": i.poll_question_id, "text": i.text}
                        for i in study.items.all()
                    ],
                },
            )
        else:
            self.stdout.write(f"Study {study.id}: {study.title} ({len(items)} items)")
