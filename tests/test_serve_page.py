"""The page at / in a real headless Chromium (Debian's chromium + chromium-driver, driven by selenium)."""

from __future__ import annotations

import shutil

import pytest

from factsift.serve.app import create_app

from serving import running_server

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason="needs Debian's chromium and chromium-driver (.ci/run installs them)"
)
COUNCIL = "The council voted 7-2 to close the library. “We had no choice,” the mayor said. It is a shameful decision."


@pytest.fixture(scope="module")
def page_url(varied_classifier):
    with running_server(create_app(varied_classifier)) as (host, port):
        yield f"http://{host}:{port}/"


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1100,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=DRIVER))
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


def open_page(browser, url: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(url)
    WebDriverWait(browser, 60).until(lambda b: b.find_element("id", "legend").text.startswith("Labels:"))


def label(browser, text: str, *, keyboard: bool = False) -> None:
    """Paste ``text`` into the box and press Label (or Ctrl+Enter); wait for the result or an error."""
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    box = browser.find_element("id", "text")
    box.clear()
    box.send_keys(text)
    if keyboard:
        box.send_keys(Keys.CONTROL, Keys.ENTER)
    else:
        browser.find_element("id", "label").click()
    WebDriverWait(browser, 60).until(
        lambda b: "labelled" in b.find_element("id", "status").text or b.find_element("id", "error").text
    )


def marks(browser) -> list[dict]:
    return browser.execute_script(
        "return [...document.querySelectorAll('#output mark.sentence')].map(m => ({text: m.textContent, "
        "label: m.dataset.label, title: m.title, muted: m.classList.contains('muted'), "
        "underline: getComputedStyle(m).textDecorationStyle, badge: getComputedStyle(m, '::before').content}))"
    )


def test_pasted_text_is_highlighted_sentence_by_sentence(browser, page_url, varied_classifier, tmp_path):
    from selenium.webdriver.common.keys import Keys

    open_page(browser, page_url)
    label(browser, COUNCIL)
    expected = varied_classifier.label_text(COUNCIL)
    shown = marks(browser)
    assert [(m["text"], m["label"]) for m in shown] == [(s.text, s.label) for s in expected]
    for mark, sentence in zip(shown, expected):
        assert mark["badge"] == f'"{sentence.label[0].upper()}"'  # the label's letter is drawn before it
        assert mark["title"].startswith(f"{sentence.label} {sentence.score:.2f} (fact ")
    underlines = browser.execute_script(
        "return [...document.querySelectorAll('#counts .badge')].map(b => getComputedStyle(b).textDecorationStyle)"
    )
    assert len(set(underlines)) == len(underlines) == 3  # each label its own underline, not colour alone
    assert {mark["underline"] for mark in shown} <= set(underlines)
    counts = browser.find_element("id", "counts").text
    for name in {s.label for s in expected}:
        assert f"{name} {sum(s.label == name for s in expected)}" in counts
    browser.execute_script("document.getElementById('results').scrollIntoView()")
    browser.save_screenshot(str(tmp_path / "page.png"))
    assert (tmp_path / "page.png").stat().st_size > 10_000

    # filters: only one label stays highlighted
    chosen = expected[0].label
    browser.find_element("css selector", f"#filters input[value='{chosen}']").click()
    assert all(m["muted"] == (m["label"] != chosen) for m in marks(browser))

    # keyboard: Ctrl+Enter labels, Tab reaches a sentence and shows its scores
    label(browser, "Prices rose in May. That is a scandal.", keyboard=True)
    assert len(marks(browser)) == 2
    browser.find_element("id", "download").send_keys(Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("data-index") == "0"
    assert browser.find_element("id", "details").text.startswith("Sentence 1: ")


def test_a_txt_file_fills_the_text_box(browser, page_url, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    open_page(browser, page_url)
    article = tmp_path / "article.txt"
    article.write_text(COUNCIL, encoding="utf-8")
    browser.find_element("id", "file").send_keys(str(article))
    WebDriverWait(browser, 30).until(lambda b: b.find_element("id", "text").get_attribute("value") == COUNCIL)


def test_markup_in_the_text_stays_inert(browser, page_url):
    open_page(browser, page_url)
    browser.execute_script("window.hacked = false")
    # two tags in prose: text to label (three or more making up a quarter of it would be refused as HTML)
    attack = 'See <img src=x onerror="window.hacked = true"> and <b onmouseover="window.hacked = true">this.'
    label(browser, attack)
    output = browser.find_element("id", "output")
    assert output.text.replace("\n", "").endswith(attack[-30:])
    assert output.find_elements("css selector", "img, b") == []
    assert "<img src=x" in marks(browser)[0]["text"]

    label(browser, "Fine. A <script>window.hacked = true</script> tag in prose is just text.")
    assert "<script>window.hacked = true</script>" in browser.find_element("id", "output").text
    assert browser.find_elements("css selector", "#output script") == []

    label(browser, "<html><body><script>window.hacked = true</script></body></html>")
    error = browser.find_element("id", "error").text
    assert "text: line 1 holds HTML markup '<html'" in error
    assert browser.find_elements("css selector", "#error *, #output script") == []
    assert browser.execute_script("return window.hacked") is False
