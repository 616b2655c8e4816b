"""Column types of the models, and the time they are stamped with."""
import datetime
import json
from decimal import Decimal

from peewee import BigIntegerField, TextField

AMOUNT_SCALE = 4


def utcnow():
    """The current time in UTC, as a naive datetime (how it is stored)."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class AmountField(BigIntegerField):
    """An exact decimal with 4 places, stored as a scaled 64-bit integer.

    Both databases then store and compare it exactly; SQLite has no exact
    decimal type of its own.
    """

    def db_value(self, value):
        if value is None:
            return None
        return int(Decimal(value).scaleb(AMOUNT_SCALE).to_integral_exact())

    def python_value(self, value):
        if value is None:
            return None
        return Decimal(int(value)).scaleb(-AMOUNT_SCALE)


class JSONTextField(TextField):
    """A JSON value stored as canonical text (sorted keys), portable to both databases."""

    def db_value(self, value):
        if value is None:
            return None
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def python_value(self, value):
        if value is None:
            return None
        return json.loads(value)
