"""Fields of plain values: amounts, booleans, dates and times (how each is read and written)."""
import datetime
import re
from decimal import Decimal, InvalidOperation

from marshmallow import ValidationError, fields

from schemas.patterns import END

AMOUNT_MAX_INTEGER_DIGITS = 13
AMOUNT_MAX_DECIMALS = 4
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# ASCII digits only: "١٢٣" is a digit string to Python, never an amount to us.
_PLAIN_DECIMAL = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")


def format_amount(value):
    """Render an exact amount as a string with at least two decimals ("12.50", "0.1234")."""
    whole, _, fraction = format(value, "f").partition(".")
    return f"{whole}.{fraction.rstrip('0').ljust(2, '0')}"


_AMOUNT = ("Decimal amount, up to 13 integer digits and 4 decimals; a JSON number or a "
           "string on input, a string on output.")


class Amount(fields.Field):
    """A money amount: JSON number or numeric string, stored exactly, returned as a string.
    The document states its input rule once, as a named schema (Amount, NonNegativeAmount)."""

    def __init__(self, minimum=None, **kwargs):
        self.minimum = minimum
        super().__init__(**kwargs)

    @property
    def openapi_component(self):
        """The named schema of this amount's input rule."""
        return "Amount" if self.minimum is None else "NonNegativeAmount"

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else format_amount(Decimal(value))

    def openapi_schema(self):
        """A numeric string or a JSON number, up to 13 integer digits and 4 decimals."""
        digits = AMOUNT_MAX_INTEGER_DIGITS
        decimals = AMOUNT_MAX_DECIMALS
        unsigned = (rf"(?:0*[0-9]{{1,{digits}}}(?:\.[0-9]{{0,{decimals}}}0*)?"
                    rf"|\.[0-9]{{1,{decimals}}}0*)")
        # Zero may carry a minus sign, whatever the minimum ("-0.00" is 0).
        sign = "[+-]?" if self.minimum is None else r"\+?|-(?=[0.]*\s*$)"
        number = {"type": "number", "multipleOf": 10 ** -decimals,
                  "exclusiveMaximum": 10 ** digits}
        if self.minimum is None:
            number["exclusiveMinimum"] = -10 ** digits
        else:
            number["minimum"] = self.minimum
        return {"anyOf": [{"type": "string", "pattern": rf"^\s*(?:{sign}){unsigned}\s*{END}"},
                          number], "description": _AMOUNT}

    @staticmethod
    def openapi_answer():
        """As answers carry it: a string with two to four decimals."""
        return {"type": "string",
                "pattern": rf"^-?[0-9]{{1,{AMOUNT_MAX_INTEGER_DIGITS}}}\.[0-9]{{2,"
                           rf"{AMOUNT_MAX_DECIMALS}}}{END}", "description": _AMOUNT}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
            raise ValidationError("Must be a number or a numeric string.")
        if isinstance(value, str) and not _PLAIN_DECIMAL.match(value.strip()):
            raise ValidationError("Must be a number or a numeric string.")
        try:
            amount = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
        except InvalidOperation:
            raise ValidationError("Must be a number or a numeric string.") from None
        if not amount.is_finite():
            raise ValidationError("Must be a finite number.")
        # Read the magnitude from the exponent: any arithmetic on 1e1000000 overflows the
        # decimal context, and quantize() of a number beyond its precision raises.
        if amount and amount.adjusted() >= AMOUNT_MAX_INTEGER_DIGITS:
            raise ValidationError(f"At most {AMOUNT_MAX_INTEGER_DIGITS} integer digits are allowed.")
        if amount and amount.adjusted() < -AMOUNT_MAX_DECIMALS:
            raise ValidationError(f"At most {AMOUNT_MAX_DECIMALS} decimal places are allowed.")
        if amount != amount.quantize(Decimal(1).scaleb(-AMOUNT_MAX_DECIMALS), rounding="ROUND_DOWN"):
            raise ValidationError(f"At most {AMOUNT_MAX_DECIMALS} decimal places are allowed.")
        if self.minimum is not None and amount < self.minimum:
            raise ValidationError(f"Must be greater than or equal to {self.minimum}.")
        # "+ 0" turns -0 into 0, as the database would store it.
        return amount.quantize(Decimal(1).scaleb(-AMOUNT_MAX_DECIMALS)) + 0


class StrictBoolean(fields.Boolean):
    """A JSON true or false; no strings or numbers standing in for them."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError("Not a valid boolean (use true or false).")
        return value


class QueryInteger(fields.Integer):
    """A whole number in a query string, as sent: ASCII digits only (" 10", "１０", "+5" and
    "1e3" are refused, never read as 10)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and not (value.isascii() and value.isdigit()):
            raise ValidationError("Not a valid integer (ASCII digits only).")
        return super()._deserialize(value, attr, data, **kwargs)


class QueryBoolean(fields.Boolean):
    """A flag in a query string: true or false, in any case (Python's requests sends True)."""

    def __init__(self, **kwargs):
        metadata = kwargs.setdefault("metadata", {})
        metadata["description"] = " ".join(filter(None, (
            metadata.get("description"), "(true or false, in any case)")))
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        flag = value.lower() if isinstance(value, str) else None
        if flag not in ("true", "false"):
            raise ValidationError("Not a valid boolean (use true or false).")
        return flag == "true"


class StrictDate(fields.Date):
    """A calendar date written exactly as YYYY-MM-DD."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not _DATE.match(value):
            raise ValidationError("Must be a date written as YYYY-MM-DD.")
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            raise ValidationError("Not a valid calendar date.") from None


def format_timestamp(value):
    """A stored UTC time as RFC 3339 with a trailing Z (None stays None)."""
    if value is None:
        return None
    if isinstance(value, str):  # SQLite may hand back text
        value = datetime.datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class AwareTimestamp(fields.AwareDateTime):
    """An RFC 3339 time with an offset, loaded as the same moment in UTC.

    An offset can push a time written inside years 1-9999 out of them in UTC
    (9999-12-31T23:59:59-23:59): that is a validation error of the field.
    """

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(datetime.timezone.utc)
        except OverflowError:
            raise ValidationError("In UTC this time falls outside the years 1 to 9999.") from None


class Timestamp(fields.DateTime):
    """A stored UTC time rendered as RFC 3339 with a trailing Z."""

    def _serialize(self, value, attr, obj, **kwargs):
        return format_timestamp(value)
