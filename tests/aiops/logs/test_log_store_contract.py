"""Every TemplateStore backend passes the same contract; a SQL store adds itself to STORES."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from opsloop.aiops.logs import InMemoryTemplateStore, TemplateStore
from opsloop.aiops.logs.store_contract import check_template_store

STORES: dict[str, Callable[[], TemplateStore]] = {"memory": InMemoryTemplateStore}


@pytest.mark.parametrize("name", sorted(STORES))
def test_store_meets_the_contract(name: str) -> None:
    check_template_store(STORES[name])


def test_the_contract_catches_a_store_that_forgets() -> None:
    class Forgetful(InMemoryTemplateStore):
        def save(self, template):  # type: ignore[no-untyped-def]
            if template.id != 2:
                super().save(template)

    with pytest.raises(AssertionError):
        check_template_store(Forgetful)
