"""Value types every rewards API shares."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

Grade = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
# ISO 4217 alphabetic code; upper case only, so "eur" and "EUR" cannot become two bands.
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Amount = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2, allow_inf_nan=False)]
# An increase in percent with at most 2 decimals: 3.25 means 3.25 %.
Percent = Annotated[Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2, allow_inf_nan=False)]
OrgUnit = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
# Full-time equivalent: 1 is full time, 0.8 four days a week.
FTE = Annotated[Decimal, Field(gt=0, le=1, max_digits=4, decimal_places=3, allow_inf_nan=False)]


class Gender(StrEnum):
    """As the EU pay-transparency reports need it; ``other`` is another value the person gave."""

    female = "female"
    male = "male"
    other = "other"
    undisclosed = "undisclosed"
