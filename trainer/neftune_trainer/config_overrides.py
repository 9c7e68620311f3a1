"""`train --set KEY=VALUE`: top-level config keys given on the command line (the extension's alpha
sweep and tuner run one config with another `neftune_noise_alpha` or `max_steps`).

A value is read as a YAML 1.2 scalar, as it would be in the file (`1e-5` a number, `yes` a string,
`null` null). The merged config is checked by the same schema and rules as the file alone (config.py's
load_config, `overrides`); a problem of an overridden key names the key and says it came from
--set, since no line of the file holds it.
"""

from __future__ import annotations

from typing import Any, Dict, Sequence

import yaml

from .config import _Yaml12Loader
from .errors import InputError, Where


def parse_set_options(options: Sequence[str]) -> Dict[str, Any]:
    """{"max_steps": 8, ...} from ["max_steps=8", ...], in order (a repeated key: the last wins, as
    a shell user expects). InputError on a malformed option."""
    out: Dict[str, Any] = {}
    for option in options:
        key, eq, raw = option.partition("=")
        key = key.strip()
        if not eq or not key:
            raise InputError(f"--set {option!r}: expected KEY=VALUE (e.g. --set neftune_noise_alpha=5)",
                             Where(field=key or None))
        if "." in key or "[" in key:
            raise InputError(f"--set {option}: only top-level keys can be set ({key!r} is nested); "
                             "edit the config file for nested keys", Where(field=key))
        try:
            value = yaml.load(raw, Loader=_Yaml12Loader) if raw.strip() else None
        except yaml.YAMLError as e:
            raise InputError(f"--set {option}: the value is not valid YAML: {getattr(e, 'problem', None) or e}",
                             Where(field=key)) from None
        if isinstance(value, (dict, list)):
            raise InputError(f"--set {option}: the value must be a single value (a YAML scalar), not a "
                             f"{'mapping' if isinstance(value, dict) else 'list'}", Where(field=key))
        out[key] = value
    return out

