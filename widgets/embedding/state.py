"""The Embedding view's Qt-free state: what it shows, so it can be saved and rendered."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

COLOUR_MODES = ("label", "prediction", "correct", "confidence", "model")
COLOUR_TITLES = {"label": "label", "prediction": "prediction",
                 "correct": "correct / incorrect", "confidence": "confidence",
                 "model": "source model"}


@dataclass
class EmbeddingViewState:
    source_run: str | None = None  # activation run
    layer: str | None = None
    method: str = "umap"
    options: dict[str, Any] = field(default_factory=dict)
    projection: str | None = None  # the projection run shown
    compare: str | None = None  # a second projection, aligned to the first
    colour: str = "label"  # a COLOUR_MODES entry or "<run_id>:<dataset path>"
    hidden: tuple[int, ...] = ()
    mode: str = "pan"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EmbeddingViewState:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "hidden" in known:
            known["hidden"] = tuple(known["hidden"])
        return cls(**known)
