"""Tables of the rewards service. Amounts stay in this database and never go on the bus."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import CheckConstraint, Numeric, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.database import RecordMixin, new_metadata
from shared.events import InboxMixin, OutboxMixin
from shared.people import PersonProjectionMixin

AMOUNT = Numeric(14, 2)


class Base(DeclarativeBase):
    metadata = new_metadata()


class OutboxEvent(OutboxMixin, Base):
    pass


class InboxEvent(InboxMixin, Base):
    pass


class Person(PersonProjectionMixin, Base):
    pass


class PayBand(RecordMixin, Base):
    """The salary range of one grade in one currency."""

    __tablename__ = "pay_bands"
    # The service checks the order too, with a clearer message; these guard every writer.
    __table_args__ = (
        UniqueConstraint("grade", "currency"),
        CheckConstraint("minimum <= midpoint AND midpoint <= maximum", name="amount_order"),
    )

    grade: Mapped[str] = mapped_column(String(50))
    currency: Mapped[str] = mapped_column(String(3))
    minimum: Mapped[Decimal] = mapped_column(AMOUNT)
    midpoint: Mapped[Decimal] = mapped_column(AMOUNT)
    maximum: Mapped[Decimal] = mapped_column(AMOUNT)
