"""Reading a Prometheus text exposition the way Prometheus would, for assertions on samples."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Scrape:
    text: str

    def samples(self, name: str) -> list[tuple[dict[str, str], float]]:
        """Every sample called ``name`` (e.g. ``x_total``, ``x_bucket``) with its labels."""
        return [
            (dict(sample.labels), sample.value)
            for family in text_string_to_metric_families(self.text)
            for sample in family.samples
            if sample.name == name
        ]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples of ``name`` whose labels include ``labels``; 0 when none has them."""
        return sum(value for found, value in self.samples(name) if labels.items() <= found.items())

    def has(self, name: str, **labels: str) -> bool:
        return any(labels.items() <= found.items() for found, _ in self.samples(name))
