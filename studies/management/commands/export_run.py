"""A run's answer table or result tables, or a population's table, to a file or stdout."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from config.cli import ExitCode, ProgressBar, command_user, fail, lookup, scoped, write_json
from config.tabular import Table, table_chunks
from personas.exports import population_table
from personas.models import Population
from studies.exports import answer_table, comparison_table, result_table
from studies.models import Answer, Run

TABLES = ("answers", "results", "comparisons", "population")


def _counted(table: Table, bar: ProgressBar) -> tuple[Table, list[int]]:
    written = [0]

    def rows() -> Iterator[Sequence[Any]]:
        for row in table.rows:
            written[0] += 1
            if written[0] % 1000 == 0:
                bar.update(written[0])
            yield row

    return Table(table.columns, rows()), written


class Command(BaseCommand):
    help = (
        "Export a run's answer table (one row per persona × item), result tables (summaries or "
        "comparisons), or with "
        "--table population the population of a run (or, with --population, any population), "
        "as CSV or Parquet. Writes to --output, or CSV to stdout."
    )

    def add_arguments(self, parser):
        parser.add_argument("run", type=int, nargs="?", help="the run's id")
        parser.add_argument("--table", choices=TABLES, default="answers")
        parser.add_argument("--population", type=int, help="a population's id (--table population)")
        parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
        parser.add_argument("--anonymized", action="store_true")
        parser.add_argument("--output", "-o", help="file to write (default: stdout, CSV only)")
        parser.add_argument("--user", help="act as this user (their objects only)")
        parser.add_argument("--json", action="store_true", help="print what was written as JSON")

    def handle(
        self, *args, run, table, population, format, anonymized, output, user, json, **options
    ):
        owner = command_user(user)
        if (format == "parquet" or json) and not output:
            raise fail(
                "Name a file with --output (Parquet is binary; --json reports on the file).",
                ExitCode.USAGE,
            )
        salt = settings.SECRET_KEY
        if table == "population" and population is not None:
            pop = lookup(scoped(Population.objects.all(), owner), population, "population")
            data, total = population_table(pop, anonymized=anonymized, salt=salt), pop.size
        else:
            if run is None:
                raise fail(
                    "Name the run to export (or --population with --table population).",
                    ExitCode.USAGE,
                )
            run_obj = lookup(scoped(Run.objects.all(), owner), run, "run")
            if table == "answers":
                data = answer_table(run_obj, anonymized=anonymized, salt=salt)
                total = Answer.objects.filter(run=run_obj).count()
            elif table in ("results", "comparisons"):
                if run_obj.results is None:
                    raise fail(
                        f"Run {run_obj.id} is {run_obj.status} and has no results yet.",
                        ExitCode.NOT_READY,
                    )
                make = result_table if table == "results" else comparison_table
                data, total = make(run_obj), 0
            else:
                data = population_table(run_obj.population, anonymized=anonymized, salt=salt)
                total = run_obj.population.size
        bar = ProgressBar(f"Exporting {table}", total, stream=self.stderr)
        data, written = _counted(data, bar)
        chunks = table_chunks(data, format)
        if output:
            mode = "wb" if format == "parquet" else "w"
            with Path(output).open(
                mode, **({} if format == "parquet" else {"newline": "", "encoding": "utf-8"})
            ) as handle:
                for chunk in chunks:
                    handle.write(chunk)
        else:
            out = getattr(self.stdout, "_out", sys.stdout)
            for chunk in chunks:
                out.write(chunk)
        bar.total = max(bar.total, written[0])
        bar.finish(f"{written[0]} rows")
        if json:
            write_json(
                self.stdout,
                {"table": table, "format": format, "rows": written[0], "output": output},
            )
