from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from config.errors import DomainError
from polls.models import Question
from validation.services import METHODS, validation_run_holdout


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
        out = self.stdout.write
        m = run.metrics
        out(f"Validation #{run.id}: {poll}/{question}, {run.n_train} train / {run.n_test} held out")
        out(f"{'method':<28} {'MAE pts':>8} {'TVD':>7} {'JS':>7}   (by-group means, size-weighted)")
        for method in METHODS:
            overall = m["overall"]["methods"][method]
            out(
                f"{method:<28} {overall['mae_points']:>8.2f} {overall['total_variation']:>7.3f} "
                f"{overall['js_distance']:>7.3f}   overall"
            )
            for dimension, d in m["by_dimension"].items():
                s = d["summary"][method]
                out(
                    f"{'':<28} {s['mae_points']:>8.2f} {s['total_variation']:>7.3f} {s['js_distance']:>7.3f}"
                    f"   by {dimension} ({len(d['groups'])} groups)"
                )
        out(
            f"Coverage of 95% intervals (one simulated answer per held-out respondent): {m['coverage']:.1%}"
        )
