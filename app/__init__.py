"""ar-ingest: a multi-tenant HTTP ingest API for accounts-receivable collections data.

Importing the package is light: Flask, the models and the rest load only
when create_app() runs, so `app.logs` (gunicorn's log format) and the
client can be imported without them.
"""


def create_app(config=None):
    """Build the Flask app: defaults, then the environment, then `config`."""
    from flask import Flask
    from flask_swagger_ui import get_swaggerui_blueprint

    from app import auth, errors, metrics, observability, ratelimit
    from app.api import API_PREFIX, OPENAPI_SETTINGS, api, document, ops, people
    from app.api.resources import resource_blueprints
    from app.commands import register_commands
    from app.config import DEFAULTS, default_database_url, from_environment
    from app.db import bind_database
    from app.pipeline import init_pipeline
    from app.services.transactions import feed_lag

    app = Flask(__name__, instance_relative_config=True, static_folder=None)
    app.config.update(DEFAULTS)
    app.config.update(OPENAPI_SETTINGS)
    app.config.update(from_environment())
    app.config.update(config or {})
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = default_database_url(app.instance_path)
    # The largest body any route takes; each route narrows it (see auth.py).
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_BATCH_BODY_BYTES"]
    app.json.sort_keys = False

    # Binds the proxy only; the first query of each worker opens its connection.
    bind_database(app.config["DATABASE_URL"], app.config["SQLITE_BUSY_TIMEOUT_SECONDS"])
    observability.init_observability(app)
    auth.init_auth(app)
    ratelimit.init_rate_limits(app)
    ratelimit.init_bulk_slots(app)
    metrics.init_metrics(app, feed_lag)
    init_pipeline(app)  # the request hooks, in their order (app/pipeline.py)
    api.init_app(app)
    for blueprint in resource_blueprints():
        api.register_blueprint(blueprint)
    api.register_blueprint(people.blp)
    app.register_blueprint(ops.blp)
    app.register_blueprint(document.blp)
    app.register_blueprint(get_swaggerui_blueprint(
        "/docs", f"{API_PREFIX}/openapi.json", config={"app_name": "ar-ingest API"}))
    errors.register_error_handlers(app)
    register_commands(app)
    return app
