"""Custom fields: a flat object of caller-defined values, each stored exactly."""
import math
import re
import sys
from decimal import Decimal

from marshmallow import ValidationError, fields

from schemas.patterns import END

CUSTOM_FIELDS_MAX_KEYS = 50
CUSTOM_FIELD_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
CUSTOM_FIELD_MAX_STRING = 1000

_INT64 = 2 ** 63
# Non-integers are kept as normal doubles (magnitude 2.2250738585072014e-308 to 1e308; no
# subnormals, whose precision is less than a double's); others must be strings.
_FLOAT_EXPONENTS = 308
_SMALLEST_EXACT = sys.float_info.min


def _custom_field_number(value):
    """An int (64-bit) or a float that is exactly the number sent; ValidationError otherwise."""
    number = Decimal(value) if not isinstance(value, Decimal) else value
    if not number.is_finite():
        raise ValidationError("Must be a finite number.")
    sent_as_integer = isinstance(value, int) or number.as_tuple().exponent == 0
    if sent_as_integer and not -_INT64 <= number < _INT64:
        # An integer sent as one (no fraction, no exponent) stays an integer or is refused:
        # 10**30 would come back as 1e+30, a float that is not the number sent.
        raise ValidationError("Integers are 64-bit (-2**63 to 2**63 - 1); send a larger one "
                              "as a string.")
    # Sized by exponent before any arithmetic: 1e1000000 overflows the decimal context.
    integral = number.as_tuple().exponent >= 0 or number == number.to_integral_value()
    if integral and number.adjusted() < 19 and -_INT64 <= int(number) < _INT64:
        return int(number)
    if -_FLOAT_EXPONENTS <= number.adjusted() <= _FLOAT_EXPONENTS:
        as_float = float(number)
        if (not math.isinf(as_float) and abs(as_float) >= _SMALLEST_EXACT
                and Decimal(repr(as_float)) == number):
            return as_float
    raise ValidationError("This number cannot be stored exactly (integers are 64-bit, other "
                          "numbers must be exactly a double: at most 17 significant digits, "
                          "magnitude 2.2250738585072014e-308 to 1e308); send it as a string.")


def _custom_field_value(value):
    if value is None or isinstance(value, (bool, str)):
        if isinstance(value, str) and len(value) > CUSTOM_FIELD_MAX_STRING:
            raise ValidationError(f"Strings are limited to {CUSTOM_FIELD_MAX_STRING} characters.")
        return value
    if isinstance(value, (int, float, Decimal)):
        return _custom_field_number(value)
    raise ValidationError("Must be a string, number, boolean or null (no objects or arrays).")


class CustomFields(fields.Field):
    """A flat object of caller-defined values."""

    openapi_component = "CustomFields"
    answers_null = False  # a record without custom fields answers {}

    @staticmethod
    def openapi_schema():
        """Names by CUSTOM_FIELD_KEY; values a string, a number, a boolean or null.

        A number is a 64-bit integer, or else must be exactly a normal double (magnitude
        2.2250738585072014e-308 or more). JSON Schema cannot say "exactly a double" (a
        float always is; 2**64 + 1 is not), so the document states the magnitude and says
        the rest in
        words.
        """
        return {"type": "object", "maxProperties": CUSTOM_FIELDS_MAX_KEYS,
                "description": "Flat object of caller-defined values (at most 50 keys). PUT "
                               "replaces it; PATCH merges it key by key, and null removes a "
                               "key.",
                "propertyNames": {"pattern": CUSTOM_FIELD_KEY.pattern[:-1] + END},
                "additionalProperties": {"anyOf": [
                    {"type": "string", "maxLength": CUSTOM_FIELD_MAX_STRING},
                    {"type": "integer", "minimum": -_INT64, "maximum": _INT64 - 1},
                    {"type": "number", "not": {"exclusiveMinimum": -_SMALLEST_EXACT,
                                               "exclusiveMaximum": _SMALLEST_EXACT},
                     "description": "Any other number must be exactly a double (at most 17 "
                                    "significant digits): send it as a string otherwise"},
                    {"type": "boolean"}, {"type": "null"}]}}

    def _serialize(self, value, attr, obj, **kwargs):
        return {} if value is None else value

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ValidationError("Must be an object.")
        if len(value) > CUSTOM_FIELDS_MAX_KEYS:
            raise ValidationError(f"At most {CUSTOM_FIELDS_MAX_KEYS} keys are allowed.")
        errors, result = {}, {}
        for key, item in value.items():
            if not CUSTOM_FIELD_KEY.fullmatch(key):
                errors[key] = ["Key must match ^[A-Za-z_][A-Za-z0-9_.-]{0,63}$."]
                continue
            try:
                result[key] = _custom_field_value(item)
            except ValidationError as error:
                errors[key] = error.messages
        if errors:
            raise ValidationError(errors)
        return result
