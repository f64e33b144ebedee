"""The page at `/` of `nlp-apps serve`, in a real browser: headless Chromium driven by Selenium types into
each model's form, submits it, and reads what a person would see (a label with its probability bars, the
output text and its n-best list, the answer marked in its passage, the continuation after its prompt, the
perplexities), each checked against what the API answers for the same input.

The server is a real `nlp-apps serve` process on 127.0.0.1 serving tiny models of every task and a tiny
LM (tests/serve_models.py). Skipped, with the reason, where chromium, chromedriver or selenium is
missing (CI installs them: .ci/run; Debian: `apt-get install chromium chromium-driver`).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.serve_models import TASKS, build_model_dirs

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = next(filter(None, (shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome"))), None)
CHROMEDRIVER = shutil.which("chromedriver")
try:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait
except ImportError:
    webdriver = None

pytestmark = pytest.mark.skipif(
    webdriver is None or CHROMIUM is None or CHROMEDRIVER is None,
    reason="browser test needs " + ", ".join(what for what, missing in (
        ("selenium (pip install selenium)", webdriver is None), ("chromium (apt-get install chromium)", CHROMIUM is None),
        ("chromedriver (apt-get install chromium-driver)", CHROMEDRIVER is None)) if missing),
)
WAIT_S = 20  # for one answer of a tiny model (the page, the server and the model are all on this machine)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_language_model, tmp_path_factory):
    """The base URL of an `nlp-apps serve` process serving lm, sentiment, translation, summarization and qa."""
    dirs = build_model_dirs(tiny_language_model, tmp_path_factory.mktemp("served"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "NLP_APPS_DISABLE_PLUGIN_AUTOLOAD"}  # the server finds the tasks' plug-ins
    command = [sys.executable, "-m", "nlp_apps.cli", "serve", "--port", str(port), "--log-level", "warning",
               *[arg for name, path in dirs.items() for arg in ("--model", f"{name}={path}")]]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _ready(f"{base}/readyz"):
            assert process.poll() is None, f"the server exited: {process.stdout.read()}"
            assert time.monotonic() < deadline, "the server did not get ready within 60 s"
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def api(server: str, path: str, body: dict) -> dict:
    response = httpx.post(f"{server}/v1/models/{path}", json=body, timeout=WAIT_S)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def browser(server, tmp_path_factory):
    """Headless Chromium showing the page, its model sections drawn."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--disable-extensions",
                "--no-first-run", "--window-size=1200,2400", f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))  # a driver path: Selenium Manager stays off
    try:
        driver.set_page_load_timeout(WAIT_S)
        driver.get(server + "/")
        WebDriverWait(driver, WAIT_S).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "section.model")) == 1 + len(TASKS))
        yield driver
    finally:
        driver.quit()


def section(driver, name: str):
    return driver.find_element(By.ID, f"model-{name}")


def fill(card, name: str, value: str) -> None:
    field = card.find_element(By.NAME, name)
    field.clear()
    field.send_keys(value)


def submit(driver, card, button: str = "submit"):
    """Click the button and wait until the section shows its result; the section's .result."""
    card.find_element(By.CSS_SELECTOR, f"button.{button}").click()  # the page marks the section busy as the click is handled
    try:
        WebDriverWait(driver, WAIT_S).until(lambda d: card.get_attribute("data-state") in ("done", "error"))
    except TimeoutException:
        pytest.fail(f"no answer shown within {WAIT_S} s (data-state={card.get_attribute('data-state')!r})")
    error = card.find_element(By.CSS_SELECTOR, ".error")
    assert card.get_attribute("data-state") == "done", f"the page shows an error: {text(error)!r}"
    assert text(error) == ""
    result = card.find_element(By.CSS_SELECTOR, ".result")
    assert result.is_displayed()
    return result


def text(element) -> str:
    """The element's text as the page set it (textContent: no whitespace folding, nothing of CSS)."""
    return element.get_property("textContent")


def within(shown: str, value: float, decimals: int) -> bool:
    return abs(float(shown) - value) <= 0.6 * 10**-decimals


def test_the_page_lists_every_model_with_its_task(browser):
    sections = {s.get_attribute("id"): s for s in browser.find_elements(By.CSS_SELECTOR, "section.model")}
    assert {key: s.get_attribute("data-task") for key, s in sections.items()} == {
        "model-lm": "language_model", **{f"model-{task}": task for task in TASKS}}
    assert all(s.get_attribute("data-state") == "idle" and s.is_displayed() for s in sections.values())
    assert browser.find_element(By.ID, "status").text.startswith("5 model(s).")
    assert "validation accuracy 0.7500" in section(browser, "sentiment").find_element(By.CSS_SELECTOR, ".meta").text


def test_sentiment_shows_a_label_and_probability_bars_per_line(browser, server):
    texts = ["a gorgeous, witty film", "dull and far too long"]
    card = section(browser, "sentiment")
    fill(card, "text", "\n".join(texts))
    result = submit(browser, card)
    expected = api(server, "sentiment/predict", {"texts": texts})["predictions"]
    shown = result.find_elements(By.CSS_SELECTOR, ".prediction")
    assert len(shown) == len(texts)
    for prediction, want in zip(shown, expected):
        assert text(prediction.find_element(By.CSS_SELECTOR, ".label")) == want["label"]
        rows = prediction.find_elements(By.CSS_SELECTOR, ".bar-row")
        labels = [text(row.find_element(By.CSS_SELECTOR, ".bar-label")) for row in rows]
        assert sorted(labels) == sorted(want["probabilities"]) and labels[0] == want["label"]  # the most probable first
        for row, label in zip(rows, labels):
            assert within(text(row.find_element(By.CSS_SELECTOR, ".prob")), want["probabilities"][label], 3)
            fill_bar = row.find_element(By.CSS_SELECTOR, ".fill")
            assert fill_bar.is_displayed() and float(fill_bar.value_of_css_property("width").removesuffix("px")) > 0  # drawn
            assert within(fill_bar.get_attribute("style").split("width:")[1].strip(" %;"), 100 * want["probabilities"][label], 1)


def test_translation_shows_the_output_and_its_n_best_list(browser, server):
    sentence = "Ein Hund läuft über die Wiese."
    card = section(browser, "translation")
    fill(card, "text", sentence)
    fill(card, "n_best", "3")
    result = submit(browser, card)
    expected = api(server, "translation/predict", {"texts": [sentence], "n_best": 3, "beam_size": 5})  # the page's beam for n-best 3
    assert [text(p) for p in result.find_elements(By.CSS_SELECTOR, ".output")] == expected["outputs"]
    items = result.find_elements(By.CSS_SELECTOR, ".n-best li")
    assert len(items) == 3
    for item, hypothesis in zip(items, expected["n_best"][0]):
        assert text(item.find_element(By.CSS_SELECTOR, ".text")) == hypothesis["text"]
        assert within(text(item.find_element(By.CSS_SELECTOR, ".score")), hypothesis["score"], 3)


def test_summarization_shows_one_summary_per_document(browser, server):
    documents = ["Hi Anna, the meeting moves to Friday at noon. Bring the slides.", "The server is down until Monday."]
    card = section(browser, "summarization")
    fill(card, "text", "\n".join(documents))
    result = submit(browser, card)
    expected = api(server, "summarization/predict", {"texts": documents, "n_best": 1})
    assert [text(p) for p in result.find_elements(By.CSS_SELECTOR, ".output")] == expected["outputs"]
    assert result.find_elements(By.CSS_SELECTOR, ".n-best") == []  # n-best 1: no list


def test_qa_marks_the_answer_in_its_passage(browser, server):
    context = "The Eiffel Tower was finished in 1889. It stands in Paris, beside the Seine."
    question = "When was the tower finished?"
    card = section(browser, "qa")
    fill(card, "context", context)
    fill(card, "question", question)
    result = submit(browser, card)
    (want,) = api(server, "qa/predict", {"inputs": [{"context": context, "question": question}]})["answers"]
    assert want["start"] is not None  # a SQuAD v1 model always answers
    marked = result.find_element(By.CSS_SELECTOR, ".passage mark")
    assert marked.is_displayed() and text(marked) == want["answer"] == context[want["start"] : want["end"]]
    assert text(result.find_element(By.CSS_SELECTOR, ".answer")) == want["answer"]
    passage = result.find_element(By.CSS_SELECTOR, ".passage")
    assert text(passage) == context  # the whole passage, the answer marked in its place
    before = browser.execute_script("return arguments[0].firstChild.textContent", passage)
    assert before == context[: want["start"]]
    assert within(text(result.find_element(By.CSS_SELECTOR, ".score")), want["score"], 3)


def test_a_language_model_continues_a_prompt_and_scores_texts(browser, server):
    card = section(browser, "lm")
    fill(card, "prompt", "The cat")
    fill(card, "max_tokens", "12")
    fill(card, "seed", "3")
    result = submit(browser, card)
    expected = api(server, "lm/generate", {"prompt": "The cat", "max_tokens": 12, "temperature": 0.8, "seed": 3})["text"]
    assert text(result.find_element(By.CSS_SELECTOR, ".prompt")) == "The cat"
    continuation = result.find_element(By.CSS_SELECTOR, "mark.continuation")
    assert text(continuation) == expected and expected  # the same seed: the same continuation as the API's

    texts = ["The cat sees the moon.", "A dog finds two birds."]
    fill(card, "prompt", "\n".join(texts))
    result = submit(browser, card, button="perplexity")
    scores = api(server, "lm/perplexity", {"texts": texts})["scores"]
    shown = result.find_elements(By.CSS_SELECTOR, ".perplexity")
    assert [text(p).split(": ")[0] for p in shown] == texts
    for p, score in zip(shown, scores):
        assert within(text(p.find_element(By.CSS_SELECTOR, ".token-perplexity")), score["token_perplexity"], 1)
        assert within(text(p.find_element(By.CSS_SELECTOR, ".word-perplexity")), score["word_perplexity"], 1)


def test_a_refused_input_shows_the_servers_one_line_reason(browser):
    card = section(browser, "lm")
    fill(card, "prompt", "   ")
    card.find_element(By.CSS_SELECTOR, "button.submit").click()
    WebDriverWait(browser, WAIT_S).until(lambda d: card.get_attribute("data-state") in ("done", "error"))
    assert card.get_attribute("data-state") == "error"
    assert card.find_element(By.CSS_SELECTOR, ".error").text == "the prompt is empty: give some text to continue"
    assert card.find_element(By.CSS_SELECTOR, ".result").find_elements(By.CSS_SELECTOR, "*") == []
