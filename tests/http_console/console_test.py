"""Drives the web console in headless Chromium against a live server that
tests/http_console.rs prepared: topic "orders" (2 partitions) with JSON records at
offsets 0-4 of partition 0, topic "audit" (empty), group "billing" committed at 2 on
orders/0 (lag 3). Checks each page, saves a screenshot of each, and leaves one record
produced through the form in audit/0 for the Rust side to read over gRPC.

With a third argument TOKEN the server asks for tokens instead: the script checks that
the console shows its login form, that a wrong token is refused, and that the right one
opens the overview (from a cookie the page's scripts cannot read).

Usage: console_test.py BASE_URL SCREENSHOT_DIR [TOKEN]
"""

import json
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

BASE, SHOTS = sys.argv[1], sys.argv[2]
TOKEN = sys.argv[3] if len(sys.argv) > 3 else None


def browser():
    options = Options()
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1360,860", "--force-device-scale-factor=1"]:
        options.add_argument(arg)
    options.binary_location = "/usr/bin/chromium"
    return webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))


def produce(topic, partition, value):
    """Appends one JSON record over the HTTP API, as a program other than the page would."""
    body = json.dumps({"partition": partition,
                       "records": [{"value": {"encoding": "json", "data": value}}]}).encode()
    request = urllib.request.Request(f"{BASE}/api/v1/topics/{topic}/records", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def check(condition, message):
    if not condition:
        raise AssertionError(message)
    print("ok:", message, flush=True)


def main():
    driver = browser()
    wait = WebDriverWait(driver, 15)
    css = lambda selector: wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, selector)))
    shot = lambda name: driver.save_screenshot(f"{SHOTS}/{name}.png")
    try:
        # Overview: both topics, with the records the test produced.
        driver.get(f"{BASE}/#/")
        orders = css('tr[data-topic="orders"]')
        css('tr[data-topic="audit"]')
        check(orders.find_element(By.CSS_SELECTOR, ".records").text == "5",
              "the overview lists orders with 5 records and audit")
        time.sleep(2.5)  # one more poll, so the rate plot has two samples
        shot("overview")

        # Message browser: offsets 0-4, JSON values pretty-printed.
        driver.get(f"{BASE}/#/browse/orders?p=0&start=earliest")
        css('tr[data-offset="4"]')
        offsets = [r.get_attribute("data-offset")
                   for r in driver.find_elements(By.CSS_SELECTOR, "#records tr[data-offset]")]
        check(offsets == ["0", "1", "2", "3", "4"], f"the browser shows offsets 0-4: {offsets}")
        value = driver.find_element(By.CSS_SELECTOR, 'tr[data-offset="2"] td.value pre').text
        expected = json.dumps({"n": 2, "kind": "order"}, indent=2)
        check(value == expected, f"offset 2's value is pretty JSON: {value!r}")
        shot("browser")

        # Group page: the lag the test created.
        driver.get(f"{BASE}/#/group/billing")
        lag = css('#lag tr[data-topic="orders"][data-partition="0"] td.lag')
        check(lag.text == "3", f"the group page shows lag 3 on orders/0: {lag.text}")
        driver.find_element(By.ID, "reset-preview-button").click()
        preview = css("#reset-preview table")
        check("2" in preview.text and "0" in preview.text, "a dry-run reset previews the move")
        shot("group")

        # Live tail: a record produced after the page opened appears.
        driver.get(f"{BASE}/#/browse/orders?p=0&start=earliest")
        css('tr[data-offset="4"]')
        driver.find_element(By.ID, "tail").click()
        wait.until(lambda d: d.find_element(By.ID, "tail").get_attribute("data-open") == "1")
        produce("orders", 0, {"tail": True})
        fresh = css('tr.fresh[data-offset="5"] td.value pre')
        check(json.loads(fresh.text) == {"tail": True}, "the live tail shows offset 5")
        shot("tail")

        # Produce form: a record the Rust side reads back over gRPC.
        driver.get(f"{BASE}/#/produce/audit")
        css("#produce-form")
        Select(driver.find_element(By.ID, "p-partition")).select_by_value("0")
        driver.find_element(By.ID, "p-key").send_keys("from-form")
        driver.find_element(By.ID, "p-value").send_keys('{"form": true}')
        Select(driver.find_element(By.ID, "p-encoding")).select_by_value("json")
        driver.find_element(By.ID, "p-send").click()
        result = css("#p-result .ok")
        check("offset 0" in result.text, f"the form reports where the record went: {result.text}")
        shot("produce")
    except Exception:
        shot("failure")
        print(driver.page_source[:4000], file=sys.stderr)
        raise
    finally:
        driver.quit()


def login():
    driver = browser()
    wait = WebDriverWait(driver, 15)
    css = lambda selector: wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, selector)))
    try:
        driver.get(f"{BASE}/#/")
        field = css('#login input[name="token"]')
        check(not driver.find_elements(By.ID, "topics"), "without a token the console shows only a login form")
        field.send_keys("not-the-token")
        driver.find_element(By.CSS_SELECTOR, "#login button").click()
        error = css("#main .error")
        check("UNAUTHENTICATED" in error.text, f"a wrong token is refused: {error.text}")
        field = driver.find_element(By.CSS_SELECTOR, '#login input[name="token"]')
        field.clear()
        field.send_keys(TOKEN)
        driver.find_element(By.CSS_SELECTOR, "#login button").click()
        css('tr[data-topic="orders"]')
        check(driver.execute_script("return document.cookie") == "",
              "the right token opens the overview, and scripts cannot read the cookie")
        driver.save_screenshot(f"{SHOTS}/login-overview.png")
    finally:
        driver.quit()


if __name__ == "__main__":
    if TOKEN:
        login()
    else:
        main()
