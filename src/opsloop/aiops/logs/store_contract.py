"""The behaviour every ``TemplateStore`` must have, as a check any backend's tests can run.

Usage in a backend's tests::

    def test_sql_store_meets_the_contract(tmp_path):
        check_template_store(lambda: SqlTemplateStore(engine_for(tmp_path)))

``factory`` must return an empty store each call.
"""

from __future__ import annotations

from collections.abc import Callable

from opsloop.aiops.logs.store import TemplateStore
from opsloop.aiops.logs.templates import Template, TemplateVersion
from opsloop.errors import NotFoundError

__all__ = ["check_template_store"]


def _template(tid: int, service: str, text: str) -> Template:
    template = Template(
        id=tid, service=service, tokens=text.split(), count=3, first_seen=10.0, last_seen=20.0
    )
    template.versions.append(TemplateVersion(1, text.replace("<*>", "x"), 10.0))
    template.versions.append(TemplateVersion(2, text, 15.0))
    template.buckets = {0: 1, 300: 2}
    template.levels = {"INFO": 2, "ERROR": 1}
    template.examples = [text.replace("<*>", "7")]
    return template


def check_template_store(factory: Callable[[], TemplateStore]) -> None:
    """Raise ``AssertionError`` where the store produced by ``factory`` breaks the contract."""
    store = factory()
    assert isinstance(store, TemplateStore)
    assert store.list() == [] and store.services() == []
    try:
        store.get(1)
    except NotFoundError:
        pass
    else:
        raise AssertionError("get() of a missing id must raise NotFoundError")

    a = _template(1, "api", "GET <*> took <*> ms")
    b = _template(2, "db", "slow query <*>")
    c = _template(3, "api", "user <*> logged in")
    for t in (c, a, b):
        store.save(t)
    assert store.get(1).to_dict() == a.to_dict(), "a saved template must round-trip field for field"
    assert [t.id for t in store.list()] == [1, 2, 3], "list() is ordered by id"
    assert [t.id for t in store.list("api")] == [1, 3]
    assert store.services() == ["api", "db"]

    a.tokens = "GET <*> took <*> <*>".split()
    a.versions.append(TemplateVersion(3, a.text, 30.0))
    a.count = 9
    a.merged_into = 3
    store.save(a)
    again = store.get(1)
    assert again.to_dict() == a.to_dict(), "save() replaces the template with the same id"
    assert again.version == 3 and again.merged_into == 3

    assert store.delete_service("api") == 2
    assert [t.id for t in store.list()] == [2]
    assert store.delete_service("nobody") == 0
