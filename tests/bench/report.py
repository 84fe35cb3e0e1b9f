"""The bench's figures: one result per stage, the ratios, a table and a JSON file."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: The pipeline should keep at least this share of a do-nothing faust agent's throughput.
TARGET_SHARE_OF_FAUST = 0.30


@dataclass(frozen=True)
class StageResult:
    """Throughput (and, where it means something, latency) of one stage."""

    name: str
    messages: int
    seconds: float
    p50_ms: float | None = None
    p99_ms: float | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Messages per second."""
        return self.messages / self.seconds if self.seconds > 0 else math.inf


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile of `values` (`share` in 0..1)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def latency(produced: Sequence[float], decided: Sequence[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds of `decided[i] - produced[i]` (seconds in)."""
    lags = [(out - into) * 1000.0 for into, out in zip(produced, decided, strict=True)]
    return percentile(lags, 0.50), percentile(lags, 0.99)


def ratios(bare: StageResult, noop: StageResult, pipeline: StageResult) -> dict[str, float]:
    """The pipeline's throughput (to its decisions) as a share of each baseline's."""
    return {
        "pipeline_over_bare_consumer": pipeline.rate / bare.rate,
        "pipeline_over_faust_agent": pipeline.rate / noop.rate,
    }


def verdict(shares: dict[str, float]) -> str:
    """PASS when the pipeline keeps the target share of the do-nothing agent."""
    return (
        "PASS" if shares["pipeline_over_faust_agent"] >= TARGET_SHARE_OF_FAUST else "BELOW TARGET"
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def table(results: Sequence[StageResult], shares: dict[str, float]) -> str:
    """The figures as a plain-text table, the ratios and the verdict under it."""
    head = f"{'name':<34} {'messages':>9} {'seconds':>8} {'msg/s':>9} {'p50 ms':>8} {'p99 ms':>8}"
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(
            f"{r.name:<34} {r.messages:>9,} {r.seconds:>8.2f} {r.rate:>9,.0f} "
            f"{_ms(r.p50_ms):>8} {_ms(r.p99_ms):>8}"
        )
    lines.append("")
    lines.append(f"pipeline / bare consumer      {shares['pipeline_over_bare_consumer']:7.1%}")
    lines.append(
        f"pipeline / do-nothing faust   {shares['pipeline_over_faust_agent']:7.1%}"
        f"   target >= {TARGET_SHARE_OF_FAUST:.0%}: {verdict(shares)}"
    )
    return "\n".join(lines)


def write_json(
    path: Path, results: Sequence[StageResult], shares: dict[str, float], params: dict[str, Any]
) -> None:
    """Write every figure, the parameters of the run and the verdict to `path`."""
    stages = [{**asdict(r), "msg_per_s": r.rate} for r in results]
    document = {
        "params": params,
        "stages": stages,
        "ratios": shares,
        "target_share_of_faust": TARGET_SHARE_OF_FAUST,
        "verdict": verdict(shares),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
