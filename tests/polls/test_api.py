from __future__ import annotations

import datetime as dt

import pytest

from polls.models import MajorEvent, Poll

pytestmark = pytest.mark.django_db


@pytest.fixture
def many_polls():
    Poll.objects.bulk_create(
        [
            Poll(slug=f"extra-{i:03}", title=f"Extra {i}", pollster="P", population="US adults",
                 source="test", year=2000 + i % 20, topic_tags=["Housing"])
            for i in range(60)
        ]
    )  # fmt: skip


@pytest.fixture
def many_events():
    MajorEvent.objects.bulk_create(
        [
            MajorEvent(date=dt.date(2019, 1, 1) + dt.timedelta(days=i), title=f"Event {i}",
                       type="other", source="test")
            for i in range(60)
        ]
    )  # fmt: skip


def _slugs(response):
    return [p["slug"] for p in response.json()["results"]]


def test_topic_matches_question_tags_case_insensitively(api):
    response = api.get("/api/v1/polls/", {"topic": "ABORTION"})
    assert response.status_code == 200
    assert "cces-2018-abortion" in _slugs(response)
    assert "anes-1996" not in _slugs(response)


def test_date_filter_uses_year_when_field_dates_are_unknown(api):
    response = api.get("/api/v1/polls/", {"date_from": "2018-01-01", "date_to": "2018-12-31"})
    slugs = _slugs(response)
    assert "cces-2018-abortion" in slugs and "anes-1996" not in slugs


def test_group_returns_polls_with_crosstabs_for_that_dimension(api):
    slugs = _slugs(api.get("/api/v1/polls/", {"group": "state"}))
    assert "cces-2018-abortion" in slugs and "anes-1996" not in slugs  # ANES 1996 has no state
    assert "anes-1996" in _slugs(api.get("/api/v1/polls/", {"group": "income"}))


@pytest.mark.parametrize(
    ("params", "field"),
    [({"date_from": "last tuesday"}, "date_from"), ({"group": "shoe_size"}, "group"),
     ({"date_from": "2020-01-02", "date_to": "2020-01-01"}, "date_to")],
)  # fmt: skip
def test_bad_poll_parameters_are_400_naming_the_parameter(api, params, field):
    response = api.get("/api/v1/polls/", params)
    assert response.status_code == 400
    body = response.json()["error"]
    assert field in body["fields"] and field in body["message"]


def test_question_crosstabs_are_readable(api, cces_question):
    response = api.get(
        f"/api/v1/polls/questions/{cces_question.id}/crosstabs/", {"dimension": "sex"}
    )
    assert response.status_code == 200
    rows = response.json()["results"]
    assert {r["category"] for r in rows} == {"female", "male"}
    assert sum(r["share"] for r in rows if r["category"] == "male") == pytest.approx(1)


def test_events_are_listed_by_time_frame(api, many_events):
    response = api.get("/api/v1/events/", {"start": "2019-01-05", "end": "2019-01-07"})
    assert [e["title"] for e in response.json()["results"]] == ["Event 4", "Event 5", "Event 6"]
    event_id = response.json()["results"][0]["id"]
    assert api.get(f"/api/v1/events/{event_id}/").json()["title"] == "Event 4"
    bad = api.get("/api/v1/events/", {"start": "soon"})
    assert bad.status_code == 400 and "start" in bad.json()["error"]["fields"]


@pytest.mark.parametrize("limit", [5, 50])
def test_poll_list_queries_are_bounded(api, many_polls, django_assert_max_num_queries, limit):
    with django_assert_max_num_queries(4):
        response = api.get("/api/v1/polls/", {"limit": limit, "topic": "housing"})
    assert len(response.json()["results"]) == limit


@pytest.mark.parametrize("limit", [5, 50])
def test_event_list_queries_are_bounded(api, many_events, django_assert_max_num_queries, limit):
    with django_assert_max_num_queries(4):
        response = api.get("/api/v1/events/", {"limit": limit})
    assert len(response.json()["results"]) == limit
