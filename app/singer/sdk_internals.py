"""Every reach into the Singer SDK's internals, in one place; tests/test_singer_internals.py pins
each, so an SDK upgrade that moves one fails there rather than in a load.

- Sink `_parse_timestamps_in_record`: the SDK parses date-time strings before a
  sink sees a record, and a bad one stops the stream; here the server judges them.
- Stream `_increment_stream_state`: the SDK bookmarks on a field of each record;
  the feed's bookmark is the cursor after a page, not a field. `_write_state_message`
  emits STATE in the middle of a stream, after each page; `_tap` is the stream's tap.
- Target `_process_record_message`, `_process_state_message`, `_write_state_message`
  and `_sinks_active`: the SDK has no public hook around a message, for counting
  records, draining at a batch boundary and leaving out a repeated STATE.
"""
from singer_sdk import Stream
from singer_sdk.sinks import BatchSink
from singer_sdk.target_base import Target


class UnparsedTimestampsSink(BatchSink):
    """A batch sink whose records keep their date-time values as sent."""

    def _parse_timestamps_in_record(self, record, schema, treatment):
        return None


class PageBookmarkedStream(Stream):
    """A stream whose state moves only when it says so (`emit_state`), never per record."""

    def _increment_stream_state(self, latest_record, *, context=None):
        return None

    @property
    def owning_tap(self):
        """The tap this stream belongs to."""
        return self._tap

    def emit_state(self):
        """Write the tap's STATE message now."""
        self._write_state_message()


class MessageHooksTarget(Target):
    """A target with hooks around RECORD and STATE messages."""

    def record_message_received(self):
        """Called before each RECORD message is processed."""

    def state_message_processed(self):
        """Called after each STATE message is processed."""

    def state_to_emit(self, state):
        """Whether this STATE goes out (the SDK may write the same one again)."""
        return True

    def active_sinks(self):
        """The sinks of the streams seen so far."""
        return list(self._sinks_active.values())

    def _process_record_message(self, message_dict):
        self.record_message_received()
        super()._process_record_message(message_dict)

    def _process_state_message(self, message_dict):
        super()._process_state_message(message_dict)
        self.state_message_processed()

    def _write_state_message(self, state):
        if self.state_to_emit(state):
            super()._write_state_message(state)
