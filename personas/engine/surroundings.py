"""What the persona engine reads from the database of a persona's world, once per run and shared by
its personas: each area's environmental context (`environment.context`, worded for the prompts by
`personas.awareness`) and the poll grounding (`personas.engine.grounding`).

On the chunk's event loop each is read through the loop's database runner (`llm.aio`) the first
time it is needed, never on the loop's thread; the area-context cache and the poll grounding are
each filled under a lock.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.db import connection

from environment.context import environmental_context
from llm import aio
from personas.awareness import PersonaView, generate_llm_prompt_context
from personas.engine.grounding import Grounding

logger = logging.getLogger(__name__)


class Surroundings:
    """A run's area contexts and poll grounding, with each persona's wording of them.

    `preload`: start loading the polls' answers on a thread of its own now (a run that answers
    several personas at once); else the first persona that needs them loads them."""

    def __init__(
        self,
        *,
        scenario: str,
        scenario_type: str,
        linked_question_ids: list[int],
        questions: int,
        preload: bool,
    ) -> None:
        self.scenario = scenario
        self.scenario_type = scenario_type
        self.questions = questions
        self._linked_questions = linked_question_ids
        self._grounding: Grounding | None = None
        self._grounding_lock = threading.Lock()
        self._sized_grounding: Grounding | None = None
        if (
            questions
            and preload
            # A caller's open transaction holds rows another connection cannot see (tests).
            and not connection.in_atomic_block
        ):
            threading.Thread(
                target=self._load_grounding_in_background, name="engine-grounding", daemon=True
            ).start()
        self._areas: dict[str, dict] = {}
        self._lock = threading.Lock()

    # --- the poll grounding ---------------------------------------------------------------------

    def _new_grounding(self, *, load_answers: bool) -> Grounding:
        return Grounding(
            scenario=self.scenario,
            linked_question_ids=self._linked_questions,
            questions=self.questions,
            load_answers=load_answers,
        )

    def _load_grounding(self) -> Grounding:
        with self._grounding_lock:
            if self._grounding is None:
                self._grounding = self._new_grounding(load_answers=True)
            return self._grounding

    def _load_grounding_in_background(self) -> None:
        # Loading the polls' answers takes a few tenths of a second: on a thread of its own it
        # overlaps the personas' first calls instead of holding up their participation steps.
        try:
            self._load_grounding()
        except Exception:  # the persona that needs it loads it again and fails with the reason
            logger.warning("Loading the poll grounding failed", exc_info=True)
        finally:
            connection.close()  # this thread's own database connection

    def grounding_size_text(self, persona: Any) -> str:
        """The grounding's wording with placeholder figures (the polls' answers are not read):
        the size of the persona's grounding, for the estimate."""
        if not self.questions:
            return ""
        with self._grounding_lock:
            if self._sized_grounding is None:
                self._sized_grounding = self._new_grounding(load_answers=False)
        return self._sized_grounding.sized_text(persona)

    async def agrounding_text(self, persona: Any) -> str:
        """The persona's poll grounding (the polls' answers are loaded once, when first needed if
        no background load is under way)."""
        if not self.questions:
            return ""
        grounding = self._grounding
        if grounding is None:
            grounding = await aio.run_db(self._load_grounding)
        return grounding.text(persona)

    # --- the environmental context --------------------------------------------------------------

    def _area_context(self, area_id: str) -> dict:
        with self._lock:
            context = self._areas.get(area_id)
        if context is None:
            context = environmental_context(area_id=area_id)
            with self._lock:
                self._areas[area_id] = context
        return context

    async def aenvironment(self, persona: Any) -> str:
        context = self._areas.get(persona.area_id)
        if context is None:
            context = await aio.run_db(self._area_context, persona.area_id)
        return self._environment_text(persona, context)

    def environment(self, persona: Any) -> str:
        return self._environment_text(persona, self._area_context(persona.area_id))

    def _environment_text(self, persona: Any, context: dict) -> str:
        return generate_llm_prompt_context(
            PersonaView.from_persona(persona),
            context,
            scenario=self.scenario,
            scenario_type=self.scenario_type,
        )
