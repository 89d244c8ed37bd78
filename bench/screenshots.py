"""Screenshots of the real app for the README: a passkey question and a question about the default document.

    python bench/screenshots.py [--out docs]

Starts the app in this process, drives it in headless Chromium, saves two PNGs. Processing the
default document (the whole Language Reference, ~112K tokens) takes several minutes on 2 cores.
"""
import argparse
import shutil
import socket
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ready  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from app.logic import Workbench  # noqa: E402
from app.ui import PASSKEY_QUESTION, build  # noqa: E402
from eval.tasks import passkey_document  # noqa: E402
from infini.adapter import adapter_option  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--out", default="docs")
parser.add_argument("--adapter", default="default", help="the Infini column's trained memory ('none': untrained conversion)")
args = parser.parse_args()
out = Path(args.out)
out.mkdir(exist_ok=True)

with socket.socket() as sock:
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
demo = build(Workbench.load(adapter=adapter_option(args.adapter)))
demo.queue(default_concurrency_limit=1).launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)

options = webdriver.ChromeOptions()
for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--window-size=1400,1500"):
    options.add_argument(flag)
options.binary_location = shutil.which("chromium")
driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
wait = WebDriverWait(driver, 1800)


def ask(question: str, shot: Path) -> None:
    box = driver.find_element(By.CSS_SELECTOR, "textarea")
    box.clear()
    box.send_keys(question)
    driver.find_element(By.XPATH, "//button[normalize-space()='Ask']").click()
    wait.until(ready.text_to_be_present_in_element((By.TAG_NAME, "body"), "FAISS index"))
    driver.execute_script("document.querySelectorAll('details').forEach(d => d.open = false)")
    driver.save_screenshot(str(shot))
    print(shot)


driver.get(f"http://127.0.0.1:{port}/")
wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "input[type=file]")))
with tempfile.TemporaryDirectory() as folder:
    document = Path(folder) / "passkey.txt"
    document.write_text(passkey_document("47291", 60, 25))
    driver.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(document))
    wait.until(ready.text_to_be_present_in_element((By.TAG_NAME, "body"), "passkey.txt"))
    ask(PASSKEY_QUESTION, out / "screenshot_passkey.png")
driver.get(f"http://127.0.0.1:{port}/")  # a fresh session: the default document
wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "textarea")))
ask("What keyword defines a function?", out / "screenshot_default.png")  # one retrieval gets right
driver.quit()
demo.close()
