"""The `ar-ingest` command line: the app's commands (app/commands.py) and `import`, which
talks to a server and needs no app of its own."""
import click
from flask.cli import FlaskGroup

from app import create_app
from app.resources.registry import RESOURCES


@click.group(cls=FlaskGroup, create_app=create_app, add_version_option=False,
             load_dotenv=False)
def main():
    """ar-ingest: ingest API for accounts-receivable collections data."""


@main.command("import", with_appcontext=False)
@click.argument("collection", type=click.Choice([*RESOURCES, "parties"]))
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
    except (importer.ImportFailed, importer.RowsError, ApiError, OSError) as error:
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
