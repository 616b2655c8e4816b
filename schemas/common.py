"""Field types and the base schema shared by every resource."""
import functools
import re
from collections.abc import Mapping

import pycountry
from email_validator import EmailNotValidError, validate_email
from marshmallow import RAISE, Schema, ValidationError, fields, missing, pre_load, validate

from schemas.custom_fields import CustomFields
from schemas.patterns import (CONTROL_CHARACTERS, FORMAT_CHARACTERS, SURROGATES, TEXT_FORBIDDEN,
                              WHITESPACE, character_set, code_pattern, key_pattern,
                              text_pattern)
from schemas.values import Amount, Timestamp

LANGUAGE_CODES = frozenset(lang.alpha_2 for lang in pycountry.languages if hasattr(lang, "alpha_2"))
COUNTRY_CODES = frozenset(country.alpha_2 for country in pycountry.countries)
CURRENCY_CODES = frozenset(currency.alpha_3 for currency in pycountry.currencies)

KEY_MAX_LENGTH = 128
EMAIL_MAX_LENGTH = 254


_CONTROL = re.compile(f"[{character_set(CONTROL_CHARACTERS)}]")
_FORMAT = re.compile(f"[{character_set(FORMAT_CHARACTERS)}]")
_SURROGATE = re.compile(f"[{character_set(SURROGATES)}]")
_EDGE = re.compile(f"[{WHITESPACE}]")
_TEXT_FORBIDDEN = re.compile(f"[{TEXT_FORBIDDEN}]")


def validate_key(value):
    """Check a caller's key (account number, reference...): raise ValidationError if unusable."""
    if not isinstance(value, str):
        raise ValidationError("Not a valid string.")
    if not 1 <= len(value) <= KEY_MAX_LENGTH:
        raise ValidationError(f"Must be 1 to {KEY_MAX_LENGTH} characters long.")
    if _EDGE.match(value[0]) or _EDGE.match(value[-1]):
        raise ValidationError("Must not start or end with whitespace.")
    if "/" in value:
        raise ValidationError("Must not contain '/'.")
    if value in (".", ".."):
        raise ValidationError("Must not be '.' or '..'.")
    if _CONTROL.search(value):
        raise ValidationError("Must not contain control characters.")
    if _FORMAT.search(value):
        raise ValidationError("Must not contain invisible formatting characters "
                              "(Unicode category Cf: zero-width spaces, bidirectional "
                              "controls, the BOM...).")
    if _SURROGATE.search(value):
        raise ValidationError("Must not contain surrogates.")


class SearchText(fields.String):
    """Free text in a query string: no control, format or surrogate characters."""

    openapi_component = "PrintableText"

    @staticmethod
    def openapi_schema():
        """The document's statement of the rule."""
        return {"type": "string", "pattern": text_pattern(), "examples": ["acme"],
                "description": "No control characters (line breaks included), invisible "
                               "formatting characters (Unicode category Cf) or surrogates."}

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if _TEXT_FORBIDDEN.search(text):
            raise ValidationError("Must not contain control characters, invisible formatting "
                                  "characters (Unicode category Cf) or surrogates.")
        return text


class Key(fields.String):
    """A caller's key naming another record of the same tenant."""

    openapi_component = "Key"

    def __init__(self, **kwargs):
        # "" is null for every field (blank means null): say what a key must be instead.
        messages = {"null": f"A key is required: 1 to {KEY_MAX_LENGTH} characters, "
                            "not empty or null."}
        super().__init__(validate=validate_key,
                         error_messages={**messages, **kwargs.pop("error_messages", {})},
                         **kwargs)

    @staticmethod
    def openapi_schema():
        """The document's statement of validate_key."""
        return {"type": "string", "minLength": 1, "maxLength": KEY_MAX_LENGTH,
                "pattern": key_pattern(KEY_MAX_LENGTH), "examples": ["A-1001"],
                "description": "A caller's key (account number, document number, reference): "
                               "1-128 characters, case-sensitive; no '/', control characters, "
                               "invisible formatting characters (Unicode category Cf) or "
                               "surrogates; no whitespace at either end; not '.' or '..'. "
                               "Never stripped or changed."}


class RecordKey(fields.String):
    """A record's own key field: answered, and ignored in a body whatever its value (the path
    names the record). The document says so rather than marking it read-only, so that a
    batch item, which carries its key, can be stated as the body plus a required Key."""

    openapi_request = {"description": "Ignored: the path names the record"}

    def __init__(self, **kwargs):
        super().__init__(dump_only=True, **kwargs)


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
        return {"type": "string", "pattern": code_pattern(cls.codes),
                "examples": [cls.example],
                "description": f"{cls.label[0].upper()}{cls.label[1:]}, in any case; stored "
                               f"in {'upper' if cls.upper else 'lower'} case."}


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
NAMED_RULE_FIELDS = (Key, SearchText, Language, Country, Currency, CustomFields, Amount(),
                     Amount(minimum=0))


class Email(fields.String):
    """An email address, checked by email-validator (syntax only, IDN domains welcome).

    The address is kept as the caller wrote it (stripped); comparisons are
    case-insensitive (services/people.py normalises).
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {}).update(format="idn-email", maxLength=EMAIL_MAX_LENGTH)
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


UNSTORABLE_TEXT = "Strings must not contain NUL characters or unpaired surrogates."


def _unstorable(text):
    """True for text no database stores: NUL, or a lone surrogate (it has no UTF-8 form)."""
    if "\x00" in text:
        return True
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def unstorable_strings(value):
    """marshmallow-style messages for the strings in `value` that cannot be stored, or None."""
    if isinstance(value, str):
        return [UNSTORABLE_TEXT] if _unstorable(value) else None
    if isinstance(value, Mapping):
        found = {}
        for name, item in value.items():
            if isinstance(name, str) and _unstorable(name):
                found[name] = [UNSTORABLE_TEXT]
            elif (inner := unstorable_strings(item)) is not None:
                found[name] = inner
        return found or None
    if isinstance(value, (list, tuple)):
        found = {index: inner for index, item in enumerate(value)
                 if (inner := unstorable_strings(item)) is not None}
        return found or None
    return None


class StrictSchema(Schema):
    """Rejects unknown fields, ignores read-only ones, strips strings, reads "" as null.

    A string holding NUL or a lone surrogate fails its own field; the lists of
    a bulk body are left to the schema of each item, so such an item fails alone.

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
        read_only, keys, texts, defaults, null_filters, bulk = self._input_rules()
        # A query string is never stripped, and "" is null only where a filter takes null.
        in_body = isinstance(data, dict)
        cleaned, unstorable = {}, {}
        for name, value in data.items():
            if name in read_only:
                continue
            if name not in bulk and (found := unstorable_strings(value)) is not None:
                unstorable[name] = found
                continue
            if isinstance(value, str) and (in_body or name in null_filters):
                if name in texts:
                    # A value longer than its field allows is refused as sent (the document's
                    # maxLength counts what is sent), not first stripped to fit.
                    too_long = len(value) > self._max_lengths().get(name, len(value))
                    value = (value.strip() if in_body and not too_long else value) or None
                elif name in keys:
                    value = value or None
            if value is None and name in defaults:
                default = defaults[name]
                value = default() if callable(default) else default
            cleaned[name] = value
        if unstorable:
            raise ValidationError(unstorable)
        return cleaned

    def _max_lengths(self):
        """{field name: the longest string its Length validator takes}, once per class."""
        cls = type(self)
        found = cls.__dict__.get("_max_lengths_cache")
        if found is None:
            declared = self.declared_fields
            found = {name: field.metadata["maxLength"] for name, field in declared.items()
                     if "maxLength" in field.metadata}  # fields that check it themselves
            found.update({name: validator.max for name, field in declared.items()
                          for validator in field.validators
                          if isinstance(validator, validate.Length) and validator.max is not None})
            cls._max_lengths_cache = found
        return found

    def _input_rules(self):
        """(read-only, key, other, nullable and bulk-list field names, defaults), once per class."""
        cls = type(self)
        rules = cls.__dict__.get("_input_rules_cache")
        if rules is None:
            declared = self.declared_fields
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
                # Lists of a bulk body: each item is loaded, and fails, on its own.
                frozenset(name for name, field in declared.items()
                          if getattr(field, "items_load_alone", False)),
            )
            cls._input_rules_cache = rules
        return rules


class NoBodySchema(StrictSchema):
    """The body of a route that takes none: nothing, or an empty object."""


NO_BODY = NoBodySchema()


class QuerySchema(StrictSchema):
    """A query string: values are taken as sent (never stripped), and an empty value is
    null only for a filter that takes null (see StrictSchema)."""


# A field of a record's answer that lists and lookups leave out (the document then does not
# list it as required; app/api/document.py).
ONE_RECORD_ONLY_KEY = "x-one-record-only"
ONE_RECORD_ONLY = {ONE_RECORD_ONLY_KEY: True}

# The read-only fields every record's EXAMPLE ends with.
RECORD_EXAMPLE_STAMP = {"version": 1, "created_at": "2026-11-02T08:15:00.000000Z",
                        "updated_at": "2026-11-02T08:15:00.000000Z", "archived_at": None}


class RecordSchema(StrictSchema):
    """Fields every record has; each resource adds its key field and its own fields.

    EXAMPLE, where a schema declares it, is the record as GET returns it: the
    document shows it on the request bodies, its read-only fields left out.
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
