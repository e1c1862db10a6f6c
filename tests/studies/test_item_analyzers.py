"""The analyzer of each item type, the comparisons between conditions and across groups, checked
against values computed here by hand or directly with scipy/statsmodels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from studies.analyzers import stats
from studies.analyzers.free_text import answer_terms, term_frequencies
from studies.analyzers.questionnaire import QuestionnaireAnalyzer
from studies.analyzers.registry import ANALYZERS, SingleChoiceAnalyzer
from studies.models import Answer, Condition, Item, ItemOption, Run, Study

pytestmark = pytest.mark.django_db

SEED = 20260513


def wilson(count: float, n: float) -> tuple[float, float]:
    low, high = proportion_confint(count, n, alpha=0.05, method="wilson")
    return float(low), float(high)


def t_interval(values) -> tuple[float, float]:
    values = np.asarray(values, dtype=float)
    low, high = sps.t.interval(
        0.95, len(values) - 1, loc=values.mean(), scale=sps.sem(values, ddof=1)
    )
    return float(low), float(high)


# --- building a run's answers directly ---------------------------------------------------------


def make_study(conditions=()) -> Study:
    study = Study.objects.create(title="Item types", kind=Study.Kind.QUESTIONNAIRE)
    for order, code in enumerate(conditions):
        Condition.objects.create(study=study, order=order, code=code, label=code.title())
    return study


def make_item(study, code, type_, options=(), values=None, **fields) -> Item:
    item = Item.objects.create(
        study=study, order=study.items.count(), code=code, type=type_, text=code, **fields
    )
    for order, option in enumerate(options):
        ItemOption.objects.create(
            item=item,
            order=order,
            code=option,
            label=option.title(),
            value=None if values is None else values[order],
        )
    return item


def make_run(study, population) -> Run:
    return Run.objects.create(
        study=study,
        population=population,
        backend="llm",
        seed=SEED,
        personas_total=population.personas.count(),
        chunk_size=50,
        status=Run.Status.COMPLETED,
    )


def store(run, item, personas, values, *, field, conditions=None, weights=None):
    """One answer per persona with `field` set to its value (options given by code)."""
    by_code = {o.code: o for o in item.options.all()}
    answers = []
    for i, (persona, value) in enumerate(zip(personas, values, strict=True)):
        fields = {field: by_code[value] if field == "option" else value}
        answers.append(
            Answer(
                run=run,
                persona=persona,
                item=item,
                reasoning=f"because {i}",
                condition=conditions[i] if conditions else "",
                weight=1.0 if weights is None else weights[i],
                **fields,
            )
        )
    Answer.objects.bulk_create(answers)


def item_result(results, code):
    return next(i for i in results["items"] if i["code"] == code)


@pytest.fixture
def personas(population):
    return list(population.personas.order_by("index"))


@pytest.fixture
def rng():
    return np.random.default_rng(3)


# --- single choice -----------------------------------------------------------------------------


def test_single_choice_shares_have_wilson_intervals_and_the_old_shape(population, personas, rng):
    study = make_study()
    item = make_item(study, "support", Item.Type.SINGLE_CHOICE, ["yes", "no", "unsure"])
    run = make_run(study, population)
    chosen = rng.choice(["yes", "no", "unsure"], size=len(personas), p=[0.5, 0.3, 0.2])
    store(run, item, personas, chosen, field="option")
    result = item_result(QuestionnaireAnalyzer().results(run=run), "support")
    assert result["type"] == "single_choice" and result["n"] == len(personas)
    assert {"item_id", "code", "text", "n", "options", "breakdowns", "method"} <= set(result)
    for row in result["options"]:
        count = int((chosen == row["code"]).sum())
        assert row["count"] == count
        assert row["share"] == pytest.approx(count / len(personas))
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(wilson(count, len(personas)))
    females = [i for i, p in enumerate(personas) if p.sex == "female"]
    female = next(g for g in result["breakdowns"]["sex"] if g["category"] == "female")
    yes = int((chosen[females] == "yes").sum())
    assert female["n"] == len(females)
    assert female["options"][0]["share"] == pytest.approx(yes / len(females))
    assert "Wilson" in result["method"]


def test_single_choice_weights_use_kish_effective_n(population, personas):
    study = make_study()
    item = make_item(study, "vote", Item.Type.SINGLE_CHOICE, ["a", "b"])
    run = make_run(study, population)
    few = personas[:6]
    weights = [1.0, 0.5, 0.25, 1.0, 0.75, 0.5]
    store(run, item, few, ["a", "a", "b", "b", "a", "b"], field="option", weights=weights)
    result = item_result(QuestionnaireAnalyzer().results(run=run), "vote")
    # By hand: share of a = (1 + 0.5 + 0.75) / 4 = 0.5625; Σw² = 3.125, n_eff = 4² / 3.125.
    n_eff = 16 / 3.125
    a = result["options"][0]
    assert a["share"] == pytest.approx(0.5625)
    assert result["summary"]["n_effective"] == pytest.approx(n_eff)
    assert (a["ci_low"], a["ci_high"]) == pytest.approx(wilson(0.5625 * n_eff, n_eff))


# --- multiple choice ---------------------------------------------------------------------------


def test_multiple_choice_shares_per_option_and_mean_number_chosen(population, personas, rng):
    study = make_study()
    item = make_item(study, "features", Item.Type.MULTIPLE_CHOICE, ["price", "speed", "design"])
    run = make_run(study, population)
    sets = [
        [code for code in ("price", "speed", "design") if rng.random() < p]
        for p in rng.uniform(0.1, 0.8, size=len(personas))
    ]
    store(run, item, personas, sets, field="choices")
    result = item_result(QuestionnaireAnalyzer().results(run=run), "features")
    n = len(personas)
    for row in result["options"]:
        count = sum(row["code"] in s for s in sets)
        assert row["count"] == count and row["share"] == pytest.approx(count / n)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(wilson(count, n))
    counts = np.array([len(s) for s in sets], dtype=float)
    summary = result["summary"]
    assert summary["mean_chosen"] == pytest.approx(counts.mean())
    assert summary["sd_chosen"] == pytest.approx(counts.std(ddof=1))
    assert (summary["mean_chosen_ci_low"], summary["mean_chosen_ci_high"]) == pytest.approx(
        t_interval(counts)
    )


# --- likert ------------------------------------------------------------------------------------

LIKERT = ["sd", "d", "n", "a", "sa"]


def test_likert_mean_and_box_shares(population, personas, rng):
    study = make_study()
    item = make_item(study, "trust", Item.Type.LIKERT, LIKERT, values=[1, 2, 3, 4, 5])
    run = make_run(study, population)
    chosen = rng.choice(LIKERT, size=len(personas), p=[0.1, 0.2, 0.3, 0.25, 0.15])
    store(run, item, personas, chosen, field="option")
    result = item_result(QuestionnaireAnalyzer().results(run=run), "trust")
    points = np.array([LIKERT.index(c) + 1 for c in chosen], dtype=float)
    n = len(points)
    summary = result["summary"]
    assert summary["mean"] == pytest.approx(points.mean())
    assert summary["sd"] == pytest.approx(points.std(ddof=1))
    assert (summary["mean_ci_low"], summary["mean_ci_high"]) == pytest.approx(t_interval(points))
    top, bottom = int((points >= 4).sum()), int((points <= 2).sum())
    assert summary["top2_share"] == pytest.approx(top / n)
    assert (summary["top2_ci_low"], summary["top2_ci_high"]) == pytest.approx(wilson(top, n))
    assert summary["bottom2_share"] == pytest.approx(bottom / n)
    assert (summary["bottom2_ci_low"], summary["bottom2_ci_high"]) == pytest.approx(
        wilson(bottom, n)
    )
    # The distribution is the option rows single choice gives.
    assert [r["count"] for r in result["options"]] == [int((chosen == c).sum()) for c in LIKERT]


def test_likert_weighted_mean_and_top2_on_effective_n(population, personas):
    study = make_study()
    item = make_item(study, "trust", Item.Type.LIKERT, ["low", "mid", "high"], values=[0, 5, 10])
    run = make_run(study, population)
    weights = [1.0, 0.5, 0.5, 2.0]
    store(run, item, personas[:4], ["low", "mid", "high", "high"], field="option", weights=weights)
    summary = item_result(QuestionnaireAnalyzer().results(run=run), "trust")["summary"]
    # By hand: Σw = 4, weighted mean = (0 + 2.5 + 5 + 20) / 4 = 6.875; n_eff = 16 / 5.5.
    n_eff = 16 / 5.5
    assert summary["n_effective"] == pytest.approx(n_eff)
    assert summary["mean"] == pytest.approx(6.875)
    values, w = np.array([0, 5, 10, 10.0]), np.array(weights)
    sd_pop = np.sqrt(np.sum(w * (values - 6.875) ** 2) / w.sum())
    se = sd_pop / np.sqrt(n_eff - 1)
    t = sps.t.ppf(0.975, n_eff - 1)
    assert summary["mean_ci_low"] == pytest.approx(6.875 - t * se)
    assert summary["mean_ci_high"] == pytest.approx(6.875 + t * se)
    # Top two points are mid and high: (0.5 + 0.5 + 2) / 4.
    assert summary["top2_share"] == pytest.approx(0.75)
    assert (summary["top2_ci_low"], summary["top2_ci_high"]) == pytest.approx(
        wilson(0.75 * n_eff, n_eff)
    )


def test_weighted_t_interval_is_the_ordinary_one_with_unit_weights():
    values = np.array([3.0, 1, 4, 1, 5, 9, 2, 6])
    got = stats.mean_interval(values, np.ones(len(values)))
    assert (got["ci_low"], got["ci_high"]) == pytest.approx(t_interval(values))
    assert got["sd"] == pytest.approx(values.std(ddof=1))


# --- numeric -----------------------------------------------------------------------------------


def test_numeric_mean_median_bootstrap_and_quantiles(population, personas, rng):
    study = make_study()
    item = make_item(study, "pay", Item.Type.NUMERIC, min_value=0, max_value=500, unit="USD")
    run = make_run(study, population)
    values = np.round(rng.gamma(2.0, 30.0, size=len(personas)), 2)
    store(run, item, personas, values.tolist(), field="number")
    summary = item_result(QuestionnaireAnalyzer().results(run=run), "pay")["summary"]
    assert summary["n"] == len(values) and summary["unit"] == "USD"
    assert summary["mean"] == pytest.approx(values.mean())
    assert summary["sd"] == pytest.approx(values.std(ddof=1))
    assert (summary["mean_ci_low"], summary["mean_ci_high"]) == pytest.approx(t_interval(values))
    assert summary["median"] == pytest.approx(np.median(values))
    expected = sps.bootstrap(
        (values,),
        np.median,
        n_resamples=stats.N_RESAMPLES,
        method="percentile",
        rng=np.random.default_rng(SEED),
    ).confidence_interval
    assert (summary["median_ci_low"], summary["median_ci_high"]) == pytest.approx(
        (expected.low, expected.high)
    )
    assert summary["median_ci_low"] <= summary["median"] <= summary["median_ci_high"]
    sorted_values = np.sort(values)
    # Linear interpolation by hand: position q·(n − 1) between neighbours.
    for q in (10, 25, 50, 75, 90):
        position = q / 100 * (len(values) - 1)
        below, frac = int(np.floor(position)), position - np.floor(position)
        hand = sorted_values[below] + frac * (sorted_values[below + 1] - sorted_values[below])
        assert summary["quantiles"][str(q)] == pytest.approx(hand)
    assert summary["min"] == values.min() and summary["max"] == values.max()


# --- ranking -----------------------------------------------------------------------------------


def test_ranking_mean_rank_first_choice_and_borda(population, personas, rng):
    study = make_study()
    codes = ["a", "b", "c", "d"]
    item = make_item(study, "rank", Item.Type.RANKING, codes)
    run = make_run(study, population)
    orders = [list(rng.permutation(codes)) for _ in personas]
    # Some personas rank only their top two: the others are unranked (Borda 0).
    for order in orders[::7]:
        del order[2:]
    store(run, item, personas, orders, field="choices")
    result = item_result(QuestionnaireAnalyzer().results(run=run), "rank")
    n, k = len(orders), len(codes)
    assert result["summary"]["k"] == k
    for row in result["options"]:
        ranks = np.array([o.index(row["code"]) + 1 for o in orders if row["code"] in o], float)
        assert row["ranked"] == len(ranks)
        assert row["mean_rank"] == pytest.approx(ranks.mean())
        assert (row["mean_rank_ci_low"], row["mean_rank_ci_high"]) == pytest.approx(
            t_interval(ranks)
        )
        first = sum(o[0] == row["code"] for o in orders)
        assert row["first_share"] == pytest.approx(first / n)
        assert (row["first_ci_low"], row["first_ci_high"]) == pytest.approx(wilson(first, n))
        borda = np.array(
            [k - (o.index(row["code"]) + 1) if row["code"] in o else 0 for o in orders]
        )
        assert row["borda"] == pytest.approx(borda.mean())
        expected = sps.bootstrap(
            (borda.astype(float),),
            np.mean,
            n_resamples=stats.N_RESAMPLES,
            method="percentile",
            rng=np.random.default_rng(SEED),
        ).confidence_interval
        assert (row["borda_ci_low"], row["borda_ci_high"]) == pytest.approx(
            (expected.low, expected.high)
        )
    assert sum(r["first_share"] for r in result["options"]) == pytest.approx(1.0)


# --- free text ---------------------------------------------------------------------------------


def test_term_frequencies_count_each_answer_once_without_stop_words():
    texts = [
        "The price is too high, the PRICE!",
        "I like the design and the price",
        "Design matters; it's the design.",
    ]
    terms = {t["term"]: t["answers"] for t in term_frequencies(texts)}
    assert terms == {"price": 2, "design": 2, "high": 1, "like": 1, "matters": 1}
    assert term_frequencies(texts)[0] == {"term": "design", "answers": 2, "share": 2 / 3}
    assert answer_terms("It's the cost") == {"cost"}


def test_free_text_lists_a_seeded_sample_with_reasoning(population, personas):
    study = make_study()
    item = make_item(study, "why", Item.Type.FREE_TEXT)
    run = make_run(study, population)
    texts = [f"answer number {i} about cost" for i in range(len(personas))]
    store(run, item, personas, texts, field="text")
    first = item_result(QuestionnaireAnalyzer().results(run=run), "why")
    again = item_result(QuestionnaireAnalyzer().results(run=run), "why")
    sample = first["summary"]["sample"]
    assert len(sample) == 10 and sample == again["summary"]["sample"]
    for entry in sample:
        index = texts.index(entry["text"])
        assert entry["reasoning"] == f"because {index}"
        assert entry["persona_id"] == personas[index].id
    terms = {t["term"]: t["answers"] for t in first["summary"]["terms"]}
    assert terms["answer"] == terms["cost"] == len(personas)
    assert first["comparisons"]["conditions"]["tests"] == []


# --- conditions --------------------------------------------------------------------------------


@pytest.fixture
def two_arms(population, personas, rng):
    """A study with a control and a message arm, a single-choice, a Likert and a numeric item."""
    study = make_study(conditions=("control", "message"))
    choice = make_item(study, "support", Item.Type.SINGLE_CHOICE, ["yes", "no"])
    likert = make_item(study, "trust", Item.Type.LIKERT, LIKERT, values=[1, 2, 3, 4, 5])
    numeric = make_item(study, "pay", Item.Type.NUMERIC)
    run = make_run(study, population)
    arms = ["control" if i % 2 == 0 else "message" for i in range(len(personas))]
    message = np.array([a == "message" for a in arms])
    support = np.where(rng.random(len(arms)) < np.where(message, 0.65, 0.45), "yes", "no")
    trust = np.array(
        [
            rng.choice(LIKERT, p=[0.05, 0.15, 0.3, 0.3, 0.2] if m else [0.15, 0.25, 0.3, 0.2, 0.1])
            for m in message
        ]
    )
    pay = np.round(rng.normal(np.where(message, 60, 50), 15), 1)
    store(run, choice, personas, support, field="option", conditions=arms)
    store(run, likert, personas, trust, field="option", conditions=arms)
    store(run, numeric, personas, pay.tolist(), field="number", conditions=arms)
    results = QuestionnaireAnalyzer().results(run=run)
    return results, message, support, trust, pay


def test_run_lists_its_conditions_and_each_item_per_condition(two_arms):
    results, message, support, *_ = two_arms
    assert results["conditions"] == [
        {"code": "control", "label": "Control", "n": int((~message).sum())},
        {"code": "message", "label": "Message", "n": int(message.sum())},
    ]
    arm = item_result(results, "support")["conditions"][1]
    yes = int((support[message] == "yes").sum())
    assert arm["code"] == "message" and arm["n"] == int(message.sum())
    assert arm["options"][0]["share"] == pytest.approx(yes / message.sum())


def test_share_difference_between_conditions_is_newcombe_with_chi_square(two_arms):
    results, message, support, *_ = two_arms
    tests = item_result(results, "support")["comparisons"]["conditions"]
    assert tests["control"] == "control" and tests["correction"] == "holm"
    row = next(t for t in tests["tests"] if t["measure"] == "share" and t["option"] == "yes")
    x1, n1 = int((support[message] == "yes").sum()), int(message.sum())
    x0, n0 = int((support[~message] == "yes").sum()), int((~message).sum())
    low, high = confint_proportions_2indep(x1, n1, x0, n0, method="newcomb", compare="diff")
    assert row["condition"] == "message"
    assert row["difference"] == pytest.approx(x1 / n1 - x0 / n0)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))
    chi2 = sps.chi2_contingency([[x1, n1 - x1], [x0, n0 - x0]], correction=False)
    assert row["test"].startswith("Pearson chi-square")
    assert row["p"] == pytest.approx(chi2.pvalue) and row["statistic"] == pytest.approx(
        chi2.statistic
    )


def test_likert_and_numeric_means_between_conditions_use_welch(two_arms):
    results, message, _, trust, pay = two_arms
    points = np.array([LIKERT.index(c) + 1 for c in trust], dtype=float)
    for code, values in (("trust", points), ("pay", pay)):
        tests = item_result(results, code)["comparisons"]["conditions"]["tests"]
        row = next(t for t in tests if t["measure"] == "mean")
        welch = sps.ttest_ind(values[message], values[~message], equal_var=False)
        interval = welch.confidence_interval(0.95)
        assert row["test"].startswith("Welch's t")
        assert row["difference"] == pytest.approx(values[message].mean() - values[~message].mean())
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((interval.low, interval.high))
        assert row["p"] == pytest.approx(welch.pvalue)
        assert row["df"] == pytest.approx(welch.df)


def test_likert_top2_between_conditions_and_holm_across_the_items_comparisons(two_arms):
    results, message, _, trust, _ = two_arms
    tests = item_result(results, "trust")["comparisons"]["conditions"]["tests"]
    measures = [(t["measure"], t["option"]) for t in tests]
    assert measures == [
        *(("share", c) for c in LIKERT),
        ("distribution", None),
        ("top2_share", None),
        ("mean", None),
    ]
    top = np.isin(trust, ["a", "sa"])
    row = tests[LIKERT.__len__() + 1]
    x1, n1, x0, n0 = top[message].sum(), message.sum(), top[~message].sum(), (~message).sum()
    assert row["difference"] == pytest.approx(x1 / n1 - x0 / n0)
    low, high = confint_proportions_2indep(x1, n1, x0, n0, method="newcomb", compare="diff")
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))
    distribution = tests[len(LIKERT)]
    table = [[int((trust[m] == c).sum()) for c in LIKERT] for m in (message, ~message)]
    assert distribution["p"] == pytest.approx(sps.chi2_contingency(table, correction=False).pvalue)
    adjusted = multipletests([t["p"] for t in tests], method="holm")[1]
    assert [t["p_adjusted"] for t in tests] == pytest.approx(list(adjusted))
    assert [t["significant"] for t in tests] == [bool(p < 0.05) for p in adjusted]


def test_small_expected_counts_switch_to_fisher_exact():
    table = np.array([[3, 1], [1, 4]])
    result = stats.contingency_test(table, seed=1)
    assert result["test"].startswith("Fisher exact")
    assert result["p"] == pytest.approx(sps.fisher_exact(table).pvalue)
    larger = stats.contingency_test(np.array([[3, 0, 2], [1, 4, 0]]), seed=1)
    assert "Monte Carlo" in larger["test"] and 0 <= larger["p"] <= 1


def test_comparisons_without_variation_are_reported_untestable():
    row = stats.contingency_test(np.array([[5, 0], [7, 0]]), seed=1)
    assert row["p"] is None and "nothing to test" in row["note"]
    rows = stats.holm([{"p": 0.01}, {"p": None}, {"p": 0.04}])
    assert [r["p_adjusted"] for r in rows] == pytest.approx([0.02, None, 0.04])
    assert [r["significant"] for r in rows] == [True, False, True]


def test_holm_adjustment_equals_statsmodels_and_collects_no_garbage(monkeypatch):
    import gc

    from statsmodels.stats.multitest import multipletests

    generator = np.random.default_rng(7)
    cases = [[0.03], [0.2, 0.2, 0.01, 0.2], [0.0, 1.0, 0.5, 0.5, 1e-9]] + [
        list(generator.uniform(0, 0.3, size=n).round(3)) for n in (2, 5, 17, 60)
    ]
    for pvalues in cases:
        expected = multipletests(pvalues, method="holm")[1]
        assert stats.holm_adjusted(pvalues) == pytest.approx(expected, abs=1e-15), pvalues
    collections = []
    monkeypatch.setattr(gc, "collect", lambda *a: collections.append(a) or 0)
    stats.holm_adjusted([0.01, 0.02, 0.03])
    assert collections == []  # statsmodels' Holm ends in gc.collect(): a walk of every object


# --- groups ------------------------------------------------------------------------------------


def test_group_tests_are_one_per_dimension_with_holm(population, personas, rng):
    study = make_study()
    choice = make_item(study, "support", Item.Type.SINGLE_CHOICE, ["yes", "no"])
    likert = make_item(study, "trust", Item.Type.LIKERT, LIKERT, values=[1, 2, 3, 4, 5])
    run = make_run(study, population)
    female = np.array([p.sex == "female" for p in personas])
    support = np.where(rng.random(len(personas)) < np.where(female, 0.7, 0.4), "yes", "no")
    trust = rng.choice(LIKERT, size=len(personas))
    store(run, choice, personas, support, field="option")
    store(run, likert, personas, trust, field="option")
    results = QuestionnaireAnalyzer().results(run=run)

    tests = item_result(results, "support")["comparisons"]["groups"]["tests"]
    assert [t["dimension"] for t in tests] == [
        "area",
        "age_bracket",
        "sex",
        "race_ethnicity",
        "education",
        "income",
    ]
    sex = next(t for t in tests if t["dimension"] == "sex")
    table = [[int((support[f] == c).sum()) for c in ("yes", "no")] for f in (female, ~female)]
    chi2 = sps.chi2_contingency(table, correction=False)
    assert sex["test"].startswith("Pearson chi-square") and sex["groups"] == 2
    assert sex["p"] == pytest.approx(chi2.pvalue) and sex["df"] == 1
    adjusted = multipletests([t["p"] for t in tests], method="holm")[1]
    assert [t["p_adjusted"] for t in tests] == pytest.approx(list(adjusted))

    likert_tests = item_result(results, "trust")["comparisons"]["groups"]["tests"]
    sex = next(t for t in likert_tests if t["dimension"] == "sex")
    points = np.array([LIKERT.index(c) + 1 for c in trust])
    kruskal = sps.kruskal(points[female], points[~female])
    assert sex["test"].startswith("Kruskal-Wallis")
    assert sex["p"] == pytest.approx(kruskal.pvalue)
    assert sex["statistic"] == pytest.approx(kruskal.statistic)


# --- the analyzer as a whole -------------------------------------------------------------------


def test_every_kind_is_analysed_by_item_type_and_the_old_name_still_imports():
    # The policy analyzer adds its figures to the questionnaire's, for political-endpoint studies.
    assert all(issubclass(a, QuestionnaireAnalyzer) for a in ANALYZERS.values())
    assert SingleChoiceAnalyzer is QuestionnaireAnalyzer


def test_the_answers_are_read_in_one_query_whatever_the_number_of_personas(
    population, personas, rng, django_assert_num_queries
):
    study = make_study(conditions=("control", "message"))
    item = make_item(study, "rank", Item.Type.RANKING, ["a", "b", "c"])
    run = make_run(study, population)
    arms = ["control" if i % 3 else "message" for i in range(len(personas))]
    store(
        run,
        item,
        personas,
        [list(rng.permutation(["a", "b", "c"])) for _ in personas],
        field="choices",
        conditions=arms,
    )
    # Items, their options, conditions, the items' types (ranking answers are not read coded,
    # studies.analyzers.answers), the answers frame, area names.
    with django_assert_num_queries(6):
        results = QuestionnaireAnalyzer().results(run=run)
    assert results["personas_answered"] == len(personas)


def test_frame_has_the_value_columns_of_every_type(population, personas):
    from studies.analyzers.questionnaire import answers_frame

    study = make_study()
    item = make_item(study, "pay", Item.Type.NUMERIC)
    run = make_run(study, population)
    store(run, item, personas[:3], [1.0, 2.0, 3.5], field="number")
    frame = answers_frame(run)
    assert isinstance(frame, pd.DataFrame)
    assert {"choices", "number", "text", "condition", "weight", "area", "sex"} <= set(frame)
    assert sorted(frame["number"]) == [1.0, 2.0, 3.5]


def test_a_condition_without_answers_is_listed_and_its_comparisons_untestable(population, personas):
    study = make_study(conditions=("control", "message", "unused"))
    item = make_item(study, "pay", Item.Type.NUMERIC)
    run = make_run(study, population)
    arms = ["control" if i % 2 else "message" for i in range(20)]
    store(run, item, personas[:20], [float(i) for i in range(20)], field="number", conditions=arms)
    results = QuestionnaireAnalyzer().results(run=run)
    assert results["conditions"][2] == {"code": "unused", "label": "Unused", "n": 0}
    tests = item_result(results, "pay")["comparisons"]["conditions"]["tests"]
    unused = next(t for t in tests if t["condition"] == "unused")
    assert unused["p"] is None and unused["p_adjusted"] is None
    assert "no answers" in unused["note"] and unused["significant"] is False
    message = next(t for t in tests if t["condition"] == "message")
    # The only p in the family: Holm leaves it as it is.
    assert message["p_adjusted"] == pytest.approx(message["p"])
