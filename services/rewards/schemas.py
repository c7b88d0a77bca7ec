"""Value types every rewards API shares."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from babel.numbers import list_currencies
from pydantic import AfterValidator, Field, StringConstraints

Grade = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
# The codes ISO 4217 lists, current or withdrawn, as the Unicode CLDR carries them (Babel's copy).
_ISO_4217 = frozenset(list_currencies())


def _iso_4217(code: str) -> str:
    if code not in _ISO_4217:
        raise ValueError("not an ISO 4217 currency code")
    return code


# An ISO 4217 alphabetic code, upper case only, so "eur" and "EUR" cannot become two bands, and one
# ISO 4217 knows, not just three letters, so a typo ("EUO") cannot start a currency of its own: a
# band, a record or a pool nobody's rates or reports would ever meet.
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$"), AfterValidator(_iso_4217)]
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


class Attribute(StrEnum):
    """Attributes of the compensation record an adverse-impact analysis may group by."""

    gender = "gender"
    employment_type = "employment_type"
    worker_category = "worker_category"
    job_family = "job_family"
    location = "location"
