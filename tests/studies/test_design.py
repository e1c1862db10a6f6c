"""Studies as researchers write them: item types, conditions, criteria and quotas, from creation to
the participants a run selects and the conditions they are assigned to."""

from __future__ import annotations

import csv
import io
from collections import Counter

import pytest

from config.errors import DomainError
from personas.models import Persona
from personas.services import AreaWeight, population_create
from polls.models import Question
from studies.models import Answer, Item, Run, RunParticipant, Study
from studies.pipeline import run_process_chunk
from studies.results import run_results_compute
from studies.services import ConditionSpec, ItemSpec, OptionSpec, run_start, study_create
from tests.conftest import DEMO_AREAS

pytestmark = pytest.mark.django_db

TWO_ARMS = [ConditionSpec("control", "Control"), ConditionSpec("treated", "Treated")]


@pytest.fixture
def ideology():
    return Question.objects.get(poll__slug="anes-1996", code="self-placement-left-right")


def _item(code="q", **kw) -> ItemSpec:
    kw.setdefault("text", "How do you feel?")
    return ItemSpec(code=code, **kw)


def _refused(fields_key: str, **kw) -> DomainError:
    kw.setdefault("title", "t")
    with pytest.raises(DomainError) as caught:
        study_create(**kw)
    assert any(k.startswith(fields_key) for k in caught.value.fields), caught.value.fields
    assert Study.objects.filter(title=kw["title"]).count() == 0  # nothing half-written
    return caught.value


def test_every_item_type_is_stored_with_its_fields():
    study = study_create(
        title="All types",
        conditions=TWO_ARMS,
        items=[
            _item("pick", options=[OptionSpec("a", "A"), OptionSpec("b", "B")]),
            _item(
                "many",
                type="multiple_choice",
                max_choices=2,
                options=[OptionSpec("x", "X"), OptionSpec("y", "Y"), OptionSpec("z", "Z")],
            ),
            _item(
                "agree",
                type="likert",
                options=[OptionSpec(c, c.title()) for c in ("disagree", "neutral", "agree")],
                variants={"treated": "Having read the message, how do you feel?"},
            ),
            _item("pay", type="numeric", min_value=0, max_value=500, unit="USD"),
            _item("rank", type="ranking", options=[OptionSpec("p", "P"), OptionSpec("r", "R")]),
            _item("why", type="free_text"),
        ],
    )
    items = {i.code: i for i in study.items.all()}
    assert [i.type for i in items.values()] == [
        "single_choice", "multiple_choice", "likert", "numeric", "ranking", "free_text",
    ]  # fmt: skip
    assert [o.value for o in items["agree"].options.all()] == [1, 2, 3]  # default points 1..n
    assert [o.value for o in items["pick"].options.all()] == [None, None]
    assert items["agree"].text_for("treated").startswith("Having read")
    assert items["agree"].text_for("control") == "How do you feel?"
    assert (items["pay"].min_value, items["pay"].max_value, items["pay"].unit) == (0, 500, "USD")
    assert items["many"].max_choices == 2
    assert list(study.conditions.values_list("code", flat=True)) == ["control", "treated"]


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (_item(type="numeric"), "items[0].min_value"),
        (_item(type="numeric", min_value=5, max_value=5), "items[0].max_value"),
        (_item(type="free_text", options=[OptionSpec("a", "A")]), "items[0].options"),
        (_item(type="ranking", options=[OptionSpec("a", "A")]), "items[0].options"),
        (
            _item(type="multiple_choice", max_choices=3, options=[OptionSpec("a", "A")] * 2),
            "items[0].max_choices",
        ),
        (
            _item(type="likert", options=[OptionSpec("a", "A", 2), OptionSpec("b", "B", 1)]),
            "items[0].options",
        ),
        (_item(options=[OptionSpec("a", "A", 1), OptionSpec("b", "B", 2)]), "items[0].options"),
        (_item(type="single_choice", unit="USD", options=[]), "items[0]"),
        (_item(type="likert", variants={"nope": "x"}), "items[0].variants"),
        (_item(type="sliding"), "items[0].type"),
    ],
)
def test_an_item_with_fields_its_type_cannot_have_is_refused(item, field):
    _refused(field, items=[item])


def test_only_single_choice_and_likert_items_can_be_poll_grounded(cces_question):
    error = _refused(
        "items[0].poll_question",
        items=[_item(type="ranking", poll_question_id=cces_question.id)],
    )
    assert "single-choice and Likert" in str(error)


def test_an_ordinal_poll_question_grounds_a_likert_item_with_its_scale_positions(ideology):
    study = study_create(
        title="Ideology", items=[_item(type="likert", poll_question_id=ideology.id)]
    )
    options = list(study.items.get().options.all())
    assert [o.value for o in options] == [1, 2, 3, 4, 5, 6, 7]
    assert options[0].poll_option.code == "extremely-liberal"


def test_a_likert_item_maps_its_own_points_onto_poll_options_explicitly(ideology):
    study = study_create(
        title="Three-point ideology",
        items=[
            _item(
                type="likert",
                poll_question_id=ideology.id,
                options=[
                    OptionSpec("left", "Liberal", 1, poll_option="liberal"),
                    OptionSpec("centre", "Moderate", 2, poll_option="moderate"),
                    OptionSpec("right", "Conservative", 3, poll_option="conservative"),
                ],
            )
        ],
    )
    mapped = {o.code: o.poll_option.code for o in study.items.get().options.all()}
    assert mapped == {"left": "liberal", "centre": "moderate", "right": "conservative"}


def test_a_non_ordinal_poll_question_cannot_ground_a_likert_item_by_itself():
    vote = Question.objects.get(poll__slug="anes-1996", code="vote-1996")
    error = _refused("items[0].options", items=[_item(type="likert", poll_question_id=vote.id)])
    assert error.code == "poll_question_not_ordinal"


@pytest.mark.parametrize(
    ("design", "field"),
    [
        ({"conditions": [ConditionSpec("only", "Only")]}, "conditions"),
        ({"conditions": [ConditionSpec("a", "A"), ConditionSpec("a", "A2")]}, "conditions"),
        ({"inclusion": [{"field": "shoe_size", "op": "eq", "value": 40}]}, "inclusion"),
        ({"inclusion": [{"field": "sex", "op": "gt", "value": "female"}]}, "inclusion"),
        ({"inclusion": [{"field": "sex", "op": "eq", "value": "other"}]}, "inclusion"),
        ({"exclusion": [{"field": "age", "op": "between", "value": [60, 30]}]}, "exclusion"),
        ({"quotas": {"sex": {"female": 15, "male": 15}, "age_bracket": {"18_24": 10}}}, "quotas"),
        ({"quotas": {"age": {"30": 5}}}, "quotas"),
        ({"balance_on": ["sex"]}, "balance_on"),  # only with a balanced assignment
        ({"behavioral_measures": ["heart_rate"]}, "behavioral_measures"),
    ],
)
def test_a_design_that_cannot_be_applied_is_refused_with_the_field_named(design, field):
    _refused(field, items=[_item(options=[OptionSpec("a", "A"), OptionSpec("b", "B")])], **design)


def _study(**design) -> Study:
    coverage = Question.objects.get(poll__slug="cces-2018-abortion")
    return study_create(title="Design", items=[_item(poll_question_id=coverage.id)], **design)


def test_criteria_and_quotas_select_the_participants(population):
    study = _study(
        inclusion=[{"field": "age", "op": "between", "value": [25, 64]}],
        exclusion=[{"field": "state", "op": "eq", "value": "MI"}],
        quotas={"sex": {"female": 15, "male": 15}},
    )
    run = run_start(study=study, population=population, seed=3, backend="poll_cell")
    chosen = Persona.objects.filter(
        id__in=RunParticipant.objects.filter(run=run).values("persona_id")
    )
    assert run.has_participants and run.personas_total == 30
    assert Counter(chosen.values_list("sex", flat=True)) == {"female": 15, "male": 15}
    assert all(25 <= p.age <= 64 and p.area.state != "MI" for p in chosen)
    eligible = (
        Persona.objects.filter(population=population, age__gte=25, age__lte=64)
        .exclude(area__state="MI")
        .count()
    )
    assert run.selection["eligible"] == eligible and run.selection["participants"] == 30
    # Positions follow the personas' order in their population.
    indexes = [p.persona.index for p in run.participants.select_related("persona")]
    assert indexes == sorted(indexes)


def test_quotas_the_population_cannot_fill_are_refused_with_nothing_stored(population):
    women = Persona.objects.filter(population=population, sex="female").count()
    study = _study(quotas={"sex": {"female": women + 1, "male": 1}})
    with pytest.raises(DomainError) as caught:
        run_start(study=study, population=population, seed=3, backend="poll_cell")
    assert caught.value.code == "selection_impossible"
    assert "sex=female: 1 more" in str(caught.value)
    assert not Run.objects.filter(study=study).exists()


def test_criteria_no_persona_meets_are_refused(population):
    study = _study(inclusion=[{"field": "state", "op": "eq", "value": "WY"}])
    with pytest.raises(DomainError, match="No persona"):
        run_start(study=study, population=population, seed=3, backend="poll_cell")


def test_profile_criteria_need_personas_with_profiles(population):
    study = _study(inclusion=[{"field": "tech_proficiency", "op": "eq", "value": "expert"}])
    with pytest.raises(DomainError, match="no full profile"):
        run_start(study=study, population=population, seed=3, backend="poll_cell")


def test_profile_criteria_select_on_the_full_profile():
    population = population_create(
        size=120,
        areas=[AreaWeight(a) for a in DEMO_AREAS],
        seed=8,
        include_behavioral_characteristics=True,
    )
    study = _study(
        inclusion=[{"field": "tech_proficiency", "op": "in", "value": ["advanced", "expert"]}]
    )
    run = run_start(study=study, population=population, seed=3, backend="poll_cell")
    levels = {
        p.persona.profile["tech_proficiency"] for p in run.participants.select_related("persona")
    }
    assert levels and levels <= {"advanced", "expert"}


def test_random_assignment_is_even_and_reproducible(population):
    study = _study(conditions=TWO_ARMS)
    first = run_start(study=study, population=population, seed=11, backend="poll_cell")
    again = run_start(study=study, population=population, seed=11, backend="poll_cell")
    other = run_start(study=study, population=population, seed=12, backend="poll_cell")

    def arms(run):
        return [
            (p.persona.index, p.condition)
            for p in run.participants.select_related("persona").order_by("position")
        ]

    assert Counter(c for _, c in arms(first)) == {"control": 120, "treated": 120}
    assert arms(first) == arms(again)
    assert arms(first) != arms(other)
    assert first.selection["per_condition"] == {"control": 120, "treated": 120}


def test_balanced_assignment_evens_out_every_stratum(population):
    study = _study(conditions=TWO_ARMS, assignment="balanced", balance_on=["sex"])
    run = run_start(study=study, population=population, seed=11, backend="poll_cell")
    strata: dict[tuple, Counter] = {}
    for p in run.participants.select_related("persona"):
        strata.setdefault((p.persona.area_id, p.persona.sex), Counter())[p.condition] += 1
    for counts in strata.values():
        assert abs(counts["control"] - counts["treated"]) <= 1
    assert run.selection["balance_on"] == ["area", "sex"]


def test_a_run_with_conditions_and_quotas_answers_its_participants_in_their_arms(
    population, ideology, reporter
):
    study = study_create(
        title="Ideology by arm",
        conditions=TWO_ARMS,
        quotas={"sex": {"female": 20, "male": 20}},
        items=[_item("lr", type="likert", poll_question_id=ideology.id)],
    )
    run = run_start(study=study, population=population, seed=4, backend="poll_model")
    assert (
        run_process_chunk(run_id=run.id, start=0, end=run.personas_total, reporter=reporter) == 40
    )
    answers = Answer.objects.filter(run=run).select_related("option")
    assert answers.count() == 40
    arm = dict(run.participants.values_list("persona_id", "condition"))
    assert all(a.condition == arm[a.persona_id] for a in answers)
    assert {a.option.value for a in answers} <= set(range(1, 8))

    results = run_results_compute(run=run)
    (item,) = results["items"]
    assert item["type"] == "likert" and item["n"] == 40
    values = [a.option.value for a in answers]
    assert item["summary"]["mean"] == pytest.approx(sum(values) / 40)
    assert [c["code"] for c in item["conditions"]] == ["control", "treated"]
    assert [c["n"] for c in item["conditions"]] == [20, 20]
    assert item["comparisons"]["conditions"]["correction"] == "holm"
    assert "model_estimate" in item  # every point maps onto a poll option
    assert "ok" in results["quality"]


def test_the_offline_backend_refuses_what_poll_data_cannot_answer(population, cces_question):
    study = study_create(
        title="Message test",
        conditions=[ConditionSpec("control", "Control"), ConditionSpec("msg", "Msg", "Read: ...")],
        items=[
            _item("coverage", poll_question_id=cces_question.id),
            _item("pay", type="numeric", min_value=0, max_value=10),
        ],
    )
    with pytest.raises(DomainError) as caught:
        run_start(study=study, population=population, seed=1, backend="poll_model")
    message = str(caught.value)
    assert "cannot read what a condition shows" in message and "msg" in message
    assert "Item 'pay' is a numeric item" in message and "backend='llm'" in message
    assert Item.objects.filter(study=study).count() == 2
    assert not Run.objects.filter(study=study).exists()


def test_a_designed_study_is_created_and_run_through_the_api(api, population, ideology):
    payload = {
        "title": "Ideology, two arms, quotas",
        "kind": "questionnaire",
        "conditions": [{"code": "control", "label": "Control"}, {"code": "b", "label": "B"}],
        "assignment": "balanced",
        "balance_on": ["sex"],
        "inclusion": [{"field": "age", "op": "gte", "value": 30}],
        "quotas": {"sex": {"female": 10, "male": 10}},
        "depth": "deep",
        "behavioral_measures": ["errors", "hesitations"],
        "items": [
            {
                "code": "lr",
                "type": "likert",
                "text": "Where would you place yourself?",
                "poll_question": ideology.id,
                "options": [
                    {"code": "left", "label": "Liberal", "value": 1, "poll_option": "liberal"},
                    {"code": "mid", "label": "Moderate", "value": 2, "poll_option": "moderate"},
                    {"code": "right", "label": "Conservative", "value": 3,
                     "poll_option": "conservative"},
                ],
            },
        ],
    }  # fmt: skip
    created = api.post("/api/v1/studies/", payload, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert [c["code"] for c in body["conditions"]] == ["control", "b"]
    assert body["items"][0]["type"] == "likert"
    assert [o["value"] for o in body["items"][0]["options"]] == [1, 2, 3]
    assert (body["depth"], body["quotas"]) == ("deep", {"sex": {"female": 10, "male": 10}})

    started = api.post(
        "/api/v1/runs/", {"study": body["id"], "population": population.id}, format="json"
    )
    assert started.status_code == 201, started.json()
    assert started.json()["personas_total"] == 20 and started.json()["has_participants"]
    assert started.json()["selection"]["per_condition"] == {"control": 10, "b": 10}

    too_many = dict(payload, title="Too many", quotas={"sex": {"female": 900, "male": 900}})
    study = api.post("/api/v1/studies/", too_many, format="json").json()
    refused = api.post(
        "/api/v1/runs/", {"study": study["id"], "population": population.id}, format="json"
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "selection_impossible"
    assert "quotas" in refused.json()["error"]["fields"]


def test_a_bad_design_through_the_api_is_a_400_naming_the_field(api):
    payload = {
        "title": "Bad",
        "items": [{"code": "n", "type": "numeric", "text": "How many?"}],
        "quotas": {"sex": {"female": 3}},
        "inclusion": [{"field": "sex", "op": "eq", "value": "martian"}],
    }
    refused = api.post("/api/v1/studies/", payload, format="json")
    assert refused.status_code == 400, refused.json()
    assert "inclusion" in refused.json()["error"]["fields"]
    assert not Study.objects.filter(title="Bad").exists()


def test_answers_export_as_csv_with_condition_and_answer_per_row(
    api, user, population, ideology, reporter
):
    study = study_create(
        title="CSV",
        conditions=TWO_ARMS,
        items=[_item("lr", type="likert", poll_question_id=ideology.id)],
        inclusion=[{"field": "state", "op": "eq", "value": "TX"}],
    )
    run = run_start(
        study=study, population=population, seed=4, backend="poll_model", created_by=user
    )
    run_process_chunk(run_id=run.id, start=0, end=run.personas_total, reporter=reporter)
    response = api.get(f"/api/v1/runs/{run.id}/answers.csv", HTTP_ACCEPT="text/csv")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == run.personas_total == Answer.objects.filter(run=run).count()
    stored = {
        a.persona_id: (a.condition, a.option.code)
        for a in Answer.objects.filter(run=run).select_related("option")
    }
    assert {int(r["persona_id"]): (r["condition"], r["answer"]) for r in rows} == stored
    assert {r["state"] for r in rows} == {"TX"} and {r["item_type"] for r in rows} == {"likert"}
    assert api.get("/api/v1/runs/999999/answers.csv").status_code == 404


def test_an_area_criterion_and_an_area_quota_select_by_area_id(population):
    study = _study(
        inclusion=[{"field": "area", "op": "in", "value": ["dallas_tx_city", "phoenix_az_city"]}],
        quotas={"area": {"dallas_tx_city": 4, "phoenix_az_city": 6}},
    )
    run = run_start(study=study, population=population, seed=3, backend="poll_cell")
    areas = Counter(p.persona.area_id for p in run.participants.select_related("persona"))
    assert areas == {"dallas_tx_city": 4, "phoenix_az_city": 6}
