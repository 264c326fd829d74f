"""Comparing runs on the Training page in a real browser: a sweep started from the form, the runs table
(sort, filter, links), ticked runs' overlaid curves grouped and smoothed, parallel coordinates, the page's
state in the URL across a reload, and a job's curves extended from the event stream without redraws."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.browser.test_training import choose_preset, field, start_job
from tests.helpers import BrowserPage

pytestmark = pytest.mark.browser

BASE = {"preset": "smoke", "dataset": "mnist", "hidden_units": 8, "iterations": 3, "epochs": 2}
PLOT = "document.querySelector('#{} .js-plotly-plot')"


def finished_sweep(url: str, grid: dict, name: str) -> list[dict]:
    """A sweep through the API, waited for: its members (JobPublic), in the grid's order."""
    r = httpx.post(f"{url}/api/sweeps", json={"base": BASE, "grid": grid, "name": name}, timeout=10)
    assert r.status_code == 202, r.text
    sid = r.json()["id"]
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        s = httpx.get(f"{url}/api/sweeps/{sid}", timeout=10).json()
        if s["status"] not in ("queued", "running"):
            assert s["counts"] == {"finished": len(s["members"])}, s
            return s["members"]
        time.sleep(0.5)
    raise AssertionError("the sweep did not finish")


def legend(bp: BrowserPage, graph: str) -> list[str]:
    return bp.page.evaluate(f"{PLOT.format(graph)}.data.filter(t => t.showlegend !== false).map(t => t.name)")


def test_runs_table_overlay_grouping_smoothing_and_the_url(page: BrowserPage, live_server):
    url = live_server["url"]
    members = finished_sweep(url, {"learning_rate": [0.005, 0.01], "seed": [0, 1]}, "grid")
    ids = [m["id"] for m in members]
    page.goto("/training")
    table = page.page.locator("#runs-table")
    for m in members:  # every member with its settings and results
        table.locator("td", has_text=f"#{m['id']} grid/").first.wait_for(timeout=20_000)
    text = table.inner_text()
    assert f"{members[0]['best_val_error']:.2f}".rstrip("0").rstrip(".") in text
    assert " of 6" in text  # structure signs met, from each member's model card
    link = table.locator(f"a[href='/?model=job-{ids[0]}']")
    assert link.count() == 1 and link.inner_text() == "Dynamics"
    card = httpx.get(url + table.locator(f"a[href='/api/models/job-{ids[0]}/card']").get_attribute("href"))
    assert card.status_code == 200 and card.text.startswith("# Model") and "structure" in card.text

    # Tick two runs: their curves overlaid, one colour each, and the URL says which
    boxes = table.locator("input[type=checkbox]")
    row_of = {int(page.page.evaluate("(r) => r.innerText", r).split("#")[1].split(" ")[0]): i
              for i, r in enumerate(table.locator("tr:has(input[type=checkbox])").element_handles())}
    boxes.nth(row_of[ids[0]]).check()
    boxes.nth(row_of[ids[1]]).check()
    page.page.wait_for_function(f"{PLOT.format('compare-curves')} && {PLOT.format('compare-curves')}.data.length === 2",
                                timeout=20_000)
    names = legend(page, "compare-curves")
    assert [n.split(" ")[0] for n in names] == [f"#{ids[0]}", f"#{ids[1]}"], names
    colors = page.page.evaluate(f"{PLOT.format('compare-curves')}.data.map(t => t.line.color)")
    assert len(set(colors)) == 2
    page.page.wait_for_function(f"location.search.includes('runs={ids[0]}%2C{ids[1]}') "
                                f"|| location.search.includes('runs={ids[0]},{ids[1]}')", timeout=10_000)

    # Grouped by learning rate with smoothing, from the URL: mean lines with bands, raw series kept faint
    runs = ",".join(map(str, ids))
    page.goto(f"/training?runs={runs}&group=lr&smooth=0.6")
    page.page.wait_for_function(f"{PLOT.format('compare-curves')} && {PLOT.format('compare-curves')}.data.length >= 8",
                                timeout=20_000)
    assert legend(page, "compare-curves") == ["learning rate 0.005 (2 runs)", "learning rate 0.01 (2 runs)"]
    traces = page.page.evaluate(f"{PLOT.format('compare-curves')}.data.map(t => [t.fill || '', t.opacity, t.name])")
    assert sum(f == "tonexty" for f, _, _ in traces) == 2  # a min-max band per group
    assert sum((o or 1) < 1 and "raw" in (n or "") for _, o, n in traces) == 2  # the raw means stay visible, faint
    assert page.page.locator("#compare-smooth [role=slider]").get_attribute("aria-valuenow") == "0.6"
    assert page.page.locator("#runs-table input[type=checkbox]:checked").count() == 4  # the URL's runs ticked
    # Parallel coordinates: the settings that differ against the results
    page.page.wait_for_function(f"{PLOT.format('parallel-coords')} && {PLOT.format('parallel-coords')}.data.length",
                                timeout=10_000)
    labels = page.page.evaluate(f"{PLOT.format('parallel-coords')}.data[0].dimensions.map(d => d.label)")
    assert labels == ["learning rate", "seed", "best validation error (%)", "part-units"], labels
    # The state survives a reload
    page.page.reload()
    page.page.wait_for_function(f"{PLOT.format('compare-curves')} && {PLOT.format('compare-curves')}.data.length >= 8",
                                timeout=20_000)
    assert "group=lr" in page.page.url and "smooth=0.6" in page.page.url

    # Sort by best validation error, then filter by status
    page.page.locator("#runs-table th", has_text="best val %").locator(".column-header--sort").click()
    page.page.wait_for_timeout(300)
    values = [float(v) for v in page.page.locator("#runs-table td[data-dash-column=best_val]").all_inner_texts()
              if v.strip()]
    assert values == sorted(values), values
    flt = page.page.locator("#runs-table th[data-dash-column=run] input[type=text]")
    flt.fill("grid/")
    flt.press("Enter")
    page.page.wait_for_timeout(300)
    assert page.page.locator("#runs-table td[data-dash-column=run]").count() == 4
    page.screenshot("training-compare")
    assert not page.errors, page.errors


def test_the_plotted_job_survives_a_reload_and_its_roles_form_in_pictures(page: BrowserPage, live_server):
    (member,) = finished_sweep(live_server["url"], {"seed": [3]}, "roles")
    page.goto(f"/training?job={member['id']}")
    page.page.wait_for_selector(f'.job-row.selected[data-job="{member["id"]}"]', timeout=20_000)
    page.page.wait_for_function(
        f"{PLOT.format('training-curves')} && {PLOT.format('training-curves')}.layout.uirevision === '{member['id']}'"
        f" && {PLOT.format('training-curves')}.data.length >= 4", timeout=20_000,
    )
    page.page.reload()
    page.page.wait_for_selector(f'.job-row.selected[data-job="{member["id"]}"]', timeout=20_000)
    assert f"job={member['id']}" in page.page.url
    # Decoder filters of its units over epochs, grouped by the role they end with
    table = page.page.locator(".roles-table")
    table.wait_for(timeout=20_000)
    heads = table.locator("thead th").all_inner_texts()
    assert heads == ["unit (ends as)", "epoch 0", "epoch 1", "epoch 2", "epoch 3"], heads
    rows = table.locator("tbody tr")
    assert rows.count() >= 1 and rows.first.locator("img").count() == 4
    assert all(src.startswith("data:image/png") for src in rows.first.locator("img").evaluate_all(
        "els => els.map(e => e.src)"))
    # The angle vs ||C_i|| scatter follows the epoch slider: from the last epoch back to the start
    title = f"{PLOT.format('roles-scatter')} && {PLOT.format('roles-scatter')}.layout.title.text"
    page.page.wait_for_function(f"{title} === 'epoch 3'", timeout=20_000)
    thumb = page.page.locator("#roles-epoch [role=slider]")
    thumb.focus()
    thumb.press("Home")
    page.page.wait_for_function(f"{title} === 'epoch 0'", timeout=20_000)
    points = page.page.evaluate(f"{PLOT.format('roles-scatter')}.data.reduce((n, t) => n + t.x.length, 0)")
    assert points == BASE["hidden_units"]
    assert not page.errors, page.errors


def test_start_a_sweep_from_the_form(page: BrowserPage, live_server):
    url = live_server["url"]
    page.goto("/training")
    field(page, "hidden_units").wait_for(timeout=15_000)
    choose_preset(page, "smoke")
    field(page, "hidden_units").fill("8, 16")  # a shape field takes one value
    page.page.wait_for_function("document.getElementById('start-job-button').disabled")
    assert any("one value" in e for e in page.page.locator(".field-error").all_text_contents())
    field(page, "hidden_units").fill("8")
    field(page, "iterations").fill("3")
    field(page, "epochs").fill("1")
    field(page, "learning_rate").fill("0.01, 0.02")
    field(page, "seed").fill("seeds: 3")
    field(page, "name").fill("form-sweep")
    page.page.wait_for_function(
        "document.getElementById('sweep-count').textContent === 'a sweep of 6 runs (2 learning_rate x 3 seed)'",
        timeout=10_000,
    )
    assert page.page.text_content("#start-job-button") == "Start sweep (6 runs)"
    page.page.wait_for_function("!document.getElementById('start-job-button').disabled")
    page.page.click("#start-job-button")
    page.page.wait_for_function(
        "document.getElementById('job-message').textContent.startsWith('Started sweep')", timeout=15_000
    )
    message = page.page.text_content("#job-message")
    assert message.endswith("(form-sweep): 6 runs."), message
    sid = int(message.split("Started sweep ")[1].split(" ")[0])
    sweep = httpx.get(f"{url}/api/sweeps/{sid}", timeout=10).json()
    assert sorted((m["settings"]["learning_rate"], m["settings"]["seed"]) for m in sweep["members"]) == [
        (lr, s) for lr in (0.01, 0.02) for s in (0, 1, 2)
    ]
    assert {m["config"]["hidden"] for m in sweep["members"]} == {8}
    for m in sweep["members"]:  # each member is listed as a job
        page.page.locator(f'.job-row[data-job="{m["id"]}"]').wait_for(timeout=15_000)
    httpx.post(f"{url}/api/sweeps/{sid}/cancel", headers={"Content-Type": "application/json"}, timeout=10)
    assert not page.errors, page.errors


def test_a_running_jobs_rows_extend_its_curves_without_redrawing(page: BrowserPage, live_server):
    """Each event-stream row travels once: the curves gain it in the browser; Dash draws them again only
    when they cannot be extended (first rows, the switch to discriminative training)."""
    page.goto("/training")
    field(page, "hidden_units").wait_for(timeout=15_000)
    redraws: list[str] = []

    def watch(request) -> None:
        if request.url.endswith("/_dash-update-component") and request.method == "POST":
            body = json.loads(request.post_data or "{}")
            if "training-curves.figure" in body.get("output", ""):
                redraws.append(body.get("changedPropIds", [""])[0])

    page.page.on("request", watch)
    choose_preset(page, "smoke")
    for name, value in (("hidden_units", "8"), ("iterations", "3"), ("unsupervised_epochs", "1"), ("epochs", "14"),
                        ("name", "extend")):
        field(page, name).fill(value)
    jid = start_job(page)  # the started job is the plotted one
    page.page.wait_for_selector(f'.job-row[data-job="{jid}"][data-status="finished"]', timeout=120_000)
    page.page.wait_for_function(
        f"{PLOT.format('training-curves')}.data.find(t => t.meta && t.meta.key === 'val_error').x.length === 15",
        timeout=15_000,
    )
    refreshes = [p for p in redraws if p.startswith("curves-refresh")]
    assert len(refreshes) <= 3, redraws  # not one per epoch
    # the epoch ticks widened as the curves grew: at most 12 ticks (a tick per epoch over hundreds of epochs
    # made every redraw lay out hundreds of labels and froze the page)
    assert page.page.evaluate(f"{PLOT.format('training-curves')}.layout.xaxis.dtick") == 2
    assert not page.errors, page.errors
