"""The `ar-ingest` command line: schema, tenants and keys."""
import datetime
import os
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from app.cli import main
from app.migrations import MIGRATIONS
from app.models import ApiKey, Tenant, utcnow
from app.services import tenants as tenant_service
from helpers import key_parts

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


def test_tenant_names_are_unique_whatever_their_case(run, tenant):
    for name in ("ACME", "Acme", " acme "):
        result = run("tenants", "create", name)
        assert result.exit_code != 0 and "already exists" in result.output
    assert Tenant.select().count() == 1


def test_tenants_list_and_idn_internal_domains(run, app):
    result = run("tenants", "create", "Bücher GmbH", "--internal-domain", "Bücher.de",
                 "--internal-domain", "staff.example")
    assert result.exit_code == 0, result.output
    tenant = Tenant.get(Tenant.name == "Bücher GmbH")
    assert tenant.internal_domains == ["staff.example", "xn--bcher-kva.de"]
    listing = run("tenants", "list").output
    assert "Bücher GmbH" in listing and "bücher.de" in listing and "staff.example" in listing

    assert tenant_service.is_internal_email(tenant, "anna@bücher.de")
    assert tenant_service.is_internal_email(tenant, "Anna@BÜCHER.DE")
    assert tenant_service.is_internal_email(tenant, "anna@xn--bcher-kva.de")
    assert not tenant_service.is_internal_email(tenant, "anna@buecher.de")
    assert not tenant_service.is_internal_email(tenant, "anna@mail.bücher.de")

    changed = run("tenants", "domains", "Bücher GmbH", "--add", "neu.example",
                  "--remove", "staff.example")
    assert changed.exit_code == 0 and "neu.example" in changed.output
    assert Tenant.get_by_id(tenant.id).internal_domains == ["neu.example", "xn--bcher-kva.de"]


@pytest.mark.parametrize("name", ["line\nbreak", "tab\there", "bell\x07"])
def test_control_characters_in_names_are_refused(run, tenant, name):
    result = run("keys", "create", "acme", "--name", name)
    assert result.exit_code != 0 and "control characters" in result.output
    assert run("tenants", "create", name).exit_code != 0
    assert ApiKey.select().count() == 0


def test_keys_can_expire(run, api, tenant):
    result = run("keys", "create", "acme", "--expires-in", "90d", "--name", "quarterly")
    assert result.exit_code == 0 and "expires" in result.output
    key = result.output.strip().splitlines()[-1]
    stored = ApiKey.get(ApiKey.key_id == key_parts(key)[0])
    assert abs((stored.expires_at - utcnow()) - datetime.timedelta(days=90)) < \
        datetime.timedelta(minutes=1)
    assert api.get("/accounts/A", key=key).status_code == 404  # valid until then

    dated = run("keys", "create", "acme", "--expires-at", "2099-01-31").output
    assert "2099-01-31" in dated
    ApiKey.update(expires_at=utcnow() - datetime.timedelta(seconds=1)).where(
        ApiKey.id == stored.id).execute()
    assert api.get("/accounts/A", key=key).status_code == 401
    listing = run("keys", "list", "acme").output
    line = next(line for line in listing.splitlines() if stored.key_id in line)
    assert "expired" in line and "quarterly" in line
    for bad in (("--expires-in", "soon"), ("--expires-in", "0d"), ("--expires-at", "2001-01-01"),
                ("--expires-at", "tomorrow"), ("--expires-in", "1d", "--expires-at", "2099-01-01")):
        assert run("keys", "create", "acme", *bad).exit_code != 0
