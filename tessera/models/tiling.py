"""Spatial tiling with blended seams: run a per-frame-local function (VAE encode or decode) over overlapping
tiles of a large video and blend the tiles back, so peak memory follows the tile, not the frame.

Shape letters: B batch, C channels, F frames, H height, W width.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

Tile = tuple[int, int] | None  # (height, width) of spatial tiles or of their stride


def run_tiled(
    fn: Callable[[Tensor], Tensor], x: Tensor, tile: Tile, stride: Tile, in_unit: int, out_unit: int
) -> Tensor:
    """fn over overlapping spatial tiles of x (B,C,F,H,W), blended into one output whose H and W are the
    input's times out_unit / in_unit. Tile sizes, strides and offsets are in input cells, multiples of
    in_unit. An output cell is the mean of the tiles covering it, weighted by ramps across the overlaps."""
    height, width = x.shape[-2:]
    tile, stride = _check_tiling(tile, stride, in_unit)
    tiles_h = _tile_spans(height, tile[0], stride[0])
    tiles_w = _tile_spans(width, tile[1], stride[1])
    out = weight = None
    for top, th in tiles_h:
        for left, tw in tiles_w:
            y = fn(x[..., top : top + th, left : left + tw])  # (B,C',F',th*out/in,tw*out/in)
            if out is None:
                shape = (*y.shape[:3], height * out_unit // in_unit, width * out_unit // in_unit)
                out, weight = y.new_zeros(shape), y.new_zeros(shape[-2:])
            w_h = _blend_ramp(y.shape[-2], (th - stride[0]) * out_unit // in_unit, top > 0, top + th < height)
            w_w = _blend_ramp(
                y.shape[-1], (tw - stride[1]) * out_unit // in_unit, left > 0, left + tw < width
            )
            w = (w_h[:, None] * w_w[None, :]).to(y)  # (h',w')
            r, c = top * out_unit // in_unit, left * out_unit // in_unit
            out[..., r : r + y.shape[-2], c : c + y.shape[-1]] += y * w
            weight[r : r + y.shape[-2], c : c + y.shape[-1]] += w
    return out / weight


def _check_tiling(tile: Tile, stride: Tile, unit: int) -> tuple[tuple[int, int], tuple[int, int]]:
    if len(tile) != 2 or min(tile) < unit or any(t % unit for t in tile):
        raise ValueError(f"tile must be two positive multiples of {unit}, got {tile}")
    if stride is None:  # a quarter of the tile overlaps its neighbour
        stride = tuple(max(unit, t * 3 // 4 // unit * unit) for t in tile)
    if len(stride) != 2 or min(stride) < unit or any(s % unit for s in stride):
        raise ValueError(f"tile_stride must be two positive multiples of {unit}, got {stride}")
    if any(s > t for s, t in zip(stride, tile, strict=True)):
        raise ValueError(f"tile_stride {stride} must not exceed the tile {tile} (tiles would leave gaps)")
    return tuple(tile), tuple(stride)


def _tile_spans(size: int, tile: int, stride: int) -> list[tuple[int, int]]:
    """(start, length) of tiles covering [0, size): every `stride`, the last one flush with the end."""
    tile = min(tile, size)
    starts = list(range(0, size - tile + 1, stride))
    if starts[-1] + tile < size:
        starts.append(size - tile)
    return [(s, tile) for s in starts]


def _blend_ramp(size: int, overlap: int, rise: bool, fall: bool) -> Tensor:
    """Weights along one axis of a tile: a linear ramp over `overlap` cells on each side with a neighbour."""
    w = torch.ones(size)
    if overlap > 0:
        ramp = torch.arange(1, overlap + 1, dtype=torch.float32) / (overlap + 1)  # never 0: every cell counts
        n = min(overlap, size)
        if rise:
            w[:n] = torch.minimum(w[:n], ramp[:n])
        if fall:
            w[size - n :] = torch.minimum(w[size - n :], ramp[:n].flip(0))
    return w
