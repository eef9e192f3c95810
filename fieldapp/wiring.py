"""Imports every module that subscribes to domain events, in one place (see
:mod:`fieldapp.events`). The app factory imports this module, so any app, CLI command, worker
or test that builds one has every subscriber registered. Order of import does not decide the
order of calls (each subscriber states its ``order``)."""

from __future__ import annotations

from fieldapp.cases import consent as case_consent
from fieldapp.cases import referrals as case_referrals
from fieldapp.cases import subscribers as case_subscribers
from fieldapp.webhooks import subscribers as webhook_subscribers

__all__ = ["case_consent", "case_referrals", "case_subscribers", "webhook_subscribers"]
