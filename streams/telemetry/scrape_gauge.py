"""A gauge worked out when it is scraped, for values that depend on the moment (ages, lags)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

#: What a scrape-time source returns: a value per tuple of label values.
Samples = Mapping[tuple[str, ...], float]


class ScrapeGauge(Collector):
    """A gauge computed when scraped: `source` gives a value per tuple of label values.

    Until a source is set it has no samples; a source that raises gives none either.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Iterable[str] = (),
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self.source: Callable[[], Samples] = dict
        if registry is not None:
            registry.register(self)

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def describe(self) -> Iterable[GaugeMetricFamily]:
        """The family without samples: the registry learns the name from it."""
        yield self._family()

    def collect(self) -> Iterable[GaugeMetricFamily]:
        """The family with the source's samples of this moment."""
        family = self._family()
        try:
            samples = self.source()
        except Exception:  # a scrape must answer: a broken source gives no samples
            samples = {}
        for labels, value in samples.items():
            family.add_metric(list(labels), value)
        yield family
