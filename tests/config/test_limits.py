"""Rate limits, daily quotas and the sign-in lockout: each refusal is a 429 that says why."""

from __future__ import annotations

import pytest
from django.test import Client

from personas.services import AreaWeight, population_create

pytestmark = pytest.mark.django_db

POPULATION = {"size": 10, "areas": [{"area": "phoenix_az_city"}], "seed": 1}


@pytest.fixture
def rates(monkeypatch):
    """Low rates for the test: DRF's throttles read the class attribute on every request."""
    from rest_framework.throttling import SimpleRateThrottle

    def set_rates(**rates):
        merged = {**SimpleRateThrottle.THROTTLE_RATES, **rates}
        monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", merged)

    return set_rates


def test_requests_past_the_user_rate_get_429_with_a_wait(api, rates):
    rates(user="5/min")
    codes = [api.get("/api/v1/areas/", {"limit": 1}).status_code for _ in range(7)]
    assert codes == [200] * 5 + [429, 429]
    response = api.get("/api/v1/areas/")
    error = response.json()["error"]
    assert error["code"] == "throttled" and "seconds" in error["message"]
    assert int(response["Retry-After"]) > 0


def test_starting_work_has_its_own_lower_rate_reads_are_not_counted(api, rates):
    rates(work="2/hour")
    assert [api.post("/api/v1/populations/", POPULATION, format="json").status_code
            for _ in range(3)] == [201, 201, 429]  # fmt: skip
    # Reading is not starting work.
    assert api.get("/api/v1/populations/").status_code == 200


def test_the_rate_is_per_user(api, rates, django_user_model):
    from rest_framework.test import APIClient

    rates(work="1/hour")
    assert api.post("/api/v1/populations/", POPULATION, format="json").status_code == 201
    assert api.post("/api/v1/populations/", POPULATION, format="json").status_code == 429
    other = APIClient()
    other.force_authenticate(django_user_model.objects.create_user("other", password="x" * 20))
    assert other.post("/api/v1/populations/", POPULATION, format="json").status_code == 201


def _key_client(user, name: str, scope: str = "run"):
    from rest_framework.test import APIClient

    from accounts.services import api_key_create

    _, secret = api_key_create(user=user, name=name, scope=scope)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def _codes(client, n: int) -> list[int]:
    return [client.get("/api/v1/areas/", {"limit": 1}).status_code for _ in range(n)]


def test_each_api_key_has_a_rate_of_its_own_apart_from_its_users_token(api, user, rates):
    rates(**{"user": "2/min", "user:run": "2/min"})
    nightly, laptop = _key_client(user, "nightly"), _key_client(user, "laptop")
    assert _codes(nightly, 3) == [200, 200, 429]
    # The busy key has not spent the other key's budget, nor the user's token's.
    assert _codes(laptop, 3) == [200, 200, 429]
    assert _codes(api, 3) == [200, 200, 429]


def test_a_keys_scope_picks_its_rate(user, rates):
    rates(**{"user:read": "1/min", "user:run": "3/min"})
    assert _codes(_key_client(user, "dashboard", scope="read"), 2) == [200, 429]
    assert _codes(_key_client(user, "job", scope="run"), 4) == [200, 200, 200, 429]


def test_a_users_keys_together_meet_a_ceiling(user, rates):
    rates(**{"user:run": "2/min", "user:keys": "3/min"})
    first, second, third = (_key_client(user, name) for name in ("a", "b", "c"))
    assert _codes(first, 2) == [200, 200]
    assert _codes(second, 2) == [200, 429]  # the ceiling: 3 requests of this user's keys
    response = third.get("/api/v1/areas/")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert int(response["Retry-After"]) > 0
    # Another user's keys have a ceiling of their own.
    from django.contrib.auth import get_user_model

    other = get_user_model().objects.create_user("other", password="x" * 20)
    assert _codes(_key_client(other, "theirs"), 1) == [200]


def test_starting_work_is_counted_per_key(user, rates):
    rates(work="1/hour")
    nightly, laptop = _key_client(user, "nightly"), _key_client(user, "laptop")
    assert [nightly.post("/api/v1/populations/", POPULATION, format="json").status_code
            for _ in range(2)] == [201, 429]  # fmt: skip
    assert laptop.post("/api/v1/populations/", POPULATION, format="json").status_code == 201


def test_the_daily_persona_quota_refuses_with_the_numbers(api, user, settings):
    settings.QUOTA_PERSONAS_PER_DAY = 25
    population_create(size=20, areas=[AreaWeight("phoenix_az_city")], seed=1, created_by=user)
    response = api.post("/api/v1/populations/", POPULATION, format="json")
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "quota_exceeded"
    assert "20 in the last 24 hours" in error["message"] and "25" in error["message"]
    assert "QUOTA_PERSONAS_PER_DAY" in error["message"]
    # Within the quota it is accepted.
    settings.QUOTA_PERSONAS_PER_DAY = 30
    assert api.post("/api/v1/populations/", POPULATION, format="json").status_code == 201


def test_the_daily_run_quota(api, user, cces_question, settings):
    from studies.services import ItemSpec, study_create

    study = study_create(
        title="Quota",
        items=[ItemSpec(code="q", text=cces_question.text, poll_question_id=cces_question.id)],
        created_by=user,
    )
    population = population_create(
        size=5, areas=[AreaWeight("phoenix_az_city")], seed=1, created_by=user
    )
    settings.QUOTA_RUNS_PER_DAY = 0
    body = {"study": study.id, "population": population.id, "backend": "poll_cell"}
    response = api.post("/api/v1/runs/", body, format="json")
    assert response.status_code == 429
    assert "QUOTA_RUNS_PER_DAY" in response.json()["error"]["message"]


def test_staff_are_exempt_from_quotas(settings, django_user_model):
    from rest_framework.test import APIClient

    settings.QUOTA_PERSONAS_PER_DAY = 1
    staff = APIClient()
    staff.force_authenticate(
        django_user_model.objects.create_user("operator", password="x" * 20, is_staff=True)
    )
    assert staff.post("/api/v1/populations/", POPULATION, format="json").status_code == 201


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_sign_in_locks_out_after_repeated_failures(path, settings, django_user_model):
    settings.LOGIN_FAILURE_LIMIT = 3
    django_user_model.objects.create_user(
        "analyst", password="correct horse battery staple", is_staff=True
    )
    client = Client()
    wrong = {"username": "analyst", "password": "wrong password"}
    assert [client.post(path, wrong).status_code for _ in range(3)] == [200, 200, 200]
    # Locked: even the right password is refused until the window passes.
    right = {"username": "analyst", "password": "correct horse battery staple"}
    locked = client.post(path, right)
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.content.decode()
    # Another username from the same address is not locked by these failures.
    django_user_model.objects.create_user(
        "second", password="another long passphrase", is_staff=True
    )
    ok = client.post(path, {"username": "second", "password": "another long passphrase"})
    assert ok.status_code == 302


def test_a_successful_sign_in_resets_the_count(settings, django_user_model):
    settings.LOGIN_FAILURE_LIMIT = 2
    django_user_model.objects.create_user("analyst", password="correct horse battery staple")
    client = Client()
    client.post("/accounts/login/", {"username": "analyst", "password": "nope"})
    right = {"username": "analyst", "password": "correct horse battery staple"}
    assert client.post("/accounts/login/", right).status_code == 302
    client.post("/accounts/login/", {"username": "analyst", "password": "nope"})
    assert client.post("/accounts/login/", right).status_code == 302


def test_a_study_with_too_many_items_is_refused(api):
    from studies.api.serializers import StudyCreateSerializer

    # STUDY_MAX_ITEMS is read when the serializer class is built: use the bound the API has.
    items = StudyCreateSerializer().fields["items"]
    assert items.max_length is not None
    body = {
        "title": "Long",
        "items": [
            {"code": f"q{i}", "text": "Q?", "options": [{"code": "a", "label": "A"}]}
            for i in range(items.max_length + 1)
        ],
    }
    response = api.post("/api/v1/studies/", body, format="json")
    assert response.status_code == 400
    assert "items" in response.json()["error"]["fields"]


def test_the_server_bounds_the_chunks_a_run_queues(user, cces_question, settings):
    from studies.services import ItemSpec, run_start, study_create

    settings.RUN_MAX_CHUNKS = 4
    population = population_create(
        size=40, areas=[AreaWeight("phoenix_az_city")], seed=1, created_by=user
    )
    study = study_create(
        title="Chunks",
        items=[ItemSpec(code="q", text=cces_question.text, poll_question_id=cces_question.id)],
        created_by=user,
    )
    run = run_start(study=study, population=population, backend="poll_cell", chunk_size=1)
    assert run.chunk_size == 10  # 40 personas in at most 4 chunks, not 40 chunks of 1


@pytest.fixture
def cache_down(settings):
    """The shared cache is a Redis that does not answer (a port nothing listens on); Django
    rebuilds its cache handlers when the setting changes."""
    from tests.stack import free_port

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        }
    }


def test_with_the_cache_down_the_api_still_answers_and_says_so_in_the_log(api, cache_down, caplog):
    response = api.get("/api/v1/areas/", {"limit": 1})
    assert response.status_code == 200
    assert "not checked, the cache is unreachable" in caplog.text


def test_with_the_cache_down_sign_in_is_refused_with_503_not_left_unlimited(
    cache_down, django_user_model
):
    django_user_model.objects.create_user("analyst", password="correct horse battery staple")
    right = {"username": "analyst", "password": "correct horse battery staple"}
    response = Client().post("/accounts/login/", right)
    assert response.status_code == 503
    assert "Sign-in is unavailable for a moment" in response.content.decode()
