"""The five plate networks (PyTorch, training only; the runtime loads their ONNX exports).

All five are small plain CNNs sized for one CPU core at the lane: convolutions, batch norm and ReLU,
nothing an ONNX runtime handles slowly.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import torch
from torch import nn

from edge.plates.grammar import ALPHABET, LAYOUTS, PROVINCES, SUFFIXES


def _conv(
    c_in: int, c_out: int, stride: int | tuple[int, int] = 1, kernel: int | tuple[int, int] = 3
) -> nn.Sequential:
    padding = (kernel // 2) if isinstance(kernel, int) else (kernel[0] // 2, kernel[1] // 2)
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class Recogniser(nn.Module):
    """CRNN without the RNN: 3x32x128 text line -> (32 time steps, classes) probabilities' logs for CTC.

    The first convolution runs at full input resolution (no stride): a province character is the most
    complex glyph on the plate and, in a 94 x 24 crop, only about 12 x 20 pixels, so halving it before the
    first feature throws away what tells 皖 from 桂.  Height is then pooled away, width kept at stride 4
    (32 steps for at most 8 characters and the blanks between repeats); two 1-D convolutions over the
    width give each step the context of its neighbours.  About 78 M multiply-adds: 1.5 ms on one core.
    """

    def __init__(
        self, n_classes: int = len(ALPHABET), width: tuple[int, ...] = (24, 48, 64, 96, 128, 160)
    ) -> None:
        super().__init__()
        c0, c1, c2, c3, c4, c5 = width
        self.features = nn.Sequential(
            _conv(3, c0),  # 32 x 128
            nn.MaxPool2d(2),  # 16 x 64
            _conv(c0, c1),
            nn.MaxPool2d(2),  # 8 x 32
            _conv(c1, c2),
            _conv(c2, c3),
            nn.MaxPool2d((2, 1)),  # 4 x 32
            _conv(c3, c4),
            _conv(c4, c5),
        )
        self.sequence = nn.Sequential(
            nn.Conv1d(c5, c5, 3, padding=1, bias=False),
            nn.BatchNorm1d(c5),
            nn.ReLU(inplace=True),
            nn.Conv1d(c5, c5, 3, padding=1, bias=False),
            nn.BatchNorm1d(c5),
            nn.ReLU(inplace=True),
            nn.Dropout(0.1),
            nn.Conv1d(c5, n_classes, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.features(x).amax(dim=2)  # N, C, 32
        logits = self.sequence(features)  # N, classes, 32
        return logits.permute(0, 2, 1).log_softmax(-1)  # N, T, classes


class ProvinceClassifier(nn.Module):
    """3x40x32 region around the province character -> logits over ``PROVINCES``.

    The recogniser sees a province character at about 13 x 21 pixels and keeps one full-resolution
    convolution before pooling; on legible synthetic 皖 plates it still picked the wrong province in
    about one read in ten.  This network spends two convolutions at a slightly higher resolution and its
    whole depth on that one glyph.  About 29 M multiply-adds.
    """

    def __init__(self, n_classes: int = len(PROVINCES), width: tuple[int, ...] = (24, 48, 96, 128)) -> None:
        super().__init__()
        c0, c1, c2, c3 = width
        self.body = nn.Sequential(
            _conv(3, c0),  # 40 x 32
            _conv(c0, c0),
            nn.MaxPool2d(2),  # 20 x 16
            _conv(c0, c1),
            _conv(c1, c1),
            nn.MaxPool2d(2),  # 10 x 8
            _conv(c1, c2),
            _conv(c2, c2),
            nn.MaxPool2d(2),  # 5 x 4
            _conv(c2, c3),
        )
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(c3, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).mean(dim=(2, 3)))


class SuffixClassifier(ProvinceClassifier):
    """3x40x32 region around the last character -> logits over ``SUFFIXES`` and a last class for "none"
    (a letter or digit ends the plate).  The same network as the province classifier's: the suffixes are
    drawn from the same CJK faces, and 港/澳 and 使/领 are as alike at plate resolution as provinces."""

    def __init__(
        self, n_classes: int = len(SUFFIXES) + 1, width: tuple[int, ...] = (24, 48, 96, 128)
    ) -> None:
        super().__init__(n_classes, width)


class LayoutClassifier(nn.Module):
    """3x32x64 plate crop -> logits over ``LAYOUTS`` (colour and number of rows)."""

    def __init__(self, n_classes: int = len(LAYOUTS)) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv(3, 16, stride=2),  # 16 x 32
            _conv(16, 32),
            nn.MaxPool2d(2),  # 8 x 16
            _conv(32, 64),
            nn.MaxPool2d(2),  # 4 x 8
            _conv(64, 96),
        )
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(96, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).mean(dim=(2, 3)))


class Detector(nn.Module):
    """3x288x512 letter-boxed frame -> plate centre heat map and corner offsets at stride 4.

    Output (N, 9, 72, 128): channel 0 is the centre logit; channels 1-8 are the four corners (TL, TR,
    BR, BL; x then y) relative to the cell, in units of 16 input pixels.
    """

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(_conv(3, 16, stride=2), _conv(16, 24, stride=2))  # /4
        self.down8 = nn.Sequential(_conv(24, 48, stride=2), _conv(48, 48))  # /8
        self.down16 = nn.Sequential(_conv(48, 64, stride=2), _conv(64, 64))  # /16
        self.down32 = nn.Sequential(_conv(64, 96, stride=2), _conv(96, 96))  # /32
        self.lat16 = _conv(96 + 64, 64, kernel=1)
        self.lat8 = _conv(64 + 48, 48, kernel=1)
        self.lat4 = _conv(48 + 24, 32, kernel=1)
        self.head = nn.Conv2d(32, 9, 3, padding=1)
        with torch.no_grad():  # CenterNet's prior: plates are rare, start the centre map at p = 0.1
            self.head.bias[0] = -2.19

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s4 = self.stem(x)
        s8 = self.down8(s4)
        s16 = self.down16(s8)
        s32 = self.down32(s16)
        up = nn.functional.interpolate(s32, size=s16.shape[-2:], mode="nearest")
        f16 = self.lat16(torch.cat([up, s16], 1))
        up = nn.functional.interpolate(f16, size=s8.shape[-2:], mode="nearest")
        f8 = self.lat8(torch.cat([up, s8], 1))
        up = nn.functional.interpolate(f8, size=s4.shape[-2:], mode="nearest")
        f4 = self.lat4(torch.cat([up, s4], 1))
        return self.head(f4)


_Net = TypeVar("_Net", bound=nn.Module)


def folded_from_onnx(model: _Net, path: Path) -> _Net:
    """``model`` without batch norm, holding the weights of its exported ONNX file ``path``.

    The export folds batch norm into the convolutions, so every batch norm becomes an identity and every
    convolution gets the folded weights and biases, in the order the graph runs them (the order the
    modules are defined in, for these networks); fully connected layers (ONNX Gemm) likewise.  Training
    continues from there.
    """
    import onnx
    from onnx import numpy_helper

    for module in model.modules():
        if isinstance(module, nn.Sequential):
            for i, child in enumerate(module):
                if isinstance(child, nn.BatchNorm1d | nn.BatchNorm2d):
                    module[i] = nn.Identity()
    convs: list[nn.Conv1d | nn.Conv2d] = []
    for module in model.modules():
        if isinstance(module, nn.Conv1d | nn.Conv2d):
            if module.bias is None:
                module.bias = nn.Parameter(torch.zeros(module.out_channels))
            convs.append(module)
    graph = onnx.load(str(path)).graph
    weights = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    nodes = [node for node in graph.node if node.op_type == "Conv"]
    if len(nodes) != len(convs):
        raise SystemExit(f"{path}: {len(nodes)} convolutions, the network has {len(convs)}")
    linears = [module for module in model.modules() if isinstance(module, nn.Linear)]
    gemms = [node for node in graph.node if node.op_type == "Gemm"]
    if len(gemms) != len(linears):
        raise SystemExit(f"{path}: {len(gemms)} fully connected layers, the network has {len(linears)}")
    with torch.no_grad():
        for node, conv in zip(nodes, convs, strict=True):
            conv.weight.copy_(torch.from_numpy(weights[node.input[1]].copy()))
            conv.bias.copy_(torch.from_numpy(weights[node.input[2]].copy()))  # type: ignore[union-attr]
        for node, linear in zip(gemms, linears, strict=True):
            transposed = any(a.name == "transB" and a.i == 1 for a in node.attribute)
            weight = weights[node.input[1]]
            linear.weight.copy_(torch.from_numpy((weight if transposed else weight.T).copy()))
            linear.bias.copy_(torch.from_numpy(weights[node.input[2]].copy()))
    return model
