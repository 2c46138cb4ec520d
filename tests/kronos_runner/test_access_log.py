"""The runner's access log drops the API's answered status polls, keeps everything else."""

from __future__ import annotations

import logging

import pytest

from kronos_runner.access_log import ACCESS_LOGGER, StatusPollFilter

POLL = "_ (scheme=http,method=POST,path=/status,type=x,length=5) (status=200,type=y,length=210) 1ms"
FAILED = POLL.replace("status=200", "status=503")
FORECAST = POLL.replace("/status", "/forecast")


def test_answered_polls_are_dropped_others_kept(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger(ACCESS_LOGGER)
    quiet = StatusPollFilter()
    logger.addFilter(quiet)
    try:
        with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
            for line in (POLL, FAILED, FORECAST):
                logger.info(line)
        assert [r.getMessage() for r in caplog.records] == [FAILED, FORECAST]
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger=ACCESS_LOGGER):
            logger.info(POLL)
        assert [r.levelname for r in caplog.records] == ["DEBUG"]
    finally:
        logger.removeFilter(quiet)
