"""Field types and the base schema shared by every resource."""
import datetime
import functools
import math
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

import pycountry
from email_validator import EmailNotValidError, validate_email
from marshmallow import RAISE, Schema, ValidationError, fields, missing, pre_load, validate

LANGUAGE_CODES = frozenset(lang.alpha_2 for lang in pycountry.languages if hasattr(lang, "alpha_2"))
COUNTRY_CODES = frozenset(country.alpha_2 for country in pycountry.countries)
CURRENCY_CODES = frozenset(currency.alpha_3 for currency in pycountry.currencies)

KEY_MAX_LENGTH = 128
AMOUNT_MAX_INTEGER_DIGITS = 13
AMOUNT_MAX_DECIMALS = 4
CUSTOM_FIELDS_MAX_KEYS = 50
CUSTOM_FIELD_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
CUSTOM_FIELD_MAX_STRING = 1000
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# ASCII digits only: "١٢٣" is a digit string to Python, never an amount to us.
_PLAIN_DECIMAL = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")
EMAIL_MAX_LENGTH = 254


def _is_key_character(character):
    """A character a key may hold anywhere (a space may stand inside a key, not at its ends)."""
    return character.isprintable() and character not in "/ \ufffd"


def validate_key(value):
    """Check a caller's key (account number, reference...): raise ValidationError if unusable."""
    if not isinstance(value, str):
        raise ValidationError("Not a valid string.")
    if not 1 <= len(value) <= KEY_MAX_LENGTH:
        raise ValidationError(f"Must be 1 to {KEY_MAX_LENGTH} characters long.")
    if value != value.strip():
        raise ValidationError("Must not start or end with whitespace.")
    if "/" in value:
        raise ValidationError("Must not contain '/'.")
    if value in (".", ".."):
        raise ValidationError("Must not be '.' or '..'.")
    if not value.isprintable():
        raise ValidationError("Must contain printable characters only (no control characters).")
    if "\ufffd" in value:  # what the server makes of invalid UTF-8 in a URL
        raise ValidationError("Must be valid UTF-8 (U+FFFD is not accepted).")


# The end of the text: Python's `$` also matches before a final line break, ECMA's does not.
END = r"$(?!\n)"


@functools.cache
def character_class(predicate):
    """A regular-expression class of every code point for which `predicate` holds.

    The OpenAPI document states the key and text rules with it, derived from
    the very predicates the server checks, so the two cannot drift apart.
    """
    ranges, start = [], None
    for code in range(0x110000):
        if predicate(chr(code)):
            if start is None:
                start = code
        elif start is not None:
            ranges.append((start, code - 1))
            start = None
    if start is not None:
        ranges.append((start, 0x10FFFF))

    def literal(code):
        character = chr(code)
        return "\\" + character if character in "\\]^-[" else character
    return "[" + "".join(literal(low) if low == high else f"{literal(low)}-{literal(high)}"
                         for low, high in ranges) + "]"


@functools.cache
def key_pattern():
    """validate_key as a regular expression: printable, no '/', no space at either end,
    not '.' or '..' (its length, 1-128, is stated apart)."""
    allowed = character_class(_is_key_character)[:-1] + " ]"  # the class once: it is large
    return rf"^(?!\.\.?$| |[\s\S]* $){allowed}{{1,{KEY_MAX_LENGTH}}}{END}"


def _is_printable(character):
    return character.isprintable()


@functools.cache
def printable_pattern():
    """str.isprintable() as a regular expression: no control, format or unassigned
    characters, no line breaks, no lone surrogates."""
    return rf"^{character_class(_is_printable)}*{END}"


class SearchText(fields.String):
    """Free text in a query string: no NUL, control characters or lone surrogates."""

    openapi_component = "PrintableText"

    @staticmethod
    def openapi_schema():
        """The document's statement of the rule."""
        return {"type": "string", "pattern": printable_pattern(), "examples": ["acme"],
                "description": "Printable characters only: no control or format characters, "
                               "no line breaks."}

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if not text.isprintable():
            raise ValidationError("Must contain printable characters only.")
        return text


class Key(fields.String):
    """A caller's key naming another record of the same tenant."""

    openapi_component = "Key"

    def __init__(self, **kwargs):
        super().__init__(validate=validate_key, **kwargs)

    @staticmethod
    def openapi_schema():
        """The document's statement of validate_key."""
        return {"type": "string", "minLength": 1, "maxLength": KEY_MAX_LENGTH,
                "pattern": key_pattern(), "examples": ["A-1001"],
                "description": "A caller's key (account number, document number, reference): "
                               "1-128 printable characters, case-sensitive, no '/', no space at "
                               "either end, not '.' or '..'. Never stripped or changed."}


def Text(max_length, **kwargs):
    """A string field of at most `max_length` characters."""
    return fields.String(validate=validate.Length(max=max_length), **kwargs)


class _CodeField(fields.String):
    """A code checked against a real ISO list, normalised to one case."""

    codes = frozenset()
    length = 2
    upper = True
    label = "code"
    example = None
    openapi_component = None

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        code = text.upper() if self.upper else text.lower()
        if len(code) != self.length or code not in self.codes:
            raise ValidationError(f"Not a valid {self.label}: {text!r}.")
        return code

    @classmethod
    def openapi_schema(cls):
        """The real code list, in any case, as the document states it."""
        return {"type": "string", "pattern": _code_pattern(cls.codes),
                "examples": [cls.example],
                "description": f"{cls.label[0].upper()}{cls.label[1:]}, in any case; stored "
                               f"in {'upper' if cls.upper else 'lower'} case."}


@functools.cache
def _code_pattern(codes):
    """Every code of the list, each letter in either case ("[eE][nN]"); a body's
    strings are stripped first, so surrounding whitespace is fine."""
    spelled = ("".join(f"[{letter.lower()}{letter.upper()}]" for letter in code)
               for code in sorted(codes))
    return rf"^\s*(?:{'|'.join(spelled)})\s*{END}"


class Language(_CodeField):
    codes, length, upper, label = LANGUAGE_CODES, 2, False, "ISO 639-1 language code"
    example = "en"
    openapi_component = "LanguageCode"


class Country(_CodeField):
    codes, length, upper, label = COUNTRY_CODES, 2, True, "ISO 3166-1 alpha-2 country code"
    example = "DE"
    openapi_component = "CountryCode"


class Currency(_CodeField):
    codes, length, upper, label = CURRENCY_CODES, 3, True, "ISO 4217 currency code"
    example = "EUR"
    openapi_component = "CurrencyCode"


# Fields whose rule the document states once, as a named schema.
NAMED_RULE_FIELDS = (Key, SearchText, Language, Country, Currency)


class Email(fields.String):
    """An email address, checked by email-validator (syntax only, IDN domains welcome).

    The address is kept as the caller wrote it (stripped); comparisons are
    case-insensitive (services/people.py normalises).
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {}).update(format="email", maxLength=EMAIL_MAX_LENGTH)
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > EMAIL_MAX_LENGTH:
            raise ValidationError(f"Longer than maximum length {EMAIL_MAX_LENGTH}.")
        problem = email_problem(text)
        if problem is not None:
            raise ValidationError(f"Not a valid email address: {problem}")
        return text


@functools.lru_cache(maxsize=65536)
def email_problem(address):
    """Why email-validator refuses an address (syntax only), or None.

    Remembered per worker: nightly full syncs send the same addresses again,
    and the check (~50 µs, mostly IDNA rules on the domain) was the largest
    single cost of loading a batch item.
    """
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as error:
        return str(error)
    return None


def format_amount(value):
    """Render an exact amount as a string with at least two decimals ("12.50", "0.1234")."""
    whole, _, fraction = format(value, "f").partition(".")
    return f"{whole}.{fraction.rstrip('0').ljust(2, '0')}"


class Amount(fields.Field):
    """A money amount: JSON number or numeric string, stored exactly, returned as a string."""

    def __init__(self, minimum=None, **kwargs):
        self.minimum = minimum
        kwargs.setdefault("metadata", {}).update(
            description="Decimal amount, up to 13 integer digits and 4 decimals; "
                        "a JSON number or a string on input, a string on output.")
        super().__init__(**kwargs)

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
                          number]}

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


class Timestamp(fields.DateTime):
    """A stored UTC time rendered as RFC 3339 with a trailing Z."""

    def _serialize(self, value, attr, obj, **kwargs):
        return format_timestamp(value)


_INT64 = 2 ** 63
# Non-integers are kept as doubles of magnitude 1e-308 to 1e308; others must be strings.
_FLOAT_EXPONENTS = 308
_SMALLEST_EXACT = 10.0 ** -_FLOAT_EXPONENTS


def _custom_field_number(value):
    """An int (64-bit) or a float that is exactly the number sent; ValidationError otherwise."""
    number = Decimal(value) if not isinstance(value, Decimal) else value
    if not number.is_finite():
        raise ValidationError("Must be a finite number.")
    # Sized by exponent before any arithmetic: 1e1000000 overflows the decimal context.
    integral = number.as_tuple().exponent >= 0 or number == number.to_integral_value()
    if integral and number.adjusted() < 19 and -_INT64 <= int(number) < _INT64:
        return int(number)
    if -_FLOAT_EXPONENTS <= number.adjusted() <= _FLOAT_EXPONENTS:
        as_float = float(number)
        if not math.isinf(as_float) and Decimal(repr(as_float)) == number:
            return as_float
    raise ValidationError("This number cannot be stored exactly (integers are 64-bit, decimals "
                          "up to 15 significant digits); send it as a string.")


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

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {}).update(
            description="Flat object of caller-defined values (at most 50 keys). PUT replaces "
                        "it; PATCH merges it key by key, and null removes a key.")
        super().__init__(**kwargs)

    @staticmethod
    def openapi_schema():
        """Names by CUSTOM_FIELD_KEY; values a string, a number stored exactly, a boolean or
        null (an integer is 64-bit; any other number must be exactly a double, magnitude
        1e-308 or more: send it as a string otherwise)."""
        return {"type": "object", "maxProperties": CUSTOM_FIELDS_MAX_KEYS,
                "propertyNames": {"pattern": CUSTOM_FIELD_KEY.pattern[:-1] + END},
                "additionalProperties": {"anyOf": [
                    {"type": "string", "maxLength": CUSTOM_FIELD_MAX_STRING},
                    {"type": "integer", "minimum": -_INT64, "maximum": _INT64 - 1},
                    {"type": "number", "not": {"anyOf": [
                        {"type": "integer"},
                        {"exclusiveMinimum": -_SMALLEST_EXACT, "exclusiveMaximum": _SMALLEST_EXACT}]}},
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


class StrictSchema(Schema):
    """Rejects unknown fields, ignores read-only ones, strips strings, reads "" as null.

    A key (Key field) is never stripped or otherwise changed: one with stray
    whitespace fails its own rule. A null, or "", for a field with a default
    gives the default (`is_primary`, `document_type`), in PUT and PATCH alike.
    """

    class Meta:
        unknown = RAISE

    @pre_load
    def _normalise_input(self, data, **kwargs):
        if not isinstance(data, Mapping):  # webargs hands the query string as a Mapping
            return data
        read_only, keys, texts, defaults, null_filters = self._input_rules()
        # A query string is never stripped, and "" is null only where a filter takes null.
        in_body = isinstance(data, dict)
        cleaned = {}
        for name, value in data.items():
            if name in read_only:
                continue
            if isinstance(value, str) and (in_body or name in null_filters):
                if name in texts:
                    value = (value.strip() if in_body else value) or None
                elif name in keys:
                    value = value or None
            if value is None and name in defaults:
                default = defaults[name]
                value = default() if callable(default) else default
            cleaned[name] = value
        return cleaned

    @classmethod
    def _input_rules(cls):
        """(read-only, key, other and nullable field names, defaults), once per class."""
        rules = cls.__dict__.get("_input_rules_cache")
        if rules is None:
            declared = cls._declared_fields
            rules = (
                frozenset(name for name, field in declared.items() if field.dump_only),
                frozenset(name for name, field in declared.items() if isinstance(field, Key)),
                frozenset(name for name, field in declared.items()
                          if not field.dump_only and not isinstance(field, Key)),
                {name: field.load_default for name, field in declared.items()
                 if not field.allow_none and field.load_default is not missing},
                # Nullable with no default: filters where "" asks for null. (A field whose
                # default is None is nullable too, but there "" is simply invalid.)
                frozenset(name for name, field in declared.items()
                          if field.allow_none and field.load_default is missing),
            )
            cls._input_rules_cache = rules
        return rules


class QuerySchema(StrictSchema):
    """A query string: values are taken as sent (never stripped), and an empty value is
    null only for a filter that takes null (see StrictSchema)."""


class BulkList(fields.List):
    """The list of a bulk body (items, links, events): 1 to the deployment's maximum."""

    max_items_setting = "MAX_BATCH_ITEMS"

    def __init__(self, item, **kwargs):
        super().__init__(item, required=True, validate=validate.Length(min=1), **kwargs)


class ItemErrorSchema(Schema):
    EXAMPLE = {"pointer": "#/items/1/email", "detail": "Not a valid email address: The email "
                                                       "address is not valid. It must have "
                                                       "exactly one @-sign."}

    pointer = fields.String(required=True, metadata={
        "description": "JSON Pointer into the request body (#/items/3/email)"})
    detail = fields.String(required=True)


class Typed(fields.Raw):
    """A value the view has already serialised, passed through as it is; the document
    shows it as one of `choices` (marshmallow schemas, tried in that order)."""

    def __init__(self, *choices, **kwargs):
        self.choices = choices
        super().__init__(**kwargs)


def typed_envelope(envelope_class, item_schema, name):
    """A bulk envelope as the document shows it, its items typed by `item_schema`.

    The server reads each item on its own (an item that is not valid fails
    alone), so the envelope it loads takes any item; this one says what a
    valid item is.
    """
    ((list_name, field),) = envelope_class._declared_fields.items()
    return Schema.from_dict({list_name: BulkList(fields.Nested(item_schema),
                                                 metadata=field.metadata)}, name=name)


# The read-only fields every record's EXAMPLE ends with.
RECORD_EXAMPLE_STAMP = {"version": 1, "created_at": "2026-11-02T08:15:00.000000Z",
                        "updated_at": "2026-11-02T08:15:00.000000Z", "archived_at": None}


class RecordSchema(StrictSchema):
    """Fields every record has; each resource adds its key field and its own fields.

    EXAMPLE, where a schema declares it, is the record as GET returns it: the
    document shows it, and the request examples derived from it leave its
    read-only fields out.
    """

    custom_fields = CustomFields(load_default=dict, allow_none=True)
    version = fields.Integer(dump_only=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)
    archived_at = Timestamp(dump_only=True, allow_none=True, metadata={
        "description": "When the record was archived; null while it is active"})


class AddressFields(StrictSchema):
    """A postal address: nested in accounts, flat in contacts."""

    address1 = Text(255, allow_none=True, load_default=None)
    address2 = Text(255, allow_none=True, load_default=None)
    city = Text(255, allow_none=True, load_default=None)
    state = Text(255, allow_none=True, load_default=None)
    zip = Text(50, allow_none=True, load_default=None)
    country = Country(allow_none=True, load_default=None)


class PersonFields(StrictSchema):
    """How to reach a person: contacts and representatives alike."""

    email = Email(allow_none=True, load_default=None)
    email_status = fields.String(dump_only=True, allow_none=True, metadata={
        "enum": ["valid", "bounced", "complained", None]})
    phone = Text(50, allow_none=True, load_default=None)
    mobile_phone = Text(50, allow_none=True, load_default=None)
    fax = Text(50, allow_none=True, load_default=None)
    language = Language(allow_none=True, load_default=None)
    title = Text(100, allow_none=True, load_default=None)
    department = Text(100, allow_none=True, load_default=None)
