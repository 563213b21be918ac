"""Models the user can pick: shipped presets, weights files, and fine-tuned models in memory."""

from __future__ import annotations

import threading
from pathlib import Path

from ..bundled import bundled_weights
from .config import PRESETS, export_refusal
from .loader import load_model
from .weights import LoadedModel


class ModelRegistry:
    """Name -> model source, loaded lazily and cached. Thread-safe: workers load from it."""

    def __init__(self):
        self._sources: dict[str, str | LoadedModel] = {name: name for name in PRESETS}
        self._cache: dict[str, LoadedModel] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return list(self._sources)

    def untrained(self, name: str) -> bool:
        """True for a preset that ships no weights; answered without loading (no torch import)."""
        source = self._sources.get(name)
        if isinstance(source, LoadedModel):
            return not source.trained
        return source in PRESETS and bundled_weights(source) is None

    def kernel_aware(self, name: str) -> bool:
        """True for a model that takes the blur estimate as input; presets answer without torch."""
        source = self._sources.get(name)
        if isinstance(source, LoadedModel):
            return source.model.config.kernel_aware
        return source in PRESETS and PRESETS[source].config.kernel_aware

    def describe(self, name: str) -> str:
        """What `name` is, in one line for the model chooser; presets answer without torch."""
        source = self._sources.get(name)
        if isinstance(source, LoadedModel):
            config = source.model.config
            card = source.card
            about = [config.architecture.upper()] + ["kernel-aware"] * config.kernel_aware
            if isinstance(card.get("base"), dict):
                about.append(f"fine-tuned from {card['base'].get('name')}")
            elif isinstance(card.get("preset"), str):
                about.append(f"trained as {card['preset']}")
            return "weights: " + ", ".join(about)
        return PRESETS[name].summary if source in PRESETS else ""

    def export_refusal(self, name: str) -> str:
        """Why `name` cannot be exported to bioimage.io ("" if it can); presets answer without torch."""
        source = self._sources.get(name)
        if isinstance(source, LoadedModel):
            return export_refusal(name, source.model.config, source.trained)
        if source in PRESETS:
            return export_refusal(name, PRESETS[source].config, not self.untrained(name))
        return ""  # a weights file not loaded yet: the export says it if it must

    def add_file(self, path: str | Path) -> str:
        """Validate and register a weights file (raises WeightsError); returns its name."""
        loaded = load_model(Path(path))
        return self.add_loaded(loaded, f"{Path(path).name}")

    def add_loaded(self, loaded: LoadedModel, name: str | None = None) -> str:
        name = self._unique(name or loaded.name)
        with self._lock:
            self._sources[name] = loaded
            self._cache[name] = loaded
        loaded.name = name
        return name

    def get(self, name: str) -> LoadedModel:
        with self._lock:
            if name not in self._sources:
                raise KeyError(f"unknown model {name!r}")
            if name not in self._cache:
                self._cache[name] = load_model(self._sources[name])
            return self._cache[name]

    def _unique(self, name: str) -> str:
        candidate, index = name, 2
        while candidate in self._sources:
            candidate, index = f"{name} ({index})", index + 1
        return candidate
