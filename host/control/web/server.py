"""The browser mixer's web server: the page, its static files and one WebSocket, in a thread of its own.

Why aiohttp: one well-kept library is both the HTTP server and the WebSocket
server, on an asyncio loop that this module owns and runs in its own thread
(``mixhost-web``) with no signal handlers, so it starts inside ``mixhost
live`` beside the audio and stops when told, closing every socket.  Starlette
needs an ASGI server (uvicorn) besides, which wants to own the process's
signals; the ``websockets`` package serves no files.

Every request passes :class:`~host.control.web.access.Access` (peer range,
token; for the socket also the Origin).  What a message means is the
surface's (:class:`Handlers`).
"""

from __future__ import annotations

import asyncio
import logging
import socket as sockets
import threading
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from aiohttp import WSMsgType, web

from ...errors import UserInputError
from .access import Access

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
SEND_BUFFER_BYTES = 64 * 1024   # a small kernel buffer: a page that lags shows in its own queue soon
HEARTBEAT_S = 5.0               # a page gone without a goodbye (a phone asleep) is noticed


class Handlers(Protocol):
    """The surface side of the server (all called in the server's loop thread)."""

    def connected(self, socket: web.WebSocketResponse, peer: str, transport: Any) -> Any: ...

    def message(self, client: Any, text: str) -> None: ...

    def disconnected(self, client: Any) -> None: ...

    async def stopping(self) -> None: ...

    async def run(self) -> None: ...


def static_dir() -> Path:
    return Path(str(resources.files(__package__) / "static"))


class WebServer:
    """aiohttp on its own loop and thread: ``start()`` returns once bound, ``stop()`` once closed."""

    def __init__(self, host: str, port: int, access: Access, handlers: Handlers) -> None:
        self.host = host
        self.port = port
        self.access = access
        self.handlers = handlers
        self.loop: asyncio.AbstractEventLoop | None = None
        self.refused = 0
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._stopping: asyncio.Event | None = None
        self._static = static_dir()

    # -- control thread ---------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mixhost-web", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise UserInputError(f"the browser mixer did not start on {self.host}:{self.port} in time")
        if self._failure is not None:
            self._thread.join()
            raise UserInputError(f"the browser mixer cannot listen on {self.host}:{self.port}: {self._failure}",
                                 hint="choose another port (--web HOST:PORT) or stop what uses it")

    def stop(self) -> None:
        loop, stopping = self.loop, self._stopping
        if loop is not None and stopping is not None and loop.is_running():
            loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S)

    @property
    def native_id(self) -> int | None:
        """The server thread's id in the OS (once started)."""
        return self._thread.native_id if self._thread is not None else None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        query = f"?token={self.access.token}" if self.access.token else ""
        return f"http://{host}:{self.port}/{query}"

    # -- the server's thread ------------------------------------------------------------------------
    def _run(self) -> None:
        self.loop = loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._serve())
        except BaseException as error:  # noqa: BLE001 - reported to start(), or logged after it
            if not self._ready.is_set():
                self._failure = error
                self._ready.set()
            else:
                log.warning("browser mixer server failed", exc_info=True)
        finally:
            _cancel_remaining(loop)
            loop.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        app = web.Application(middlewares=[self._guard])
        app.router.add_get("/", self._page)
        app.router.add_get("/ws", self._socket)
        app.router.add_static("/static/", self._static, follow_symlinks=False)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError as error:
            await runner.cleanup()
            self._failure = error
            self._ready.set()
            return
        bound = runner.addresses[0]
        self.port = int(bound[1])
        work = asyncio.get_running_loop().create_task(self.handlers.run())
        self._ready.set()
        await self._stopping.wait()
        work.cancel()
        await asyncio.gather(work, return_exceptions=True)
        await self.handlers.stopping()
        await runner.cleanup()

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not self.access.peer_allowed(request.remote):
            self.refused += 1
            raise web.HTTPForbidden(text="mixhost: this address is not in --web-allow\n")
        return await handler(request)

    def _check_token(self, request: web.Request) -> None:
        if not self.access.token_ok(request.query.get("token")):
            self.refused += 1
            raise web.HTTPForbidden(text="mixhost: open the URL mixhost live printed (with its token)\n")

    async def _page(self, request: web.Request) -> web.StreamResponse:
        self._check_token(request)
        response = web.FileResponse(self._static / "index.html")
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"   # the token stays out of other sites' logs
        return response

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        self._check_token(request)
        if not self.access.origin_ok(request.headers.get("Origin"), request.host):
            self.refused += 1
            raise web.HTTPForbidden(text="mixhost: a page from another site may not open the mixer's socket\n")
        # No permessage-deflate (RFC 7692): it would compress every message once per page, holding
        # the GIL the audio callback waits for, to save a few hundred bytes on a LAN.
        socket = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=1 << 16, compress=False)
        await socket.prepare(request)
        transport = request.transport
        raw = transport.get_extra_info("socket") if transport is not None else None
        if raw is not None:
            raw.setsockopt(sockets.SOL_SOCKET, sockets.SO_SNDBUF, SEND_BUFFER_BYTES)
        client = self.handlers.connected(socket, request.remote or "?", transport)
        try:
            async for message in socket:
                if message.type == WSMsgType.TEXT:
                    self.handlers.message(client, message.data)
                elif message.type == WSMsgType.BINARY:
                    self.handlers.message(client, message.data.decode("utf-8", "replace"))
        finally:
            self.handlers.disconnected(client)
        return socket


def _cancel_remaining(loop: asyncio.AbstractEventLoop) -> None:
    """Tasks still pending at the end (a page's writer, a close under way): cancelled and awaited."""
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
