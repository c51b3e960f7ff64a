"""The modules a chain runs: pure state machines dispatched by ``module.action`` kind."""

from __future__ import annotations

from typing import TYPE_CHECKING

from consortia.ledger.module import Module

if TYPE_CHECKING:  # the CLI imports this module; FastAPI costs it 0.3 s per start
    from fastapi import APIRouter


def default_modules() -> list[Module]:
    """Every module of the embedded chain, in a fixed order (genesis runs in this order)."""
    from consortia.modules.certification.logic import module as certification
    from consortia.modules.currency.logic import module as currency
    from consortia.modules.governance.logic import module as governance
    from consortia.modules.notary.logic import module as notary
    from consortia.modules.payments.logic import module as payments

    return [governance, certification, currency, notary, payments]


def module_routers() -> list[APIRouter]:
    from consortia.modules.certification.api import router as certification
    from consortia.modules.currency.api import router as currency
    from consortia.modules.governance.api import router as governance
    from consortia.modules.notary.api import router as notary
    from consortia.modules.payments.api import router as payments
    from consortia.modules.payments.notify_api import router as payments_notify

    return [governance, certification, currency, notary, payments, payments_notify]
