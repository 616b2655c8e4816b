"""The Singer SDK internals app/singer/sdk_internals.py reaches into: each test here fails when
an SDK upgrade moves one, before a load misbehaves."""
import inspect

import pytest

pytest.importorskip("singer_sdk")

from singer_sdk import Stream  # noqa: E402
from singer_sdk.sinks import BatchSink, Sink  # noqa: E402
from singer_sdk.target_base import Target  # noqa: E402


def _parameters(function):
    return list(inspect.signature(function).parameters)


def test_the_sink_parses_timestamps_through_the_overridden_method():
    assert _parameters(BatchSink._parse_timestamps_in_record) == \
        ["self", "record", "schema", "treatment"]
    # The SDK calls it for every record it validates: the override is what leaves dates alone.
    assert "_parse_timestamps_in_record" in inspect.getsource(Sink._validate_and_parse)


def test_the_stream_state_methods_are_where_the_stream_expects_them():
    assert _parameters(Stream._increment_stream_state) == ["self", "latest_record", "context"]
    assert inspect.signature(Stream._increment_stream_state).parameters["context"].kind is \
        inspect.Parameter.KEYWORD_ONLY
    assert _parameters(Stream._write_state_message) == ["self"]
    assert "self._tap = tap" in inspect.getsource(Stream.__init__)
    assert "_increment_stream_state" in inspect.getsource(Stream._sync_records)


def test_the_target_routes_messages_through_the_overridden_methods():
    assert _parameters(Target._process_record_message) == ["self", "message_dict"]
    assert _parameters(Target._process_state_message) == ["self", "message_dict"]
    assert _parameters(Target._write_state_message) == ["self", "state"]
    assert "self._sinks_active" in inspect.getsource(Target.__init__)
    assert "_write_state_message" in inspect.getsource(Target.drain_all)
