"""The desk in a real browser: Debian's Chromium, headless, driven by Playwright, against the
real `feedsvc serve` in a subprocess (plain HTTP on loopback, so the session cookie is set
non-Secure by FEEDSVC_SESSION_COOKIE_SECURE=false).

Playwright never downloads a browser here: it launches /usr/bin/chromium, which
scripts/test installs from Debian when missing. Screenshots of the main pages are saved to
test-artifacts/desk/ for people to look at.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import feedparser
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from tests.support.service import Service, run_cli, running_service, service_env, wait_for

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "desk"
CHROMIUM = Path("/usr/bin/chromium")
# This machine's network is closed: without these flags Chromium waits on connections.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
USER, PASSWORD = "瀏覽器編輯", "a long desk password 2026"
TITLE = "瀏覽器測試：鄭州新開放三處景區"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    workdir = tmp_path_factory.mktemp("desk-e2e")
    env = service_env(
        workdir / "feedsvc.db",
        FEEDSVC_TRAFFIC_FLUSH_SECONDS="1",
        FEEDSVC_SECRET_KEY="desk-browser-test-key",
        FEEDSVC_SESSION_COOKIE_SECURE="false",
    )
    created = run_cli(
        env,
        workdir,
        "user",
        "create",
        USER,
        "--role",
        "admin",
        "--password-stdin",
        input=PASSWORD + "\n",
    )
    assert created.returncode == 0, created.stderr
    with running_service(workdir, env, ready=("/feeds/all.rss",)) as svc:
        yield svc


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: run ./scripts/test, which installs it")
    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser, served: Service) -> Iterator[Page]:
    context = browser.new_context(
        base_url=served.base, locale="zh-CN", viewport={"width": 1360, "height": 900}
    )
    opened = context.new_page()
    problems: list[str] = []

    # CSP violations and script errors surface as console errors: the desk must have none.
    def console(message: ConsoleMessage) -> None:
        url = message.location.get("url", "")
        # The browser asks for /favicon.ico on its own.
        if message.type == "error" and not url.endswith("/favicon.ico"):
            problems.append(f"{message.text} ({url})")

    opened.on("console", console)
    opened.on("pageerror", lambda e: problems.append(str(e)))
    yield opened
    context.close()
    # A refused form (400) or an invalid one (422) is the page itself, as the tests intend.
    expected = ("status of 400", "status of 422")
    assert [p for p in problems if not any(e in p for e in expected)] == []


def sign_in(page: Page) -> None:
    page.goto("/desk/login")
    page.fill("#username", USER)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/desk/articles$"))


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def appears_in(page: Page) -> list[str]:
    return page.locator("#appears-in-list li").evaluate_all(
        "items => items.map(li => li.dataset.key)"
    )


def test_an_unauthenticated_visit_is_sent_to_sign_in(page: Page) -> None:
    page.goto("/desk/articles/new")
    assert "/desk/login?next=/desk/articles/new" in page.url
    expect(page.locator("h1")).to_have_text("登录")
    shot(page, "sign-in")


def test_write_an_article_watch_where_it_appears_save_and_find_it_in_the_feed(
    page: Page, served: Service
) -> None:
    sign_in(page)
    shot(page, "article-list")
    page.goto("/desk/articles/new")
    page.fill("#f-title", TITLE)
    page.fill("#f-summary", "三處景區本周末起免門票開放。")
    page.fill("#f-content_html", "<p>三處景區本周末起免門票開放，市民可預約參觀。</p>")
    page.fill("#f-author", "記者 王明")
    page.select_option("#f-status", "published")
    list_ = page.locator("#appears-in-list")
    expect(list_).to_contain_text("全站")
    expect(page.locator("#appears-in-hidden")).to_be_hidden()

    tags = page.locator("#tags")
    tags.press_sequentially("鄭州")
    expect(list_).to_contain_text("#鄭州")
    tags.press_sequentially("，桌面新標籤")
    new_tag = page.locator("#appears-in-list li", has_text="#桌面新標籤")
    expect(new_tag).to_contain_text("新标签，保存时创建")
    new_key = new_tag.get_attribute("data-key")
    assert new_key is not None
    assert new_key.startswith("/feeds/tags/")
    assert "/feeds/sections/lehuo-hot" not in appears_in(page)

    # 景區 is in 樂活HOT's rule: the section feed joins the list while typing.
    tags.press_sequentially("，景")
    expect(page.locator("#tag-suggestions")).to_contain_text("景區")
    page.locator("#tag-suggestions button", has_text="景區").click()
    expect(
        page.locator("#appears-in-list li[data-key='/feeds/sections/lehuo-hot']")
    ).to_contain_text("栏目规则")
    expect(page.locator("#appears-in-list li[data-key='/feeds/tags/jingqu']")).to_be_visible()
    page.check("input[name=sections][value=zixunbobao]")
    expect(
        page.locator("#appears-in-list li[data-key='/feeds/sections/zixunbobao']")
    ).to_contain_text("放入栏目")
    assert sorted(appears_in(page)) == sorted(
        [
            "/feeds/all",
            "/feeds/sections/lehuo-hot",
            "/feeds/sections/zixunbobao",
            "/feeds/tags/jingqu",
            "/feeds/tags/zhengzhou",
            new_key,
        ]
    )
    shot(page, "article-editor")

    page.click("#save")
    expect(page.locator("#saved")).to_be_visible()
    assert "/desk/articles/" in page.url
    expect(page.locator("#tags")).to_have_value("景區，桌面新標籤，鄭州")

    def listed() -> bool:
        reply = served.get(f"{new_key}.atom")
        if reply.status != 200:
            return False
        parsed = feedparser.parse(reply.body)
        return any(e.title == TITLE for e in parsed.entries)

    wait_for(listed, "the scheduler rendered the new tag feed with the article")
    page.goto("/feeds/sections/lehuo-hot.json")
    feed = json.loads(page.locator("body").inner_text())
    assert TITLE in [item["title"] for item in feed["items"]]

    page.goto("/desk/articles?q=瀏覽器測試")
    expect(page.locator("#article-list")).to_contain_text(TITLE)
    page.goto(f"/desk/preview?feed={new_key}&format=atom")
    expect(page.locator("#preview-items")).to_contain_text(TITLE)
    expect(page.locator("#preview-raw")).to_contain_text("<feed")
    shot(page, "feed-preview")


def test_an_invalid_form_shows_the_error_beside_the_field_and_keeps_the_input(page: Page) -> None:
    sign_in(page)
    page.goto("/desk/articles/new")
    page.fill("#f-title", "連結錯誤的文章")
    page.fill("#f-summary", "這段摘要不能丟。")
    page.fill("#f-link", "ftp://files.example.com/a")
    page.fill("#tags", "保留標籤")
    page.click("#save")
    error = page.locator("#error-link")
    expect(error).to_have_text("必须是完整的 http(s) 网址")
    expect(page.locator("#f-link")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-summary")).to_have_value("這段摘要不能丟。")
    expect(page.locator("#tags")).to_have_value("保留標籤")
    expect(page.locator("#f-title")).to_have_value("連結錯誤的文章")
    # the error sits inside the link's own field, not at the top of the page
    assert page.locator(".field:has(#f-link) #error-link").count() == 1
    shot(page, "article-editor-error")


def test_a_form_without_its_csrf_token_is_refused(page: Page, served: Service) -> None:
    sign_in(page)
    page.goto("/desk/articles/new")
    page.fill("#f-title", "偽造的請求")
    page.evaluate("document.querySelector('#article-form input[name=csrf_token]').remove()")
    page.click("#save")
    expect(page.locator("h1")).to_have_text("表单被拒绝")
    page.goto("/desk/articles?q=偽造的請求")
    expect(page.locator("#article-list")).not_to_contain_text("偽造的請求")


def test_feed_health_shows_traffic_and_its_chart(page: Page, served: Service) -> None:
    feedly = {"User-Agent": "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 123 subscribers)"}
    for _ in range(5):
        assert served.get("/feeds/all.rss", feedly).status == 200
    sign_in(page)

    def counted() -> bool:
        # Counts are written in batches by the first feed request after each interval.
        served.get("/feeds/all.json")
        page.goto("/desk/health")
        row = page.locator("tr[data-feed='/feeds/all'] td")
        return row.nth(9).inner_text() == "123" and int(row.nth(6).inner_text()) >= 6

    wait_for(counted, "the traffic flush reached the health page")
    expect(page.locator("tr[data-feed='/feeds/all'] td").nth(5)).to_contain_text("有效")
    bars = page.locator("#traffic-chart rect.bar")
    assert bars.count() == 14
    assert float(bars.last.get_attribute("height") or 0) > 0  # today has requests
    shot(page, "feed-health")


def test_english_on_request(page: Page) -> None:
    sign_in(page)
    page.goto("/desk/articles/new?lang=en")
    expect(page.locator("#appears-in h2")).to_have_text("Appears in")
    page.locator("#tags").press_sequentially("余姚")
    expect(page.locator("#appears-in-list")).to_contain_text("Site-wide")
    shot(page, "article-editor-en")


def test_section_rule_preview_and_tag_rename(page: Page, served: Service) -> None:
    sign_in(page)
    page.goto("/desk/sections/zixunbobao")
    rule = page.locator("#rule")
    rule.fill("")
    rule.press_sequentially("余姚")
    expect(page.locator("#rule-preview-list")).to_contain_text("智能光電小鎮發展動能持續提升")
    shot(page, "section-rule")

    page.goto("/desk/tags")
    row = page.locator("#tag-list tr", has_text="/feeds/tags/nengji")
    row.locator("input[name=name]").fill("能級提升")
    row.locator("button").click()
    expect(page.locator(".notice")).to_contain_text("已改名")
    expect(page.locator("#tag-list")).to_contain_text("能級提升")
    shot(page, "tags")
    assert served.get("/feeds/tags/nengji.rss").status == 301
