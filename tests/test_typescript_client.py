"""A TypeScript ETL script typed by openapi-typescript from the live document type-checks
with `tsc --strict` and runs with node against a live server (openapi-fetch).

The npm packages are pinned and installed by the test into a cache folder kept between
runs; without node and npm the test is skipped, saying so.
"""
import json
import os
import shutil
import subprocess
import tempfile
import threading

import pytest
from werkzeug.serving import make_server

PACKAGES = {"openapi-typescript": "7.13.0", "openapi-fetch": "0.17.0", "typescript": "5.9.3"}
CACHE = os.path.join(tempfile.gettempdir(), "ar-ingest-npm-" + "-".join(
    f"{name}@{version}" for name, version in sorted(PACKAGES.items())))

ETL_SCRIPT = r"""
import createClient from "openapi-fetch";
import type { components, paths } from "./api.js";

declare const process: { argv: string[]; exit(code: number): never };

type Contact = components["schemas"]["Contact"];
type ContactInput = components["schemas"]["ContactInput"];
type FeedItem = components["schemas"]["ContactChanges"]["items"][number];

const [baseUrl, apiKey] = process.argv.slice(2);
const client = createClient<paths>({ baseUrl, headers: { "X-API-Key": apiKey } });

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(what);
}

function isTombstone(item: FeedItem): item is components["schemas"]["ContactTombstone"] {
  return "deleted" in item && item.deleted === true;
}

async function main(): Promise<void> {
  const account = await client.PUT("/api/v1/ingest/accounts/{account_number}", {
    params: { path: { account_number: "A-1" } }, body: { name: "Acme" } });
  check(account.response.status === 201, "account created");

  const body: ContactInput = { name: "Ada Lovelace", account_number: "A-1",
                               email: "ada@acme.example", language: "EN" };
  const created = await client.PUT("/api/v1/ingest/contacts/{reference}", {
    params: { path: { reference: "C-1" } }, body });
  check(created.response.status === 201, "contact created");

  const read = await client.GET("/api/v1/ingest/contacts/{reference}", {
    params: { path: { reference: "C-1" } } });
  if (read.data === undefined) throw new Error("contact read");
  const contact: Contact = read.data;

  // The record as GET gave it, sent back as it is: a valid PUT body, and no change.
  const back = await client.PUT("/api/v1/ingest/contacts/{reference}", {
    params: { path: { reference: "C-1" } }, body: contact });
  if (back.data === undefined) throw new Error("contact sent back");

  const batch = await client.POST("/api/v1/ingest/contacts:batch", { body: { items: [
    { reference: "C-2", name: "Grace Hopper" },
    { reference: "C-3", name: "Bad", email: "not an address" }] } });
  if (batch.data === undefined) throw new Error("batch");

  const removed = await client.DELETE("/api/v1/ingest/contacts/{reference}", {
    params: { path: { reference: "C-2" } } });
  check(removed.response.status === 204, "contact deleted");

  const feed = await client.GET("/api/v1/ingest/contacts", { params: { query: { limit: 10 } } });
  if (feed.data === undefined) throw new Error("feed");
  const records: string[] = [];
  const tombstones: string[] = [];
  for (const item of feed.data.items) {
    if (isTombstone(item)) tombstones.push(item.reference);
    else records.push(item.reference);
  }

  console.log(JSON.stringify({
    account_number: contact.account_number, language: contact.language,
    email_status: contact.email_status, version: contact.version,
    back_status: back.response.status, back_version: back.data.version,
    back_updated_at: back.data.updated_at === contact.updated_at,
    batch: batch.data.results.map((result) => [result.status, result.errors?.[0]?.pointer ?? null]),
    created: batch.data.created, failed: batch.data.failed, records, tombstones,
    has_more: feed.data.has_more }));
}

main().catch((error: unknown) => { console.error(error); process.exit(1); });
"""

TSCONFIG = {"compilerOptions": {
    "strict": True, "target": "ES2022", "module": "NodeNext", "moduleResolution": "NodeNext",
    "outDir": "out", "skipLibCheck": True, "noUncheckedIndexedAccess": True},
    "files": ["etl.mts"]}


def _run(command, cwd, timeout=300):
    answer = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert answer.returncode == 0, answer.stdout + answer.stderr
    return answer.stdout


@pytest.fixture(scope="module")
def node_packages():
    """The pinned npm packages, installed once into CACHE."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed: the TypeScript client is not checked")
    if not os.path.exists(os.path.join(CACHE, "node_modules", ".bin", "tsc")):
        partial = CACHE + f".partial-{os.getpid()}"
        os.makedirs(partial, exist_ok=True)
        with open(os.path.join(partial, "package.json"), "w") as file:
            json.dump({"private": True, "type": "module"}, file)
        _run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error",
              *(f"{name}@{version}" for name, version in PACKAGES.items())], partial)
        shutil.rmtree(CACHE, ignore_errors=True)
        os.replace(partial, CACHE)
    return CACHE


@pytest.fixture
def live_url(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def _typed_project(app, node_packages, folder, script):
    """A folder with the live document's types (api.d.ts), `script` as etl.mts and a strict
    tsconfig; the folder of node's executables."""
    os.symlink(os.path.join(node_packages, "node_modules"), folder / "node_modules")
    (folder / "package.json").write_text(json.dumps({"private": True, "type": "module"}))
    (folder / "openapi.json").write_bytes(
        app.test_client().get("/api/v1/ingest/openapi.json").data)
    bin_dir = os.path.join(node_packages, "node_modules", ".bin")
    _run([os.path.join(bin_dir, "openapi-typescript"), "openapi.json", "-o", "api.d.ts"], folder)
    (folder / "etl.mts").write_text(script)
    (folder / "tsconfig.json").write_text(json.dumps(TSCONFIG))
    return bin_dir


def test_a_typescript_etl_script_type_checks_and_runs(app, api_key, node_packages, live_url,
                                                       tmp_path):
    bin_dir = _typed_project(app, node_packages, tmp_path, ETL_SCRIPT)
    _run([os.path.join(bin_dir, "tsc"), "-p", "tsconfig.json"], tmp_path)  # --strict errors fail

    result = json.loads(_run(["node", "out/etl.mjs", f"{live_url}", api_key], tmp_path))
    assert (result["account_number"], result["language"], result["email_status"],
            result["version"]) == ("A-1", "en", "valid", 1)
    assert (result["back_status"], result["back_version"], result["back_updated_at"]) == \
        (200, 1, True)
    assert result["batch"] == [[201, None], [422, "#/items/1/email"]]
    assert (result["created"], result["failed"]) == (1, 1)
    assert (result["records"], result["tombstones"]) == (["C-1"], ["C-2"])
    assert result["has_more"] is False


def test_a_body_the_server_would_refuse_does_not_type_check(app, node_packages, tmp_path):
    """The types are not `any`: an unknown field and a wrong type are tsc errors."""
    bin_dir = _typed_project(app, node_packages, tmp_path, (
        'import type { components } from "./api.js";\n'
        'const a: components["schemas"]["ContactInput"] = { nmae: "Ada" };\n'
        'const b: components["schemas"]["ContactInput"] = { is_primary: 3 };\n'
        "console.log(a, b);\n"))
    answer = subprocess.run([os.path.join(bin_dir, "tsc"), "-p", "tsconfig.json"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert answer.returncode != 0
    assert "nmae" in answer.stdout and "is_primary" in answer.stdout, answer.stdout
