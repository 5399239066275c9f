"""The technician console: an aiohttp application served inside the daemon's event loop.

Pages are static files (``static/``, with uPlot vendored); the data comes from a small JSON API and one
Server-Sent Events stream:

- ``GET /api/status``: the station's health, heartbeat summary, outbox and calibration (what
  ``edge status`` shows), built from the daemon's objects on demand, and the last watch-list alerts
  (``watchlist_alerts``, newest first) for the lane staff;
- ``GET /api/records``: the last vehicles, each with its axle loads, verdict, explanation and plate crop;
- ``GET /api/records/<id>/plate.jpg``: that crop;
- ``POST /api/doctor``: the doctor's checks that do not open the lane's ports (the daemon holds them);
- ``GET /api/stream``: the live waveform, ``console.waveform_hz`` events a second; each event carries the
  count of watch-list alerts raised, so the page fetches the status the moment a new one is raised.  At a
  static weighbridge, each event carries the deck instead (``deck``: the indicator's weight and readings,
  stable, motion, over range, the position beams, the visit and what the flow waits for).

The lane first: one task builds each waveform event once for every open console, and each console has a
queue of two events; a slow browser loses events, it never holds up the task, and the task runs only while
a console is open.  Database reads run in threads.  A console that cannot start (port taken, bad
certificate) is logged and the lane goes on without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import re
import secrets
import ssl
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from edge import health as _health
from edge.calibration import is_overdue
from edge.calibration.store import calibration_history
from edge.console.auth import verify_password
from edge.console.waveform import WaveformTap
from edge.evidence.explain import explain
from edge.evidence.record import EvidenceRecord
from edge.evidence.store import EvidenceError, outbox_backlog, read_stored_record, recent_records

if TYPE_CHECKING:
    from edge.daemon import LaneDaemon

__all__ = ["COOKIE", "Console", "watchlist_alerts"]

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
COOKIE = "weighlane_console"
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_OPEN_PATHS = ("/login", "/static/login.css", "/static/vendor/")
_FAILED_LOGIN_DELAY_S = 1.0
#: After this many wrong passwords within a minute, logins are refused (429) for the rest of that minute
#: without checking: a flood of guesses never costs the station more than one scrypt at a time.
_MAX_FAILURES_PER_MINUTE = 10
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class Console:
    """One daemon's console: :meth:`start` after the lane is up, :meth:`stop` before it closes."""

    def __init__(self, station: LaneDaemon) -> None:
        self.station = station
        self.config = station.config.console
        self._sessions: dict[str, float] = {}  # token -> expiry (monotonic)
        self._failures: deque[float] = deque(maxlen=_MAX_FAILURES_PER_MINUTE)  # when (monotonic)
        self._checking = asyncio.Semaphore(1)  # one scrypt at a time
        self._clients: set[asyncio.Queue[str]] = set()
        self._runner: web.AppRunner | None = None
        self._pusher: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._closing = False
        self.url = ""
        self.events_sent = 0
        self.events_dropped = 0
        # A site kind whose stages have no sample buffer and lane state machine (a static weighbridge,
        # say) gets the console without the live waveform; one that says what its deck is doing
        # (``deck_state``: the static weighbridge) has it pushed instead, with the indicator's readings.
        sensing = getattr(station.site, "sensing", None)
        buffer, lane = getattr(sensing, "buffer", None), getattr(sensing, "lane", None)
        scale = station.config.scale
        self.tap: WaveformTap | None = None
        if buffer is not None and lane is not None:
            self.tap = WaveformTap(
                buffer,
                lane,
                scale.sample_rate_hz,
                scale.cells_per_platform,
                scale.kg_per_count,
                self.config.waveform_points_per_s,
                epoch_s=time.monotonic(),
            )
        self._lane = lane
        self._deck = getattr(station.site, "deck_state", None) if self.tap is None else None
        self._epoch_s = time.monotonic()
        self._deck_sent_s = self._epoch_s  # host time of the last indicator reading pushed
        self.app = self._build_app()

    # -- lifecycle ---------------------------------------------------------------------------------

    def _ssl(self) -> ssl.SSLContext | None:
        if not self.config.tls_cert:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.config.tls_cert, self.config.tls_key)
        if self.config.client_ca:
            context.load_verify_locations(self.config.client_ca)
            context.verify_mode = ssl.CERT_REQUIRED
        return context

    async def start(self) -> None:
        """Serve; raises OSError (port taken) or ssl.SSLError (certificate) for the daemon to log."""
        context = self._ssl()
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False, shutdown_timeout=1)
        await runner.setup()
        site = web.TCPSite(runner, self.config.bind, self.config.port, ssl_context=context)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.url = f"{'https' if context else 'http'}://{self.config.bind}:{self.config.port}/"
        self._pusher = asyncio.get_running_loop().create_task(self._push(), name="console-push")

    async def stop(self) -> None:
        self._closing = True
        for queue in list(self._clients):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait("")  # ends each stream
        if self._pusher is not None:
            self._pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pusher
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- the app -----------------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard], client_max_size=64 * 1024)
        app.router.add_get("/", self._index)
        app.router.add_get("/login", self._login_page)
        app.router.add_post("/login", self._login)
        app.router.add_post("/logout", self._logout)
        app.router.add_get("/api/status", self._status)
        app.router.add_get("/api/records", self._records)
        app.router.add_get("/api/records/{record_id}/plate.jpg", self._plate)
        app.router.add_post("/api/doctor", self._doctor)
        app.router.add_get("/api/stream", self._stream)
        app.router.add_static("/static/", STATIC, follow_symlinks=False)
        app.on_response_prepare.append(self._headers)
        return app

    @staticmethod
    async def _headers(request: web.Request, response: web.StreamResponse) -> None:
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)

    def _logged_in(self, request: web.Request) -> bool:
        if not self.config.password_hash:  # client certificates only: TLS has checked the client
            return bool(self.config.client_ca)
        token = request.cookies.get(COOKIE, "")
        expiry = self._sessions.get(token)
        if expiry is None:
            return False
        if expiry < time.monotonic():
            self._sessions.pop(token, None)
            return False
        return True

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith(_OPEN_PATHS) or self._logged_in(request):
            response: web.StreamResponse = await handler(request)
            return response
        if request.path.startswith("/api/"):
            raise web.HTTPUnauthorized(text="log in first", content_type="text/plain")
        raise web.HTTPFound("/login")

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html")

    async def _login_page(self, request: web.Request) -> web.StreamResponse:
        if self._logged_in(request):
            raise web.HTTPFound("/")
        page = (STATIC / "login.html").read_text(encoding="utf-8")
        if request.query.get("failed"):
            page = page.replace(
                "<!--FAILED-->", '<p class="error" id="login-error">Wrong password 密码错误</p>'
            )
        return web.Response(text=page, content_type="text/html")

    async def _login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        password = str(form.get("password", ""))
        stored = self.config.password_hash
        if self._locked_out():
            raise web.HTTPTooManyRequests(
                text="too many wrong passwords: wait a minute", content_type="text/plain"
            )
        # scrypt takes tens of ms and most of a core: off the event loop (the lane's callbacks go on), and
        # one at a time.
        async with self._checking:
            ok = bool(stored) and await asyncio.to_thread(verify_password, password, stored)
        if not ok:
            self._failures.append(time.monotonic())
            log.warning("console: a wrong password from %s", request.remote)
            await asyncio.sleep(_FAILED_LOGIN_DELAY_S)
            raise web.HTTPFound("/login?failed=1")
        token = secrets.token_urlsafe(32)
        now = time.monotonic()
        self._sessions = {t: e for t, e in self._sessions.items() if e > now}
        self._sessions[token] = now + self.config.session_hours * 3600
        response = web.HTTPFound("/")
        response.set_cookie(
            COOKIE,
            token,
            httponly=True,
            samesite="Strict",
            secure=bool(self.config.tls_cert),
            max_age=int(self.config.session_hours * 3600),
        )
        log.info("console: technician logged in from %s", request.remote)
        raise response

    def _locked_out(self) -> bool:
        failures = self._failures
        return len(failures) == failures.maxlen and time.monotonic() - failures[0] < 60.0

    async def _logout(self, request: web.Request) -> web.StreamResponse:
        self._sessions.pop(request.cookies.get(COOKIE, ""), None)
        response = web.HTTPFound("/login")
        response.del_cookie(COOKIE)
        raise response

    # -- data --------------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        station = self.station
        document = _health.status_document(station, "running")
        cal = station.calibration
        document["calibration"] = (
            None if cal is None else {**dataclasses.asdict(cal), "overdue": is_overdue(cal), "active": True}
        )
        document["scale"] = {
            "platforms": 0 if self.tap is None else self.tap.platforms,
            "platform_lengths_m": list(station.config.scale.platform_lengths_m),
            "sample_rate_hz": station.config.scale.sample_rate_hz,
        }
        document["console"] = {"events_sent": self.events_sent, "events_dropped": self.events_dropped}
        document["watchlist_alerts"] = watchlist_alerts(station.site)
        return document

    async def _status(self, request: web.Request) -> web.StreamResponse:
        document = self.status()
        database = self.station.config.evidence.database
        try:
            document["outbox"] = await asyncio.to_thread(outbox_backlog, database)
        except EvidenceError as exc:
            document["outbox"] = {"error": str(exc)}
        try:
            history = await asyncio.to_thread(calibration_history, database)
        except Exception as exc:  # a look only: the page says why
            document["calibration_history"] = {"error": str(exc)}
        else:
            document["calibration_history"] = [
                {
                    "calibration_id": c.calibration_id,
                    "created_utc": c.created_utc,
                    "technician": c.technician,
                    "method": c.method,
                    "valid_until_utc": c.valid_until_utc,
                    "checks_passed": c.all_checks_passed,
                }
                for c in history[:10]
            ]
        return web.json_response(document, dumps=_dumps)

    async def _records(self, request: web.Request) -> web.StreamResponse:
        try:
            limit = min(max(int(request.query.get("limit", "20")), 1), 200)
        except ValueError:
            raise web.HTTPBadRequest(text="limit must be a number") from None
        rows = await asyncio.to_thread(_last_vehicles, self.station.config.evidence.database, limit)
        return web.json_response({"records": rows}, dumps=_dumps)

    async def _plate(self, request: web.Request) -> web.StreamResponse:
        record_id = request.match_info["record_id"]
        if not _UUID.match(record_id):
            raise web.HTTPNotFound()
        path = Path(self.station.config.evidence.database).parent / "attachments" / record_id / "plate.jpg"
        if not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"Content-Type": "image/jpeg"})

    async def _doctor(self, request: web.Request) -> web.StreamResponse:
        from edge.doctor import check_broker, check_calibration, check_clock, check_disk

        config = self.station.config
        local = await asyncio.to_thread(
            lambda: [check_disk(config), check_clock(), check_calibration(config)]
        )
        checks = [*await check_broker(config), *local]
        return web.json_response(
            {
                "ok": all(c.ok for c in checks),
                "checks": [c.as_dict() for c in checks],
                "note": "ports and cameras: see Devices (live); `edge doctor` opens them itself, with the"
                " daemon stopped",
            },
            dumps=_dumps,
        )

    # -- the waveform stream -----------------------------------------------------------------------

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=2)
        hello = {
            "platforms": 0 if self.tap is None else self.tap.platforms,
            "rate_hz": self.config.waveform_hz,
        }
        if self._deck is not None:
            hello["deck"] = True
        await response.write(f"event: hello\ndata: {json.dumps(hello)}\n\n".encode())
        self._clients.add(queue)
        self._wake.set()
        try:
            while not self._closing:
                event = await queue.get()
                if not event:
                    break
                await response.write(event.encode())
        except ConnectionResetError:  # the browser went away
            pass
        finally:
            self._clients.discard(queue)
        return response

    async def _push(self) -> None:
        period = 1.0 / self.config.waveform_hz
        while True:
            if not self._clients:
                self._wake.clear()
                await self._wake.wait()
            started = time.monotonic()
            site = self.station.site
            frame: dict[str, Any] = {"t": [], "kg": [], "axles": []}
            if self.tap is not None:
                frame = self.tap.read(getattr(getattr(site, "weighing", None), "zero_counts", None))
            frame["lane"] = {} if self._lane is None else self._lane.state()
            if self._deck is not None:
                frame["deck"] = self._deck_frame()
            frame["vehicles"] = getattr(site, "vehicles", None)
            frame["alerts"] = getattr(site, "alerts_raised", 0)
            event = f"event: wave\ndata: {json.dumps(frame, separators=(',', ':'))}\n\n"
            for queue in list(self._clients):
                try:
                    queue.put_nowait(event)
                    self.events_sent += 1
                except asyncio.QueueFull:  # a slow browser loses events; the lane never waits
                    self.events_dropped += 1
            await asyncio.sleep(max(0.0, period - (time.monotonic() - started)))

    def _deck_frame(self) -> dict[str, Any]:
        """The deck's state for a push, its readings since the last push as ``t`` (s since the console
        started) and ``kg`` (the indicator's weight, None where it gave no number)."""
        assert self._deck is not None
        deck: dict[str, Any] = self._deck(self._deck_sent_s)
        readings = deck.pop("readings", [])
        if readings:
            self._deck_sent_s = readings[-1][0]
        deck["t"] = [round(t - self._epoch_s, 3) for t, _ in readings]
        deck["kg"] = [kg for _, kg in readings]
        return deck


def watchlist_alerts(site: Any) -> list[dict[str, Any]]:
    """The site's last watch-list alerts, newest first (none for a site kind without a watch-list)."""
    alerts = getattr(site, "alerts", None)
    return [] if alerts is None else [dict(alert) for alert in reversed(alerts)]


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def _last_vehicles(database: str, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` records, newest first, each with what the console's table shows."""
    try:
        rows = recent_records(database, limit=limit)
    except EvidenceError:
        return []
    out = []
    for row in reversed(rows):
        stored = read_stored_record(database, str(row["id"]))
        item: dict[str, Any] = {**row}
        if stored is not None and stored.evicted_utc is None:
            data = json.loads(stored.record_text)
            record = EvidenceRecord.model_validate(data)
            wim = record.wim
            item.update(
                vehicle_class=record.vehicle_class,
                axle_loads_kg=[] if wim is None else wim.axle_loads_kg,
                speed_kmh=None if wim is None else wim.speed_kmh,
                dimensions=data.get("outline") or data.get("dimensions"),
                explanation=explain(record),
                plate_crop=any(a.get("name") == "plate.jpg" for a in record.attachments),
                latency_ms=None if record.timing is None else record.timing.verdict_latency_ms,
            )
        out.append(item)
    return out
