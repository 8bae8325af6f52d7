"""`taishan serve` with the dashboards, for the tests: the API with the dashboard pages' blueprint and the Bokeh
process next to it, started the way `taishan serve` starts them."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from functools import partial

from sanic import Sanic
from sanic.worker.loader import AppLoader

from server import dashlink
from server.api import BLUEPRINTS, create_app
from server.api import dashboards as pages
from server.config import Settings


def app_with_dashboards(settings: Settings) -> Sanic:
    app = create_app(settings)
    if pages.bp not in BLUEPRINTS:  # until the API registers the blueprint itself
        app.blueprint(pages.bp)
    return app


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    settings = replace(Settings(), db=args.db, port=args.port, workers=1)
    dashlink.start(settings)
    loader = AppLoader(factory=partial(app_with_dashboards, settings))
    app = loader.load()
    app.prepare(host=settings.host, port=settings.port, workers=1, access_log=False, motd=False)
    Sanic.serve(primary=app, app_loader=loader)
    return 0


if __name__ == "__main__":
    sys.exit(main())
