"""The political endpoints end to end: the seed's request bodies, the offline proxy, the report's
figures against counts of the stored answers, refusals and ownership."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from rest_framework.test import APIClient
from scipy import stats as sps
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from accounts.models import AuditEvent, Token
from environment.context import environmental_context
from personas.awareness import PersonaView, social_pressures
from personas.models import Persona, Population
from studies.api.political.serializers import PolicyAnalysisRequestSerializer
from studies.models import Answer, PolicyAnalysis, Study
from tests.conftest import DEMO_AREAS
from tests.studies.schema_check import assert_matches_schema

pytestmark = pytest.mark.django_db

# The seed's request bodies, as written in its "API Specifications".
SEED_ENVIRONMENTAL = {
    "policy_description": "Universal healthcare system",
    "policy_topic": "healthcare",
    "target_areas": ["dallas_tx_city", "detroit_mi_city", "minneapolis_mn_city"],
    "population_size": 1000,
    "include_environmental_effects": True,
    "demographic_constraints": {"age_min": 18, "age_max": 65},
}
SEED_TRADITIONAL = {
    "policy_description": "Universal healthcare system",
    "policy_topic": "healthcare",
    "population_size": 1000,
    "demographic_constraints": {"age_min": 18, "age_max": 65},
}
# A policy the CCES 2018 question (employers may decline abortion coverage) asks nearly verbatim.
EMPLOYER_POLICY = {
    "policy_description": "Allow employers to decline abortion coverage in health insurance plans",
    "policy_topic": "abortion",
    "target_areas": DEMO_AREAS,
    "population_size": 200,
    "demographic_constraints": {"age_min": 18, "age_max": 65},
    "seed": 3,
}


def _llm_config(server) -> dict:
    return {
        "llm": {"provider": "openai", "model": "gpt-test", "base_url": server.openai_base_url},
        "engine": {"concurrency": 1},
    }


@pytest.mark.parametrize("body", [SEED_ENVIRONMENTAL, SEED_TRADITIONAL])
def test_the_seed_request_bodies_are_valid_as_written(body):
    data = PolicyAnalysisRequestSerializer(data=body)
    assert data.is_valid(), data.errors


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/political/analyze-environmental", SEED_ENVIRONMENTAL),
        ("/api/v1/political/analyze", SEED_TRADITIONAL),
    ],
)
def test_the_seed_requests_start_on_the_llm_backend_and_report_progress_until_done(
    api, model_server, path, body
):
    started = api.post(
        path, body | {"backend": "llm", "backend_config": _llm_config(model_server)}, format="json"
    )
    assert started.status_code == 202, started.json()
    out = started.json()
    assert out["run_page_url"] == f"/runs/{out['run_id']}/"
    assert out["websocket_url"] == f"/ws/runs/{out['run_id']}/"
    assert out["proxy"] is None
    analysis = PolicyAnalysis.objects.get(pk=out["analysis_id"])
    assert analysis.run.population.size == 1000
    assert analysis.study.items.get().options.count() == 3
    # The run was not executed (its dispatch waits for a commit the test never makes).
    report = api.get(out["analysis_url"]).json()
    assert_matches_schema(report, "PolicyAnalysisReport")
    assert report["status"] == "queued"
    assert report["progress"] == {
        "personas_done": 0,
        "personas_total": 1000,
        "personas_failed": 0,
        "fraction": 0.0,
    }
    assert "overall_support" not in report
    assert report["scenario_id"].startswith(
        "pol_healthcare_env_" if "environmental" in path else "pol_healthcare_2"
    )


def test_the_seed_request_offline_is_refused_with_a_pointer_to_the_llm_backend(api):
    populations = Population.objects.count()
    response = api.post(
        "/api/v1/political/analyze-environmental", SEED_ENVIRONMENTAL, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "no_offline_proxy"
    assert '"backend": "llm"' in error["message"]
    assert "no poll question shares its words or topic" in error["message"]
    assert Population.objects.count() == populations  # nothing was stored


def test_a_proxy_below_the_threshold_is_refused_and_named(api):
    body = EMPLOYER_POLICY | {"policy_description": "A ban on abortion"}
    response = api.post("/api/v1/political/analyze", body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "no_offline_proxy"
    # The closest question is named with its score, and the LLM backend is the way out.
    assert "employers" in error["message"].lower() and "scores 0." in error["message"]
    assert '"backend": "llm"' in error["message"]


def _stances(run_id: int, stances: dict) -> pd.DataFrame:
    rows = Answer.objects.filter(run_id=run_id).values_list(
        "persona_id", "option__code", "persona__area_id", "persona__sex"
    )
    frame = pd.DataFrame(rows, columns=["persona_id", "code", "area", "sex"])
    return frame.assign(stance=frame["code"].map(stances))


def test_an_offline_environmental_analysis_runs_end_to_end_through_its_proxy(
    api, run_on_commit, cces_question
):
    started = run_on_commit(
        api.post, "/api/v1/political/analyze-environmental", EMPLOYER_POLICY, format="json"
    )
    assert started.status_code == 202, started.json()
    out = started.json()
    proxy = out["proxy"]
    assert proxy["question_id"] == cces_question.id
    assert proxy["wording"] == cces_question.text
    assert proxy["score"] >= proxy["thresholds"]["score"]

    report = api.get(out["analysis_url"]).json()
    assert_matches_schema(report, "PolicyAnalysisReport")
    assert report["status"] == "completed", report
    assert report["stances"] == {"support": "support", "oppose": "oppose"}
    assert report["stance_source"] == "inferred"
    assert report["proxy"]["wording"] == cces_question.text

    frame = _stances(out["run_id"], report["stances"])
    n, support = len(frame), int((frame["stance"] == "support").sum())
    oppose = int((frame["stance"] == "oppose").sum())
    assert report["sample_size"] == n == 200
    assert report["overall_support"] == pytest.approx(support / n)
    assert report["overall_opposition"] == pytest.approx(oppose / n)
    low, high = proportion_confint(support, n, alpha=0.05, method="wilson")
    assert report["confidence_interval"] == pytest.approx([low, high])
    assert report["net_support"]["estimate"] == pytest.approx((support - oppose) / n)
    assert report["net_support"]["ci_low"] <= report["net_support"]["estimate"]

    # Per area: the support share of each area's personas, and the chi-square of area × stance.
    assert set(report["environmental_results"]) == set(DEMO_AREAS)
    for area, result in report["environmental_results"].items():
        mine = frame[frame["area"] == area]
        assert result["n"] == len(mine)
        assert result["support"] == pytest.approx((mine["stance"] == "support").mean())
        assert set(result["mean_pressures"]) == {
            "conformity",
            "minority_solidarity",
            "economic",
            "cultural",
            "political",
        }
    table = pd.crosstab(frame["area"], frame["stance"]).to_numpy()
    expected = sps.chi2_contingency(table, correction=False)
    area_test = next(
        t for t in report["statistical_significance"]["tests"] if t["dimension"] == "area"
    )
    assert area_test["test"].startswith("Pearson chi-square")
    assert area_test["statistic"] == pytest.approx(expected.statistic)
    assert area_test["df"] == expected.dof
    assert area_test["p"] == pytest.approx(expected.pvalue)

    shares = frame.groupby("area")["stance"].apply(lambda s: (s == "support").mean())
    insights = report["environmental_insights"]
    assert insights["geographic_variation"] == pytest.approx(shares.max() - shares.min())
    low, high = insights["geographic_variation_interval"]
    assert low <= insights["geographic_variation"] <= high
    # Each persona's pressures, computed here from the awareness functions, against supporting.
    personas = Persona.objects.filter(id__in=frame["persona_id"].tolist())
    contexts = {a: environmental_context(area_id=a) for a in DEMO_AREAS}
    pressure = {
        p.id: social_pressures(PersonaView.from_persona(p), contexts[p.area_id]).economic.value
        for p in personas
    }
    known = frame.assign(economic=frame["persona_id"].map(pressure)).dropna(subset=["economic"])
    expected = sps.pointbiserialr((known["stance"] == "support").astype(float), known["economic"])
    economic = next(a for a in insights["pressure_associations"] if a["pressure"] == "economic")
    assert economic["n"] == len(known)
    assert economic["r"] == pytest.approx(expected.statistic)
    assert economic["p"] == pytest.approx(expected.pvalue)
    for association in insights["pressure_associations"]:
        assert association["interpretation"].endswith("not a causal effect")
    dallas = known[frame.loc[known.index, "area"] == "dallas_tx_city"]["economic"]
    assert report["environmental_results"]["dallas_tx_city"]["mean_pressures"][
        "economic"
    ] == pytest.approx(dallas.mean())
    assert set(report["demographic_breakdowns"]) == {
        "age_bracket",
        "sex",
        "race_ethnicity",
        "education",
        "income",
    }
    women = next(g for g in report["demographic_breakdowns"]["sex"] if g["category"] == "female")
    mine = frame[frame["sex"] == "female"]
    assert women["support"] == pytest.approx((mine["stance"] == "support").mean())
    fields = {entry["field"] for entry in report["not_available"]}
    assert "environmental_results.<area>.conformity_impact" in fields
    assert "overall_support" not in fields
    # The run's own results carry the questionnaire view too: one analysis, every run feature.
    results = api.get(f"/api/v1/runs/{out['run_id']}/results/").json()
    assert results["items"][0]["code"] == "policy" and "policy" in results


def test_the_traditional_endpoint_reports_no_environment_and_covers_the_nation(api, run_on_commit):
    body = {k: v for k, v in EMPLOYER_POLICY.items() if k != "target_areas"} | {
        "population_size": 120
    }
    started = run_on_commit(api.post, "/api/v1/political/analyze", body, format="json")
    assert started.status_code == 202, started.json()
    report = api.get(started.json()["analysis_url"]).json()
    assert_matches_schema(report, "PolicyAnalysisReport")
    assert report["status"] == "completed"
    assert "environmental_results" not in report and report["not_available"] == []
    analysis = PolicyAnalysis.objects.get(pk=report["analysis_id"])
    assert analysis.run.population.areas.count() == 51  # the 50 states and DC


def test_another_users_analysis_is_not_found(api, run_on_commit, django_user_model):
    started = api.post("/api/v1/political/analyze", EMPLOYER_POLICY, format="json")
    assert started.status_code == 202, started.json()
    url = started.json()["analysis_url"]
    assert api.get(url).status_code == 200

    other = django_user_model.objects.create_user("rival", password="another-long-password")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=other).key}")
    response = client.get(url)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    analysis = PolicyAnalysis.objects.get(pk=started.json()["analysis_id"])
    assert analysis.created_by.username == "analyst"
    assert analysis.run.created_by == analysis.study.created_by == analysis.created_by


@pytest.mark.parametrize(
    "url", ["/api/v1/political/analyze", "/api/v1/political/analyze-environmental"]
)
def test_starting_an_analysis_records_what_it_created_in_the_audit_log(api, user, url):
    started = api.post(url, EMPLOYER_POLICY, format="json")
    assert started.status_code == 202, started.json()
    analysis = PolicyAnalysis.objects.select_related("run").get(pk=started.json()["analysis_id"])
    run = analysis.run
    events = AuditEvent.objects.order_by("id")
    assert [(e.action, e.object_type, e.object_id) for e in events] == [
        ("create", "personas.population", str(run.population_id)),
        ("create", "studies.study", str(run.study_id)),
        ("start", "studies.run", str(run.id)),
        ("create", "studies.policyanalysis", str(analysis.id)),
    ]
    assert all(
        (e.actor, e.owner, e.via, e.ip_address) == (user, user, "api", "127.0.0.1") for e in events
    )
    assert events[2].detail == {
        "backend": "poll_model",
        "study": run.study_id,
        "population": run.population_id,
    }
    assert events[3].detail == {"run": run.id}
    # The owner reads them back through the audit endpoint.
    assert len(api.get("/api/v1/audit/").json()["results"]) == 4


@pytest.mark.parametrize(
    ("change", "code", "fragment"),
    [
        ({"population_size": 0}, "invalid", "population_size"),
        ({"target_areas": ["atlantis_xx_city"]}, "unknown_area", "atlantis_xx_city"),
        ({"policy_description": ""}, "invalid", "policy_description"),
        ({"include_enviromental_effects": True}, "invalid", "unknown field"),
        ({"demographic_constraints": {"age_min": 70, "age_max": 30}}, "invalid", "age_max"),
        ({"backend": "oracle"}, "invalid", "backend"),
        ({"target_demographics": ["shoe_size"]}, "invalid", "unknown dimension(s) shoe_size"),
        ({"messages": ["Healthcare is a right"]}, "messages_need_llm", '"backend": "llm"'),
        ({"stances": {"support": "support"}}, "stances_unmapped", "option 'oppose' has no stance"),
    ],
)
def test_bad_input_is_refused_with_a_message_that_says_what_to_fix(api, change, code, fragment):
    response = api.post("/api/v1/political/analyze", EMPLOYER_POLICY | change, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code, error
    assert fragment in error["message"], error["message"]


def test_messages_on_the_llm_backend_report_lifts_over_control(api, model_server, run_on_commit):
    body = {
        "policy_description": "A half-cent sales tax for more buses",
        "policy_topic": "transit",
        "target_areas": ["phoenix_az_city"],
        "population_size": 24,
        "seed": 5,
        "messages": ["Buses cut traffic for everyone.", "The tax costs a family $40 a year."],
        "target_demographics": ["sex"],
        "backend": "llm",
        "backend_config": _llm_config(model_server),
    }
    started = run_on_commit(
        api.post, "/api/v1/political/analyze-environmental", body, format="json"
    )
    assert started.status_code == 202, started.json()
    report = api.get(started.json()["analysis_url"]).json()
    assert_matches_schema(report, "PolicyAnalysisReport")
    assert report["status"] == "completed", report
    analysis = PolicyAnalysis.objects.get(pk=report["analysis_id"])
    assert analysis.study.kind == Study.Kind.MESSAGE_TEST
    assert [c.code for c in analysis.study.conditions.all()] == [
        "control",
        "message_1",
        "message_2",
    ]

    answers = pd.DataFrame(
        Answer.objects.filter(run_id=report["run_id"]).values_list("condition", "option__code"),
        columns=["condition", "code"],
    )
    supports = answers.assign(s=answers["code"] == "support").groupby("condition")["s"]
    counts, sizes = supports.sum(), supports.size()
    messages = report["message_optimization"]
    assert messages["control"] == "control"
    for row in messages["overall"]["lifts"]:
        c = row["condition"]
        assert row["n"] == sizes[c]
        assert row["lift"] == pytest.approx(
            counts[c] / sizes[c] - counts["control"] / sizes["control"]
        )
        low, high = confint_proportions_2indep(
            counts[c], sizes[c], counts["control"], sizes["control"], method="newcomb"
        )
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))
    assert {g["category"] for g in messages["by_segment"]["sex"]} <= {"female", "male"}
    fields = {entry["field"] for entry in report["not_available"]}
    assert "environmental_insights.geographic_variation" in fields  # one area only
    assert "geographic_variation" not in report["environmental_insights"]
    # The figures describe the control arm only.
    assert report["sample_size"] == sizes["control"]
    assert np.isclose(report["overall_support"], counts["control"] / sizes["control"])


def test_the_run_page_shows_the_policy_headline(api, client, user, run_on_commit, cces_question):
    body = EMPLOYER_POLICY | {"include_social_conformity": False}
    started = run_on_commit(
        api.post, "/api/v1/political/analyze-environmental", body, format="json"
    )
    assert started.status_code == 202, started.json()
    run_id = started.json()["run_id"]
    report = api.get(started.json()["analysis_url"]).json()
    assert_matches_schema(report, "PolicyAnalysisReport")
    # Without social conformity, the conformity pressure is left out of the report.
    assert "conformity" not in report["environmental_results"]["dallas_tx_city"]["mean_pressures"]
    client.force_login(user)
    page = client.get(f"/runs/{run_id}/").content.decode()
    assert 'id="policy-headline"' in page
    support = round(100 * report["overall_support"])
    low, high = (round(100 * x) for x in report["confidence_interval"])
    assert f"Support {support}%" in page
    assert f"95% interval {low}–{high}%" in page
    assert cces_question.text[:40] in page  # the proxy question is named
