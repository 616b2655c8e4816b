"""Running target-ar-ingest and tap-ar-ingest as their console scripts, as Meltano would."""
import json
import os
import subprocess
import sys

BIN = os.path.dirname(sys.executable)
TARGET = os.path.join(BIN, "target-ar-ingest")
TAP = os.path.join(BIN, "tap-ar-ingest")


def lines(*messages):
    """Singer messages as the text a tap writes."""
    return "".join(json.dumps(message) + "\n" for message in messages)


def schema(stream, properties, key):
    """A SCHEMA message; `properties` maps names to JSON types."""
    return {"type": "SCHEMA", "stream": stream, "key_properties": [key],
            "schema": {"type": "object", "properties": {
                name: {"type": [kind, "null"]} for name, kind in properties.items()}}}


def record(stream, values, version=None):
    """A RECORD message (with a table version for full tables)."""
    message = {"type": "RECORD", "stream": stream, "record": values}
    if version is not None:
        message["version"] = version
    return message


def activate(stream, version):
    """An ACTIVATE_VERSION message."""
    return {"type": "ACTIVATE_VERSION", "stream": stream, "version": version}


def state(value):
    """A STATE message."""
    return {"type": "STATE", "value": value}


def write_config(path, config):
    """Write a config file; its path."""
    path.write_text(json.dumps(config))
    return str(path)


def run_target(tmp_path, url, key, text, timeout=120, **config):
    """Run target-ar-ingest on `text`; (completed process, emitted STATE values)."""
    conf = write_config(tmp_path / "target.json", {"url": url, "api_key": key, **config})
    done = subprocess.run([TARGET, "--config", conf], input=text, capture_output=True,
                          text=True, timeout=timeout)
    return done, [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def run_tap(tmp_path, url, key, state_value=None, timeout=120, **config):
    """Run tap-ar-ingest; (completed process, its messages)."""
    conf = write_config(tmp_path / "tap.json", {"url": url, "api_key": key, **config})
    command = [TAP, "--config", conf]
    if state_value is not None:
        command += ["--state", write_config(tmp_path / "tap-state.json", state_value)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done, [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def records_of(messages, stream=None):
    """The RECORD messages' records (of one stream)."""
    return [m["record"] for m in messages
            if m["type"] == "RECORD" and stream in (None, m["stream"])]
