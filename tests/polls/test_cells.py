"""The one cell rule (polls.cells), on small tables whose every cell can be counted by hand."""

from __future__ import annotations

import numpy as np
import pytest

from polls.cells import CellProfile, RespondentCells


def table(*rows: dict) -> dict[str, list]:
    """Answers to option 1 (weight 1) unless a row says otherwise; blank demographics by default."""
    defaults = {
        "option_id": 1, "weight": 1.0, "sex": "", "race_ethnicity": "", "education": "",
        "income": "", "state": "", "age_min": None, "age_max": None,
    }  # fmt: skip
    filled = [{**defaults, "respondent_id": i, **row} for i, row in enumerate(rows)]
    return {column: [row[column] for row in filled] for column in filled[0]}


def members(cells: RespondentCells, profile: CellProfile) -> list[int]:
    return cells.respondent_ids[cells.cell(profile).mask].tolist()


PERSONA_HS_34 = CellProfile(education="hs", age_min=34, age_max=34, age_bracket="25_34")


def test_a_stored_value_of_several_categories_matches_each_of_them_and_a_blank_matches_none():
    cells = RespondentCells(
        table({"education": "hs"}, {"education": "lt_hs|hs"}, {"education": "lt_hs"}, {}),
        min_cell=1,
    )
    assert members(cells, CellProfile(education="hs")) == [0, 1]
    assert members(cells, CellProfile(education="lt_hs")) == [1, 2]


def test_a_profile_of_several_categories_matches_respondents_holding_all_of_them():
    # A held-out respondent coded "lt_hs|hs" may be either: only "lt_hs|hs" is in its cell whatever
    # it really is.
    cells = RespondentCells(
        table({"education": "hs"}, {"education": "lt_hs|hs"}, {"education": "lt_hs"}),
        min_cell=1,
    )
    assert members(cells, CellProfile(education="lt_hs|hs")) == [1]


def test_age_matches_an_overlapping_range_or_an_exact_age_in_the_bracket():
    cells = RespondentCells(
        table(
            {"age_min": 30, "age_max": 39},  # a range holding 34
            {"age_min": 25, "age_max": 25},  # an exact age in 25-34
            {"age_min": 35, "age_max": 35},  # an exact age outside the bracket
            {"age_min": 18, "age_max": 29},  # a range without 34
            {"age_min": None, "age_max": None},  # age not known
            {"age_min": 50, "age_max": 59},
        ),
        min_cell=1,
    )
    assert members(cells, CellProfile(age_min=34, age_max=34, age_bracket="25_34")) == [0, 1]
    # A respondent's range as a profile: the ranges overlapping it.
    assert members(cells, CellProfile(age_min=30, age_max=39)) == [0, 2]


def test_a_dimension_the_profile_has_no_value_on_is_left_out_of_the_cell():
    cells = RespondentCells(
        table({"sex": "female", "education": "hs"}, {"sex": "male", "education": "hs"}),
        min_cell=1,
    )
    cell = cells.cell(CellProfile(education="hs"))
    assert cell.count == 2 and cell.dimensions == ("education",) and cell.widened_by == ()


def test_a_small_cell_is_widened_in_drop_order_and_remembers_its_exact_size():
    rows = [{"education": "hs", "income": "lt_25k", "age_min": 34, "age_max": 34}]
    rows += [{"education": "hs", "income": "25_50k", "age_min": 60, "age_max": 60}] * 2
    rows += [{"education": "bachelors", "income": "lt_25k", "age_min": 34, "age_max": 34}] * 3
    cells = RespondentCells(table(*rows), min_cell=3)
    profile = CellProfile(education="hs", income="lt_25k", age_min=34, age_max=34)
    cell = cells.cell(profile)
    # Income, then age are dropped: the three with a high-school education remain.
    assert cell.exact_count == 1 and cell.count == 3
    assert cell.widened_by == ("income", "age") and cell.dimensions == ("education",)
    assert members(cells, profile) == [0, 1, 2]


def test_only_measured_and_allowed_dimensions_are_matched():
    rows = table({"state": "TX", "sex": "female"}, {"state": "MI", "sex": "female"})
    profile = CellProfile(state="TX", sex="female", income="lt_25k")
    everything = RespondentCells(rows, min_cell=1)
    assert everything.dimensions == ("sex", "state")  # income was not measured
    assert members(everything, profile) == [0]
    without_state = RespondentCells(rows, dimensions=("sex", "income"), min_cell=1)
    assert members(without_state, profile) == [0, 1]


def test_shares_are_weighted_and_profiles_with_equal_keys_share_a_cell():
    rows = table(
        {"sex": "female", "option_id": 1, "weight": 3.0},
        {"sex": "female", "option_id": 2, "weight": 1.0},
        {"sex": "male", "option_id": 2, "weight": 1.0},
    )
    cells = RespondentCells(rows, min_cell=1)
    assert cells.cell(CellProfile(sex="female")).shares() == pytest.approx({1: 0.75, 2: 0.25})
    # Education was not measured: it does not change the cell, nor the key.
    assert cells.key(CellProfile(sex="female", education="hs")) == cells.key(
        CellProfile(sex="female")
    )


def test_a_respondents_profile_takes_its_exact_ages_census_bracket():
    row = {"sex": "male", "race_ethnicity": "asian|other", "age_min": 40.0, "age_max": 40.0}
    assert CellProfile.of_respondent(row) == CellProfile(
        sex="male", race_ethnicity="asian|other", age_min=40, age_max=40, age_bracket="35_44"
    )
    missing = CellProfile.of_respondent({"age_min": np.nan, "age_max": np.nan})
    assert not missing.has("age") and not missing.has("sex")


def _widened_one_drop_at_a_time(cells: RespondentCells, profile: CellProfile):
    """The widening rule as first written: combine the masks of the dimensions still used, drop
    the next of DROP_ORDER, combine again, until the cell holds min_cell."""
    from polls.cells import DROP_ORDER

    used = [d for d in cells.dimensions if profile.has(d)]
    dropped, exact = [], None
    while True:
        mask = np.ones(cells.size, dtype=bool)
        for dimension in used:
            mask &= cells._mask(profile, dimension)
        count = int(mask.sum())
        exact = count if exact is None else exact
        if count >= cells.min_cell or not used:
            return mask, count, exact, tuple(used), tuple(dropped)
        drop = next(d for d in DROP_ORDER if d in used)
        used.remove(drop)
        dropped.append(drop)


@pytest.mark.django_db
@pytest.mark.parametrize("min_cell", [1, 30, 400, 100_000])
def test_a_poll_questions_cells_are_those_of_dropping_one_dimension_at_a_time(
    cces_question, min_cell
):
    from polls.cells import QuestionCells

    cells = QuestionCells(cces_question, min_cell=min_cell)
    rng = np.random.default_rng(7)
    respondents = cces_question.responses.values(
        "respondent__sex", "respondent__race_ethnicity", "respondent__education",
        "respondent__income", "respondent__state", "respondent__age_min", "respondent__age_max",
    )  # fmt: skip
    rows = list(respondents[:3000])
    for index in rng.choice(len(rows), size=150, replace=False):
        row = {k.removeprefix("respondent__"): v for k, v in rows[index].items()}
        profile = CellProfile.of_respondent(row)
        if rng.random() < 0.3:  # some profiles lack a dimension
            profile = CellProfile(**{**profile.__dict__, "income": "", "state": ""})
        cell = cells.cell(profile)
        mask, count, exact, used, dropped = _widened_one_drop_at_a_time(cells, profile)
        assert (cell.count, cell.exact_count, cell.dimensions, cell.widened_by) == (
            count,
            exact,
            used,
            dropped,
        )
        assert np.array_equal(cell.mask, mask)
        assert cell.shares() == pytest.approx(
            RespondentCells(
                {"option_id": cells.option_ids[mask], "weight": cells.weights[mask],
                 **{c: [""] * count for c in ("sex", "race_ethnicity", "education", "income",
                                              "state")},
                 "age_min": [None] * count, "age_max": [None] * count},
                min_cell=0,
            ).cell(CellProfile()).shares()
        )  # fmt: skip
