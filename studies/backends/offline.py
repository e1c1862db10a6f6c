"""What the two offline backends share: they answer only poll-linked items, from real poll data,
and word each persona's context from its structured profile (labelled so)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from personas.engine.persona_sheet import profile_doc, structured_narrative
from personas.engine.results import STRUCTURED_SOURCE
from polls.models import Question
from polls.selectors import question_answerable
from studies.backends.base import AnswerDraft, PersonaResult, RespondentBackend
from studies.models import Item

if TYPE_CHECKING:
    from personas.models import Persona
    from studies.models import Run, Study


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
