from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from config.errors import DomainError
from polls.models import Question
from validation.report import holdout_lines
from validation.services import validation_run_holdout


class Command(BaseCommand):
    help = "Hold out part of a poll question's respondents and measure how well they are predicted."

    def add_arguments(self, parser):
        parser.add_argument("--poll", required=True, help="poll slug, e.g. cces-2018-abortion")
        parser.add_argument("--question", required=True, help="question code")
        parser.add_argument("--holdout", type=float, default=0.2)
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, poll: str, question: str, holdout: float, seed: int, **options):
        target = Question.objects.filter(poll__slug=poll, code=question).first()
        if target is None:
            raise CommandError(f"No question '{question}' in poll '{poll}'.")
        try:
            run = validation_run_holdout(question=target, holdout_fraction=holdout, seed=seed)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        for line in holdout_lines(run):
            self.stdout.write(line)
