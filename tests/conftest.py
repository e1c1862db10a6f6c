from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

ROOT = Path(__file__).resolve().parent.parent
CCES_CSV = ROOT / "polls" / "data" / "cces2018_abortion.csv"
CCES_MAPPING = ROOT / "polls" / "mappings" / "cces2018_abortion.yaml"
ANES_MAPPING = ROOT / "polls" / "mappings" / "anes96.yaml"
DEMO_AREAS = ["dallas_tx_city", "detroit_mi_city", "minneapolis_mn_city", "phoenix_az_city"]


def load_reference_data() -> None:
    call_command("load_areas", stdout=open("/dev/null", "w"))
    call_command(
        "import_poll", csv=str(CCES_CSV), mapping=CCES_MAPPING, stdout=open("/dev/null", "w")
    )
    call_command(
        "import_poll", statsmodels="anes96", mapping=ANES_MAPPING, stdout=open("/dev/null", "w")
    )


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    # The real areas and polls are loaded once; each test runs in a transaction rolled back after it.
    with django_db_blocker.unblock():
        load_reference_data()


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("analyst", password="a-long-test-password")


@pytest.fixture
def api(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def anonymous_api() -> APIClient:
    return APIClient()


@pytest.fixture
def cces_question():
    from polls.models import Question

    return Question.objects.get(poll__slug="cces-2018-abortion")
