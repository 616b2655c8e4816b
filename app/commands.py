"""The app's commands: schema, tenants, API keys and the development setup."""
import os

import click
from flask import current_app

from app.services import tenants as tenant_service

DEV_TENANT = "demo"


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


@tenants_group.command("list")
def tenants_list():
    """List tenants with their internal domains."""
    click.echo(f"{'ID':<6} {'NAME':<30} {'CREATED':<20} INTERNAL DOMAINS")
    for tenant in tenant_service.list_tenants():
        domains = ", ".join(map(tenant_service.display_domain, tenant.internal_domains or ()))
        click.echo(f"{tenant.id:<6} {tenant.name:<30} {tenant.created_at:%Y-%m-%d %H:%M:%S}  "
                   f"{domains}")


@tenants_group.command("domains")
@click.argument("tenant")
@click.option("--add", "added", multiple=True, help="An internal domain to add (repeatable).")
@click.option("--remove", "removed", multiple=True,
              help="An internal domain to remove (repeatable).")
def tenants_domains(tenant, added, removed):
    """Show or change a tenant's internal email domains."""
    try:
        owner = tenant_service.find_tenant(tenant)
        domains = (tenant_service.change_internal_domains(owner, added, removed)
                   if added or removed else owner.internal_domains)
    except tenant_service.TenantError as error:
        _fail(error)
    click.echo(f"Internal domains of {owner.name!r}: "
               + (", ".join(map(tenant_service.display_domain, domains)) or "(none)"))


@keys_group.command("create")
@click.argument("tenant")
@click.option("--scope", type=click.Choice(tenant_service.SCOPES), default="write",
              show_default=True)
@click.option("--name", default=None, help="What the key is for.")
@click.option("--expires-in", default=None, help="Lifetime: 30m, 12h, 90d or 8w.")
@click.option("--expires-at", default=None, help="Expiry: a date (2027-01-31) or ISO 8601 time.")
def keys_create(tenant, scope, name, expires_in, expires_at):
    """Create an API key; the key itself is printed alone on the last line."""
    try:
        expiry = tenant_service.expiry_from(expires_in, expires_at)
        row, plaintext = tenant_service.create_api_key(
            tenant_service.find_tenant(tenant), scope=scope, name=name, expires_at=expiry)
    except tenant_service.TenantError as error:
        _fail(error)
    until = f", expires {expiry:%Y-%m-%d %H:%M:%S} UTC" if expiry else ""
    click.echo(f"Created key {row.key_id} ({scope}{until}) for tenant {tenant!r}. "
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
    click.echo(f"{'KEY_ID':<18} {'TENANT':<20} {'SCOPE':<6} {'STATUS':<8} {'CREATED':<20} "
               f"{'EXPIRES':<20} NAME")
    for key in tenant_service.list_api_keys(owner):
        expires = f"{key.expires_at:%Y-%m-%d %H:%M:%S}" if key.expires_at else "never"
        click.echo(f"{key.key_id:<18} {key.tenant.name:<20} {key.scope:<6} "
                   f"{tenant_service.key_status(key):<8} {key.created_at:%Y-%m-%d %H:%M:%S}  "
                   f"{expires:<20} {key.name or ''}")


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
