"""The kiosk's side of remote configuration: check, keep, roll back.

The central API's settings for this device are checked as an overlay of the
kiosk's configuration file, by the file's own rules and messages
(`kiosk.config.overlay_config`); only a valid whole is written to
`<data_dir>/remote-config.toml`, the file it replaces kept as
`remote-config.previous.toml`. `load_config` lays it over the file at the next
start. `kiosk.config.rollback_remote_config` puts the previous one back.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from kiosk.config import ConfigError, KioskConfig, overlay_config, write_remote_config

log = logging.getLogger(__name__)


class RemoteConfigApplier:
    """`apply_config(settings, version) -> bool` for the central client."""

    def __init__(self, config: KioskConfig, *, environ: Mapping[str, str] | None = None) -> None:
        self.config = config
        self._environ = environ
        self.last_problem = ""  # why the last version was refused ("" when applied)

    def __call__(self, settings: dict[str, Any], version: int) -> bool:
        shown = f"remote configuration version {version}"
        try:
            overlay_config(self.config, settings, shown=shown, environ=self._environ)
            path = write_remote_config(self.config.data_path(), settings, version)
        except ConfigError as exc:
            self.last_problem = str(exc)
            log.warning("refused: %s", exc)
            return False
        except OSError as exc:
            self.last_problem = f"{shown}: cannot be saved: {exc.strerror or exc}"
            log.warning("%s", self.last_problem)
            return False
        self.last_problem = ""
        log.info("%s kept in %s; it applies from the next start", shown, path)
        return True
