"""The `ar-ingest` command line: schema, tenants and API keys."""
import os

import click
from flask import current_app
from flask.cli import FlaskGroup

from app.client import KEY_FIELDS
from app.services import tenants as tenant_service

DEV_TENANT = "demo"


def _create_app():
    from app import create_app
    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False,
             load_dotenv=False)
def main():
    """ar-ingest: ingest API for accounts-receivable collections data."""


@main.command("import", with_appcontext=False)
@click.argument("collection", type=click.Choice([*KEY_FIELDS, "parties"]))
@click.argument("file", type=click.Path(allow_dash=True))
@click.option("--url", required=True, envvar="AR_INGEST_URL",
              help="The server, e.g. https://ingest.example.com (or AR_INGEST_URL).")
@click.option("--api-key", required=True, envvar="AR_INGEST_API_KEY",
              help="Prefer the AR_INGEST_API_KEY environment variable: a key on the command "
                   "line shows in `ps`.")
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1, 1000),
              help="Rows per batch (the bad ones among them are not sent).")
@click.option("--format", "fmt", type=click.Choice(["csv", "ndjson"]),
              help="Default: from the file's extension (.csv, .tsv, .ndjson, .jsonl).")
@click.option("--delimiter", default=None,
              help="CSV only: the cell delimiter, one character or `tab` (default: detected "
                   "among , ; tab |).")
@click.option("--rejects", default=None,
              help="Where rejected rows go (default: FILE.rejects.csv or .ndjson).")
@click.option("--resume", is_flag=True, help="Continue an interrupted import of this file.")
@click.option("--allow-rejects", is_flag=True, help="Exit 0 even when rows were rejected.")
@click.option("--full-sync", is_flag=True,
              help="The file is the whole collection: remove the records it does not have.")
@click.option("--max-removal-ratio", default=None, type=click.FloatRange(0, 1),
              help="With --full-sync: refuse to remove more than this share (default 0.2, "
                   "none when only --max-removals is given).")
@click.option("--max-removals", default=None, type=click.IntRange(0),
              help="With --full-sync: refuse to remove more records than this.")
@click.option("--min-seen", default=None, type=click.IntRange(0),
              help="With --full-sync: refuse to remove anything unless the file had at least "
                   "this many rows the server took.")
@click.option("--match", is_flag=True,
              help="Rows are people without a reference (contacts, representatives or "
                   "parties), each with its account_number: found by email, then by name, "
                   "else created (the batch matching upsert).")
@click.option("--retries", default=10, show_default=True, type=click.IntRange(0, 100),
              help="Tries per request after a connection error, 429, 409 key in use or 5xx, "
                   "backing off up to 30 s between tries.")
def import_command(collection, file, url, api_key, batch_size, fmt, delimiter, rejects, resume,
                   allow_rejects, full_sync, max_removal_ratio, max_removals, min_seen,
                   match, retries):
    """Import a CSV or NDJSON file through the batch endpoint."""
    from app import importer
    from app.client import ApiError

    try:
        counts, seconds = importer.run(collection, file, url, api_key, fmt=fmt,
                                       batch_size=batch_size, rejects=rejects, resume=resume,
                                       full_sync=full_sync, delimiter=delimiter,
                                       max_removal_ratio=max_removal_ratio,
                                       max_removals=max_removals, min_seen=min_seen, match=match,
                                       retries=retries)
    except (importer.ImportError_, importer.RowsError, ApiError, OSError) as error:
        raise click.ClickException(str(error))
    click.echo(importer.summary(counts, seconds))
    sync = counts.extra.get("sync")
    if sync and sync["status"] != "finished":
        raise SystemExit(1)
    if counts.rejected:
        files = counts.extra["rejects_files"]
        click.echo(f"Rejected rows: {files[0]}" + (
            f"; their reasons, line for line: {files[1]}" if len(files) > 1 else
            " (the reasons in its _errors column)"), err=True)
        if not allow_rejects:
            raise SystemExit(1)


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
