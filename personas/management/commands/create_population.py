"""Generate a census-proportional population from the shell."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from config.cli import ExitCode, StepTimer, command_user, fail, refused, write_json
from config.errors import DomainError
from personas.selectors import population_composition
from personas.services import AreaWeight, population_create


class Command(BaseCommand):
    help = (
        "Generate a population of personas over one or more areas (ids such as dallas_tx_city; "
        "AREA=WEIGHT to weight one). Prints its id; --json prints the population."
    )

    def add_arguments(self, parser):
        parser.add_argument("areas", nargs="+", help="area ids, each optionally =weight")
        parser.add_argument("--size", type=int, default=1000)
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument("--name", default="")
        parser.add_argument(
            "--profile", action="store_true", help="draw behavioural traits, Big Five, names, …"
        )
        parser.add_argument("--user", help="owner (username); default: none (operator data)")
        parser.add_argument("--json", action="store_true", help="print the population as JSON")

    def handle(self, *args, areas, size, seed, name, profile, user, json, **options):
        owner = command_user(user)
        weights = []
        for spec in areas:
            area, _, weight = spec.partition("=")
            try:
                weights.append(AreaWeight(area, float(weight) if weight else None))
            except ValueError:
                raise fail(
                    f"{spec!r}: a weight must be a number, e.g. {area}=0.5", ExitCode.INVALID
                ) from None
        try:
            with StepTimer(f"Generating {size:,} personas", stream=self.stderr):
                population = population_create(
                    size=size,
                    areas=weights,
                    seed=seed,
                    name=name,
                    include_behavioral_characteristics=profile,
                    created_by=owner,
                )
        except DomainError as exc:
            raise refused(exc) from exc
        if json:
            write_json(
                self.stdout,
                {
                    "id": population.id,
                    "name": population.name,
                    "size": population.size,
                    "seed": population.seed,
                    "areas": [a.area_id for a in population.areas.all()],
                    "composition": population_composition(population=population),
                },
            )
        else:
            self.stdout.write(
                f"Population {population.id}: {population.size} personas, seed {population.seed}"
            )
