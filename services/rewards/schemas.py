"""Value types every rewards API shares."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field, StringConstraints

Grade = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
# ISO 4217 alphabetic code; upper case only, so "eur" and "EUR" cannot become two bands.
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Amount = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2, allow_inf_nan=False)]
# An increase in percent with at most 2 decimals: 3.25 means 3.25 %.
Percent = Annotated[Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2, allow_inf_nan=False)]
OrgUnit = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
