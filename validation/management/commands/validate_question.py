from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from config.errors import DomainError
from polls.models import Poll, Question
from validation.designs import validation_run_design
from validation.execute import validation_run_execute
from validation.models import ValidationRun
from validation.report import design_lines, holdout_lines
from validation.services import validation_run_holdout

DESIGNS = {
    "holdout": ValidationRun.Design.HOLDOUT,
    "subsample": ValidationRun.Design.SUBSAMPLE,
    "leave-areas-out": ValidationRun.Design.LEAVE_AREAS_OUT,
    "official-results": ValidationRun.Design.OFFICIAL_RESULTS,
}
# Each design option: the design parameter it sets, how its value is read, the designs taking it.
AREA_OPTIONS = {
    "size": ("size", None, ("subsample",)),
    "seeds": ("seeds", None, ("subsample", "leave-areas-out")),
    "held_out": ("held_out", None, ("leave-areas-out",)),
    "min_state_respondents": (
        "min_state_respondents",
        None,
        ("subsample", "leave-areas-out", "official-results"),
    ),
    "without_area_predictors": ("area_predictors", lambda _: False, ("subsample",)),
    "option": ("option_code", None, ("official-results",)),
    "party": ("party", None, ("official-results",)),
    "election_year": ("election_year", None, ("official-results",)),
    "all_votes": ("two_party", lambda _: False, ("official-results",)),
}
HOLDOUT_OPTIONS = ("holdout", "min_group")
REQUIRED = {"official-results": ("option", "party", "election_year")}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


class Command(BaseCommand):
    help = (
        "Measure how well a poll question is predicted: hold out respondents (--design holdout, "
        "the default) or run an area-level design (subsample, leave-areas-out, official-results) "
        "inline, and print every metric."
    )

    def add_arguments(self, parser):
        parser.add_argument("--poll", required=True, help="poll slug, e.g. cces-2018-abortion")
        parser.add_argument("--question", required=True, help="question code")
        parser.add_argument("--design", choices=list(DESIGNS), default="holdout")
        parser.add_argument("--seed", type=int, default=0, help="the (first) seed")
        holdout = parser.add_argument_group("holdout")
        holdout.add_argument("--holdout", type=float, help="share held out, in (0, 1); 0.2")
        holdout.add_argument("--min-group", type=int, help="smallest group summarised; 30")
        area = parser.add_argument_group("area-level designs")
        area.add_argument("--size", type=int, help="subsample: respondents per fit (5000)")
        area.add_argument("--seeds", type=int, help="subsample, leave-areas-out: 1-20 (5)")
        area.add_argument("--held-out", type=int, help="leave-areas-out: states per seed (5)")
        area.add_argument(
            "--min-state-respondents", type=int, help="states with fewer are not compared"
        )
        area.add_argument(
            "--without-area-predictors", action="store_true", default=None, help="subsample"
        )
        area.add_argument("--option", help="official-results: the option standing for the party")
        area.add_argument("--party", choices=("dem", "gop"), help="official-results")
        area.add_argument("--election-year", type=int, help="official-results, e.g. 2016")
        area.add_argument(
            "--all-votes",
            action="store_true",
            default=None,
            help="official-results: shares of all votes, not of the two parties",
        )

    def handle(self, *args, poll: str, question: str, design: str, seed: int, **options):
        target = self._question(poll, question)
        if seed < 0:
            raise CommandError(f"--seed must be 0 or more, not {seed}.")
        given = {k for k in (*AREA_OPTIONS, *HOLDOUT_OPTIONS) if options.get(k) is not None}
        takes = (
            set(HOLDOUT_OPTIONS)
            if design == "holdout"
            else {k for k, (_, _, designs) in AREA_OPTIONS.items() if design in designs}
        )
        if given - takes:
            wrong = ", ".join(_flag(k) for k in sorted(given - takes))
            accepted = ", ".join(_flag(k) for k in sorted(takes))
            raise CommandError(
                f"{wrong} do(es) not apply to --design {design}; it takes {accepted}."
            )
        missing = [k for k in REQUIRED.get(design, ()) if k not in given]
        if missing:
            raise CommandError(
                f"--design {design} needs {', '.join(_flag(k) for k in missing)} (e.g. --option "
                "dem --party dem --election-year 2016)."
            )
        if design == "holdout":
            self._holdout(target, seed=seed, **{k: options[k] for k in HOLDOUT_OPTIONS})
            return
        params = {}
        for key in given:
            name, convert, _ = AREA_OPTIONS[key]
            params[name] = convert(options[key]) if convert else options[key]
        try:
            run = validation_run_design(
                question=target, design=DESIGNS[design], params=params, seed=seed, dispatch=False
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        run = validation_run_execute(run_id=run.id)
        if run.status != ValidationRun.Status.COMPLETED:
            raise CommandError(f"Validation #{run.id} ({design}) failed: {run.error_message}")
        self.stdout.write(
            f"Validation #{run.id} (stored; also at /api/v1/validation/runs/{run.id}/)"
        )
        for line in design_lines(run.metrics):
            self.stdout.write(line)

    def _question(self, poll: str, code: str) -> Question:
        target = Question.objects.select_related("poll").filter(poll__slug=poll, code=code).first()
        if target is not None:
            return target
        found = Poll.objects.filter(slug=poll).first()
        if found is None:
            raise CommandError(f"No poll '{poll}'; list the polls at /api/v1/polls/.")
        codes = ", ".join(found.questions.order_by("code").values_list("code", flat=True))
        raise CommandError(f"No question '{code}' in poll '{poll}'; its questions are {codes}.")

    def _holdout(self, target: Question, *, seed: int, holdout, min_group) -> None:
        if min_group is not None and min_group < 1:
            raise CommandError(f"--min-group must be at least 1, not {min_group}.")
        try:
            run = validation_run_holdout(
                question=target,
                holdout_fraction=0.2 if holdout is None else holdout,
                seed=seed,
                min_group=30 if min_group is None else min_group,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        for line in holdout_lines(run):
            self.stdout.write(line)
