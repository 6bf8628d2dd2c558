#!/usr/bin/env python3
"""Drives headless Chromium through a password-protected short link, as a person would.

Run by tests/browser.rs (which starts the gateway and creates the link):

    password_link.py URL --password P --wrong W --expect TEXT [--expect-url U] [--screenshot F]

1. opens URL: the page must be the password form (<form method="post"> with one input
   named `password`, posting back to the same URL), answered with 401; saves a screenshot;
2. types the wrong password and submits: still the form, 401, with an error note;
3. types the right one and submits: a 303 back to URL (or on to the link's external
   target), and the page now shows TEXT; a password cookie for the link is set;
4. opens URL again: served straight away (the cookie stands for the password).

Uses Debian's /usr/bin/chromium and /usr/bin/chromedriver, never a downloaded browser or
driver, with everything that would reach the network switched off. Exits 0 when every
check holds, 1 with a message otherwise.
"""

import argparse
import os
import shutil
import sys
import tempfile

os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must never fetch anything.

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = os.environ.get("TOLLGATE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("TOLLGATE_CHROMEDRIVER", "/usr/bin/chromedriver")
TIMEOUT = 20


class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)
    print(f"ok: {what}", flush=True)


def start(profile):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-default-apps",
        "--metrics-recording-only",
        "--password-store=basic",
        "--window-size=900,700",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
    ):
        opts.add_argument(flag)
    # No "save password?" bubble over the page.
    opts.add_experimental_option(
        "prefs",
        {"credentials_enable_service": False, "profile.password_manager_enabled": False},
    )
    service = Service(executable_path=CHROMEDRIVER, log_output=os.devnull)
    driver = webdriver.Chrome(service=service, options=opts)
    driver.set_page_load_timeout(TIMEOUT)
    # Every load reaches the gateway (no revalidation from the browser's cache), so the
    # views it counts are exactly the admitted loads.
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
    # The page itself 900x700, whatever headless takes off the window for its frame.
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 900, "height": 700, "deviceScaleFactor": 1, "mobile": False},
    )
    return driver


def nav(driver):
    """Status, redirect count and URL of the document now shown."""
    return driver.execute_script(
        "const n = performance.getEntriesByType('navigation')[0];"
        "return {status: n.responseStatus, redirects: n.redirectCount, url: location.href};"
    )


def form_parts(driver):
    forms = driver.find_elements(By.TAG_NAME, "form")
    check(len(forms) == 1, "the page has one form")
    form = forms[0]
    check(
        (form.get_attribute("method") or "").lower() == "post",
        "the form's method is post",
    )
    inputs = [
        i
        for i in form.find_elements(By.TAG_NAME, "input")
        if (i.get_attribute("type") or "text").lower() != "hidden"
    ]
    check(
        len(inputs) == 1 and inputs[0].get_attribute("name") == "password",
        "the form has one input, named password",
    )
    check(
        inputs[0].get_attribute("type") == "password",
        "the input is a password field (typed characters hidden)",
    )
    return form, inputs[0]


def wait_new_page(driver, old):
    """Waits until the document `old` (an element of it) has been replaced."""

    def gone(_):
        try:
            old.is_enabled()
            return False
        except Exception:  # StaleElementReferenceException: a new document
            return True

    WebDriverWait(driver, TIMEOUT).until(gone)
    WebDriverWait(driver, TIMEOUT).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


def submit(driver, password):
    form, field = form_parts(driver)
    field.clear()
    field.send_keys(password)
    button = form.find_element(By.CSS_SELECTOR, "button[type=submit], input[type=submit]")
    button.click()
    wait_new_page(driver, field)


def run(args, driver):
    url = args.url
    driver.get(url)
    n = nav(driver)
    check(n["status"] == 401, f"GET {url} answers 401 (got {n['status']})")
    check(n["url"] == url, "the browser stays on the link's URL")
    form, _ = form_parts(driver)
    action = driver.execute_script("return arguments[0].action", form)
    check(action == url, f"the form posts back to the same URL (action {action!r})")
    check(
        not driver.find_elements(By.CSS_SELECTOR, "[role=alert]"),
        "no error note before any attempt",
    )
    body = driver.find_element(By.TAG_NAME, "body").text
    check(args.expect not in body, "the file's text is not on the form page")
    if args.screenshot:
        os.makedirs(os.path.dirname(os.path.abspath(args.screenshot)), exist_ok=True)
        driver.execute_script("document.activeElement.blur()")  # no caret in the picture
        check(driver.save_screenshot(args.screenshot), f"screenshot saved to {args.screenshot}")

    submit(driver, args.wrong)
    n = nav(driver)
    check(n["status"] == 401, f"a wrong password answers 401 (got {n['status']})")
    check(n["url"] == url, "after a wrong password the browser is still on the link's URL")
    form_parts(driver)
    alerts = driver.find_elements(By.CSS_SELECTOR, "[role=alert]")
    check(
        len(alerts) == 1 and "not right" in alerts[0].text,
        f"the form shows an error note ({[a.text for a in alerts]!r})",
    )
    body = driver.find_element(By.TAG_NAME, "body").text
    check(args.expect not in body, "a wrong password does not reveal the file")
    check(
        not any(c["name"].startswith("tg_pw_") for c in driver.get_cookies()),
        "a wrong password sets no password cookie",
    )

    submit(driver, args.password)
    n = nav(driver)
    want_url = args.expect_url or url
    check(n["status"] == 200, f"the right password leads to 200 (got {n['status']})")
    if not args.expect_url:
        # (A cross-origin hop hides the count, so only same-origin ends are checked here.)
        check(n["redirects"] >= 1, f"it went through a redirect ({n['redirects']})")
    check(n["url"] == want_url, f"the browser ends on {want_url} (at {n['url']})")
    body = driver.find_element(By.TAG_NAME, "body").text
    check(args.expect in body, f"the page shows {args.expect!r} (got {body[:200]!r})")
    cookies = [c for c in driver.get_cookies() if c["name"].startswith("tg_pw_")]
    check(
        len(cookies) == 1 and cookies[0].get("httpOnly") is True,
        "one HttpOnly password cookie is set",
    )

    driver.get(url)
    n = nav(driver)
    body = driver.find_element(By.TAG_NAME, "body").text
    check(
        n["status"] == 200 and args.expect in body and n["url"] == want_url,
        f"opening the link again is served without the form ({n['status']}, {n['url']})",
    )


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("url")
    p.add_argument("--password", required=True)
    p.add_argument("--wrong", required=True)
    p.add_argument("--expect", required=True, help="text the page shows once admitted")
    p.add_argument("--expect-url", help="where the browser ends (default: the URL itself)")
    p.add_argument("--screenshot", help="where to save a PNG of the form")
    args = p.parse_args()
    for exe in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
            print(f"FAIL: {exe} is missing (apt-get install chromium chromium-driver)")
            return 1
    profile = tempfile.mkdtemp(prefix="tollgate-chromium-")
    driver = None
    try:
        driver = start(profile)
        run(args, driver)
    except Failed as e:
        print(f"FAIL: {e}", flush=True)
        return 1
    finally:
        if driver is not None:
            driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    print("all checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
