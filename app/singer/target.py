"""target-ar-ingest: a Singer target (Meltano Singer SDK) loading streams into ar-ingest.

RECORD messages become batch upserts, `_sdc_deleted_at` a deletion, a full
table (records with a version, ended by ACTIVATE_VERSION) a sync run; what the
server refuses goes to the reject file. The SDK emits STATE only after it has
drained every sink, and every drain here sends all queued records of every
stream (app/singer/loader.py), so an emitted STATE follows the server's
acknowledgement of every record received before it.
"""
import os

from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError

from app.client import COLLECTIONS, IngestClient
from app.singer.loader import Loader
from app.singer.sdk_internals import MessageHooksTarget, UnparsedTimestampsSink

API_KEY_VARIABLE = "AR_INGEST_API_KEY"


class UnmappedStream(Exception):
    """A stream that maps to no collection (refused at its SCHEMA message)."""


class ArIngestSink(UnparsedTimestampsSink):
    """One stream's records, queued in the target's loader in arrival order."""

    @property
    def include_sdc_metadata_properties(self):
        # The SDK strips `_sdc_deleted_at` and the table version from records unless
        # metadata is on; the loader needs both and never sends `_sdc_*` columns.
        return True

    @property
    def max_size(self):
        return self.config.get("batch_size", 1000)

    def get_validator(self):
        # The server judges records: one it refuses is a reject with its reasons, where
        # the SDK's own validation would stop the whole stream (dates stay text for the same
        # reason: UnparsedTimestampsSink).
        return None

    def setup(self):
        """Check the stream maps to a collection (the target refuses it otherwise)."""
        self.collection = self._target.collection_of(self.stream_name)

    def __init__(self, target, stream_name, schema, key_properties):
        self._target = target
        super().__init__(target, stream_name, schema, key_properties)

    def process_record(self, record, context):
        """Queue the record (the loader sends it at the next drain)."""
        self._target.loader.add(self.stream_name, self.collection, record,
                                record.get("_sdc_table_version"))

    def process_batch(self, context):
        """Send everything queued, of every stream, in arrival order."""
        self._target.loader.flush()

    def activate_version(self, new_version):
        """End of a full table: finish its sync run (app/singer/loader.py)."""
        self._target.loader.activate(self.stream_name, new_version)


class TargetArIngest(MessageHooksTarget):
    """Loads Singer streams into ar-ingest collections."""

    name = "target-ar-ingest"
    default_sink_class = ArIngestSink
    config_jsonschema = th.PropertiesList(
        th.Property("url", th.StringType, required=True, title="Server URL",
                    description="The ar-ingest server, e.g. https://ingest.example.com",
                    examples=["https://ingest.example.com"]),
        th.Property("api_key", th.StringType, secret=True, title="API key",
                    description=f"A write key; else the {API_KEY_VARIABLE} variable"),
        th.Property("streams", th.ObjectType(
                        additional_properties=th.StringType(allowed_values=sorted(COLLECTIONS))),
                    title="Stream to collection",
                    description="Stream name (after stream maps) to collection; a stream "
                                "named like a collection goes to it, any other is refused",
                    examples=[{"public-customers": "accounts"}]),
        th.Property("batch_size", th.IntegerType(minimum=1, maximum=1000), default=1000,
                    description="Records per batch request (and per sink drain)"),
        th.Property("reject_file", th.StringType,
                    description="NDJSON file the refused records are appended to, each "
                                "with its stream and the server's errors"),
        th.Property("max_rejects", th.IntegerType(minimum=0), default=1000,
                    description="The load fails once more records than this were refused"),
        th.Property("max_removal_ratio", th.NumberType(minimum=0, maximum=1),
                    description="Full tables: refuse to remove more than this share of the "
                                "collection (the server's default 0.2 unless only "
                                "max_removals is given)"),
        th.Property("max_removals", th.IntegerType(minimum=0),
                    description="Full tables: refuse to remove more than this many records"),
        th.Property("finish_tables_at_end", th.BooleanType, default=False,
                    description="Taps built on the Singer SDK announce a full table's version "
                                "before its records and never mark its end: with this on, a "
                                "clean end of input ends such a table (removing what it "
                                "lacked, within the guards)"),
        th.Property("retries", th.IntegerType(minimum=0), default=10,
                    description="Tries per request on connection errors, 429 and 5xx"),
    ).to_dict()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Sinks drain one after the other: the loader's order is the tap's order.
        self.max_parallelism = 1
        api_key = self.config.get("api_key") or os.environ.get(API_KEY_VARIABLE)
        if not api_key:
            raise ConfigValidationError(f"Give api_key in the config or {API_KEY_VARIABLE}.")
        self.client = IngestClient(self.config["url"], api_key,
                                   retries=self.config.get("retries", 10))
        self.loader = Loader(self.client, batch_size=self.config.get("batch_size", 1000),
                             reject_file=self.config.get("reject_file"),
                             max_rejects=self.config.get("max_rejects", 1000),
                             max_removal_ratio=self.config.get("max_removal_ratio"),
                             max_removals=self.config.get("max_removals"),
                             logger=self.logger)
        self._unconfirmed = 0

    def collection_of(self, stream_name):
        """The collection a stream loads into; UnmappedStream when there is none."""
        mapping = self.config.get("streams") or {}
        collection = mapping.get(stream_name) or (stream_name if stream_name in COLLECTIONS
                                                  else None)
        if collection is None:
            raise UnmappedStream(
                f"Stream {stream_name!r} maps to no collection: name it in the `streams` "
                f"setting ({{{stream_name!r}: one of {', '.join(sorted(COLLECTIONS))}}}) or "
                "rename it with a stream map (__alias__).")
        return collection

    def record_message_received(self):
        self._unconfirmed += 1

    def state_message_processed(self):
        # The SDK emits STATE only from drain_all; without this a state waits for the end of
        # input (or 5 minutes), however many records it covers. After a batch's worth of
        # records, the next STATE drains every sink, then is emitted.
        if self._unconfirmed >= self.loader.batch_size:
            self.drain_all()
            self._unconfirmed = 0

    def state_to_emit(self, state):
        if state == getattr(self, "_emitted", None):  # drain_all re-emits an unchanged one
            return False
        self._emitted = state
        return True

    def process_endofpipe(self):
        """Drain everything, end the announced tables if configured, emit the last STATE."""
        if self.config.get("finish_tables_at_end"):
            for sink in self.active_sinks():
                self.drain_one(sink)
            self.loader.finish_announced()
        for sink in self.active_sinks():
            self.drain_one(sink)
        # A table whose end never came removes nothing, and its run must not block the next.
        self.loader.abort_runs("the input ended before the table version was activated")
        try:
            super().process_endofpipe()
        finally:
            self.loader.close()
        self.logger.info("target-ar-ingest: %s", self.loader.counts.summary())


if __name__ == "__main__":
    TargetArIngest.cli()
