"""Request and response shapes of /api/v1/multi-agent/ (the seed's request and response shape,
with the simulation's settings and its extra measures beside it)."""

from __future__ import annotations

from rest_framework import serializers

from config.api import Serializer
from studies.api.serializers import backend_config_field, budget_field
from studies.influence.dynamics import DEFAULT_MAX_ROUNDS, DEFAULT_TOLERANCE
from studies.influence.network import DEFAULT_HOMOPHILY, DEFAULT_MEAN_DEGREE
from studies.influence.simulate import (
    DEFAULT_DELIBERATION_ROUNDS,
    DEFAULT_NEIGHBOURS_SHOWN,
    DEFAULT_SUSCEPTIBILITY_SCALE,
)

MAX_NAMED_PERSONAS = 10_000
# The backends a simulation runs on (named in the schema as SimulationBackendEnum).
SIMULATION_BACKENDS = ("poll_model", "llm")
MAX_DELIBERATION_ROUNDS = 10
MAX_NEIGHBOURS_SHOWN = 20
# Only these make sense for a simulation on the language-model backend.
LLM_ONLY = ("backend_config", "budget", "deliberation_rounds", "neighbours_shown")


class SimulateSerializer(Serializer):
    scenario_description = serializers.CharField(max_length=5000)
    poll_question = serializers.IntegerField(
        help_text="The poll question every persona answers (its options are the answers); see "
        "/api/v1/polls/"
    )
    personas = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        min_length=1,
        max_length=MAX_NAMED_PERSONAS,
        help_text="Persona ids of one population: the group. Without it, `population`",
    )
    population = serializers.IntegerField(
        required=False,
        help_text="Population id: its personas (in the area, if given) are the group",
    )
    environment_area_id = serializers.CharField(
        required=False, allow_blank=True, help_text="Area id (e.g. dallas_tx_city) of the group"
    )
    enable_peer_influence = serializers.BooleanField(default=True)
    group_size = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=2,
        help_text="Split the personas at random into groups of this size (a council of 12, a "
        "neighbourhood of 500); ties only within a group. Default: one group",
    )
    mean_degree = serializers.FloatField(
        default=DEFAULT_MEAN_DEGREE, min_value=0.1, max_value=1000, help_text="Mean ties a persona"
    )
    homophily = serializers.DictField(
        child=serializers.FloatField(min_value=-5, max_value=10),
        required=False,
        help_text="Homophily strength per attribute (log odds ratio of a tie between personas "
        f"who share it); attributes: {', '.join(DEFAULT_HOMOPHILY)}; defaults "
        + ", ".join(f"{k} {v}" for k, v in DEFAULT_HOMOPHILY.items()),
    )
    susceptibility_scale = serializers.FloatField(
        default=DEFAULT_SUSCEPTIBILITY_SCALE,
        min_value=0.0,
        max_value=0.99,
        help_text="λ = scale × conformity tendency",
    )
    max_rounds = serializers.IntegerField(default=DEFAULT_MAX_ROUNDS, min_value=1, max_value=1000)
    tolerance = serializers.FloatField(default=DEFAULT_TOLERANCE, min_value=0.0, max_value=1.0)
    seed = serializers.IntegerField(required=False, min_value=0, max_value=2**63 - 1)
    backend = serializers.ChoiceField(
        choices=SIMULATION_BACKENDS,
        default="poll_model",
        help_text="poll_model: answers from the poll model, influence by Friedkin–Johnsen "
        "rounds (offline, free). llm: every persona through the persona engine, then "
        "deliberation rounds in which each reads its ties' answers and reasoning and answers "
        "again (costs money)",
    )
    backend_config = backend_config_field(
        default=serializers.empty,  # given or not: refused with the poll model
        help_text='backend llm: as for runs, {"llm": {"provider", "model", "temperature", '
        '"max_tokens", "seed", "base_url", "key"}, "engine": {"concurrency", "max_attempts", '
        '...}}. base_url must be on the server\'s allow-list; "key" names a key alias the '
        "operator declared, never a key: keys come from the server's environment",
    )
    budget = budget_field(
        help_text="backend llm: cost cap for the whole simulation (persona engine and "
        "deliberation) in the model's currency; refused above the estimate, and no round "
        "starts that the budget left would not cover",
    )
    deliberation_rounds = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_DELIBERATION_ROUNDS,
        help_text=f"backend llm: deliberation rounds after the independent answers (default "
        f"{DEFAULT_DELIBERATION_ROUNDS}); they stop early when a round changes no answer",
    )
    neighbours_shown = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_NEIGHBOURS_SHOWN,
        help_text=f"backend llm: how many of its ties a persona hears each round, most similar "
        f"then best-connected first (default {DEFAULT_NEIGHBOURS_SHOWN})",
    )

    def validate_homophily(self, value: dict) -> dict:
        unknown = sorted(set(value) - set(DEFAULT_HOMOPHILY))
        if unknown:
            raise serializers.ValidationError(
                f"unknown attribute(s) {', '.join(unknown)}; use {', '.join(DEFAULT_HOMOPHILY)}"
            )
        return {**DEFAULT_HOMOPHILY, **value}

    def validate(self, attrs: dict) -> dict:
        if "personas" not in attrs and "population" not in attrs:
            raise serializers.ValidationError(
                {"personas": ["name the group: `personas` (persona ids) or a `population` id"]}
            )
        if attrs["backend"] == "llm":
            if not attrs.get("backend_config"):
                raise serializers.ValidationError(
                    {
                        "backend_config": [
                            "backend llm needs backend_config.llm with provider and model, e.g. "
                            '{"llm": {"provider": "openai", "model": "gpt-4o-mini"}}'
                        ]
                    }
                )
            if not attrs["enable_peer_influence"] and "deliberation_rounds" in attrs:
                raise serializers.ValidationError(
                    {
                        "deliberation_rounds": [
                            "deliberation is peer influence: leave it out with "
                            "enable_peer_influence false"
                        ]
                    }
                )
        else:
            given = [name for name in LLM_ONLY if attrs.get(name) is not None]
            if given:
                raise serializers.ValidationError(
                    {
                        name: [f"{name} applies to backend llm only; this request's backend "
                        f"is {attrs['backend']}"]
                        for name in given
                    }
                )  # fmt: skip
        return attrs


class SimulationStartedSerializer(Serializer):
    simulation_id = serializers.IntegerField()
    status = serializers.CharField()
    run = serializers.IntegerField(help_text="The run answering the personas: /api/v1/runs/{id}/")
    url = serializers.CharField(help_text="Where the result will be")


class IndividualResponsesSerializer(Serializer):
    count = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    results = serializers.ListField(
        child=serializers.DictField(),
        help_text="persona_id, index, area, answer (the independent answer), answer_after, "
        "susceptibility, ties; poll_model: probabilities_before, probabilities_after; llm: "
        "answers_by_round (round 0 first) and reasoning_after",
    )


class SimulationSerializer(Serializer):
    simulation_id = serializers.IntegerField()
    status = serializers.CharField(help_text="The run's: queued, running, completed, failed, ...")
    run = serializers.IntegerField()
    backend = serializers.CharField(help_text="poll_model or llm")
    cost_estimate = serializers.DictField(
        allow_null=True,
        help_text="backend llm: the run's estimate, the deliberation rounds included "
        "(steps.deliberation); null on the poll model",
    )
    cost_spent = serializers.CharField(help_text="Decimal string; 0 on the poll model")
    scenario_description = serializers.CharField()
    enable_peer_influence = serializers.BooleanField()
    personas_total = serializers.IntegerField()
    personas_done = serializers.IntegerField()
    error_message = serializers.CharField()
    parameters = serializers.DictField()
    group_dynamics = serializers.DictField(
        allow_null=True,
        help_text="group_diversity (Blau), conformity_pressure, social_influence_strength, "
        "mean_susceptibility; null with peer influence off or before completion",
    )
    peer_influence_effects = serializers.DictField(
        allow_null=True,
        help_text="average_influence, similarity_clustering (after and before), share_change",
    )
    comparison = serializers.DictField(
        allow_null=True, help_text="Option shares with intervals, influence_off and influence_on"
    )
    breakdowns = serializers.DictField(allow_null=True, help_text="The same by group and area")
    network = serializers.DictField(allow_null=True)
    dynamics = serializers.DictField(
        allow_null=True,
        help_text="Rounds and the share trajectory per round; backend llm also: rounds_requested, "
        "stopped (why the rounds ended early: budget, cancellation, no change), failures (by "
        "round), answers_changed_by_round, the deliberation's calls, tokens and cost",
    )
    assumptions = serializers.DictField(allow_null=True)
    individual_responses = IndividualResponsesSerializer(allow_null=True)
