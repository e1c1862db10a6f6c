"""Quality control of a run (seed 004 §9.2): uniformity, variance and associations against the
grounding poll, inconsistent personas, flags. Figures are checked against scipy and numpy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency, entropy
from scipy.stats.contingency import association

from environment.models import Area
from personas.models import Persona, Population
from polls.models import Option, Poll, Question, Respondent, Response
from studies import quality
from studies.models import Answer, Item, ItemOption, Run, RunPersona, Study
from studies.quality import run_quality
from studies.quality_stats import cramers_v

pytestmark = pytest.mark.django_db

BASE = {
    "age": 40,
    "age_bracket": "35_44",
    "sex": "female",
    "race_ethnicity": "white",
    "education": "hs",
    "income": "50_75k",
}


def make_personas(people: list[dict]) -> list[Persona]:
    """Personas with the given attributes (the rest fixed); `party` goes into the profile."""
    area = Area.objects.order_by("id").first()
    population = Population.objects.create(size=len(people), seed=1)
    Persona.objects.bulk_create(
        Persona(
            population=population,
            index=i,
            area=area,
            profile={"party_identification": p["party"]} if "party" in p else None,
            **(BASE | {k: v for k, v in p.items() if k != "party"}),
        )
        for i, p in enumerate(people)
    )
    return list(population.personas.order_by("index"))


def make_poll(codes: list[str], respondents: list[tuple[str, dict]], values=None) -> Question:
    """A poll question with the given options and respondents (answer code, attributes incl.
    `weight`); attributes left out are blank (missing)."""
    poll = Poll.objects.create(
        slug=f"qc-{Poll.objects.count()}",
        title="QC test poll",
        pollster="Test",
        population="US adults",
        source="test",
    )
    question = Question.objects.create(poll=poll, code="q", text="Do you agree?")
    options = {
        c: Option.objects.create(
            question=question, code=c, label=c, order=i, ordinal_value=(values or {}).get(c)
        )
        for i, c in enumerate(codes)
    }
    for i, (code, attrs) in enumerate(respondents):
        respondent = Respondent.objects.create(poll=poll, external_id=str(i), **attrs)
        Response.objects.create(respondent=respondent, question=question, option=options[code])
    return question


def make_item(
    study: Study,
    code: str,
    *,
    type: str = Item.Type.SINGLE_CHOICE,
    options=("yes", "no"),
    question: Question | None = None,
    values: dict | None = None,
    **fields,
) -> Item:
    item = Item.objects.create(
        study=study, code=code, type=type, text=code, poll_question=question, **fields
    )
    poll_options = {o.code: o for o in question.options.all()} if question else {}
    for i, c in enumerate(options):
        ItemOption.objects.create(
            item=item,
            order=i,
            code=c,
            label=c,
            value=(values or {}).get(c),
            poll_option=poll_options.get(c),
        )
    return item


def make_run(study: Study, personas: list[Persona]) -> Run:
    return Run.objects.create(
        study=study,
        population=personas[0].population,
        backend="poll_model",
        seed=1,
        personas_total=len(personas),
        chunk_size=len(personas),
    )


def answer(run: Run, item: Item, personas: list[Persona], codes=None, numbers=None, weights=None):
    options = {o.code: o for o in item.options.all()}
    Answer.objects.bulk_create(
        Answer(
            run=run,
            persona=p,
            item=item,
            option=options[codes[i]] if codes else None,
            number=numbers[i] if numbers else None,
            weight=weights[i] if weights else 1.0,
            reasoning="r",
        )
        for i, p in enumerate(personas)
    )


@pytest.fixture
def study():
    return Study.objects.create(title="QC")


def item_report(report: dict, code: str) -> dict:
    return next(i for i in report["items"] if i["code"] == code)


def kinds(report: dict) -> list[tuple[str | None, str]]:
    return [(f["item"], f["kind"]) for f in report["flags"]]


def test_near_unanimous_item_without_poll_is_flagged_and_an_even_one_is_not(study):
    personas = make_personas([{}] * 40)
    same = make_item(study, "same")
    spread = make_item(study, "spread", options=("a", "b", "c", "d"))
    run = make_run(study, personas)
    answer(run, same, personas, ["yes"] * 38 + ["no"] * 2)
    answer(run, spread, personas, ["a", "b", "c", "d"] * 10)

    report = run_quality(run)

    same_u = item_report(report, "same")["uniformity"]["personas"]
    assert same_u["modal_option"] == "yes"
    assert same_u["modal_share"] == pytest.approx(0.95)
    assert same_u["entropy"] == pytest.approx(entropy([38, 2], base=2))
    spread_u = item_report(report, "spread")["uniformity"]["personas"]
    assert spread_u["entropy"] == pytest.approx(1.0)
    assert spread_u["modal_share"] == pytest.approx(0.25)
    assert kinds(report) == [("same", "too_uniform")]
    flag = report["flags"][0]
    assert flag["values"] == {"modal_share": pytest.approx(0.95), "threshold": 0.9}
    assert "95%" in flag["message"]
    assert report["ok"] is False
    assert any("'same'" in s for s in report["limitations"])


@pytest.mark.parametrize(
    ("poll_split", "flagged"),
    [
        # The poll's respondents are split evenly: 90/10 personas are far more uniform.
        ((30, 30), True),
        # The poll's own respondents are near-unanimous: so may the personas be.
        ((57, 3), False),
    ],
)
def test_poll_linked_item_is_judged_against_the_polls_entropy(study, poll_split, flagged):
    yes, no = poll_split
    question = make_poll(["yes", "no"], [("yes", {})] * yes + [("no", {})] * no)
    personas = make_personas([{}] * 40)
    item = make_item(study, "linked", question=question)
    run = make_run(study, personas)
    answer(run, item, personas, ["yes"] * 36 + ["no"] * 4)

    report = run_quality(run)

    uniformity = item_report(report, "linked")["uniformity"]
    mine, poll_h = entropy([36, 4], base=2), entropy([yes, no], base=2)
    assert uniformity["personas"]["entropy"] == pytest.approx(mine)
    assert uniformity["poll"]["entropy"] == pytest.approx(poll_h)
    assert uniformity["poll"]["n"] == 60
    assert uniformity["entropy_ratio"] == pytest.approx(mine / poll_h)
    assert (("linked", "too_uniform") in kinds(report)) is flagged
    if flagged:
        flag = next(f for f in report["flags"] if f["kind"] == "too_uniform")
        assert flag["values"]["entropy_ratio"] == pytest.approx(mine / poll_h)
        assert flag["values"]["threshold"] == quality.UNIFORM_ENTROPY_RATIO


def test_poll_shares_use_survey_weights(study):
    # 10 "yes" respondents of weight 3 balance 30 "no" of weight 1.
    question = make_poll(
        ["yes", "no"], [("yes", {"weight": 3.0})] * 10 + [("no", {"weight": 1.0})] * 30
    )
    personas = make_personas([{}] * 20)
    item = make_item(study, "linked", question=question)
    run = make_run(study, personas)
    answer(run, item, personas, ["yes", "no"] * 10)

    poll = item_report(run_quality(run), "linked")["uniformity"]["poll"]

    assert poll["shares"] == {"yes": pytest.approx(0.5), "no": pytest.approx(0.5)}
    assert poll["entropy"] == pytest.approx(1.0)


def test_poll_answers_the_item_does_not_map_are_counted_and_left_out(study):
    question = make_poll(["yes", "no", "dk"], [("yes", {}), ("no", {}), ("dk", {}), ("dk", {})])
    personas = make_personas([{}] * 10)
    item = make_item(study, "linked", question=question)  # options yes, no only
    run = make_run(study, personas)
    answer(run, item, personas, ["yes", "no"] * 5)

    entry = item_report(run_quality(run), "linked")

    assert entry["poll_respondents"] == 2
    assert entry["poll_unmapped"] == 2


def sex_table(female_yes: int, female_no: int, male_yes: int, male_no: int) -> list[tuple]:
    return (
        [("yes", "female")] * female_yes
        + [("no", "female")] * female_no
        + [("yes", "male")] * male_yes
        + [("no", "male")] * male_no
    )


def test_missing_association_when_the_poll_varies_by_sex_and_personas_do_not(study):
    poll_rows = sex_table(18, 2, 3, 17)
    question = make_poll(["yes", "no"], [(a, {"sex": s}) for a, s in poll_rows])
    persona_rows = sex_table(10, 10, 10, 10)
    personas = make_personas([{"sex": s} for _, s in persona_rows])
    item = make_item(study, "partisan", question=question)
    run = make_run(study, personas)
    answer(run, item, personas, [a for a, _ in persona_rows])

    report = run_quality(run)

    sex = item_report(report, "partisan")["associations"]["sex"]
    poll_table = np.array([[18, 2], [3, 17]])
    assert sex["poll"]["v"] == pytest.approx(association(poll_table, method="cramer"))
    assert sex["poll"]["p"] == pytest.approx(chi2_contingency(poll_table, correction=False)[1])
    assert sex["personas"]["v"] == pytest.approx(0.0)
    assert sex["personas"]["p"] == pytest.approx(1.0)
    assert kinds(report) == [("partisan", "missing_association")]
    values = report["flags"][0]["values"]
    assert values["dimension"] == "sex"
    assert values["poll_v"] == pytest.approx(association(poll_table, method="cramer"))
    # Dimensions with a single category among personas, or unrecorded in the poll, measure nothing.
    assert item_report(report, "partisan")["associations"]["education"]["personas"]["v"] is None
    assert item_report(report, "partisan")["associations"]["education"]["poll"]["v"] is None


def test_spurious_association_when_personas_split_by_party_and_the_poll_does_not(study):
    poll_rows = [("yes", "democrat")] * 10 + [("no", "democrat")] * 10
    poll_rows += [("yes", "republican")] * 11 + [("no", "republican")] * 9
    question = make_poll(["yes", "no"], [(a, {"party": p}) for a, p in poll_rows])
    persona_rows = [("yes", "democrat")] * 19 + [("no", "democrat")] * 1
    persona_rows += [("yes", "republican")] * 2 + [("no", "republican")] * 18
    personas = make_personas([{"party": p} for _, p in persona_rows])
    item = make_item(study, "partisan", question=question)
    run = make_run(study, personas)
    answer(run, item, personas, [a for a, _ in persona_rows])

    report = run_quality(run)

    party = item_report(report, "partisan")["associations"]["party"]
    assert party["personas"]["v"] == pytest.approx(
        association(np.array([[19, 1], [2, 18]]), method="cramer")
    )
    assert party["poll"]["v"] == pytest.approx(
        association(np.array([[10, 10], [11, 9]]), method="cramer")
    )
    assert kinds(report) == [("partisan", "spurious_association")]
    assert "party" in report["flags"][0]["message"]


def test_matching_associations_raise_no_flag(study):
    rows = sex_table(16, 4, 5, 15)
    question = make_poll(["yes", "no"], [(a, {"sex": s}) for a, s in rows])
    personas = make_personas([{"sex": s} for _, s in rows])
    item = make_item(study, "partisan", question=question)
    run = make_run(study, personas)
    answer(run, item, personas, [a for a, _ in rows])

    report = run_quality(run)

    sex = item_report(report, "partisan")["associations"]["sex"]
    assert sex["personas"]["v"] == pytest.approx(sex["poll"]["v"])
    assert report["flags"] == []


def test_without_a_poll_the_personas_v_is_reported_and_nothing_judged(study):
    rows = [("yes", "18_24")] * 12 + [("no", "65_plus")] * 12 + [("yes", "65_plus")] * 6
    personas = make_personas([{"age_bracket": b} for _, b in rows])
    item = make_item(study, "free")
    run = make_run(study, personas)
    answer(run, item, personas, [a for a, _ in rows])

    report = run_quality(run)

    age = item_report(report, "free")["associations"]["age_bracket"]
    assert "poll" not in age
    assert age["personas"]["v"] == pytest.approx(
        association(np.array([[12, 0], [6, 12]]), method="cramer")
    )
    assert age["personas"]["dof"] == 1
    assert report["flags"] == []
    assert report["ok"] is True


def test_weighted_v_rescales_the_test_to_kish_effective_size():
    answers = pd.Series([1, 1, 2, 2, 1, 2, 2, 2])
    groups = pd.Series(["a", "a", "a", "a", "b", "b", "b", "b"])
    weights = pd.Series([2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 3.0, 1.0])

    result = cramers_v(answers, groups, weights)

    table = np.array([[3, 2], [1, 5]])  # weighted counts: group × answer
    n_eff = weights.sum() ** 2 / (weights**2).sum()
    chi2, p, _, _ = chi2_contingency(table / table.sum() * n_eff, correction=False)
    assert result["n_effective"] == pytest.approx(n_eff)
    assert result["v"] == pytest.approx(association(table, method="cramer"))
    assert result["chi2"] == pytest.approx(chi2)
    assert result["p"] == pytest.approx(p)
    # Equal weights change nothing.
    plain = cramers_v(answers, groups, pd.Series([1.0] * 8))
    doubled = cramers_v(answers, groups, pd.Series([2.0] * 8))
    assert doubled["v"] == pytest.approx(plain["v"])
    assert doubled["p"] == pytest.approx(plain["p"])


SCALE = {"1": 1.0, "2": 2.0, "3": 3.0, "4": 4.0, "5": 5.0}


def test_likert_variance_far_below_the_polls_is_flagged(study):
    question = make_poll(list(SCALE), [(c, {}) for c in SCALE] * 8, values=SCALE)
    personas = make_personas([{}] * 20)
    item = make_item(
        study, "scale", type=Item.Type.LIKERT, options=list(SCALE), question=question, values=SCALE
    )
    run = make_run(study, personas)
    codes = ["3"] * 10 + ["4"] * 10
    answer(run, item, personas, codes)

    report = run_quality(run)

    variance = item_report(report, "scale")["variance"]
    assert variance["variance"] == pytest.approx(np.var([3] * 10 + [4] * 10))
    assert variance["poll_variance"] == pytest.approx(np.var([1, 2, 3, 4, 5]))
    assert variance["variance_ratio"] == pytest.approx(0.25 / 2.0)
    assert ("scale", "low_variance") in kinds(report)
    flag = next(f for f in report["flags"] if f["kind"] == "low_variance")
    assert flag["values"]["variance_ratio"] == pytest.approx(0.125)


def test_likert_without_poll_uses_the_scale_range_floor(study):
    personas = make_personas([{}] * 20)
    # Options without values stand at their position on the scale (1..5).
    item = make_item(study, "scale", type=Item.Type.LIKERT, options=list(SCALE))
    run = make_run(study, personas)
    answer(run, item, personas, ["3"] * 19 + ["4"])

    variance = item_report(run_quality(run), "scale")["variance"]

    assert variance["mean"] == pytest.approx(3.05)
    assert variance["sd"] == pytest.approx(np.std([3] * 19 + [4]))
    assert variance["sd_floor"] == pytest.approx(0.4)  # 0.1 of the range 5 - 1


@pytest.mark.parametrize(
    ("numbers", "bounds", "flagged"),
    [
        ([49.0, 50.0, 51.0] * 5, (0.0, 100.0), True),  # sd 0.82 < 10
        ([0.0, 25.0, 50.0, 75.0, 100.0] * 3, (0.0, 100.0), False),
        ([20.0] * 15, (None, None), True),  # every answer the same
        ([18.0, 20.0, 22.0] * 5, (None, None), False),  # cv 0.08
    ],
)
def test_numeric_variance_floor(study, numbers, bounds, flagged):
    personas = make_personas([{}] * len(numbers))
    item = make_item(
        study,
        "wtp",
        type=Item.Type.NUMERIC,
        options=(),
        min_value=bounds[0],
        max_value=bounds[1],
    )
    run = make_run(study, personas)
    answer(run, item, personas, numbers=numbers)

    report = run_quality(run)

    variance = item_report(report, "wtp")["variance"]
    assert variance["variance"] == pytest.approx(np.var(numbers))
    assert variance["mean"] == pytest.approx(np.mean(numbers))
    assert (("wtp", "low_variance") in kinds(report)) is flagged


def test_answers_outside_the_universe_do_not_count_and_weights_shape_shares(study):
    personas = make_personas([{}] * 12)
    item = make_item(study, "q")
    run = make_run(study, personas)
    answer(run, item, personas, ["yes"] * 6 + ["no"] * 6, weights=[3.0] * 6 + [1.0] * 5 + [0.0])

    entry = item_report(run_quality(run), "q")

    assert entry["n"] == 11
    assert entry["uniformity"]["personas"]["shares"]["yes"] == pytest.approx(18 / 23)


def test_few_answers_are_reported_but_not_flagged(study):
    personas = make_personas([{}] * 5)
    item = make_item(study, "q")
    run = make_run(study, personas)
    answer(run, item, personas, ["yes"] * 5)

    report = run_quality(run)

    assert item_report(report, "q")["uniformity"]["personas"]["modal_share"] == 1.0
    assert report["flags"] == []


def test_inconsistent_personas_are_listed_with_their_issues_bounded(study, monkeypatch):
    personas = make_personas([{}] * 6)
    run = make_run(study, personas)
    many = [f"issue {i}" for i in range(12)]
    checks = [
        {"valid": False, "issues": many},
        {"valid": False, "issues": ["novice who builds custom PCs"]},
        {"valid": False, "issues": []},
        {"valid": True, "issues": []},
        {"valid": True, "issues": []},
        None,
    ]
    RunPersona.objects.bulk_create(
        RunPersona(
            run=run,
            persona=p,
            status=RunPersona.Status.OK,
            narrative_source=RunPersona.NarrativeSource.LLM,
            consistency=c,
        )
        for p, c in zip(personas, checks, strict=True)
    )
    monkeypatch.setattr(quality, "INCONSISTENT_SHOWN", 2)

    report = run_quality(run)

    found = report["inconsistent_personas"]
    assert found["count"] == 3
    assert found["checked"] == 5
    assert [p["persona_id"] for p in found["personas"]] == [personas[0].id, personas[1].id]
    assert found["personas"][0]["issues"] == many[:10]
    assert found["personas"][0]["issue_count"] == 12
    assert found["personas"][1]["issues"] == ["novice who builds custom PCs"]
    assert kinds(report) == [(None, "inconsistent_personas")]
    assert report["flags"][0]["values"] == {"count": 3, "checked": 5}


def test_a_run_without_consistency_checks_says_so(study):
    personas = make_personas([{}] * 3)
    run = make_run(study, personas)

    report = run_quality(run)

    assert report["inconsistent_personas"] == {"checked": 0, "count": 0, "personas": []}
    assert any("consistency was checked" in s for s in report["limitations"])


def test_unassessed_item_types_are_named_in_the_limitations(study):
    personas = make_personas([{}] * 3)
    make_item(study, "pick", type=Item.Type.MULTIPLE_CHOICE, options=("a", "b", "c"))
    run = make_run(study, personas)

    report = run_quality(run)

    assert item_report(report, "pick")["note"].startswith("not assessed")
    assert any("pick" in s for s in report["limitations"])


def test_queries_are_bounded_one_per_linked_poll_question(study, django_assert_num_queries):
    rows = sex_table(8, 7, 6, 9)
    first = make_poll(["yes", "no"], [(a, {"sex": s}) for a, s in rows])
    second = make_poll(["yes", "no"], [(a, {"sex": s}) for a, s in rows])
    personas = make_personas([{"sex": s} for _, s in rows])
    items = [
        make_item(study, "one", question=first),
        make_item(study, "two", question=second),
        make_item(study, "own"),
    ]
    run = make_run(study, personas)
    for item in items:
        answer(run, item, personas, [a for a, _ in rows])

    # answers, items, their options, two poll questions (each its fingerprint and its
    # respondents), the checked count (none checked: nothing inconsistent to count or list).
    with django_assert_num_queries(8):
        report = run_quality(run)
    # The poll's respondents are reference data: read again only when the poll changes.
    with django_assert_num_queries(6):
        again = run_quality(run)

    assert report["ok"] is True
    assert again == report
    assert [i["n"] for i in report["items"]] == [30, 30, 30]


def test_poll_respondents_are_read_again_when_the_poll_changes(study):
    rows = sex_table(8, 7, 6, 9)
    question = make_poll(["yes", "no"], [(a, {"sex": s}) for a, s in rows])
    personas = make_personas([{"sex": s} for _, s in rows])
    item = make_item(study, "one", question=question)
    run = make_run(study, personas)
    answer(run, item, personas, [a for a, _ in rows])
    before = run_quality(run)["items"][0]["uniformity"]["poll"]["n"]
    Response.objects.filter(question=question).order_by("-id").first().delete()
    after = run_quality(run)["items"][0]["uniformity"]["poll"]["n"]
    assert (before, after) == (30, 29)


def test_report_is_json_ready(study):
    import json

    rows = sex_table(8, 7, 6, 9)
    question = make_poll(["yes", "no"], [(a, {"sex": s}) for a, s in rows])
    personas = make_personas([{"sex": s} for _, s in rows])
    item = make_item(study, "one", question=question)
    run = make_run(study, personas)
    answer(run, item, personas, [a for a, _ in rows])

    report = run_quality(run)

    assert json.loads(json.dumps(report, allow_nan=False)) == report
    for phrase in ("Cramér's V", "normalised Shannon entropy", "chi2_contingency", "0.9", "0.01"):
        assert phrase in report["method"]


def test_rejects_what_is_not_a_saved_run():
    with pytest.raises(TypeError, match=r"needs a saved studies\.models\.Run"):
        run_quality(None)  # type: ignore[arg-type]


def test_a_poll_without_mapped_respondents_falls_back_to_the_modal_share(study):
    question = make_poll(["yes", "no", "dk"], [("dk", {"sex": "male"})] * 3)
    personas = make_personas([{}] * 20)
    item = make_item(study, "linked", question=question)  # dk is not an option of the item
    run = make_run(study, personas)
    answer(run, item, personas, ["yes"] * 20)

    report = run_quality(run)

    entry = item_report(report, "linked")
    assert entry["poll_respondents"] == 0
    assert entry["associations"]["sex"]["poll"]["v"] is None
    assert kinds(report) == [("linked", "too_uniform")]
    assert report["flags"][0]["values"]["modal_share"] == 1.0


def test_an_association_the_personas_cannot_show_is_a_limitation_not_a_flag(study):
    poll_rows = [("yes", "democrat")] * 18 + [("no", "democrat")] * 2
    poll_rows += [("yes", "republican")] * 2 + [("no", "republican")] * 18
    question = make_poll(["yes", "no"], [(a, {"party": p}) for a, p in poll_rows])
    personas = make_personas([{}] * 20)  # no profile, so no party
    item = make_item(study, "partisan", question=question)
    run = make_run(study, personas)
    answer(run, item, personas, ["yes", "no"] * 10)

    report = run_quality(run)

    assert item_report(report, "partisan")["associations"]["party"]["personas"]["v"] is None
    assert report["flags"] == []
    assert any("vary with party" in s for s in report["limitations"])
