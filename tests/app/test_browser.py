"""The real page in headless Chromium (Debian's chromium + chromium-driver): upload, Process, Ask."""
import shutil

import pytest

from app.ui import PASSKEY_QUESTION
from eval.tasks import passkey_document

pytestmark = pytest.mark.slow
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not shutil.which("chromium") and not shutil.which("chromium-browser"):
        pytest.fail("chromium is not installed: `make test` installs the Debian packages chromium and chromium-driver")
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,1600"):
        options.add_argument(flag)
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def test_upload_process_ask_in_a_real_browser(app_url, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    document = tmp_path / "passkey.txt"
    document.write_text(passkey_document("47291", 30, 12))
    wait = WebDriverWait(browser, 240)
    browser.get(app_url)
    wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "input[type=file]")))
    browser.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(document))
    wait.until(ready.text_to_be_present_in_element((By.TAG_NAME, "body"), "passkey.txt"))
    browser.find_element(By.XPATH, "//button[normalize-space()='Process']").click()
    wait.until(ready.text_to_be_present_in_element((By.TAG_NAME, "body"), "Processed:"))
    browser.find_element(By.CSS_SELECTOR, "textarea").send_keys(PASSKEY_QUESTION)
    browser.find_element(By.XPATH, "//button[normalize-space()='Ask']").click()
    wait.until(ready.text_to_be_present_in_element((By.TAG_NAME, "body"), "FAISS index"))  # both columns done
    rag = browser.find_element(By.ID, "rag-answer").text
    infini = browser.find_element(By.ID, "infini-answer").text
    browser.save_screenshot(str(tmp_path / "app.png"))
    assert "47291" in rag and infini.strip()
    assert (tmp_path / "app.png").stat().st_size > 10_000
