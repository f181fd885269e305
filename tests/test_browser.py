"""The page in a real browser: Debian's headless Chromium, driven by Selenium through the system's
chromedriver (nothing is downloaded). A person's path: type a prompt, generate, watch the video play."""

import os
import shutil
import time

import numpy as np
import pytest
from PIL import Image

from tessera.serve.local import LocalServer

INSTALL = "install the browser with: apt-get install -y chromium chromium-driver (and pip install selenium)"


def _browser():
    """A headless Chromium, or the reason there is none (a failure in CI, where .ci/run installs it)."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        webdriver = None
    if webdriver is None or not (chromium and driver):
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"no Chromium/Selenium here; {INSTALL}")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1100,900",
        "--autoplay-policy=no-user-gesture-required",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(executable_path=driver))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    env = os.environ | {"XDG_DATA_HOME": str(root / "xdg"), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with LocalServer(root / "data", env=env) as running:
        yield running


def test_a_person_types_a_prompt_and_watches_the_video_play(server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    browser = _browser()
    try:
        browser.get(server.url)
        browser.find_element(By.ID, "prompt").send_keys("a large red circle moves to the right")
        Select(browser.find_element(By.ID, "size")).select_by_visible_text("128x128")
        browser.find_element(By.ID, "steps").send_keys("3")

        def submit(cards: int) -> None:
            """Click Generate; wait until the page has taken the job (its card shows, the button is back)."""
            browser.find_element(By.ID, "submit").click()
            taken = "return document.querySelectorAll('#gallery .card').length === arguments[0]"
            ready = "return !document.getElementById('submit').disabled"
            WebDriverWait(browser, 60, poll_frequency=0.1).until(
                lambda b: b.execute_script(taken, cards) and b.execute_script(ready)
            )
            assert browser.find_element(By.ID, "message").text == ""

        submit(cards=1)  # its card shows a progress bar, then a video that really plays
        assert browser.find_elements(By.CSS_SELECTOR, "#gallery .card progress")
        playing = (
            "const v = document.querySelector('#gallery video');"
            "return !!v && v.readyState >= 2 && v.currentTime > 0 && !v.paused && v.videoWidth === 128;"
        )
        WebDriverWait(browser, 90, poll_frequency=0.2).until(lambda b: b.execute_script(playing))
        assert browser.find_element(By.ID, "message").text == ""
        link = browser.find_element(By.CSS_SELECTOR, "#gallery .card a[download]")
        assert link.get_attribute("href").endswith("/content")
        time.sleep(0.3)  # a few frames into the clip
        shot = tmp_path / "page.png"
        browser.save_screenshot(str(shot))
        video = browser.find_element(By.CSS_SELECTOR, "#gallery video")
        box, scale = video.rect, browser.execute_script("return window.devicePixelRatio")

        # The modes: extend the finished video (offered by the page), then animate an uploaded image.
        Select(browser.find_element(By.ID, "mode")).select_by_value("extend")
        assert Select(browser.find_element(By.ID, "video-a")).first_selected_option.text.startswith(
            "a large red"
        )
        submit(cards=2)
        Image.new("RGB", (64, 64), (30, 60, 200)).save(tmp_path / "start.png")
        Select(browser.find_element(By.ID, "mode")).select_by_value("image")
        browser.find_element(By.ID, "image").send_keys(str(tmp_path / "start.png"))
        submit(cards=3)
        statuses = "return [...document.querySelectorAll('#gallery .status')].map(e => e.textContent)"
        newest_first = [["completed", "image"], ["completed", "extend"], ["completed", "generate"]]
        WebDriverWait(browser, 90, poll_frequency=0.2).until(
            lambda b: [text.split(" · ")[:2] for text in b.execute_script(statuses)] == newest_first
        )
        assert browser.find_element(By.ID, "message").text == ""
    finally:
        browser.quit()
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(float)
    assert pixels.std() > 10, "the screenshot is blank"
    top, left = int(box["y"] * scale), int(box["x"] * scale)
    frame = pixels[top : top + int(box["height"] * scale), left : left + int(box["width"] * scale)]
    assert frame.size and frame.std() > 5, "the video shows nothing"
