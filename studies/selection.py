"""Who takes part in a run, and in which condition (seed 004 §5.4, `ParticipantRequirements`).

A study may name inclusion rules (a persona must meet all), exclusion rules (any one excludes),
quotas (participants wanted per value of a field, e.g. 15 women and 15 men) and conditions with an
assignment strategy. When it names any of them, a run selects its participants when it starts and
stores each with its position and condition (`RunParticipant`); the assignment is made before any
context is engineered, so every step of the persona engine knows the persona's condition.

Everything is seeded by the run's seed and the personas' positions in their population (never a
database id), so the same population spec, study and run seed select and assign the same personas
in a fresh database.

Rules are `{"field": ..., "op": ..., "value": ...}`. Fields are the persona's demographic columns
(`age`, `age_bracket`, `sex`, `race_ethnicity`, `education`, `income`), its area (`area`: area
ids; `state`: two-letter codes) and the fields of its full profile (`personas.profile.PROFILE_FIELDS`,
e.g. `tech_proficiency`, `political_ideology`, `media_consumption`, the Big Five).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from config.errors import DomainError
from environment.categories import DIMENSIONS
from personas.models import Persona
from personas.profile.fields import FIELDS_BY_NAME
from personas.profile.tech import PROFICIENCY_ALIASES

# Persona columns a rule or quota may name, with their kind.
PERSONA_FIELDS: dict[str, str] = {
    "age": "number",
    "index": "number",  # position in the population (a multi-agent run's named personas)
    "area": "text",
    "state": "text",
    **{d: "text" for d in DIMENSIONS},
}
PROFILE_KINDS = {"int": "number", "float": "number", "str": "text", "list[str]": "list"}
OPERATORS: dict[str, set[str]] = {
    "number": {"eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between"},
    "text": {"eq", "ne", "in", "not_in"},
    "list": {"contains", "not_contains"},
}
# A deterministic stream per purpose, so selecting and assigning never share draws.
SELECT_STREAM, ASSIGN_STREAM = 0x5E1EC7, 0xA551C9


def field_kind(name: str) -> str | None:
    """The kind of a field a rule may name ('number', 'text', 'list'), or None if unknown."""
    if name in PERSONA_FIELDS:
        return PERSONA_FIELDS[name]
    profile_field = FIELDS_BY_NAME.get(name)
    return PROFILE_KINDS[profile_field.type] if profile_field else None


def _allowed_values(name: str) -> tuple[str, ...] | None:
    if name in DIMENSIONS:
        return tuple(DIMENSIONS[name])
    profile_field = FIELDS_BY_NAME.get(name)
    return profile_field.values if profile_field else None


def known_fields() -> list[str]:
    return [*PERSONA_FIELDS, *(f for f in FIELDS_BY_NAME if f not in ("first_name", "last_name"))]


def rule_problems(rules: Any, where: str) -> list[str]:
    """What is wrong with a list of inclusion or exclusion rules, each a sentence."""
    if not isinstance(rules, list):
        return [f"{where} must be a list of rules {{field, op, value}}."]
    problems = []
    for i, rule in enumerate(rules):
        at = f"{where}[{i}]"
        if not isinstance(rule, dict) or set(rule) != {"field", "op", "value"}:
            problems.append(f"{at} must be an object with exactly field, op and value.")
            continue
        name, op, value = rule["field"], rule["op"], rule["value"]
        kind = field_kind(name) if isinstance(name, str) else None
        if kind is None:
            problems.append(
                f"{at}: unknown field '{name}'; use one of {', '.join(known_fields())}."
            )
            continue
        if op not in OPERATORS[kind]:
            problems.append(
                f"{at}: operator '{op}' does not apply to {kind} field '{name}'; use one of "
                f"{', '.join(sorted(OPERATORS[kind]))}."
            )
            continue
        values = value if op in ("in", "not_in") else [value]
        if op in ("in", "not_in") and (not isinstance(value, list) or not value):
            problems.append(f"{at}: '{op}' needs a non-empty list of values.")
            continue
        if op == "between":
            ok = (
                isinstance(value, list)
                and len(value) == 2
                and all(isinstance(v, int | float) for v in value)
                and value[0] <= value[1]
            )
            if not ok:
                problems.append(f"{at}: 'between' needs [low, high] numbers with low <= high.")
            continue
        if kind == "number" and not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in values
        ):
            problems.append(f"{at}: '{name}' is numeric; got {value!r}.")
            continue
        allowed = _allowed_values(name)
        if allowed is not None:
            unknown = [v for v in values if v not in allowed]
            if unknown:
                problems.append(
                    f"{at}: {', '.join(map(repr, unknown))} not a value of '{name}'; values: "
                    f"{', '.join(allowed)}."
                )
    return problems


def quota_problems(quotas: Any) -> list[str]:
    """What is wrong with quotas `{field: {value: count}}`: each field's counts add up to the
    number of participants, so every field must give the same total."""
    if not isinstance(quotas, dict):
        return ["quotas must be an object {field: {value: count}}."]
    problems, totals = [], {}
    for name, counts in quotas.items():
        kind = field_kind(name)
        if kind != "text":
            problems.append(
                f"quotas: '{name}' cannot carry a quota; use a categorical field such as sex, "
                "age_bracket, race_ethnicity, education, income, state or a categorical profile "
                "field."
            )
            continue
        if not isinstance(counts, dict) or not counts:
            problems.append(f"quotas.{name} must be a non-empty object {{value: count}}.")
            continue
        bad = [
            v for v, c in counts.items() if not isinstance(c, int) or isinstance(c, bool) or c < 0
        ]
        if bad:
            problems.append(f"quotas.{name}: counts must be whole numbers >= 0 ({', '.join(bad)}).")
            continue
        allowed = _allowed_values(name)
        unknown = [v for v in counts if allowed is not None and v not in allowed]
        if unknown:
            problems.append(
                f"quotas.{name}: {', '.join(unknown)} not a value of '{name}'; values: "
                f"{', '.join(allowed or ())}."
            )
            continue
        totals[name] = sum(counts.values())
    if len(set(totals.values())) > 1:
        problems.append(
            "quotas: every field's counts must add up to the same number of participants; got "
            + ", ".join(f"{n} = {t}" for n, t in totals.items())
            + "."
        )
    elif totals and next(iter(totals.values())) == 0:
        problems.append("quotas: ask for at least one participant.")
    return problems


def balance_problems(fields: Any) -> list[str]:
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        return ["balance_on must be a list of field names."]
    return [
        f"balance_on: '{f}' is not a categorical field; use one of "
        f"{', '.join(n for n in known_fields() if field_kind(n) == 'text')}."
        for f in fields
        if field_kind(f) != "text"
    ]


@dataclass
class Selection:
    """The participants in position order: (persona id, condition code), and how they came."""

    participants: list[tuple[int, str]]
    summary: dict = field(default_factory=dict)


def _frame(population_id: int, fields: set[str]) -> pd.DataFrame:
    columns = ["id", "index", "age", "area_id", "area__state", *DIMENSIONS]
    profile_fields = sorted(f for f in fields if f not in PERSONA_FIELDS)
    rows = Persona.objects.filter(population_id=population_id).order_by("index")
    if profile_fields:
        records = list(rows.values_list(*columns, "profile"))
        frame = pd.DataFrame(records, columns=[*columns, "profile"])
        missing = int(frame["profile"].isna().sum())
        if missing:
            raise DomainError(
                f"The study's criteria, quotas or balancing name profile field(s) "
                f"{', '.join(profile_fields)}, but {missing:,} of the population's personas have no "
                "full profile (the population was made without one): use a population created "
                "with profiles, or criteria on demographics and area.",
                code="selection_impossible",
                fields={"population": ["personas have no profile"]},
            )
        profiles = frame.pop("profile").tolist()
        for name in profile_fields:
            frame[name] = [p.get(name) for p in profiles]
        if "tech_proficiency" in frame:  # personas drawn before seed 004's level names
            frame["tech_proficiency"] = frame["tech_proficiency"].replace(PROFICIENCY_ALIASES)
    else:
        frame = pd.DataFrame(list(rows.values_list(*columns)), columns=columns)
    return frame.rename(columns={"area_id": "area", "area__state": "state"})


def _matches(frame: pd.DataFrame, rule: dict) -> pd.Series:
    column, op, value = frame[rule["field"]], rule["op"], rule["value"]
    if op == "eq":
        return column == value
    if op == "ne":
        return column != value
    if op == "in":
        return column.isin(value)
    if op == "not_in":
        return ~column.isin(value)
    if op == "between":
        return column.between(value[0], value[1])
    if op in ("gt", "gte", "lt", "lte"):
        return getattr(column, op.replace("gte", "ge").replace("lte", "le"))(value)
    if op == "contains":
        return column.map(lambda items: value in (items or []))
    if op == "not_contains":
        return column.map(lambda items: value not in (items or []))
    raise ValueError(f"unknown operator {op}")  # rule_problems refuses it first


def needs_selection(study) -> bool:
    return bool(study.inclusion or study.exclusion or study.quotas or study.conditions.exists())


def participants_select(*, study, population, seed: int) -> Selection:
    """Apply the study's criteria and quotas to the population and assign the participants to its
    conditions. Raises DomainError (code `selection_impossible`) when the population cannot
    satisfy them, saying by how much."""
    conditions = list(study.conditions.order_by("order", "id").values_list("code", flat=True))
    rules = [*study.inclusion, *study.exclusion]
    fields = {r["field"] for r in rules} | set(study.quotas) | set(study.balance_on)
    frame = _frame(population.id, fields)
    total = len(frame)
    keep = pd.Series(True, index=frame.index)
    for rule in study.inclusion:
        keep &= _matches(frame, rule).fillna(False).astype(bool)
    for rule in study.exclusion:
        keep &= ~_matches(frame, rule).fillna(False).astype(bool)
    eligible = frame[keep]
    if eligible.empty:
        raise DomainError(
            f"No persona of population {population.id} ({total:,} personas) meets the study's "
            "inclusion and exclusion criteria: loosen them or use a population drawn from other "
            "areas.",
            code="selection_impossible",
            fields={"inclusion": ["no persona qualifies"]},
        )
    chosen = _fill_quotas(eligible, study.quotas, seed=seed) if study.quotas else eligible
    chosen = chosen.sort_values("index")
    codes = _assign(chosen, conditions, study, seed=seed)
    participants = list(zip(chosen["id"].tolist(), codes, strict=True))
    summary: dict = {
        "population_personas": total,
        "eligible": len(eligible),
        "participants": len(participants),
        "inclusion": study.inclusion,
        "exclusion": study.exclusion,
        "quotas": study.quotas,
        "method": (
            "Personas meeting every inclusion rule and no exclusion rule; "
            + (
                "quotas filled by walking the eligible personas in a seeded random order and "
                "taking each whose values still have room in every quota; "
                if study.quotas
                else "all eligible personas take part; "
            )
            + (
                (
                    "conditions assigned at random (a seeded permutation dealt in turn, so arms "
                    "differ by at most one)"
                    if study.assignment == "random"
                    else "conditions balanced within strata of "
                    + ", ".join(["area", *study.balance_on])
                    + " (each stratum's personas in a seeded order, dealt in turn, the deal "
                    "continuing across strata so arms differ by at most one overall)"
                )
                if conditions
                else "no conditions"
            )
            + ". Seeded by the run's seed and the personas' positions in their population."
        ),
    }
    if conditions:
        summary["assignment"] = study.assignment
        summary["balance_on"] = (
            ["area", *study.balance_on] if study.assignment == "balanced" else []
        )
        summary["per_condition"] = {c: codes.count(c) for c in conditions}
    return Selection(participants=participants, summary=summary)


def _fill_quotas(eligible: pd.DataFrame, quotas: dict, *, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng([seed % 2**63, SELECT_STREAM])
    order = eligible.sort_values("index").iloc[rng.permutation(len(eligible))]
    room = {name: dict(counts) for name, counts in quotas.items()}
    wanted = sum(next(iter(quotas.values())).values())
    taken = []
    columns = {name: order[name].tolist() for name in quotas}
    for position in range(len(order)):
        values = [(name, columns[name][position]) for name in quotas]
        if all(room[name].get(value, 0) > 0 for name, value in values):
            for name, value in values:
                room[name][value] -= 1
            taken.append(position)
            if len(taken) == wanted:
                break
    short = {
        f"{name}={value}": left
        for name, counts in room.items()
        for value, left in counts.items()
        if left > 0
    }
    if short:
        available = {
            f"{name}={value}": int((eligible[name] == value).sum())
            for name, counts in quotas.items()
            for value in counts
        }
        raise DomainError(
            "The population cannot satisfy the study's quotas: still wanted "
            + ", ".join(f"{k}: {v} more" for k, v in short.items())
            + " after "
            + f"{len(taken)} of {wanted} places were filled (eligible personas: "
            + ", ".join(f"{k}: {v}" for k, v in available.items())
            + "). Lower the quotas, loosen the criteria or use a larger population.",
            code="selection_impossible",
            fields={"quotas": [f"{k} short by {v}" for k, v in short.items()]},
        )
    return order.iloc[taken]


def _assign(chosen: pd.DataFrame, conditions: list[str], study, *, seed: int) -> list[str]:
    """Each participant's condition code ('' without conditions), in the frame's order."""
    if not conditions:
        return [""] * len(chosen)
    rng = np.random.default_rng([seed % 2**63, ASSIGN_STREAM])
    k = len(conditions)
    codes = [""] * len(chosen)
    if study.assignment == "balanced":
        strata = ["area", *study.balance_on]
        dealt = 0
        # Strata in a fixed order (their values sorted), personas within each in a seeded order.
        for _, group in sorted(chosen.reset_index(drop=True).groupby(strata), key=lambda g: g[0]):
            for i in rng.permutation(group.index.to_numpy()):
                codes[int(i)] = conditions[dealt % k]
                dealt += 1
        return codes
    for turn, i in enumerate(rng.permutation(len(chosen))):
        codes[int(i)] = conditions[turn % k]
    return codes
