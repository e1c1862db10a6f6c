"""A run's data out: the per-persona artefacts in the seed's layout (profile.json, context.md,
experience.md and response.json for each persona, one folder per persona in a zip for the whole
run), and every answer as a CSV row."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable, Iterator

from environment.categories import DIMENSIONS
from personas.engine.persona_sheet import STRUCTURED_LABEL
from studies.models import Answer, Run, RunPersona

SOURCE_NOTES = {
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


ANSWER_COLUMNS = [
    "persona_id", "persona_index", "area", "state", "age", *DIMENSIONS, "condition", "item",
    "item_type", "answer", "number", "weight", "reasoning",
]  # fmt: skip


ANSWER_FIELDS = (
    "persona_id", "persona__index", "persona__area__name", "persona__area__state", "persona__age",
    *(f"persona__{d}" for d in DIMENSIONS), "condition", "item__code", "item__type",
    "option__code", "choices", "number", "text", "weight", "reasoning",
)  # fmt: skip


def answer_rows(run: Run) -> Iterator[list]:
    """One row per stored answer, for a CSV: the persona (position in its population, area and
    demographics), its condition, the item, the answer in the item type's own form (an option
    code; option codes joined by '|' for multiple selection, first to last for a ranking; the
    text of a free-text answer), the number of a numeric answer, the weight and the reasoning."""
    yield ANSWER_COLUMNS
    answers = (
        Answer.objects.filter(run=run)
        .order_by("persona__index", "item__order")
        .values_list(*ANSWER_FIELDS)
    )
    for row in answers.iterator(chunk_size=2000):
        *head, option, choices, number, text, weight, reasoning = row
        answer = option or ("|".join(choices) if choices else text)
        yield [*head, answer, "" if number is None else number, weight, reasoning]


def answers_csv_lines(run: Run) -> Iterator[str]:
    """The answer rows as CSV text, a line at a time (for a streaming response)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in answer_rows(run):
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
