"""Lane output: the verdict on the LED board and the barrier.  Works with the network down: it talks
only to the lane devices over their serial links."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from typing import Any

from drivers.barrier.driver import Barrier
from drivers.display.codec import MAX_LINES
from drivers.display.driver import Colour, LedDisplay
from drivers.errors import DriverError
from edge.rules import Verdict

__all__ = ["DISK_FULL_LINE", "LaneOutput", "verdict_text", "with_notice"]

log = logging.getLogger(__name__)


#: The board's last line while records wait for room on the evidence disk (the disk-full spool is in use):
#: the verdict stays on the lines above it, and the idle text too.
DISK_FULL_LINE = "磁盘已满 请通知维护"


def with_notice(lines: tuple[str, ...], notice: str | None) -> tuple[str, ...]:
    """``lines`` with ``notice`` as the last line (replacing the last when the board is full)."""
    if not notice:
        return lines
    return (*lines[: MAX_LINES - 1], notice)


def _tonnes(kg: float) -> str:
    return f"{kg / 1000:.1f}t"


def verdict_text(
    verdict: Verdict, gross_kg: float | None, limit_kg: int | None, label: str, detail: str = ""
) -> tuple[Colour, tuple[str, ...]]:
    """Board colour and lines for a verdict (Chinese, as drivers read it; <= 64 bytes a line).
    ``detail`` (the outline's ``超高 4.35m``, or 外廓未测) is one more line when given."""
    colour, lines = _verdict_lines(verdict, gross_kg, limit_kg, label)
    if detail:
        lines = (*lines[:2], detail, *lines[2:])
    return colour, lines


def _verdict_lines(
    verdict: Verdict, gross_kg: float | None, limit_kg: int | None, label: str
) -> tuple[Colour, tuple[str, ...]]:
    weights = ""
    if gross_kg is not None and limit_kg is not None and math.isfinite(gross_kg):
        weights = f"总重{_tonnes(gross_kg)} 限{_tonnes(limit_kg)}"
    if verdict is Verdict.PASS:
        return "green", (f"{label} 请通行", weights)
    if verdict.refuses:  # 超限 covers weight and dimensions; the outline's line says which
        return "red", (f"{label} 超限 禁止驶入", weights, "请掉头驶离")
    return "yellow", (f"{label} 称重无效", "请倒车 重新低速过磅")


class LaneOutput:
    """Drives the display and the barrier; a failing device is reported, never raised to the lane."""

    def __init__(
        self, display: LedDisplay, barrier: Barrier, idle_lines: tuple[str, ...], idle_after_s: float
    ) -> None:
        self.display = display
        self.barrier = barrier
        self.idle_lines = idle_lines
        self.idle_after_s = idle_after_s
        self._idle_task: asyncio.Task[None] | None = None
        #: A line every text on the board ends with while it returns one (the station wires the disk-full
        #: notice here); None: the board shows only the verdict or the idle text.
        self.notice: Callable[[], str | None] = lambda: None
        self._idle_shown: str | None = None  # the notice the idle text was shown with; None: not idle

    async def _attempt(self, what: str, coro: Any) -> str:
        try:
            await coro
        except DriverError as exc:
            log.error("lane output: %s failed: %s", what, exc)
            return f"failed: {exc}"
        return "ok"

    async def show_verdict(
        self, verdict: Verdict, gross_kg: float | None, limit_kg: int | None, label: str, detail: str = ""
    ) -> dict[str, str]:
        """Show the verdict and move the barrier; returns what each device did (goes into the evidence)."""
        if self._idle_task is not None:
            self._idle_task.cancel()
        self._idle_shown = None
        colour, lines = verdict_text(verdict, gross_kg, limit_kg, label, detail)
        lines = with_notice(lines, self.notice())
        barrier_action = self.barrier.open() if verdict is Verdict.PASS else self.barrier.close()
        display_result, barrier_result = await asyncio.gather(
            self._attempt("display", self.display.show(lines, colour)),
            self._attempt("barrier", barrier_action),
        )
        self._idle_task = asyncio.create_task(self._back_to_idle(), name="display-idle")
        self._idle_task.add_done_callback(_log_task_failure)
        return {
            "display": display_result,
            "display_text": " / ".join(line for line in lines if line),
            "barrier": barrier_result,
            "barrier_command": "open" if verdict is Verdict.PASS else "close",
        }

    async def vehicle_arriving(self) -> None:
        """A new vehicle reached the scale: close the barrier behind the previous one."""
        await self._attempt("barrier", self.barrier.close())

    async def show_idle(self) -> None:
        notice = self.notice()
        await self._attempt("display", self.display.show(with_notice(self.idle_lines, notice), "green"))
        self._idle_shown = notice or ""

    async def refresh_notice(self) -> None:
        """The idle board follows the notice: shown when the disk fills, gone once it has room (a verdict
        on the board is left alone; the idle text after it has the notice then)."""
        if self._idle_shown is not None and self._idle_shown != (self.notice() or ""):
            await self.show_idle()

    async def _back_to_idle(self) -> None:
        await asyncio.sleep(self.idle_after_s)
        await self.show_idle()

    async def close(self) -> None:
        if self._idle_task is not None:
            self._idle_task.cancel()


def _log_task_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("lane output task %s failed: %r", task.get_name(), task.exception())
