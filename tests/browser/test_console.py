"""The console in a real browser: catalog, table detail, SQL editor, grid, chart, errors."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def _run(page, sql: str) -> None:
    page.fill("#sql-input", sql)
    page.focus("#sql-input")
    page.keyboard.press("Control+Enter")


def _assert_stayed_local(page) -> None:
    assert page.watch.requests, "the page made no request at all"
    assert page.watch.foreign_requests() == []
    assert page.watch.errors == []


def test_catalog_lists_the_table_and_opens_its_detail(page, server_url):
    page.goto(server_url + "/")
    link = page.locator('.table-link[data-table="raw.shop_sales"]')
    expect(link).to_be_visible()
    expect(link.locator(".rows")).to_have_text("5")
    expect(page.locator('.zone[data-zone="clean"]')).to_contain_text("no tables")
    link.click()
    expect(page.locator("#view-table")).to_be_visible()
    expect(page.locator("#table-title")).to_have_text("raw.shop_sales")
    expect(page.locator("#table-stats")).to_contain_text("Rows")
    expect(page.locator("#table-schema tbody tr")).to_have_count(3)
    expect(page.locator("#table-schema tbody tr").first).to_contain_text("region")
    expect(page.locator("#table-sample tbody tr")).to_have_count(5)
    expect(page.locator("#table-snapshots tbody tr")).to_have_count(1)
    expect(page.locator("#table-snapshots")).to_contain_text("append")
    assert page.url.endswith("#table=raw.shop_sales")
    _assert_stayed_local(page)


def test_query_runs_and_shows_grid_and_bar_chart(page, server_url):
    page.goto(server_url + "/#sql")
    _run(page, "SELECT region, amount FROM raw.shop_sales ORDER BY amount DESC")
    expect(page.locator("#result-grid tbody tr")).to_have_count(5)
    expect(page.locator("#result-grid tbody tr").first).to_contain_text("west")
    expect(page.locator("#result-grid tbody tr").first).to_contain_text("230")
    expect(page.locator("#sql-status")).to_contain_text("5 rows")
    svg = page.locator("#chart svg")
    expect(svg).to_have_attribute("data-kind", "bar")
    expect(svg.locator("rect.bar")).to_have_count(5)
    # the user switches to a line: one point per row
    page.select_option("#chart-kind", "line")
    expect(svg.locator("circle.point")).to_have_count(5)
    expect(svg.locator("rect.bar")).to_have_count(0)
    _assert_stayed_local(page)


def test_time_series_gets_a_line_chart_and_run_button_works(page, server_url):
    page.goto(server_url + "/#sql")
    page.fill("#sql-input", "SELECT day, amount FROM raw.shop_sales WHERE amount > 50")
    page.click("#sql-run")
    expect(page.locator("#result-grid tbody tr")).to_have_count(4)
    svg = page.locator("#chart svg")
    expect(svg).to_have_attribute("data-kind", "line")
    expect(svg.locator("circle.point")).to_have_count(4)
    assert page.input_value("#chart-x") == "0" and page.input_value("#chart-y") == "1"
    _assert_stayed_local(page)


def test_query_button_on_table_view_runs_a_select(page, server_url):
    page.goto(server_url + "/#table=raw.shop_sales")
    page.click("#table-query")
    expect(page.locator("#view-sql")).to_be_visible()
    expect(page.locator("#result-grid tbody tr")).to_have_count(5)
    assert "FROM raw.shop_sales" in page.input_value("#sql-input")


def test_bad_query_shows_the_error_text(page, server_url):
    page.goto(server_url + "/#sql")
    _run(page, "SELECT no_such_column FROM raw.shop_sales")
    error = page.locator("#sql-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("no_such_column")
    expect(page.locator("#sql-result")).to_be_hidden()
    expect(page.locator("#sql-status")).to_have_text("Failed")
    _run(page, "SELECT * FROM read_csv('/etc/passwd')")
    expect(error).to_contain_text("read_csv() reads or loads files and is not allowed")
    # a good query afterwards clears the error
    _run(page, "SELECT 1 AS one")
    expect(error).to_be_hidden()
    expect(page.locator("#result-grid tbody tr")).to_have_count(1)


def test_markup_in_results_is_shown_as_text(page, server_url):
    page.goto(server_url + "/#sql")
    _run(page, "SELECT '<img src=x onerror=alert(1)>' AS label, 1 AS n")
    expect(page.locator("#result-grid tbody td").first).to_have_text("<img src=x onerror=alert(1)>")
    assert page.locator("#result-grid img").count() == 0
    expect(page.locator("#chart svg rect.bar")).to_have_count(1)
    _assert_stayed_local(page)


def test_api_docs_render_without_leaving_the_machine(page, server_url):
    page.goto(server_url + "/docs")
    expect(page.locator(".swagger-ui .title")).to_contain_text("Laketown")
    expect(page.locator(".opblock-summary-path", has_text="/api/sql")).to_be_visible()
    assert page.watch.foreign_requests() == []


def test_truncated_result_and_result_without_numbers(page, server_url):
    page.goto(server_url + "/#sql")
    _run(page, "SELECT range AS n, 'r' || range AS label FROM range(500)")
    expect(page.locator("#sql-status")).to_have_text(re.compile(r"100 rows · .* ms · truncated at 100 rows"))
    expect(page.locator("#result-grid tbody tr")).to_have_count(100)
    expect(page.locator("#chart svg rect.bar")).to_have_count(100)
    _run(page, "SELECT region FROM raw.shop_sales")
    expect(page.locator("#chart")).to_contain_text("Nothing to chart: the result has no numeric column")
    expect(page.locator("#chart svg")).to_have_count(0)
    expect(page.locator("#result-grid tbody tr")).to_have_count(5)
