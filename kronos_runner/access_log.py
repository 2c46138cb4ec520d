"""The runner's access log without the API's status polls (one a second per API worker)."""

from __future__ import annotations

import logging

ACCESS_LOGGER = "bentoml.access"


class StatusPollFilter(logging.Filter):
    """Keeps answered `/status` polls out of the access log (they were 94% of its lines); a
    poll that failed, and every other request, is logged as before. With the access logger at
    DEBUG they are kept, at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a successful status poll unless DEBUG is on."""
        message = record.getMessage()
        if "path=/status," not in message or "(status=200," not in message:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(ACCESS_LOGGER).isEnabledFor(logging.DEBUG)
