"""Writes for market analyses (`/api/v1/market/…`): the target market's size from census tables,
the population drawn within it, the study asking purchase intent with one condition per price
(and, with features, their ranking or one importance rating each), and its run, created
together.

No poll measures purchase intent for a new product, so the analysis needs the LLM backend; the
offline backends are refused with a message saying so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

import numpy as np
from django.db import transaction
from django.utils.text import slugify

from config.errors import DomainError
from environment.categories import AGE_BRACKETS, DIMENSIONS
from environment.models import Area
from environment.selectors import area_marginals
from personas.joint import Constraints, area_joint
from personas.services import AreaWeight, population_create
from studies.analyzers import features as feature_analysis
from studies.analyzers import segments as segment_analysis
from studies.analyzers.pricing import INTENT_OPTIONS
from studies.backends.offline import OfflineBackend
from studies.backends.registry import BACKENDS
from studies.models import Item, MarketAnalysis, Study
from studies.services.runs import run_start
from studies.services.studies import ConditionSpec, ItemSpec, OptionSpec, study_create

ITEM_CODE: Final = "purchase_intent"
#: Income codes as the seed writes them -> the platform's income categories.
INCOME_ALIASES: Final = {
    "under_25k": ("lt_25k",),
    "25k_50k": ("25_50k",),
    "50k_75k": ("50_75k",),
    "75k_100k": ("75_100k",),
    "100k_150k": ("100_150k",),
    "over_100k": ("100_150k", "150k_plus"),
    "over_150k": ("150k_plus",),
}
MARKET_SIZE_METHOD: Final = (
    "Per area: its adults (census adult population) × the share of them in the target, read from "
    "the area's joint table of age × sex × race × education × income (the seed table raked to the "
    "area's census marginals, personas/joint.py — the table personas are drawn from), counting "
    "the whole of each allowed income category and, in an age bracket cut by age_min / age_max, "
    "the allowed years' part of it (ages uniform within a bracket)."
)


@dataclass(frozen=True)
class MarketRequest:
    product_name: str
    product_description: str = ""
    price_points: list[float] = field(default_factory=list)
    target_areas: list[str] = field(default_factory=list)
    population_size: int = 1000
    include_social_conformity: bool = True
    target_market: dict = field(default_factory=dict)
    backend: str = "llm"
    backend_config: dict = field(default_factory=dict)
    budget: Decimal | None = None
    seed: int | None = None
    features: list[str] = field(default_factory=list)
    feature_format: str = feature_analysis.RANKING
    segment_count: int | None = None


def feature_codes(features: list[str]) -> list[dict]:
    """Each feature with a code made from its words (unique within the product)."""
    cleaned = [f.strip() for f in features]
    folded = [f.casefold() for f in cleaned]
    repeated = sorted({f for f in cleaned if folded.count(f.casefold()) > 1})
    if repeated:
        raise DomainError(
            f"Feature(s) listed twice: {'; '.join(repeated)}. List each feature once.",
            code="duplicate_feature",
            fields={"features": [f"'{f}' listed twice" for f in repeated]},
        )
    codes: list[dict] = []
    for i, label in enumerate(cleaned, start=1):
        base = slugify(label).replace("-", "_")[:50] or f"feature_{i}"
        code, n = base, 2
        while code in {c["code"] for c in codes}:
            code, n = f"{base}_{n}", n + 1
        codes.append({"code": code, "label": label})
    return codes


def feature_items(*, product: str, features: list[dict], format: str) -> list[ItemSpec]:
    """The ranking item, or one importance-rating item per feature."""
    if format == feature_analysis.RANKING:
        return [
            ItemSpec(
                code=feature_analysis.RANKING_ITEM,
                type=Item.Type.RANKING,
                text=f"Rank these features of the {product} by how much each matters to you "
                "when deciding whether to buy it, the most important first.",
                options=[OptionSpec(f["code"], f["label"]) for f in features],
            )
        ]
    return [
        ItemSpec(
            code=feature_analysis.RATING_ITEM_PREFIX + f["code"],
            type=Item.Type.LIKERT,
            text=f"How important is this feature of the {product} to you: {f['label']}?",
            options=[
                OptionSpec(c, label, value=v) for c, label, v in feature_analysis.RATING_OPTIONS
            ],
        )
        for f in features
    ]


def _segment_problems(request: MarketRequest) -> None:
    k = request.segment_count
    if k is None:
        return
    needed = segment_analysis.MIN_PER_SEGMENT * k
    most = request.population_size // segment_analysis.MIN_PER_SEGMENT
    if request.population_size < needed:
        raise DomainError(
            f"{k} segments need at least {needed} personas ({segment_analysis.MIN_PER_SEGMENT} "
            f"per segment on average); raise population_size or ask for fewer segments.",
            code="too_few_personas_for_segments",
            fields={"segment_count": [f"at most {most} for {request.population_size} personas"]},
        )


def target_constraints(target: dict) -> dict:
    """The target market as population constraints: seed income codes become platform codes."""
    spec = dict(target)
    if "income" in spec:
        codes: list[str] = []
        unknown = []
        for code in spec["income"]:
            if code in DIMENSIONS["income"]:
                codes.append(code)
            elif code in INCOME_ALIASES:
                codes.extend(INCOME_ALIASES[code])
            else:
                unknown.append(code)
        if unknown:
            raise DomainError(
                f"Unknown income code(s) {', '.join(unknown)} in target_market; use "
                f"{', '.join([*DIMENSIONS['income'], *INCOME_ALIASES])}.",
                fields={"target_market.income": [f"unknown code {u}" for u in unknown]},
            )
        spec["income"] = list(dict.fromkeys(codes))
    Constraints.from_spec(spec)  # refuses an impossible or unknown constraint
    return spec


def target_market_size(*, area_ids: list[str], target: dict) -> dict[str, dict]:
    """Per area: adults, the share of them in the target and the people that makes
    (MARKET_SIZE_METHOD); `people` is None where the census gives no adult population."""
    constraints = Constraints.from_spec(target)
    areas = Area.objects.in_bulk(area_ids)
    marginals = area_marginals(area_ids=area_ids)
    years = constraints.bracket_years()
    age_part = np.array(
        [
            max(0, hi - lo + 1) / (AGE_BRACKETS[b][1] - AGE_BRACKETS[b][0] + 1)
            for (lo, hi), b in zip(years, DIMENSIONS["age_bracket"], strict=True)
        ]
    )
    sizes = {}
    for area_id in area_ids:
        area = areas[area_id]
        table = area_joint(
            state=area.state,
            state_name=area.state_name,
            marginals=marginals[area_id],
            constraints=Constraints(),
            area_id=area_id,
        ).table
        kept = table * age_part[:, None, None, None, None]
        for axis, dimension in enumerate(DIMENSIONS):
            if dimension != "age_bracket":
                shape = [1] * table.ndim
                shape[axis] = -1
                kept = kept * constraints.mask(dimension).reshape(shape)
        share = float(kept.sum() / table.sum())
        adults = area.adult_population
        sizes[area_id] = {
            "adults": adults,
            "share": share,
            "people": None if adults is None else round(adults * share),
        }
    return sizes


def _refuse_offline(backend: str) -> None:
    if backend not in BACKENDS:
        raise DomainError(
            f"Unknown backend '{backend}'; available: {', '.join(sorted(BACKENDS))}.",
            code="unknown_backend",
            fields={"backend": ["unknown backend"]},
        )
    if issubclass(BACKENDS[backend], OfflineBackend):
        raise DomainError(
            "No poll measures purchase intent for a new product, so the offline backend cannot "
            'answer a market analysis. Use the LLM backend: send "backend": "llm" with a '
            '"backend_config" naming the provider and model.',
            code="market_needs_llm",
            fields={"backend": ['use "llm" for purchase intent']},
        )


@transaction.atomic
def market_analysis_start(*, request: MarketRequest, raw: dict, created_by=None) -> MarketAnalysis:
    """Size the target market, then create the population within it, the study with one
    condition per price and its run (all or nothing); the run starts once committed."""
    _refuse_offline(request.backend)
    prices = sorted(set(request.price_points))
    if len(prices) < 2 or any(p <= 0 for p in prices):
        raise DomainError(
            "Give at least two different positive price_points, e.g. [99.99, 149.99, 199.99].",
            fields={"price_points": ["at least two different prices above 0"]},
        )
    if not request.target_areas:
        raise DomainError(
            'Name the target_areas to size the market in, e.g. ["dallas_tx_city"].',
            fields={"target_areas": ["empty"]},
        )
    target = target_constraints(request.target_market)
    features = feature_codes(request.features) if request.features else []
    if request.features and len(features) < 2:
        raise DomainError(
            'Give at least two features to compare, e.g. ["Voice control", "Privacy mode"].',
            fields={"features": ["at least two features"]},
        )
    if features and request.feature_format not in feature_analysis.FORMATS:
        raise DomainError(
            f"Unknown feature_format '{request.feature_format}'; use "
            f"{' or '.join(feature_analysis.FORMATS)}.",
            fields={"feature_format": ["unknown format"]},
        )
    _segment_problems(request)
    population = population_create(
        size=request.population_size,
        areas=[AreaWeight(a) for a in request.target_areas],
        seed=request.seed,
        name=f"Market: {request.product_name[:80]}",
        constraints=target or None,
        created_by=created_by,
    )
    sizes = target_market_size(area_ids=request.target_areas, target=target)
    conditions = [
        ConditionSpec(
            f"price_{i}",
            f"${price:,.2f}",
            stimulus=f"{request.product_name}: {request.product_description} Price: ${price:,.2f}.",
        )
        for i, price in enumerate(prices, start=1)
    ]
    study = study_create(
        title=f"Market: {request.product_name[:180]}",
        description=request.product_description,
        kind=Study.Kind.PRODUCT_PRICING,
        items=[
            ItemSpec(
                code=ITEM_CODE,
                text=f"How likely would you be to buy the {request.product_name} at the price "
                "shown?",
                options=[OptionSpec(code, label) for code, label in INTENT_OPTIONS],
                variants={
                    c.code: f"How likely would you be to buy the {request.product_name} at "
                    f"{c.label}?"
                    for c in conditions
                },
            ),
            *(
                feature_items(
                    product=request.product_name, features=features, format=request.feature_format
                )
                if features
                else []
            ),
        ],
        conditions=conditions,
        universe=Study.Universe.ALL_ADULTS,
        created_by=created_by,
    )
    run = run_start(
        study=study,
        population=population,
        backend=request.backend,
        backend_config=request.backend_config,
        budget=request.budget,
        seed=request.seed,
        created_by=created_by,
    )
    return MarketAnalysis.objects.create(
        study=study,
        run=run,
        product_name=request.product_name,
        product_description=request.product_description,
        item_code=ITEM_CODE,
        prices={c.code: p for c, p in zip(conditions, prices, strict=True)},
        target_market=target,
        market_size=sizes,
        features=features,
        feature_format=request.feature_format if features else "",
        segment_count=request.segment_count,
        request=raw,
        created_by=created_by,
    )
