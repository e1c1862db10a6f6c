from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from polls.models import MajorEvent

pytestmark = pytest.mark.django_db

HEADER = "date,title,type,description,related_topics,source"


def _write(tmp_path, lines):
    path = tmp_path / "events.csv"
    path.write_text("\n".join([HEADER, *lines]) + "\n")
    return path


def test_events_import_and_reimport_updates(tmp_path):
    path = _write(tmp_path, [
        "2020-03-11,Test event one,public_health,First,health;economy,test file",
        '2020-11-03,Test event two,election,Second,"[""elections""]",test file',
    ])  # fmt: skip
    call_command("import_events", csv=str(path), stdout=io.StringIO())
    call_command("import_events", csv=str(path), stdout=io.StringIO())
    assert MajorEvent.objects.count() == 2
    assert MajorEvent.objects.get(title="Test event one").related_topics == ["health", "economy"]
    assert MajorEvent.objects.get(title="Test event two").related_topics == ["elections"]


def test_a_bad_events_file_names_each_row_and_writes_nothing(tmp_path):
    path = _write(tmp_path, [
        "2020-03-11,Fine,policy,,,test",
        "2020-13-01,Bad date,policy,,,test",
        "2020-03-12,Bad type,volcano,,,test",
        "2020-03-11,Fine,policy,,,test",
        "2020-03-13,,policy,,,",
    ])  # fmt: skip
    with pytest.raises(CommandError) as info:
        call_command("import_events", csv=str(path), stdout=io.StringIO())
    message = str(info.value)
    assert "row 3: date '2020-13-01' is not YYYY-MM-DD" in message
    assert "row 4: type 'volcano' is not one of" in message
    assert "row 5: repeats the date and title of row 2" in message
    assert "row 6: title is empty; source is empty" in message
    assert MajorEvent.objects.count() == 0
