"""Several devices' per-layer profiles in one table, joined by layer, with each layer's accuracy beside it.

Two backends fuse differently (ONNX Runtime runs a Conv and its Relu as one kernel, an NPU may fuse
three layers), so the unit of the join is a group of layers that no profile splits: the layers that
share a row in any profile are one joined row, and each profile's time for it is the sum of its rows
inside the group. Rows that map to no layer (an NPU's op names without ATC's JSON, a layout reorder)
follow, under their own names, in their profile's column only.

The accuracy beside the time comes from a layer-by-layer comparison (``compare_layers.py``). The join
reads this documented shape, the smallest the comparison has to write::

    {"layers": [{"name": "block1.layer.0.conv1", "cosine": 0.99998, "max_abs": 0.0012, …}, …]}

or ``{"runs": [{"label": "npu", "layers": [...]}, …]}`` for several runs: per layer its name
(``genet.layers.names``, key ``name`` or ``layer``) and any numeric metrics, at its top level or one
level down (``{"accumulated": {"cosine_min": …}}`` gives ``cosine_min (accumulated)``; ``"nan"`` and
``"inf"`` strings are numbers). A joined row shows the metric of its last layer (in graph order) that
the comparison lists: a fused group's output.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from genet.core.errors import GenetError
from genet.layers.profile import LayerGroups, LayerProfile

Metrics = dict[str, dict[str, float]]           # layer → metric name → value


@dataclass
class JoinedRow:
    layers: tuple[str, ...]
    ms: dict[str, float] = field(default_factory=dict)       # profile label → ms per batch
    metrics: dict[str, float] = field(default_factory=dict)
    metric_layer: str | None = None

    @property
    def label(self) -> str:
        return " + ".join(self.layers)


@dataclass
class Joined:
    labels: list[str]
    batch_sizes: dict[str, int]
    rows: list[JoinedRow]
    unmapped: list[tuple[str, str, float]]              # (profile label, kernel name, ms per batch)
    metric_names: list[str]
    shown_metric: str | None


def read_compare_layers(path: Path) -> Metrics:
    """Per layer, its numeric metrics; several runs' metrics are named ``metric (run label)``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise GenetError(f"{path}: cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise GenetError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    runs = data.get("runs") if isinstance(data, dict) else None
    if runs is None:
        runs = [{"label": None, "layers": data.get("layers") if isinstance(data, dict) else data}]
    found: Metrics = {}
    for run in runs:
        layers = run.get("layers") if isinstance(run, dict) else None
        if isinstance(layers, dict):
            layers = [{"name": name, **values} for name, values in layers.items() if isinstance(values, dict)]
        if not isinstance(layers, list):
            raise GenetError(f"{path}: not a layer comparison ({{\"layers\": [{{\"name\": …, \"cosine\": …}}]}})")
        label = run.get("label") if len(runs) > 1 else None
        for entry in layers:
            name = entry.get("name", entry.get("layer")) if isinstance(entry, dict) else None
            if not isinstance(name, str):
                raise GenetError(f"{path}: a layer entry without a name: {str(entry)[:80]}")
            values = {_qualified(key, label): value for key, value in flat_metrics(entry).items()}
            found.setdefault(name, {}).update(values)
    if not found:
        raise GenetError(f"{path}: lists no layers")
    return found


_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "infinity": math.inf, "-infinity": -math.inf}


def _qualified(metric: str, label: str | None) -> str:
    """``cosine (accumulated)`` + run ``npu`` → ``cosine (accumulated, npu)``."""
    if not label:
        return metric
    return f"{metric[:-1]}, {label})" if metric.endswith(")") else f"{metric} ({label})"


def flat_metrics(entry: dict) -> dict[str, float]:
    """An entry's numbers (``"nan"``/``"inf"`` strings too); a nested dict's as ``metric (key)``."""
    found = {}
    for key, value in entry.items():
        if isinstance(value, dict):
            nested = flat_metrics(value)
            found.update(nested if key == "metrics" else {f"{name} ({key})": v for name, v in nested.items()})
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            found[key] = float(value)
        elif isinstance(value, str) and value.lower() in _NON_FINITE and key not in ("name", "layer"):
            found[key] = _NON_FINITE[value.lower()]
    return found


def join_profiles(profiles: list[tuple[str, LayerProfile]], metrics: Metrics | None = None,
                  metric: str | None = None, where: str = "the comparison") -> Joined:
    layer_groups = LayerGroups()
    for _, profile in profiles:
        for row in profile.rows:
            if row.layers:
                layer_groups.join(row.layers)
    order = layer_groups.order()
    groups: dict[str, JoinedRow] = {}
    unmapped = []
    for label, profile in profiles:
        for row in profile.rows:
            if not row.layers:
                unmapped.append((label, row.label, row.ms))
                continue
            group = groups.setdefault(layer_groups.root(row.layers[0]), JoinedRow(()))
            group.layers = tuple(sorted(set(group.layers) | set(row.layers), key=order.get))
            group.ms[label] = group.ms.get(label, 0.0) + row.ms
    rows = sorted(groups.values(), key=lambda group: order[group.layers[0]])
    names = _metric_names(metrics)
    if metrics is not None:
        if not any(name in metrics for row in rows for name in row.layers):
            raise GenetError(f"{where}: none of its {len(metrics)} layers is a layer of the profiles "
                             f"(e.g. {next(iter(metrics))!r} against {rows[0].layers[0] if rows else 'none'!r})")
        for row in rows:
            listed = [name for name in row.layers if name in metrics]
            if listed:
                row.metric_layer = listed[-1]
                row.metrics = metrics[listed[-1]]
    cosine = next((n for n in names if "cos" in n.lower()), names[0] if names else None)
    shown = metric if metric is not None else cosine
    if metric is not None and metric not in names:
        raise GenetError(f"{where}: has no metric {metric!r} (it has: {', '.join(names) or 'none'})")
    return Joined([label for label, _ in profiles], {label: p.batch_size for label, p in profiles}, rows, unmapped,
                  names, shown)


def _metric_names(metrics: Metrics | None) -> list[str]:
    names: dict[str, None] = {}
    for values in (metrics or {}).values():
        names.update(dict.fromkeys(values))
    return list(names)


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _metric(value: float | None) -> str:
    if value is None:
        return ""
    return "NaN" if math.isnan(value) else f"{value:.6g}"


def joined_markdown(joined: Joined, sources: list[str]) -> str:
    columns = [f"{label} ms (bs{joined.batch_sizes[label]})" for label in joined.labels]
    metric = [joined.shown_metric] if joined.shown_metric else []
    lines = ["# Per-layer time by device (ms per batch)", "", *[f"- {source}" for source in sources], "",
             f"| layer | {' | '.join(columns + metric)} |", "|---|" + "---:|" * (len(columns) + len(metric))]
    for row in joined.rows:
        cells = [_ms(row.ms.get(label)) for label in joined.labels]
        if metric:
            cells.append(_metric(row.metrics.get(joined.shown_metric)))
        lines.append(f"| {row.label} | {' | '.join(cells)} |")
    for label, name, ms in joined.unmapped:
        cells = [_ms(ms) if other == label else "" for other in joined.labels] + ([""] if metric else [])
        lines.append(f"| {name} ({label}, unmapped) | {' | '.join(cells)} |")
    totals = [_ms(sum(r.ms.get(label, 0.0) for r in joined.rows) + sum(ms for who, _, ms in joined.unmapped
                                                                        if who == label)) for label in joined.labels]
    lines.append(f"| total | {' | '.join(totals + [''] * len(metric))} |")
    if metric:
        lines += ["", f"{joined.shown_metric}: from the layer comparison, the metric of each row's last layer that "
                      f"it lists (a fused group's output); all metrics are in the CSV and JSON."]
    return "\n".join(lines) + "\n"


def joined_csv(joined: Joined) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["layers", *[f"{label}_ms" for label in joined.labels], "metric_layer", *joined.metric_names])
    for row in joined.rows:
        writer.writerow([row.label, *[_ms(row.ms.get(label)) for label in joined.labels], row.metric_layer or "",
                         *[_metric(row.metrics.get(name)) for name in joined.metric_names]])
    for label, name, ms in joined.unmapped:
        writer.writerow([f"{name} ({label}, unmapped)", *[_ms(ms) if o == label else "" for o in joined.labels], "",
                         *[""] * len(joined.metric_names)])
    return out.getvalue()


def joined_json(joined: Joined, sources: list[str]) -> str:
    def finite(value):
        return None if isinstance(value, float) and not math.isfinite(value) else value

    body = {"kind": "genet-layer-profile-join", "sources": sources, "labels": joined.labels,
            "batch_sizes": joined.batch_sizes, "metric": joined.shown_metric,
            "rows": [{"layers": list(row.layers), "ms": row.ms, "metric_layer": row.metric_layer,
                      "metrics": {k: finite(v) for k, v in row.metrics.items()}} for row in joined.rows],
            "unmapped": [{"profile": label, "name": name, "ms": ms} for label, name, ms in joined.unmapped]}
    return json.dumps(body, indent=1, allow_nan=False) + "\n"
