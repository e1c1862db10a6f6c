"""What the two offline backends share: they answer only poll-linked items, from real poll data,
and word each persona's context from its structured profile (labelled so)."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from personas.engine.persona_sheet import profile_doc, structured_narrative
from personas.engine.results import STRUCTURED_SOURCE
from polls.models import Question
from polls.selectors import question_answerable
from studies.backends.base import AnswerDraft, PersonaResult, RespondentBackend
from studies.models import Answer, Item, Run, RunPersona

if TYPE_CHECKING:
    from personas.models import Persona
    from studies.models import Study


# Item types a poll question can ground (a Likert item through an explicit option mapping).
OFFLINE_TYPES = frozenset({Item.Type.SINGLE_CHOICE, Item.Type.LIKERT})


class OfflineBackend(RespondentBackend):
    """Free, with no configuration, one persona at a time; a subclass implements `answer`."""

    abstract = True

    @classmethod
    def study_problems(cls, study: Study) -> list[str]:
        problems = []
        stimulated = [c.code for c in study.conditions.all() if c.stimulus.strip()]
        varied = [i.code for i in study.items.all() if i.variants]
        if stimulated or varied:
            problems.append(
                "The offline backend answers from poll data and cannot read what a condition "
                "shows (stimuli of "
                + (", ".join(stimulated) or "no condition")
                + "; item variants of "
                + (", ".join(varied) or "no item")
                + "): its conditions would differ only by chance. Run message and stimulus "
                "tests on the LLM backend (backend='llm'), or drop the stimuli and variants for a "
                "plain random split."
            )
        for item in study.items.select_related("poll_question__poll"):
            if item.type not in OFFLINE_TYPES:
                problems.append(
                    f"Item '{item.code}' is a {item.get_type_display().lower()} item: the offline "
                    "backend answers only from real poll data, whose questions are single "
                    "choices, so it can answer single-choice and Likert items grounded in a poll "
                    "question. Use the LLM backend (backend='llm') for this item."
                )
                continue
            question = item.poll_question
            if question is None:
                problems.append(
                    f"Item '{item.code}' is not linked to a poll question, and the offline backend "
                    "answers only from real poll data: link it with poll_question (see "
                    "/api/v1/polls/) or choose another backend."
                )
                continue
            if not question_answerable(Question.objects.filter(id=question.id)).exists():
                problems.append(
                    f"Item '{item.code}' is linked to poll question {question.id}, which has no "
                    "respondent answers to draw from."
                )
            unlinked = [o.code for o in item.options.all() if o.poll_option_id is None]
            if unlinked:
                problems.append(
                    f"Item '{item.code}' has options with no poll option behind them: "
                    f"{', '.join(unlinked)}."
                )
        return problems

    def __init__(self, run: Run, items: list[Item]) -> None:
        super().__init__(run, items)
        # Items by their position in the study: a draw is seeded by positions, never database ids.
        self.positions = {item.id: i for i, item in enumerate(items)}
        self._codes = {o.id: o.code for item in items for o in item.options.all()}

    def answer(self, *, persona: Persona, item: Item) -> AnswerDraft:
        raise NotImplementedError

    def seed(self, persona: Persona, item: Item) -> list[int]:
        """The draw's seed: (run seed, the persona's position in its population, the item's)."""
        return [int(self.run.seed), int(persona.index), self.positions[item.id]]

    def answer_persona(self, persona: Persona) -> PersonaResult:
        """Every item's answer, with a context worded from the structured profile (labelled so)."""
        answers = {item.id: self.answer(persona=persona, item=item) for item in self.items}
        doc = profile_doc(persona)
        return PersonaResult(
            answers=answers,
            narrative_source=STRUCTURED_SOURCE,
            profile=doc.model_dump(mode="json"),
            context=structured_narrative(doc).model_dump(mode="json"),
            response={
                "responses": [
                    {
                        "item": item.code,
                        "answer": self._codes[d.option_id] if d.option_id is not None else None,
                        "reasoning": d.reasoning,
                    }
                    for item, d in ((i, answers[i.id]) for i in self.items)
                ],
                "source": self.label,
            },
        )


# The artefacts the offline chunk path leaves to be derived on read.
DERIVED = ("profile", "context", "response")


def _derivable(record: RunPersona) -> bool:
    """A record the offline chunk path stored without its artefacts (an empty profile, no context
    and no response): older offline runs stored them, and the LLM backend's are its own."""
    return (
        record.narrative_source == STRUCTURED_SOURCE
        and record.status == RunPersona.Status.OK
        and not record.get_deferred_fields().intersection(DERIVED)
        and not record.profile
        and record.context is None
        and record.response is None
    )


def _option_code(answer: Answer) -> str | None:
    return answer.option.code if answer.option is not None else None


def offline_artefacts(persona, *, items: list[Item], answers: dict[int, Answer], label: str):
    """profile.json, the context worded from it, and response.json of an offline persona: what
    `OfflineBackend.answer_persona` gives, from the persona and its stored answers."""
    doc = profile_doc(persona)
    return (
        doc.model_dump(mode="json"),
        structured_narrative(doc).model_dump(mode="json"),
        {
            "responses": [
                {
                    "item": item.code,
                    "answer": _option_code(answers[item.id]),
                    "reasoning": answers[item.id].reasoning,
                }
                for item in items
                if item.id in answers
            ],
            "source": label,
        },
    )


def offline_artefacts_fill(records: list[RunPersona]) -> None:
    """Fill in, on the instances, the artefacts of offline records stored without them (one query
    for the runs, one for their items, one for the answers, one for personas not loaded)."""
    from environment.models import Area
    from personas.models import Persona
    from studies.backends.registry import BACKENDS

    todo = [r for r in records if _derivable(r)]
    if not todo:
        return
    runs = {r.id: r for r in Run.objects.filter(id__in={r.run_id for r in todo})}
    items: dict[int, list[Item]] = defaultdict(list)
    for item in Item.objects.filter(study_id__in={r.study_id for r in runs.values()}):
        items[item.study_id].append(item)
    answers: dict[tuple[int, int], dict[int, Answer]] = defaultdict(dict)
    for run_id in {r.run_id for r in todo}:
        for answer in Answer.objects.filter(
            run_id=run_id, persona_id__in=[r.persona_id for r in todo if r.run_id == run_id]
        ).select_related("option"):
            answers[(run_id, answer.persona_id)][answer.item_id] = answer
    unloaded = [r for r in todo if not RunPersona.persona.is_cached(r)]
    personas = Persona.objects.select_related("area").in_bulk([r.persona_id for r in unloaded])
    for record in unloaded:
        record.persona = personas[record.persona_id]
    arealess = [r.persona for r in todo if not Persona.area.is_cached(r.persona)]
    areas = Area.objects.in_bulk({p.area_id for p in arealess})
    for persona in arealess:
        persona.area = areas[persona.area_id]
    for record in todo:
        run = runs[record.run_id]
        backend = BACKENDS.get(run.backend)
        record.profile, record.context, record.response = offline_artefacts(
            record.persona,
            items=items[run.study_id],
            answers=answers[(record.run_id, record.persona_id)],
            label=backend.label if backend is not None else run.backend,
        )
