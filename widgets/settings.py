"""The application's QSettings, in one place (organization and application "DeepScope").

Built with ``QSettings.defaultFormat()`` so that tests can redirect every setting to a
temporary folder with ``QSettings.setDefaultFormat(IniFormat)`` + ``QSettings.setPath``.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings

ORGANIZATION = APPLICATION = "DeepScope"


def app_settings() -> QSettings:
    return QSettings(QSettings.defaultFormat(), QSettings.Scope.UserScope, ORGANIZATION,
                     APPLICATION)
