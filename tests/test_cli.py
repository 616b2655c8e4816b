"""The `ar-ingest` command line: schema, tenants and keys."""
import os
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from app.cli import main
from app.migrations import MIGRATIONS
from app.models import ApiKey, Tenant
from conftest import key_parts

KEY = re.compile(r"^ark_[0-9a-f]{16}_[A-Za-z0-9_-]+$")


@pytest.fixture
def run(app, database_url):
    runner = CliRunner()

    def invoke(*args):
        result = runner.invoke(main, list(args), env={"DATABASE_URL": database_url},
                               catch_exceptions=False)
        return result
    return invoke


def test_console_script_upgrades_a_fresh_database_twice(tmp_path):
    script = os.path.join(os.path.dirname(sys.executable), "ar-ingest")
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp_path}/fresh.sqlite3")
    first = subprocess.run([script, "db", "upgrade"], env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    latest = MIGRATIONS[-1][0]
    assert f"Applied migrations {', '.join(str(m[0]) for m in MIGRATIONS)}" in first.stdout
    second = subprocess.run([script, "db", "upgrade"], env=env, capture_output=True, text=True)
    assert second.returncode == 0 and f"already at version {latest}" in second.stdout


def test_tenant_and_key_lifecycle(run, api):
    result = run("tenants", "create", "initech", "--internal-domain", "Initech.Example")
    assert result.exit_code == 0, result.output
    tenant = Tenant.get(Tenant.name == "initech")
    assert tenant.internal_domains == ["initech.example"]

    result = run("keys", "create", "initech", "--scope", "write", "--name", "nightly sync")
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert KEY.match(key)
    stored = ApiKey.get(ApiKey.tenant == tenant)
    assert key_parts(key)[1] not in (stored.secret_hash, stored.key_id)
    assert api.put("/accounts/A", json={"name": "x"}, key=key).status_code == 201

    listing = run("keys", "list", "initech").output
    assert stored.key_id in listing and "nightly sync" in listing and "active" in listing
    assert key_parts(key)[1] not in listing

    assert run("keys", "revoke", stored.key_id).exit_code == 0
    assert "revoked" in run("keys", "list").output
    assert api.get("/accounts/A", key=key).status_code == 401


def test_read_scope_key(run, api, tenant):
    key = run("keys", "create", "acme", "--scope", "read").output.strip().splitlines()[-1]
    assert api.get("/accounts/A", key=key).status_code == 404
    assert api.put("/accounts/A", json={"name": "x"}, key=key).status_code == 403


def test_cli_errors_are_clear(run, tenant):
    duplicate = run("tenants", "create", "acme")
    assert duplicate.exit_code != 0 and "already exists" in duplicate.output
    assert "No tenant" in run("keys", "create", "nobody").output
    assert run("keys", "create", "acme", "--scope", "admin").exit_code != 0
    assert "No API key" in run("keys", "revoke", "0000").output
    assert "Not a valid domain" in run("tenants", "create", "x", "--internal-domain", "no").output
