"""The dashboard server: a Bokeh server in its own process, next to the API (started by `taishan serve`
through server/dashlink.py). It opens the store read-only, waits until the API has an active rule set, then
serves every view with signed session ids only (no id is made for a caller who brings none) and accepts
websockets only from the API's origins.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

from server.dashlink import PREFIX, SECRET_ENV, TOKEN_SECONDS


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboards.serve", description="泰山经济运行监测：看板服务")
    parser.add_argument("--db", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5006)
    parser.add_argument("--origins", default="", help="允许嵌入看板的页面来源，如 127.0.0.1:8000，逗号分隔")
    args = parser.parse_args(argv)
    secret = os.environ.get(SECRET_ENV, "")
    if len(secret) < 32:
        print(f"错误：需要环境变量 {SECRET_ENV}（至少 32 个字符）", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s 看板 %(levelname)s %(message)s")
    asyncio.run(_serve(args, secret))
    return 0


async def _serve(args: argparse.Namespace, secret: str) -> None:
    from bokeh.server.server import Server

    from dashboards.app import applications
    from dashboards.data import Data, connect, disconnect, wait_ready

    await connect(args.db)
    data = Data()
    await wait_ready(data)
    server = Server(applications(data), port=args.port, address=args.host, prefix=PREFIX,
                    allow_websocket_origin=[o for o in args.origins.split(",") if o], sign_sessions=True,
                    secret_key=secret, generate_session_ids=False, session_token_expiration=TOKEN_SECONDS,
                    use_index=False, redirect_root=False, num_procs=1)
    server.start()
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    tasks = [asyncio.create_task(data.poll()), asyncio.create_task(_orphaned(stopped))]
    print(f"看板服务：{args.host}:{args.port}{PREFIX}", flush=True)
    await stopped.wait()
    for task in tasks:
        task.cancel()
    server.stop()
    await disconnect()  # the store's connection threads would otherwise keep the process alive


async def _orphaned(stopped: asyncio.Event) -> None:
    """Stop when the API that started this process is gone (killed without a chance to stop it)."""
    parent = os.getppid()
    while os.getppid() == parent:
        await asyncio.sleep(2.0)
    stopped.set()


if __name__ == "__main__":
    sys.exit(main())
