"""Singer plugins on the Meltano Singer SDK: target-ar-ingest (app/singer/target.py) and
tap-ar-ingest (app/singer/tap.py), installed with the `singer` extra
(`pip install 'ar-ingest[singer]'`). Nothing outside this package imports it, so the app runs
without the SDK; app/singer/loader.py, the target's API side, needs only the client."""
