"""Simultaneous dashboard sessions as a browser opens them, without a browser's rendering: each client opens the
session's websocket with its signed token, waits for the server's ACK, asks for the document (PULL-DOC-REQ) and
stops the clock when the last fragment of the reply has arrived. Prints one JSON object on stdout.

    python -m bench.dashclients --url ws://127.0.0.1:5006/bokeh < sessions.json

`sessions.json` is a list of {"view": "overview", "token": "..."} (the tokens are minted by bench/dashboards.py,
which holds the secret). It runs in its own process on one event loop, so that twenty clients cost the machine
almost nothing: `bokeh.client` in threads would also rebuild every document in Python under one lock, work a
browser does on its own device.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from bokeh.protocol import Protocol
from bokeh.protocol.receiver import Receiver
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect


async def open_session(url: str, view: str, token: str) -> dict[str, float | int | str]:
    started = time.perf_counter()
    socket = await websocket_connect(HTTPRequest(f"{url}/{view}/ws"), subprotocols=["bokeh", token],
                                     max_message_size=64 * 1024 * 1024)
    receiver, protocol, size = Receiver(Protocol()), Protocol(), 0

    async def next_message() -> str:
        nonlocal size
        while True:
            fragment = await socket.read_message()
            if fragment is None:
                raise ConnectionError("看板服务关闭了连接")
            size += len(fragment)
            message = await receiver.consume(fragment)
            if message is not None:
                return message.msgtype

    try:
        acknowledged = await next_message()
        connected = time.perf_counter()
        request = protocol.create("PULL-DOC-REQ")
        for part in (request.header_json, request.metadata_json, request.content_json):
            await socket.write_message(part)
        reply = await next_message()
        while reply != "PULL-DOC-REPLY":  # a view's first callbacks may patch the document before the reply
            reply = await next_message()
        return {"view": view, "seconds": time.perf_counter() - started, "connect_s": connected - started,
                "ack": acknowledged, "reply": reply, "bytes": size}
    finally:
        socket.close()


async def run(url: str, sessions: list[dict[str, str]]) -> list[dict[str, float | int | str]]:
    return await asyncio.gather(*(open_session(url, s["view"], s["token"]) for s in sessions))


def main() -> None:
    parser = argparse.ArgumentParser(description="看板并发会话：同时打开、取回文档")
    parser.add_argument("--url", required=True, help="看板服务的 websocket 地址，如 ws://127.0.0.1:5006/bokeh")
    args = parser.parse_args()
    sessions = json.load(sys.stdin)
    started = time.perf_counter()
    results = asyncio.run(run(args.url, sessions))
    print(json.dumps({"sessions": results, "wall_s": time.perf_counter() - started}))


if __name__ == "__main__":
    main()
