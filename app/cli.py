"""The `ar-ingest` command line: schema, tenants and API keys."""
import os

import click
from flask import current_app
from flask.cli import FlaskGroup

from app.services import tenants as tenant_service

DEV_TENANT = "demo"


def _create_app():
    from app import create_app
    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False,
             load_dotenv=False)
def main():
    """ar-ingest: ingest API for accounts-receivable collections data."""


def _fail(error):
    raise click.ClickException(str(error))


db_group = click.Group("db", help="Database schema.")
tenants_group = click.Group("tenants", help="Tenants.")
keys_group = click.Group("keys", help="API keys.")


@db_group.command("upgrade")
def db_upgrade():
    """Create or migrate the schema (safe to run twice)."""
    from app.migrations import current_version, upgrade

    applied = upgrade()
    if applied:
        click.echo(f"Applied migrations {', '.join(map(str, applied))}; "
                   f"schema at version {current_version()}.")
    else:
        click.echo(f"Schema already at version {current_version()}.")


@tenants_group.command("create")
@click.argument("name")
@click.option("--internal-domain", "internal_domains", multiple=True,
              help="An email domain of the tenant's own staff (repeatable).")
def tenants_create(name, internal_domains):
    """Create a tenant."""
    try:
        tenant = tenant_service.create_tenant(name, internal_domains)
    except tenant_service.TenantError as error:
        _fail(error)
    click.echo(f"Created tenant {tenant.name!r} (id {tenant.id}).")


@keys_group.command("create")
@click.argument("tenant")
@click.option("--scope", type=click.Choice(tenant_service.SCOPES), default="write",
              show_default=True)
@click.option("--name", default=None, help="What the key is for.")
def keys_create(tenant, scope, name):
    """Create an API key; the key itself is printed alone on the last line."""
    try:
        row, plaintext = tenant_service.create_api_key(
            tenant_service.find_tenant(tenant), scope=scope, name=name)
    except tenant_service.TenantError as error:
        _fail(error)
    click.echo(f"Created key {row.key_id} ({scope}) for tenant {tenant!r}. "
               "It is shown once; only its hash is stored.")
    click.echo(plaintext)


@keys_group.command("list")
@click.argument("tenant", required=False)
def keys_list(tenant):
    """List API keys (never their secrets)."""
    try:
        owner = tenant_service.find_tenant(tenant) if tenant else None
    except tenant_service.TenantError as error:
        _fail(error)
    click.echo(f"{'KEY_ID':<18} {'TENANT':<20} {'SCOPE':<6} {'STATUS':<8} {'CREATED':<20} NAME")
    for key in tenant_service.list_api_keys(owner):
        status = "revoked" if key.revoked_at else "active"
        click.echo(f"{key.key_id:<18} {key.tenant.name:<20} {key.scope:<6} {status:<8} "
                   f"{key.created_at:%Y-%m-%d %H:%M:%S}  {key.name or ''}")


@keys_group.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id):
    """Revoke a key; every worker refuses it within 5 seconds."""
    try:
        tenant_service.revoke_api_key(key_id)
    except tenant_service.TenantError as error:
        _fail(error)
    click.echo(f"Revoked key {key_id}.")


@click.command("dev-setup")
@click.option("--base-url", default="http://127.0.0.1:5000", show_default=True)
def dev_setup(base_url):
    """Prepare the development database and print a working API key (used by `make run`)."""
    from app.migrations import upgrade

    upgrade()
    key_file = os.path.join(current_app.instance_path, "dev-api-key")
    key = None
    if os.path.exists(key_file):
        with open(key_file) as handle:
            key = handle.read().strip()
        if current_app.extensions["ar_ingest_keys"].authenticate(key) is None:
            key = None
    if key is None:
        try:
            tenant = tenant_service.find_tenant(DEV_TENANT)
        except tenant_service.TenantError:
            tenant = tenant_service.create_tenant(DEV_TENANT, ["example.com"])
        _, key = tenant_service.create_api_key(tenant, name="make run")
        os.makedirs(current_app.instance_path, exist_ok=True)
        with open(key_file, "w") as handle:
            handle.write(key + "\n")
        os.chmod(key_file, 0o600)
    click.echo(f"\nar-ingest is starting on {base_url}  (tenant {DEV_TENANT!r})")
    click.echo(f"API key: {key}\nTry:\n")
    click.echo(f"  curl -s -X PUT {base_url}/api/v1/ingest/accounts/ACCT-001 \\\n"
               f"    -H \"X-API-Key: {key}\" -H \"Content-Type: application/json\" \\\n"
               f"    -d '{{\"name\": \"Acme Corp\", \"currency\": \"usd\"}}'\n")


def register_commands(app):
    """Attach the command groups to the app's CLI."""
    for command in (db_group, tenants_group, keys_group, dev_setup):
        app.cli.add_command(command)
