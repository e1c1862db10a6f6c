"""A run's data out: the per-persona artefacts in the seed's layout (profile.json, context.md,
experience.md and response.json for each persona, one folder per persona in a zip for the whole
run), the answer table (one row per persona × item, written as CSV or Parquet by
`config.tabular`) and the result tables."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.db.models import QuerySet

from config.tabular import ColumnType, Table, csv_chunks
from environment.categories import DIMENSIONS
from personas.engine.persona_sheet import STRUCTURED_LABEL
from personas.exports import (
    PROFILE_TABLE_COLUMNS,
    anonymized_columns,
    anonymized_values,
    profile_values,
    pseudonym_order,
)
from personas.models import Persona
from studies.models import Answer, Run, RunPersona

SOURCE_NOTES: dict[str, str] = {
    RunPersona.NarrativeSource.LLM: "Written by the language model from the profile.",
    RunPersona.NarrativeSource.POOL: "Taken from the pre-defined persona pool.",
    RunPersona.NarrativeSource.STRUCTURED_PROFILE: STRUCTURED_LABEL,
}


def _dumps(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def _bullets(values: Iterable[str]) -> str:
    return "\n".join(f"- {v}" for v in values)


def context_markdown(record: RunPersona) -> str:
    c = record.context or {}
    lines = [
        f"# Context of persona {record.persona_id}",
        "",
        f"*{SOURCE_NOTES.get(record.narrative_source, record.narrative_source)}*",
        "",
    ]
    if not c:
        lines.append("No context was built" + (f": {record.failure}" if record.failure else "."))
        return "\n".join(lines) + "\n"
    lines += ["## Life narrative", "", c.get("life_narrative", ""), ""]
    for key, title in (
        ("relevant_habits", "Relevant habits"),
        ("attitudes_and_opinions", "Attitudes and opinions"),
        ("pain_points", "Pain points"),
        ("motivations", "Motivations"),
    ):
        if c.get(key):
            lines += [f"## {title}", "", _bullets(c[key]), ""]
    if record.consistency is not None:
        verdict = "consistent" if record.consistency.get("consistent") else "inconsistent"
        lines += ["## Consistency check", "", f"The check found the context {verdict}.", ""]
        if record.consistency.get("issues"):
            lines += [_bullets(record.consistency["issues"]), ""]
    return "\n".join(lines)


def experience_markdown(record: RunPersona) -> str:
    e = record.experience
    lines = [f"# Experiences of persona {record.persona_id}", ""]
    if not e:
        reason = f" ({record.failed_step}: {record.failure})" if record.failed_step else ""
        what = "offline runs build no episodes" if not record.failed_step else "none were built"
        lines.append(f"No experience episodes: {what}{reason}.")
        return "\n".join(lines) + "\n"
    for ep in e.get("episodes", []):
        refs = ep.get("refers_to") or []
        lines += [
            f"## {ep['number']}. {ep['timeframe']}",
            "",
            ep["scenario"],
            "",
            f"- Reaction: {ep['reaction']}",
            f"- Takeaway: {ep['takeaway']}",
            f"- Valence: {ep['valence']:+.1f}",
        ]
        if refs:
            lines.append(f"- Builds on: {', '.join(str(r) for r in refs)}")
        lines.append("")
    lines += [
        "## Synthesized memory",
        "",
        e.get("synthesized_memory", ""),
        "",
        "## Emotional residue",
        "",
        e.get("emotional_residue", ""),
        "",
        "## Learned behaviours",
        "",
        _bullets(e.get("learned_behaviours", [])),
        "",
    ]
    return "\n".join(lines)


def persona_files(record: RunPersona) -> dict[str, str]:
    """The four files of one persona, by name."""
    response = record.response
    if response is None:
        response = {"status": record.status, "failed_step": record.failed_step}
        response["failure"] = record.failure
    return {
        "profile.json": _dumps(record.profile),
        "context.md": context_markdown(record),
        "experience.md": experience_markdown(record),
        "response.json": _dumps(response),
    }


def run_export_zip(records: Iterable[RunPersona], *, folder: str) -> bytes:
    """A zip with `<folder>/persona_<id>/<file>` for every record."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for record in records:
            for name, text in persona_files(record).items():
                archive.writestr(f"{folder}/persona_{record.persona_id}/{name}", text)
    return buffer.getvalue()


PERSONA_COLUMNS: list[tuple[str, ColumnType]] = [
    ("persona_id", "int"), ("persona_index", "int"), ("area_id", "str"), ("area", "str"),
    ("state", "str"), ("age", "int"), *((d, "str") for d in DIMENSIONS), *PROFILE_TABLE_COLUMNS,
]  # fmt: skip
ANSWER_COLUMNS: list[tuple[str, ColumnType]] = [
    *PERSONA_COLUMNS, ("condition", "str"), ("item", "str"), ("item_type", "str"),
    ("answer", "str"), ("probability", "float"), ("number", "float"), ("weight", "float"),
    ("reasoning", "str"),
]  # fmt: skip
ANSWER_NAMES = [name for name, _ in ANSWER_COLUMNS]
ANSWER_FIELDS = (
    "persona_id", "persona__index", "persona__area_id", "persona__area__name",
    "persona__area__state", "persona__age", *(f"persona__{d}" for d in DIMENSIONS),
    "persona__profile", "condition", "item__code", "item__type", "option__code", "choices",
    "number", "text", "probabilities", "weight", "reasoning",
)  # fmt: skip


def _answer_row(row: tuple) -> list:
    """A stored answer (`ANSWER_FIELDS`) as a table row: persona columns, then the answer's."""
    *head, profile, condition, item, item_type = row[:-7]
    option, choices, number, text, probabilities, weight, reasoning = row[-7:]
    answer = option or ("|".join(choices) if choices else text)
    probability = (probabilities or {}).get(option) if option else None
    return [
        *head,
        *profile_values(profile),
        condition,
        item,
        item_type,
        answer,
        probability,
        number,
        weight,
        reasoning,
    ]


def _answers(run: Run) -> QuerySet[Answer]:
    return Answer.objects.filter(run=run).order_by("persona__index", "item__order", "item_id")


def answer_table(run: Run, *, anonymized: bool = False, salt: str = "") -> Table:
    """One row per persona × item: the persona (position in its population, area,
    demographics and profile), its condition, the item, the answer in the item type's own form
    (an option code; option codes joined by '|' for multiple selection, first to last for a
    ranking; the text of a free-text answer), the probability the backend gave that answer
    (choice items, when known), the number of a numeric answer, the weight and the reasoning.

    Anonymized: the persona is a keyed pseudonym (the same as in the population's anonymized
    export), the exact age a five-year bucket, names and record links dropped, and personas come
    in pseudonym order rather than population order."""
    if not anonymized:
        rows = (
            _answer_row(row)
            for row in _answers(run).values_list(*ANSWER_FIELDS).iterator(chunk_size=2000)
        )
        return Table(ANSWER_COLUMNS, rows)
    return Table(
        anonymized_columns(ANSWER_COLUMNS, id_column="persona"),
        _anonymized_answer_rows(run, salt),
    )


def _anonymized_answer_rows(run: Run, salt: str, batch: int = 500) -> Iterator[list]:
    # Only a pseudonym per persona is held for the whole run; answers are read a batch of
    # personas at a time, in pseudonym order.
    answered = Answer.objects.filter(run=run).values_list("persona_id", flat=True).order_by()
    order, names = pseudonym_order(Persona.objects.filter(id__in=answered), salt=salt)
    for start in range(0, len(order), batch):
        ids = order[start : start + batch]
        by_persona: dict[int, list[list]] = {pk: [] for pk in ids}
        for row in _answers(run).filter(persona_id__in=ids).values_list(*ANSWER_FIELDS):
            by_persona[row[0]].append(_answer_row(row))
        for pk in ids:
            for values in by_persona[pk]:
                yield anonymized_values(
                    ANSWER_COLUMNS, _without_names(values, names[pk]), pseudonym_=names[pk]
                )


_NAME_COLUMNS = [ANSWER_NAMES.index(n) for n in ("name", "first_name", "last_name")]
_REASONING = ANSWER_NAMES.index("reasoning")


def _without_names(values: list, pseudonym: str) -> list:
    """The row with the persona's name, first name and last name replaced by its pseudonym in
    the reasoning (a language model's answer may say "As Maria Garcia, I …")."""
    reasoning = values[_REASONING] or ""
    for position in _NAME_COLUMNS:
        name = values[position]
        if name:
            reasoning = reasoning.replace(name, pseudonym)
    return [*values[:_REASONING], reasoning, *values[_REASONING + 1 :]]


def answer_rows(run: Run) -> Iterator[Sequence[Any]]:
    """The answer table's header, then its rows (for a CSV written in one piece)."""
    table = answer_table(run)
    yield table.names
    yield from table.rows


def answers_csv_lines(run: Run) -> Iterator[str]:
    """The answer table as CSV text, a chunk at a time (for a streaming response)."""
    return csv_chunks(answer_table(run))


# --- the result tables -------------------------------------------------------------------------

RESULT_COLUMNS: list[tuple[str, ColumnType]] = [
    ("item", "str"), ("item_type", "str"), ("group_by", "str"), ("group", "str"),
    ("group_label", "str"), ("n", "int"), ("option", "str"), ("option_label", "str"),
    ("statistic", "str"), ("value", "float"), ("ci_low", "float"), ("ci_high", "float"),
]  # fmt: skip
_LABEL_KEYS = {"code", "label", "category", "n"}


def _interval_keys(statistic: str) -> tuple[str, str] | None:
    """The keys holding a statistic's interval in an analyzer's output, by its naming habits:
    share -> ci_low/ci_high, mean -> mean_ci_low/…, first_share -> first_ci_low/…."""
    if statistic == "share":
        return "ci_low", "ci_high"
    return (
        f"{statistic.removesuffix('_share')}_ci_low",
        f"{statistic.removesuffix('_share')}_ci_high",
    )


def _statistics(values: dict, prefix: str = "") -> Iterator[tuple[str, float, Any, Any]]:
    """(statistic, value, ci_low, ci_high) for every number in an analyzer's dict (nested dicts
    such as quantiles are named `quantiles.25`); interval ends go with their statistic."""
    low_high: set[str] = set()
    for key in values:
        pair = _interval_keys(key)
        if pair and pair[0] in values:
            low_high.update(pair)
    for key, value in values.items():
        if key in low_high or key in _LABEL_KEYS:
            continue
        if isinstance(value, dict):
            yield from _statistics(value, prefix=f"{prefix}{key}.")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            pair = _interval_keys(key)
            low, high = (values.get(pair[0]), values.get(pair[1])) if pair else (None, None)
            yield f"{prefix}{key}", value, low, high


def _group_rows(item: dict, group_by: str, group: dict) -> Iterator[list]:
    head = [item["code"], item["type"], group_by, group.get("category", group.get("code", ""))]
    head += [group.get("label", ""), group.get("n")]
    for option in group.get("options") or []:
        for statistic, value, low, high in _statistics(option):
            yield [
                *head,
                option.get("code", ""),
                option.get("label", ""),
                statistic,
                value,
                low,
                high,
            ]
    for statistic, value, low, high in _statistics(group.get("summary") or {}):
        yield [*head, "", "", statistic, value, low, high]


def result_rows(results: dict) -> Iterator[list]:
    """A run's results as one long table: per item, every option's statistics (count, share and
    its interval; a ranking's mean rank and Borda score; …) and the item's summary statistics,
    over all personas (`group_by` "all"), within each area and demographic group, and within each
    condition."""
    for item in results.get("items", []):
        yield from _group_rows(item, "all", {"category": "", "label": "All", **item})
        for dimension, groups in (item.get("breakdowns") or {}).items():
            for group in groups:
                yield from _group_rows(item, dimension, group)
        for condition in item.get("conditions") or []:
            yield from _group_rows(item, "condition", condition)


def result_table(run: Run) -> Table:
    return Table(RESULT_COLUMNS, result_rows(run.results or {}))


COMPARISON_COLUMNS: list[tuple[str, ColumnType]] = [
    ("item", "str"), ("item_type", "str"), ("comparison", "str"), ("condition", "str"),
    ("control", "str"), ("dimension", "str"), ("groups", "int"), ("measure", "str"),
    ("option", "str"), ("estimate", "float"), ("control_estimate", "float"),
    ("difference", "float"), ("ci_low", "float"), ("ci_high", "float"), ("interval", "str"),
    ("test", "str"), ("statistic", "float"), ("df", "float"), ("p", "float"),
    ("p_adjusted", "float"), ("significant", "bool"), ("note", "str"),
]  # fmt: skip


def comparison_rows(results: dict) -> Iterator[list]:
    """Every test of a run's results as a row: each condition against the control on each
    measure, and each dimension's test across its groups, with Holm-adjusted p-values."""
    names = [name for name, _ in COMPARISON_COLUMNS[3:]]
    for item in results.get("items", []):
        comparisons = item.get("comparisons") or {}
        for kind in ("conditions", "groups"):
            for test in (comparisons.get(kind) or {}).get("tests", []):
                yield [item["code"], item["type"], kind, *(test.get(n) for n in names)]


def comparison_table(run: Run) -> Table:
    return Table(COMPARISON_COLUMNS, comparison_rows(run.results or {}))
