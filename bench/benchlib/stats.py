"""Summaries of repeated measurements: medians, spreads and ratios."""

import statistics


def median(values):
    return statistics.median(values) if values else None


def spread(values):
    return (min(values), max(values)) if values else None


def slowdown(metric, value, reference):
    """How many times worse than `reference` (> 1: worse, < 1: better),
    whichever way the metric goes."""
    if value is None or not reference:
        return None
    if metric.lower_is_better:
        return value / reference
    return reference / value if value else None


def fmt(value):
    if value is None:
        return "—"
    a = abs(value)
    if a >= 100:
        return f"{value:.0f}"
    if a >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def cell(values):
    """'median (min–max)', or the single value."""
    if not values:
        return "—"
    if len(values) == 1:
        return fmt(values[0])
    lo, hi = spread(values)
    return f"{fmt(median(values))} ({fmt(lo)}–{fmt(hi)})"


def ratio(r):
    return "—" if r is None else f"{r:.2f}×"
