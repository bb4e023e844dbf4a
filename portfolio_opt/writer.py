"""Writing an instance ``dict`` as YAML or JSON (:func:`write_instance`), and the YAML dumper
it uses (also for ``portfolio-opt blocks``' printed fragment)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["write_instance"]


def write_instance(data: dict[str, Any], path: str | Path) -> Path:
    """Write an instance as YAML (``.yaml``/``.yml``) or JSON (``.json``), by extension.

    YAML is written with ruamel's safe dumper: plain scalars, no tags, keys in the order
    given, floats always in positional notation (never ``1e+17``), leaf lists in flow style.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".json":
        p.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    elif suffix in (".yaml", ".yml"):
        with p.open("w", encoding="utf-8") as fh:
            _yaml_dumper().dump(data, fh)
    else:
        raise ValueError(f"expected a path ending in .yaml, .yml or .json, got {str(path)!r}")
    return p


def _yaml_dumper() -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.representer import SafeRepresenter

    class _Representer(SafeRepresenter):
        """Block mappings, flow lists of numbers or ids (series read as one row), and
        floats in positional notation (``1e+17`` is a float in YAML 1.2, but not to
        every eye or every YAML 1.1 reader)."""

        def represent_float(self, data: float) -> Any:
            text = repr(data)
            if "e" in text or "E" in text:
                text = np.format_float_positional(data, trim="0")
            return self.represent_scalar("tag:yaml.org,2002:float", text)

        def represent_list(self, data: Any) -> Any:
            flat = all(isinstance(v, (int, float, str)) for v in data)
            return self.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat)

    _Representer.add_representer(float, _Representer.represent_float)
    _Representer.add_representer(list, _Representer.represent_list)
    yaml: Any = YAML(typ="safe", pure=True)
    yaml.Representer = _Representer
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False
    yaml.width = 120
    return yaml
