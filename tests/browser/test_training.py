"""Training page in a real browser: inline validation, a smoke job from the form, its progress and its model."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import BrowserPage

pytestmark = pytest.mark.browser


def field(bp: BrowserPage, name: str):
    return bp.page.locator(f'input[id*=\'"index":"{name}"\']')


def test_start_a_smoke_job_watch_it_and_pick_its_model(page: BrowserPage, live_server):
    page.goto("/training?model=tiny")
    page.page.wait_for_selector("#start-job-button")
    field(page, "hidden_units").wait_for(timeout=15_000)  # the form comes with the API's options
    options = httpx.get(f"{live_server['url']}/api/jobs/options", timeout=10).json()
    # Inline validation: a bad value disables the button and says why, with the range the API enforces.
    field(page, "hidden_units").fill("0")
    page.page.wait_for_function("document.getElementById('start-job-button').disabled")
    errors = page.page.locator(".field-error").all_text_contents()
    assert any(options["fields"]["hidden_units"]["text"] in e for e in errors), errors
    hint = page.page.locator(".field", has=field(page, "hidden_units")).locator(".hint").inner_text()
    assert options["fields"]["hidden_units"]["text"] in hint, hint
    # The default is the faithful recipe; a smoke job takes seconds.
    choose_preset(page, "smoke")
    field(page, "hidden_units").fill("24")
    field(page, "iterations").fill("4")
    field(page, "epochs").fill("12")  # a few seconds: long enough to see progress on the way
    field(page, "name").fill("browser-smoke")
    streams: list[str] = []
    page.page.on("request", lambda r: streams.append(r.url) if r.url.endswith("/events") else None)
    job_id = start_job(page)
    row = page.page.locator(f'.job-row[data-job="{job_id}"]')
    row.wait_for(timeout=10_000)
    # Every progress value the row shows, as it changes (the job list is polled only every 10 s: a value
    # between 0 and 100 can only have come from the job's event stream).
    page.page.evaluate(
        """(id) => { window.seenProgress = [];
          new MutationObserver(() => {
            const p = document.querySelector(`.job-row[data-job="${id}"] .progress`);
            const v = p && p.getAttribute('aria-valuenow');
            if (v !== null && v !== undefined && window.seenProgress.at(-1) !== v) window.seenProgress.push(v);
          }).observe(document.getElementById('jobs-table'), {subtree: true, childList: true, attributes: true}); }""",
        job_id,
    )
    # Progress: the row goes to finished with a full bar (smoke jobs take seconds).
    page.page.wait_for_selector(f'.job-row[data-job="{job_id}"][data-status="finished"]', timeout=120_000)
    assert row.locator(".progress").get_attribute("aria-valuenow") == "100"
    assert any(u.endswith(f"/api/jobs/{job_id}/events") for u in streams), streams
    seen = page.page.evaluate("window.seenProgress")
    # the row followed the stream to the end; on a quiet machine a smoke job can finish within one burst of
    # events, so intermediate values are not required
    assert seen and seen[-1] == "100" and all(0 <= int(v) <= 100 for v in seen), seen
    page.page.wait_for_function("window.drsae.followedJobs().length === 0", timeout=10_000)  # stream closed
    job = httpx.get(f"{live_server['url']}/api/jobs/{job_id}", timeout=10).json()
    assert job["status"] == "finished" and job["model_id"]
    # Live curves: epochs plotted, with the switch to discriminative training marked.
    page.page.wait_for_function(
        "(() => { const g = document.querySelector('#training-curves .js-plotly-plot');"
        " return g && g.data && g.data.length >= 4; })()",
        timeout=15_000,
    )
    notes = page.page.locator("#training-curves .annotation-text").all_text_contents()
    assert "discriminative training starts" in [n.strip() for n in notes]
    # The model the job produced appears in the picker (the page refreshes it when a job yields a model).
    models = httpx.get(f"{live_server['url']}/api/models", timeout=10).json()["data"]
    name = next(m["name"] for m in models if m["id"] == job["model_id"])
    page.page.wait_for_function("document.getElementById('model-picker').textContent.includes('tiny')", timeout=10_000)
    page.page.click("#model-picker")
    option = page.page.get_by_role("option").filter(has_text=name)
    option.first.wait_for(timeout=15_000)
    option.first.click()
    page.page.wait_for_function(f"location.search.includes('model={job['model_id']}')", timeout=10_000)
    page.page.wait_for_timeout(300)
    page.screenshot("training", docs=True)
    assert not page.errors, page.errors


def choose_preset(bp: BrowserPage, name: str) -> None:
    bp.page.click("[id*='\"index\":\"preset\"']")
    bp.page.get_by_role("option").filter(has_text=f"{name}:").first.click()


def start_job(page: BrowserPage) -> int:
    """Submit the filled form and return the id of the job it started."""
    page.page.wait_for_function("!document.getElementById('start-job-button').disabled")
    page.page.click("#start-job-button")
    page.page.wait_for_function(
        "document.getElementById('job-message').textContent.startsWith('Started job')", timeout=15_000
    )
    return int(page.page.text_content("#job-message").split("Started job ")[1].split(" ")[0])


def test_cancel_and_resume_a_job(page: BrowserPage, live_server):
    page.goto("/training?model=tiny")
    page.page.wait_for_selector("#start-job-button")
    field(page, "hidden_units").wait_for(timeout=15_000)
    choose_preset(page, "smoke")
    field(page, "hidden_units").fill("16")
    field(page, "epochs").fill("500")  # would take minutes
    field(page, "name").fill("to-cancel")
    job_id = start_job(page)
    cancel = page.page.locator(f'.job-row[data-job="{job_id}"] .btn-small')
    cancel.wait_for(timeout=15_000)
    cancel.click()
    page.page.wait_for_selector(f'.job-row[data-job="{job_id}"][data-status="cancelled"]', timeout=60_000)
    assert httpx.get(f"{live_server['url']}/api/jobs/{job_id}", timeout=10).json()["status"] == "cancelled"
    # "Cancelling job N…" does not outlive the cancelling
    page.page.wait_for_function(
        f"document.getElementById('job-message').textContent === 'Job {job_id} cancelled.'", timeout=10_000
    )
    # A cancelled job offers Resume: it goes back to the queue (or straight to running), then we stop it again.
    resume = page.page.locator(f'.job-row[data-job="{job_id}"] .btn-small')
    assert resume.text_content() == "Resume"
    resume.click()
    page.page.wait_for_selector(
        f'.job-row[data-job="{job_id}"][data-status="running"], .job-row[data-job="{job_id}"][data-status="queued"]',
        timeout=30_000,
    )
    page.page.locator(f'.job-row[data-job="{job_id}"] .btn-small:has-text("Cancel")').click()
    page.page.wait_for_selector(f'.job-row[data-job="{job_id}"][data-status="cancelled"]', timeout=60_000)
    assert not page.errors, page.errors


def test_cancel_is_not_replaced_under_the_pointer_while_the_job_runs(page: BrowserPage, live_server):
    """The job list changes with every epoch; its rows update in place, so a click held on Cancel (120 ms,
    as a person clicks) lands on the button it started on."""
    page.goto("/training?model=tiny")
    field(page, "hidden_units").wait_for(timeout=15_000)
    choose_preset(page, "smoke")
    field(page, "hidden_units").fill("16")
    field(page, "epochs").fill("500")
    field(page, "name").fill("hold-cancel")
    job_id = start_job(page)
    row = f'.job-row[data-job="{job_id}"]'
    page.page.wait_for_selector(f'{row}[data-status="running"] .btn-small', timeout=30_000)
    page.page.evaluate(
        """(row) => { window.heldCancel = document.querySelector(row + ' .btn-small');
          window.detailsSeen = new Set(); window.detailWatch = setInterval(() => {
            const d = document.querySelector(row + ' .job-detail'); if (d) window.detailsSeen.add(d.textContent);
          }, 20); }""",
        row,
    )
    page.page.wait_for_function("window.detailsSeen.size >= 3", timeout=60_000)  # the row changed twice
    same = page.page.evaluate(
        "(row) => window.heldCancel.isConnected && document.querySelector(row + ' .btn-small') === window.heldCancel",
        row,
    )
    assert same, "the Cancel button was replaced while the job ran"
    box = page.page.locator(f"{row} .btn-small").bounding_box()
    page.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.page.mouse.down()
    page.page.wait_for_timeout(120)
    page.page.mouse.up()
    page.page.wait_for_selector(f'{row}[data-status="cancelled"]', timeout=60_000)
    assert not page.errors, page.errors


def test_a_half_typed_number_is_refused_not_replaced_by_the_preset(page: BrowserPage):
    """What the browser cannot read as a number must not become an empty field (the preset's value): it is
    refused beside the field and Start stays disabled (each case in turn, on one page)."""
    page.goto("/training?model=tiny")
    field(page, "learning_rate").wait_for(timeout=15_000)
    for typed in ("1e", "--5", "1e-"):
        page.page.wait_for_function("!document.getElementById('start-job-button').disabled", timeout=15_000)
        field(page, "learning_rate").press_sequentially(typed)
        error = page.page.locator(".field", has=field(page, "learning_rate")).locator(".field-error")
        error.filter(has_text="must be a number").wait_for(timeout=10_000)
        assert page.page.evaluate("document.getElementById('start-job-button').disabled"), typed
        assert field(page, "learning_rate").input_value() == typed
        field(page, "learning_rate").fill("")  # empty again (the preset's value): the error goes
        error.filter(has_text="must be a number").wait_for(state="detached", timeout=10_000)
