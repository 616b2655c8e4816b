"""tap-ar-ingest: a Singer tap (Meltano Singer SDK) emitting ar-ingest collections from the
change feed.

One stream per collection, its schema the record schema of the live OpenAPI
document's GET-one answer. The bookmark is the feed cursor: the stream emits
STATE after each page, once all its records are out, so a resumed run starts
at the first page not fully emitted and misses no commit. Tombstones, and a
filtered feed's reports of records leaving the view, become records with
`_sdc_deleted_at`.
"""
import copy
import os

from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.singerlib import resolve_schema_references

from app.client import API_PREFIX, COLLECTIONS, IngestClient, key_fields_of
from app.singer.sdk_internals import PageBookmarkedStream

API_KEY_VARIABLE = "AR_INGEST_API_KEY"
_FEED_MARKERS = ("deleted", "matches_filter")


def record_schema(document, collection):
    """The JSON Schema of one collection's records, from an OpenAPI document: the schema of
    the GET-one operation's 200 answer (whatever its component is named), $refs inlined."""
    key_field = key_fields_of(document).get(collection)
    if key_field is None:
        raise ValueError(f"The OpenAPI document has no collection {collection!r}")
    path = f"{API_PREFIX}/{collection}/{{{key_field}}}"
    try:
        answer = document["paths"][path]["get"]["responses"]["200"]
        schema = copy.deepcopy(answer["content"]["application/json"]["schema"])
    except KeyError as missing:
        raise ValueError(f"The OpenAPI document has no GET {path} answer ({missing})") from None
    rooted = {"components": copy.deepcopy(document.get("components", {})), **schema}
    resolved = resolve_schema_references(rooted)
    resolved.pop("components", None)
    resolved = _typed(resolved)
    properties = dict(resolved.get("properties") or {})
    if key_field not in properties:
        raise ValueError(f"The {collection} record schema has no {key_field}")
    # A tombstone holds only the key, version and time: nothing else is required, and every
    # other field may be missing (null), as are the link summaries the feed does not carry.
    properties = {name: prop if name == key_field else _nullable(prop)
                  for name, prop in properties.items()}
    properties["_sdc_deleted_at"] = {"type": ["string", "null"], "format": "date-time"}
    return {"type": "object", "properties": properties,
            "required": [key_field]}


_JSON_TYPES = {str: "string", bool: "boolean", int: "integer", float: "number",
               type(None): "null"}


def _typed(schema):
    """The schema with a `type` beside every bare `const` (`{"const": ""}`): Singer targets
    and the SDK tell types only by `type`."""
    if isinstance(schema, list):
        return [_typed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    typed = {name: _typed(value) for name, value in schema.items()}
    if "const" in typed and "type" not in typed and type(typed["const"]) in _JSON_TYPES:
        typed["type"] = _JSON_TYPES[type(typed["const"])]
    return typed


def _nullable(prop):
    if "type" in prop:
        kinds = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
        return {**prop, "type": kinds if "null" in kinds else [*kinds, "null"]}
    if "anyOf" in prop and {"type": "null"} not in prop["anyOf"]:
        return {**prop, "anyOf": [*prop["anyOf"], {"type": "null"}]}
    return prop


def feed_item_as_record(item, key_field):
    """A feed item as a record: a tombstone or an exit report becomes the key, version and
    `_sdc_deleted_at` (the time of the change); a live record loses the feed's markers."""
    if item.get("deleted") or item.get("matches_filter") is False:
        return {key_field: item[key_field], "version": item.get("version"),
                "updated_at": item.get("updated_at"),
                "_sdc_deleted_at": item.get("updated_at")}
    record = {name: value for name, value in item.items() if name not in _FEED_MARKERS}
    record["_sdc_deleted_at"] = None
    return record


class FeedStream(PageBookmarkedStream):
    """One collection's change feed, resumed from the cursor in the stream's state."""

    # The bookmark is the cursor after a page, not a field of any record.
    forced_replication_method = "INCREMENTAL"

    def __init__(self, tap, collection, schema):
        self.collection = collection
        super().__init__(tap, schema=schema, name=collection)
        self.primary_keys = schema["required"]  # the key field

    def get_records(self, context):
        """Every change since the stored cursor, page after page; STATE after each page."""
        state = self.get_context_state(context)
        filters = (self.config.get("filters") or {}).get(self.name) or {}
        feed = self.owning_tap.client.collection(self.collection).feed(
            cursor=state.get("cursor"), limit=self.config.get("page_size", 1000), **filters)
        key_field = self.primary_keys[0]
        for page in feed.pages():
            for item in page["items"]:
                yield feed_item_as_record(item, key_field)
            # Resumed here, the page's records are written: the page's cursor is safe.
            if page["next_cursor"] != state.get("cursor"):
                state["cursor"] = page["next_cursor"]
                self.state_manager.is_flushed = False
                self.emit_state()


class TapArIngest(Tap):
    """Emits ar-ingest collections from their change feeds."""

    name = "tap-ar-ingest"
    config_jsonschema = th.PropertiesList(
        th.Property("url", th.StringType, required=True, title="Server URL",
                    description="The ar-ingest server, e.g. https://ingest.example.com"),
        th.Property("api_key", th.StringType, secret=True, title="API key",
                    description=f"A read (or write) key; else the {API_KEY_VARIABLE} variable"),
        th.Property("collections", th.ArrayType(th.StringType(allowed_values=sorted(COLLECTIONS))),
                    description="The collections to emit (default: all four)"),
        th.Property("filters", th.ObjectType(additional_properties=th.ObjectType()),
                    description="Feed filters per stream, e.g. {\"contacts\": "
                                "{\"account_number\": \"A-1\"}}: records leaving the "
                                "filtered view are emitted as deletions",
                    examples=[{"contacts": {"account_number": "A-1"}}]),
        th.Property("page_size", th.IntegerType(minimum=1, maximum=1000), default=1000,
                    description="Feed items per request (and per STATE message)"),
        th.Property("retries", th.IntegerType(minimum=0), default=10,
                    description="Tries per request on connection errors, 429 and 5xx"),
    ).to_dict()

    @property
    def client(self):
        """The IngestClient of this tap (made on first use)."""
        if getattr(self, "_client", None) is None:
            api_key = self.config.get("api_key") or os.environ.get(API_KEY_VARIABLE)
            if not api_key:
                raise ConfigValidationError(f"Give api_key in the config or {API_KEY_VARIABLE}.")
            self._client = IngestClient(self.config["url"], api_key,
                                        retries=self.config.get("retries", 10))
        return self._client

    def discover_streams(self):
        """A stream per collection, each with its schema from the live OpenAPI document."""
        document = self.client.request("GET", "/openapi.json")
        names = self.config.get("collections") or sorted(COLLECTIONS)
        unknown = set(self.config.get("filters") or {}) - set(names)
        if unknown:
            raise ConfigValidationError(f"filters name streams this tap does not emit: "
                                        f"{', '.join(sorted(unknown))}")
        return [FeedStream(self, name, record_schema(document, name)) for name in names]


if __name__ == "__main__":
    TapArIngest.cli()
