"""Tools outside the project read the served document: PyYAML-based loaders,
openapi-spec-validator, and Redocly CLI with its recommended rules (pinned, installed by
the test; skipped, saying so, without node and npm)."""
import json
import os
import shutil
import subprocess
import tempfile

import pytest
import yaml
from openapi_spec_validator import validate

REDOCLY = "@redocly/cli@2.77.0"
CACHE = os.path.join(tempfile.gettempdir(), "ar-ingest-npm-" + REDOCLY.replace("/", "+"))


@pytest.fixture
def document_text(app):
    return app.test_client().get("/api/v1/ingest/openapi.json").data.decode("utf-8")


def test_yaml_loaders_read_the_document_as_json_does(document_text):
    """No surrogate-pair escapes (PyYAML refuses them) and no number YAML reads as text."""
    assert "\\ud8" not in document_text.lower() and "\\udb" not in document_text.lower()
    assert yaml.safe_load(document_text) == json.loads(document_text)


def test_the_document_is_under_150_kib(document_text):
    """Read whole by every tool and generator: under 150 KiB, compact UTF-8 as served."""
    assert len(document_text.encode("utf-8")) < 150 * 1024


def test_openapi_spec_validator_finds_nothing(document_text):
    validate(yaml.safe_load(document_text))


def test_redocly_recommended_rules_find_no_error(document_text, tmp_path):
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed: Redocly CLI is not run")
    redocly = os.path.join(CACHE, "node_modules", ".bin", "redocly")
    if not os.path.exists(redocly):
        partial = f"{CACHE}.partial-{os.getpid()}"
        os.makedirs(partial, exist_ok=True)
        with open(os.path.join(partial, "package.json"), "w") as file:
            json.dump({"private": True}, file)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error",
                        REDOCLY], cwd=partial, check=True, capture_output=True, timeout=600)
        shutil.rmtree(CACHE, ignore_errors=True)
        os.replace(partial, CACHE)
    (tmp_path / "openapi.json").write_text(document_text, encoding="utf-8")
    answer = subprocess.run([redocly, "lint", "openapi.json", "--format=json"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, REDOCLY_TELEMETRY="off",
                                     REDOCLY_SUPPRESS_UPDATE_NOTICE="true"))
    report = json.loads(answer.stdout[answer.stdout.index("{"):])
    errors = [problem for problem in report["problems"] if problem["severity"] == "error"]
    assert errors == [], errors
    assert answer.returncode == 0, answer.stdout + answer.stderr
    warnings = sorted({problem["ruleId"] for problem in report["problems"]})
    assert warnings == [], warnings
