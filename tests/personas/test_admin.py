from __future__ import annotations

import pytest

from personas.services import AreaWeight, population_create

pytestmark = pytest.mark.django_db


def test_the_admin_shows_the_validation_report_read_only(client, django_user_model):
    admin = django_user_model.objects.create_superuser("curator", password="a-long-test-password")
    client.force_login(admin)
    population = population_create(size=300, areas=[AreaWeight("dallas_tx_city")], seed=2)
    page = client.get(f"/admin/personas/population/{population.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Validation (target vs achieved)" in html
    assert "deviation (points)" in html and "dallas_tx_city" in html
    assert 'name="validation_report"' not in html  # shown, never editable
    listing = client.get("/admin/personas/population/")
    assert listing.status_code == 200
    assert "Max deviation (points)" in listing.content.decode()
