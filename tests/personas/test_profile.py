"""personas.profile: the full persona profile as vectorized pure functions (no database)."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

from environment.categories import DIMENSIONS
from personas.profile import BIG_FIVE, PROFILE_COLUMNS, PROFILE_FIELDS, profile_draw, sources
from personas.profile.behaviour import BEHAVIOURAL_CHARACTERISTICS
from personas.profile.export import (
    PoolFormatError,
    anonymize,
    pool_from_json,
    pool_to_json,
    pseudonym,
)
from personas.profile.naming import female_first_names, male_first_names

STATES = ("CA", "TX", "NY", "FL", "OH", "GA", "WY", "VT", "DC", "PR")


def synthetic_demographics(n: int, seed: int = 0, **fixed: object) -> pd.DataFrame:
    """Demographics drawn uniformly and independently; ``fixed`` pins a column to one value."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 91, n)
    frame = pd.DataFrame(
        {
            "age": age,
            "age_bracket": sources.age_bracket_of(age),
            "sex": rng.choice(list(DIMENSIONS["sex"]), n),
            "race_ethnicity": rng.choice(list(DIMENSIONS["race_ethnicity"]), n),
            "education": rng.choice(list(DIMENSIONS["education"]), n),
            "income": rng.choice(list(DIMENSIONS["income"]), n),
            "state": rng.choice(list(STATES), n),
        }
    )
    for column, value in fixed.items():
        frame[column] = value
    if "age" in fixed:
        frame["age_bracket"] = sources.age_bracket_of(frame["age"])
    return frame


@pytest.fixture(scope="module")
def drawn() -> tuple[pd.DataFrame, pd.DataFrame]:
    demographics = synthetic_demographics(10_000)
    return demographics, profile_draw(demographics, rng=np.random.default_rng(42))


def test_exactly_ten_behavioural_characteristics_are_declared() -> None:
    assert len(BEHAVIOURAL_CHARACTERISTICS) == 10
    assert set(BEHAVIOURAL_CHARACTERISTICS) <= set(PROFILE_COLUMNS)
    assert all(field.source for field in PROFILE_FIELDS)


def test_every_field_present_with_allowed_values(drawn: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    demographics, profile = drawn
    assert list(profile.columns) == list(PROFILE_COLUMNS)
    assert len(profile) == len(demographics)
    for field in PROFILE_FIELDS:
        column = profile[field.name]
        assert column.notna().all(), field.name
        if field.type == "list[str]":
            items = {item for value in column for item in value}
            assert items <= set(field.values or ()), field.name
            continue
        if field.values is not None:
            assert set(column.astype(str)) <= set(field.values), field.name
        if field.range is not None:
            low, high = field.range
            assert column.astype(float).between(low, high).all(), field.name
        if field.type == "str":
            assert (column.astype(str).str.len() > 0).all(), field.name


def test_same_seed_same_profiles_and_other_seed_differs() -> None:
    demographics = synthetic_demographics(2_000, seed=3)
    first = profile_draw(demographics, rng=np.random.default_rng(7))
    again = profile_draw(demographics, rng=np.random.default_rng(7))
    other = profile_draw(demographics, rng=np.random.default_rng(8))
    pd.testing.assert_frame_equal(first, again)
    assert (first["name"] != other["name"]).mean() > 0.5


def test_index_of_the_input_is_kept() -> None:
    demographics = synthetic_demographics(50).set_index(pd.Index(range(100, 150)))
    profile = profile_draw(demographics, rng=np.random.default_rng(0))
    assert list(profile.index) == list(range(100, 150))


def test_unknown_demographic_code_is_rejected_naming_it() -> None:
    demographics = synthetic_demographics(5)
    demographics.loc[3, "education"] = "phd"
    with pytest.raises(ValueError, match="row 3: education 'phd'"):
        profile_draw(demographics, rng=np.random.default_rng(0))


def _republican_share(profile: pd.DataFrame, mask: np.ndarray) -> float:
    return float((profile.loc[mask, "party_identification"] == "republican").mean())


def test_republican_share_by_income_follows_anes96() -> None:
    data = sources.anes96().dropna(subset=["party", "income"])
    share = data.groupby("income")["party"].apply(lambda s: (s == "republican").mean())
    expected = np.sign(share["150k_plus"] - share["lt_25k"])
    assert expected != 0

    low = synthetic_demographics(20_000, seed=1, income="lt_25k")
    high = synthetic_demographics(20_000, seed=1, income="150k_plus")
    low_profile = profile_draw(low, rng=np.random.default_rng(1))
    high_profile = profile_draw(high, rng=np.random.default_rng(1))
    everyone = np.ones(20_000, dtype=bool)
    drawn = _republican_share(high_profile, everyone) - _republican_share(low_profile, everyone)
    assert np.sign(drawn) == expected


def test_party_by_race_follows_cces(drawn: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    demographics, profile = drawn
    data = sources.cces2018().dropna(subset=["party"])
    democrat = data.groupby("cces_race")["party"].apply(lambda s: (s == "democrat").mean())
    expected = np.sign(democrat["black"] - democrat["white"])
    is_democrat = profile["party_identification"] == "democrat"
    black = is_democrat[demographics["race_ethnicity"] == "black"].mean()
    white = is_democrat[demographics["race_ethnicity"] == "white"].mean()
    assert np.sign(black - white) == expected


def test_ideology_follows_party_as_gss_shows(drawn: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    _, profile = drawn
    conservative = {"slightly_conservative", "conservative", "extremely_conservative"}
    is_conservative = profile["political_ideology"].astype(str).isin(conservative)
    data = sources.gss2018().dropna(subset=["party", "polviews"])
    gss = data.groupby("party")["polviews"].apply(lambda s: s.astype(int).ge(5).mean())
    drawn_share = is_conservative.groupby(profile["party_identification"].astype(str)).mean()
    assert np.sign(drawn_share["republican"] - drawn_share["democrat"]) == np.sign(
        gss["republican"] - gss["democrat"]
    )


def test_big_five_means_differ_by_age_as_bfi_shows() -> None:
    data = sources.bfi_scores()
    young_data = data[data["age"] < 25][list(BIG_FIVE)].mean()
    older_data = data[data["age"] >= 45][list(BIG_FIVE)].mean()
    young = profile_draw(
        synthetic_demographics(20_000, seed=5, age=21), rng=np.random.default_rng(5)
    )
    older = profile_draw(
        synthetic_demographics(20_000, seed=5, age=50), rng=np.random.default_rng(5)
    )
    checked = 0
    for trait in BIG_FIVE:
        gap = older_data[trait] - young_data[trait]
        if abs(gap) < 2.0:  # too small in the data to call a direction
            continue
        checked += 1
        assert np.sign(older[trait].mean() - young[trait].mean()) == np.sign(gap), trait
    assert checked >= 1


def test_big_five_keep_the_correlation_between_traits() -> None:
    data = sources.bfi_scores()
    expected = data["neuroticism"].corr(data["conscientiousness"])
    profile = profile_draw(synthetic_demographics(20_000, seed=6), rng=np.random.default_rng(6))
    drawn = profile["neuroticism"].corr(profile["conscientiousness"])
    assert np.sign(drawn) == np.sign(expected)
    assert abs(drawn - expected) < 0.1


def test_female_personas_get_names_the_census_lists_as_female(
    drawn: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    demographics, profile = drawn
    female = demographics["sex"] == "female"
    assert set(profile.loc[female, "first_name"]) <= female_first_names()
    assert set(profile.loc[~female, "first_name"]) <= male_first_names()
    assert (profile["name"] == profile["first_name"] + " " + profile["last_name"]).all()


def test_not_employed_personas_have_no_occupation(
    drawn: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    _, profile = drawn
    employed = profile["employment_status"] == "employed"
    assert (profile.loc[~employed, "occupation"] == "none").all()
    assert (profile.loc[employed, "occupation"] != "none").all()


def test_a_million_rows(capsys: pytest.CaptureFixture[str]) -> None:
    demographics = synthetic_demographics(1_000_000, seed=9)
    start = time.perf_counter()
    profile = profile_draw(demographics, rng=np.random.default_rng(9))
    elapsed = time.perf_counter() - start
    assert len(profile) == 1_000_000
    with capsys.disabled():
        print(f"\nprofile_draw: 1,000,000 personas in {elapsed:.1f} s")


# ------------------------------------------------------------------------------ personas.json
def _rows(n: int = 20) -> list[dict]:
    demographics = synthetic_demographics(n, seed=11)
    profile = profile_draw(demographics, rng=np.random.default_rng(11))
    return pd.concat([demographics, profile], axis=1).to_dict("records")


def test_json_round_trip_keeps_every_field() -> None:
    rows = _rows()
    back = pool_from_json(pool_to_json(rows))
    assert len(back) == len(rows)
    for original, loaded in zip(rows, back, strict=True):
        assert set(loaded) == set(original)
        for key, value in original.items():
            expected = list(value) if isinstance(value, tuple) else value
            if isinstance(expected, float):
                assert loaded[key] == pytest.approx(expected)
            else:
                assert loaded[key] == (expected.item() if hasattr(expected, "item") else expected)
    assert json.loads(pool_to_json(rows))["format"] == "persona-lab/personas"


def test_anonymize_buckets_age_and_pseudonymizes_names_stably() -> None:
    rows = _rows()
    shared = anonymize(rows, salt="s3cret")
    # Rows come out in pseudonym order; the test (holding the salt) pairs them back by pseudonym.
    by_name = {r["name"]: r for r in shared}
    assert [r["name"] for r in shared] == sorted(by_name)
    originals = {
        pseudonym(f"{r.get('id', r.get('index', ''))}|{r.get('name', i)}", salt="s3cret"): r
        for i, r in enumerate(rows)
    }
    for name, row in by_name.items():
        original = originals[name]
        assert "id" not in row and "index" not in row
        assert "age" not in row and "first_name" not in row and "last_name" not in row
        low, high = map(int, row["age_bucket"].split("_"))
        assert low <= original["age"] <= high and high - (original["age"] // 5 * 5) == 4
        assert row["name"].startswith("persona-") and original["name"] not in json.dumps(row)
    assert [r["name"] for r in anonymize(rows, salt="s3cret")] == [r["name"] for r in shared]
    assert anonymize(rows, salt="other")[0]["name"] != shared[0]["name"]
    assert len({r["name"] for r in shared}) == len(shared)
    # An anonymized pool is still a valid personas.json.
    assert len(pool_from_json(pool_to_json(shared))) == len(shared)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("sex", "f", "row 2: field 'sex': 'f' is not one of female, male"),
        ("age", 12, "row 2: field 'age': 12 is not an integer"),
        ("openness", 140.0, "row 2: field 'openness': 140.0 is outside"),
        ("tech_devices", ["toaster"], "row 2: field 'tech_devices': 'toaster' is not one of"),
        ("sexx", "female", "row 2: field 'sexx' is not part of the personas.json layout"),
    ],
)
def test_pool_from_json_rejects_a_bad_row_naming_it(
    field: str, value: object, message: str
) -> None:
    document = json.loads(pool_to_json(_rows(4)))
    document["personas"][2][field] = value
    with pytest.raises(PoolFormatError) as error:
        pool_from_json(json.dumps(document))
    assert any(message in e for e in error.value.errors), error.value.errors
    assert len(error.value.errors) == 1


def test_pool_from_json_reports_a_missing_field() -> None:
    document = json.loads(pool_to_json(_rows(3)))
    del document["personas"][1]["income"]
    with pytest.raises(PoolFormatError, match="row 1: field 'income' is missing"):
        pool_from_json(json.dumps(document))
