"""The optimiser every plate training script uses: AdamW with a one-cycle learning rate, one clipped step
per batch."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


class OneCycle:
    """AdamW (weight decay 1e-4) under ``OneCycleLR(max_lr=lr, total_steps, pct_start)``; :meth:`step`
    back-propagates a loss, clips the gradients' norm to ``clip`` and advances both."""

    def __init__(
        self,
        parameters: Iterable[nn.Parameter],
        lr: float,
        total_steps: int,
        pct_start: float,
        clip: float = 5.0,
    ) -> None:
        self.parameters = list(parameters)
        self.clip = clip
        self.optimiser = torch.optim.AdamW(self.parameters, lr=lr, weight_decay=1e-4)
        self.schedule = torch.optim.lr_scheduler.OneCycleLR(
            self.optimiser, max_lr=lr, total_steps=total_steps, pct_start=pct_start
        )

    def step(self, loss: torch.Tensor) -> None:
        self.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.parameters, self.clip)
        self.optimiser.step()
        self.schedule.step()
