"""Services page: the declared and learned topology drawn as a graph, with the services' open incidents."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import ServerProcess
from tests.ui.conftest import shot

pytestmark = pytest.mark.browser

API = "/api/opsloop/v1"
LONG = "inventory-reservation-service-eu-west"
TOPOLOGY = {"services": {"frontend": ["checkout", "search"], "checkout": ["payments", "cart"],
                         "payments": ["postgres"], LONG: ["postgres"]}}


def _alert(name: str, service: str, start: float, severity: str = "warning") -> dict:
    return {"version": "4", "status": "firing", "receiver": "opsloop", "groupLabels": {}, "commonLabels": {},
            "commonAnnotations": {}, "externalURL": "http://am", "alerts": [{
                "status": "firing", "labels": {"alertname": name, "service": service, "severity": severity},
                "annotations": {"summary": f"{name} on {service}"},
                "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)),
                "endsAt": "0001-01-01T00:00:00Z"}]}


def _ingest(url: str, body: dict) -> dict:
    r = httpx.post(url + API + "/ingest/alertmanager", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def _learn_link(url: str, a: str, b: str) -> None:
    """Alert episodes of ``a`` and ``b`` starting together three times (an hour apart), then resolved."""
    start = time.time() - 4 * 3600
    for i in range(3):
        _ingest(url, _alert(f"Flap{i}", a, start + i * 3600))
        _ingest(url, _alert(f"Flap{i}", b, start + i * 3600 + 20))
    for inc in httpx.get(url + API + "/incidents", params={"state": "triggered,acknowledged"}).json()["incidents"]:
        assert httpx.post(url + API + f"/incidents/{inc['id']}/resolve", json={"text": "test"}).status_code == 200


@pytest.fixture
def fresh_server(tmp_path) -> Iterator[ServerProcess]:  # noqa: ANN001
    server = ServerProcess(tmp_path / "data").start()
    try:
        yield server
    finally:
        server.stop()


def _box(page, service: str) -> dict:  # noqa: ANN001
    return page.locator(f'#services-graph g.node[data-service="{service}"]').bounding_box()


def test_services_page_draws_the_graph_and_the_incident_of_a_service(page, ui_server) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    url = ui_server.url
    assert httpx.put(url + API + "/topology", json=TOPOLOGY).status_code == 200
    _learn_link(url, "search", "cache")
    learned = httpx.get(url + API + "/topology").json()["learned"]
    assert [(x["a"], x["b"]) for x in learned] == [("cache", "search")], learned
    (incident_id,) = _ingest(url, _alert("PaymentsDown", "payments", time.time(), "critical"))["incidents_opened"]

    page.goto("/#/services")
    expect(page.locator("h1")).to_have_text("Services")
    expect(page.locator('nav a[data-nav="services"]')).to_have_attribute("aria-current", "page")
    nodes = page.locator("#services-graph g.node")
    expect(nodes).to_have_count(8)
    expect(page.locator("#services-graph g.edge.declared")).to_have_count(6)
    learned_edge = page.locator("#services-graph g.edge.learned")
    expect(learned_edge).to_have_count(1)
    assert learned_edge.get_attribute("data-source") == "cache" and learned_edge.get_attribute("data-target") == "search"
    expect(learned_edge.locator("title")).to_contain_text("strength 1")
    assert learned_edge.locator(".edge-line").evaluate("(el) => getComputedStyle(el).strokeDasharray") != "none"
    expect(page.locator("#services-summary")).to_contain_text("8 services, 6 declared dependencies, 1 learned link")

    # Callers stand above what they call.
    ys = {s: _box(page, s)["y"] for s in ("frontend", "checkout", "payments", "postgres", LONG)}
    assert ys["frontend"] < ys["checkout"] < ys["payments"] < ys["postgres"], ys
    assert ys[LONG] < ys["postgres"], ys

    # Only the service with an open incident is highlighted, with its count and worst severity.
    hot = page.locator("#services-graph g.node.has-incidents")
    expect(hot).to_have_count(1)
    expect(hot).to_have_attribute("data-service", "payments")
    expect(hot).to_have_class("node has-incidents sev-critical")
    expect(hot.locator(".node-count-text")).to_have_text("1")
    expect(hot.locator("title")).to_contain_text("1 open incident, worst critical")
    # A long name is cut in the drawing and whole in its tooltip.
    long_node = page.locator(f'#services-graph g.node[data-service="{LONG}"]')
    label = long_node.locator(".node-label").text_content()
    assert label.endswith("…") and len(label) < len(LONG), label
    expect(long_node.locator("title")).to_contain_text(LONG)

    # The table says the same.
    rows = page.locator("#services-table tbody tr")
    expect(rows).to_have_count(8)
    payments_row = page.locator('#services-table tr[data-service="payments"]')
    expect(payments_row.locator("td").nth(0)).to_have_text("postgres")
    expect(payments_row.locator("td").nth(1)).to_have_text("checkout")
    expect(payments_row.locator("td").nth(3)).to_have_text("1")
    expect(payments_row.locator("td").nth(4)).to_have_text("critical")
    expect(page.locator('#services-table tr[data-service="search"] td').nth(2)).to_have_text("cache (1)")
    shot(page, "services-graph")

    # Clicking a service opens its panel: dependencies, dependents and the incident, linked.
    hot.click()
    panel = page.locator("#service-panel")
    expect(panel.locator("h2")).to_have_text("payments")
    expect(page.locator('#services-graph g.node[data-service="payments"]')).to_have_class(
        "node has-incidents sev-critical selected")
    assert "service=payments" in page.evaluate("location.hash")
    link = panel.locator(f'#service-incidents a[href="#/incidents/{incident_id}"]')
    expect(link).to_contain_text("PaymentsDown on payments")
    expect(panel.locator("#service-incidents")).to_contain_text("critical")
    expect(panel.locator('button[data-service="postgres"]')).to_have_count(1)
    expect(panel.locator('button[data-service="checkout"]')).to_have_count(1)
    # a dependency in the panel selects that service
    panel.locator('button[data-service="checkout"]').click()
    expect(panel.locator("h2")).to_have_text("checkout")
    expect(panel).to_contain_text("No open incident.")
    # a node is a button for the keyboard too
    page.locator('#services-graph g.node[data-service="postgres"]').focus()
    page.keyboard.press("Enter")
    expect(panel.locator("h2")).to_have_text("postgres")
    expect(panel.locator('button[data-service="payments"]')).to_have_count(1)
    expect(panel.locator(f'button[data-service="{LONG}"]')).to_have_count(1)
    shot(page, "services-panel")

    # The link reproduces the view, and the incident link leads to the incident page.
    page.goto("/#/services?service=payments")
    expect(panel.locator("h2")).to_have_text("payments")
    panel.locator(f'a[href="#/incidents/{incident_id}"]').click()
    page.wait_for_url(f"**/#/incidents/{incident_id}")
    expect(page.locator("h1")).to_contain_text("PaymentsDown")
    assert page.js_errors == []


def test_services_page_without_topology_says_how_to_declare_one(page, fresh_server) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    page.goto(fresh_server.url + "/#/services")
    empty = page.locator("#services-host .empty-state")
    expect(empty.locator("h2")).to_have_text("No service topology yet")
    code = empty.locator("pre code")
    expect(code).to_contain_text(f"curl -XPUT {fresh_server.url}/api/opsloop/v1/topology")
    expect(code).to_contain_text('"services": {"checkout": ["payments", "cart"]')
    expect(code).to_contain_text(f"opsloop incidents --url {fresh_server.url} topology services.yaml")
    expect(page.locator("#services-graph")).to_have_count(0)
    shot(page, "services-empty")
    assert page.js_errors == []


def test_layers_put_callers_above_their_dependencies_even_through_a_cycle(page) -> None:  # noqa: ANN001
    page.goto("/#/nowhere")
    layers = page.evaluate("""import('/static/service_graph.js').then((m) => {
      const edges = [['a', 'b'], ['b', 'c'], ['c', 'b'], ['c', 'd'], ['a', 'd']];
      const model = m.serviceModel({declared: edges.map(([source, target]) => ({source, target}))}, []);
      return Object.fromEntries(m.layerOf(model));
    })""")
    assert layers["a"] == 0 and layers["b"] == 1 and layers["c"] == 2 and layers["d"] == 3, layers



def test_edges_seen_in_traces_are_drawn_as_calls_unless_declared(page) -> None:  # noqa: ANN001
    page.goto("/#/nowhere")
    drawn = page.evaluate("""import('/static/service_graph.js').then((m) => {
      const model = m.serviceModel({declared: [{source: 'web', target: 'api'}],
                                    traced: [{source: 'api', target: 'db', calls: 7}, {source: 'web', target: 'api', calls: 3}]}, []);
      const svg = m.serviceGraph(model);
      return [...svg.querySelectorAll('g.edge')].map((g) => [g.dataset.source, g.dataset.target, g.getAttribute('class'),
        g.querySelector('title').textContent, g.querySelector('.edge-line').getAttribute('marker-end')]);
    })""")
    assert sorted(drawn) == [
        ["api", "db", "edge traced", "api depends on db (seen in traces, 7 calls)", "url(#svc-arrow)"],
        ["web", "api", "edge declared", "web depends on api (declared)", "url(#svc-arrow)"],
    ]
