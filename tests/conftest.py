"""Identities every test may share: one operator and its devices, and a stranger of another operator."""

from __future__ import annotations

import pytest

from hum.ensemble.trust.identity import Identity
from hum.ensemble.trust.keys import OperatorKey


@pytest.fixture(scope="module")
def operator() -> OperatorKey:
    return OperatorKey.generate()


@pytest.fixture(scope="module")
def laptop(operator: OperatorKey) -> Identity:
    """The first device: it keeps the operator key in the scenario."""
    return Identity.mint(operator, "laptop")


@pytest.fixture(scope="module")
def phone(operator: OperatorKey) -> Identity:
    return Identity.mint(operator, "phone")


@pytest.fixture(scope="module")
def foreign() -> Identity:
    """A device of another operator: never a sibling, whatever it claims."""
    return Identity.mint(OperatorKey.generate(), "intruder")
