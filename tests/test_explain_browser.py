"""The HTML page of `npconv explain` in a real browser (Debian's Chromium, headless, driven
by Selenium): its engine `window.npconvExplain.compute` against npconv, and its drawing.

For a few hundred random settings (seeded) across conv/transposed, 1-3 spatial dims,
groups, dilation, stride, every padding form and mode, output_padding and impossible
settings, the page's output must equal npconv.functional's on the same input, weight and
bias; its `reads` (the [input index, weight index] pairs of every output cell) must equal
the pairs found by the loops below, written from the definitions as tests/reference.py
is (and the sums of those pairs must give npconv's output, which checks the loops); and
where npconv raises, the page must give the same message.

Without a browser the test skips, except in CI (env CI set), where it fails.
Set NPCONV_WRITE_DOCS=1 to also write docs/explain-page.png, the README's screenshot.
"""

import math
import os
import pathlib
import shutil
import sys
import time

import numpy as np
import pytest

import reference
from npconv import explain, nn
from npconv import functional as F

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
SEED_LAYER = "ConvTranspose2d(1, 1, 3, stride=2, padding=1)"
SETTINGS = 500  # random settings compared with npconv
DRAWN = 40  # of which the page draws this many, checked in the DOM


def _missing():
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.exists(path) or shutil.which(os.path.basename(path))):
            return f"{path} is missing (apt-get install chromium chromium-driver)"
    return None


def require_browser():
    """Skip when the browser or Selenium is missing; in CI (env CI set) fail instead."""
    missing = _missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"the browser test must run in CI, but {missing}")
        pytest.skip(missing)


def test_a_missing_browser_fails_in_ci(monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"must run in CI.*chromium is missing"):
        require_browser()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="chromium is missing"):
        require_browser()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.add_argument("--window-size=1280,1000")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(
        service=Service(
            CHROMEDRIVER if os.path.exists(CHROMEDRIVER) else shutil.which("chromedriver")
        ),
        options=options,
    )
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def seed_page(tmp_path_factory):
    path = tmp_path_factory.mktemp("page") / "seed.html"
    explain.to_html(eval(SEED_LAYER, {"__builtins__": {}}, vars(nn)), (3, 3), path)
    return path


def open_page(browser, path):
    browser.get(path.as_uri())
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors


# --- random settings -------------------------------------------------------------------------


def random_settings(rng):
    """One plain settings object with torch's argument names; about one in six impossible."""
    transposed = rng.random() < 0.5
    n = int(rng.choice([1, 2, 3], p=[0.35, 0.45, 0.2]))
    small = n == 3
    groups = int(rng.choice([1, 1, 2, 3]))
    cin, cout = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    kernel = [int(v) for v in rng.integers(1, 3 if small else 4, n)]
    stride = [int(v) for v in rng.integers(1, 3 if small else 4, n)]
    dilation = [int(v) for v in rng.integers(1, 3, n)]
    size = [int(v) for v in rng.integers(1, 4 if small else 7, n)]
    form = rng.choice(["ints", "pairs", "same", "valid"], p=[0.45, 0.3, 0.15, 0.1])
    if form == "ints":
        padding = [int(v) for v in rng.integers(0, 3, n)]
    elif form == "pairs":
        padding = [[int(v) for v in rng.integers(0, 3, 2)] for _ in range(n)]
    else:
        padding = str(form)
        if form == "same" and not transposed and rng.random() < 0.7:
            stride = [1] * n  # mostly the stride-1 convs 'same' is for
    mode = str(rng.choice(["zeros", "reflect", "replicate", "circular"], p=[0.4, 0.2, 0.2, 0.2]))
    output_padding = [
        int(rng.integers(0, max(s, d))) if transposed else 0
        for s, d in zip(stride, dilation, strict=True)
    ]
    s = dict(
        op="conv_transpose" if transposed else "conv",
        in_channels=cin,
        out_channels=cout,
        kernel_size=kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        output_padding=output_padding,
        groups=groups,
        padding_mode=mode,
        input_size=size,
    )
    error = rng.random()
    if error < 0.03:
        s["in_channels"] = groups * 2 + 1 if groups > 1 else s["in_channels"]
        s["groups"] = groups if groups > 1 else 2
    elif error < 0.06:
        s["kernel_size"][int(rng.integers(n))] = 0
    elif error < 0.08:
        s["stride"][int(rng.integers(n))] = 0
    elif error < 0.10:
        s["padding"] = [-1] + [0] * (n - 1)
    elif error < 0.12 and transposed:
        s["output_padding"][0] = max(stride[0], dilation[0])
    elif error < 0.14:
        s["kernel_size"] = [7] * n
    elif error < 0.16 and not transposed:
        s["padding"], s["stride"] = "same", [2] * n
    return s


def weight_shape(s):
    g, k = s["groups"], tuple(s["kernel_size"])
    if s["op"] == "conv_transpose":
        return (s["in_channels"], s["out_channels"] // g) + k
    return (s["out_channels"], s["in_channels"] // g) + k


def with_values(s, rng):
    """The settings with random input, weight and (mostly) bias, flat in C order."""
    x_count = s["in_channels"] * math.prod(s["input_size"])
    w_count = (
        math.prod(weight_shape(s))
        if s["groups"]
        and s["in_channels"] % s["groups"] == 0
        and s["out_channels"] % s["groups"] == 0
        else 0
    )
    s = dict(
        s,
        input=np.round(rng.standard_normal(x_count), 3).tolist(),
        weight=np.round(rng.standard_normal(max(w_count, 0)), 3).tolist(),
    )
    s["bias"] = (
        np.round(rng.standard_normal(s["out_channels"]), 3).tolist() if rng.random() < 0.6 else None
    )
    return s


def padding_argument(padding):
    if isinstance(padding, str):
        return padding
    return tuple(tuple(p) if isinstance(p, list) else p for p in padding)


def npconv_answer(s):
    """npconv's output (C_out, *spatial) for the settings, or the message it raises.

    The module checks its arguments as torch's does; the output is npconv.functional's.
    """
    transposed = s["op"] == "conv_transpose"
    options = dict(
        stride=tuple(s["stride"]),
        padding=padding_argument(s["padding"]),
        dilation=tuple(s["dilation"]),
        groups=s["groups"],
        padding_mode=s["padding_mode"],
        bias=s["bias"] is not None,
        dtype=np.float64,
    )
    if transposed:
        options["output_padding"] = tuple(s["output_padding"])
    cls = nn.ConvTransposeNd if transposed else nn.ConvNd
    x = np.array(s["input"]).reshape((s["in_channels"],) + tuple(s["input_size"]))
    try:
        module = cls(s["in_channels"], s["out_channels"], tuple(s["kernel_size"]), **options)
        w = np.array(s["weight"]).reshape(module.weight.shape)
        b = None if s["bias"] is None else np.array(s["bias"])
        module.weight[...] = w
        if b is not None:
            module.bias[...] = b
        module(x)
    except (ValueError, TypeError) as error:
        return str(error)
    common = dict(
        stride=options["stride"],
        padding=options["padding"],
        dilation=options["dilation"],
        groups=s["groups"],
        padding_mode=s["padding_mode"],
    )
    if transposed:
        return F.conv_transpose(x, w, b, output_padding=options["output_padding"], **common)
    return F.conv(x, w, b, **common)


def pairs_of(s, out_size):
    """(lo, hi) per dim, with npconv's rules for 'same' and 'valid' (npconv.shapes)."""
    from npconv import shapes

    p, n = s["padding"], len(s["kernel_size"])
    if p == "valid":
        return [(0, 0)] * n
    if p == "same":
        if s["op"] == "conv":
            return list(shapes.same_padding(s["kernel_size"], s["dilation"]))
        return list(
            shapes.conv_transpose_same_padding(
                s["input_size"], s["kernel_size"], s["stride"], s["dilation"], s["output_padding"]
            )
        )
    return [tuple(v) if isinstance(v, list) else (v, v) for v in p]


def oracle_reads(s, out_shape):
    """Every (input index, weight index) pair each output cell multiplies, by loops.

    conv: output o meets the padded input at o*s + j*d - lo, which holds input
    reference.source(...) (none in zero padding). transposed: input i with kernel offset j
    lands at full position i*s + j*d; 'zeros' crops it to t = that - lo, the other modes
    fold it onto t = reference.source(that - lo, out, mode) (the adjoint of padding).
    """
    n = len(s["kernel_size"])
    size, kernel, out = tuple(s["input_size"]), tuple(s["kernel_size"]), tuple(out_shape[1:])
    stride, dilation, mode = s["stride"], s["dilation"], s["padding_mode"]
    pairs = pairs_of(s, out)
    groups = s["groups"]
    cin_g, cout_g = s["in_channels"] // groups, s["out_channels"] // groups
    S, K, P = math.prod(size), math.prod(kernel), math.prod(out)
    reads = [[] for _ in range(s["out_channels"] * P)]
    offsets = list(reference.positions(kernel))
    if s["op"] == "conv":
        for m in range(s["out_channels"]):
            g = m // cout_g
            for of, o in enumerate(reference.positions(out)):
                for b in range(cin_g):
                    c = g * cin_g + b
                    for jf, j in enumerate(offsets):
                        src = [
                            reference.source(
                                o[d] * stride[d] + j[d] * dilation[d] - pairs[d][0], size[d], mode
                            )
                            for d in range(n)
                        ]
                        if None not in src:
                            reads[m * P + of].append(
                                (
                                    c * S + int(np.ravel_multi_index(src, size)),
                                    (m * cin_g + b) * K + jf,
                                )
                            )
    else:
        for c in range(s["in_channels"]):
            g = c // cin_g
            for i_f, i in enumerate(reference.positions(size)):
                for jf, j in enumerate(offsets):
                    t = []
                    for d in range(n):
                        p = i[d] * stride[d] + j[d] * dilation[d] - pairs[d][0]
                        t.append(
                            (p if 0 <= p < out[d] else None)
                            if mode == "zeros"
                            else reference.source(p, out[d], mode)
                        )
                    if None in t:
                        continue
                    tf = int(np.ravel_multi_index(t, out))
                    for mm in range(cout_g):
                        m = g * cout_g + mm
                        reads[m * P + tf].append((c * S + i_f, (c * cout_g + mm) * K + jf))
    return [sorted(r) for r in reads]


def page_compute(browser, batch):
    return browser.execute_script(
        "return arguments[0].map(function (s) { return window.npconvExplain.compute(s); });", batch
    )


def test_compute_agrees_with_npconv_on_random_settings(browser, seed_page):
    open_page(browser, seed_page)
    rng = np.random.default_rng(20261203)
    settings = [with_values(random_settings(rng), rng) for _ in range(SETTINGS)]
    start = time.perf_counter()
    answers = []
    for k in range(0, len(settings), 50):
        answers += page_compute(browser, settings[k : k + 50])
    counts = {"values": 0, "errors": 0}
    kinds = set()
    for s, page in zip(settings, answers, strict=True):
        expected = npconv_answer(s)
        if isinstance(expected, str):
            assert page.get("error") == expected, (s, page)
            counts["errors"] += 1
            continue
        assert "error" not in page, (s, page["error"])
        assert page["shape"] == list(expected.shape), s
        np.testing.assert_allclose(
            page["output"], expected.ravel(), rtol=1e-12, atol=1e-12, err_msg=str(s)
        )
        reads = oracle_reads(s, expected.shape)
        x, w = np.array(s["input"]), np.array(s["weight"])
        bias = np.repeat(s["bias"] or [0.0] * s["out_channels"], math.prod(expected.shape[1:]))
        sums = [sum(x[a] * w[b] for a, b in r) for r in reads] + bias
        np.testing.assert_allclose(sums, expected.ravel(), rtol=1e-12, atol=1e-12)  # the loops
        assert [sorted(map(tuple, r)) for r in page["reads"]] == reads, s
        counts["values"] += 1
        kinds.add(
            (
                s["op"],
                len(s["kernel_size"]),
                s["padding_mode"],
                s["groups"] > 1,
                isinstance(s["padding"], str),
            )
        )
    # the grid reached every corner it was meant to
    assert counts["values"] >= SETTINGS // 2 and counts["errors"] >= SETTINGS // 10, counts
    assert {(op, mode) for op, _, mode, _, _ in kinds} >= {
        (op, mode)
        for op in ("conv", "conv_transpose")
        for mode in ("zeros", "reflect", "replicate", "circular")
    }
    print(
        f"\n{SETTINGS} settings ({counts['values']} computed, {counts['errors']} impossible) "
        f"compared in {time.perf_counter() - start:.1f} s"
    )


def dom_outputs(browser):
    return browser.execute_script("""
        var cells = document.querySelectorAll('#output-planes .cell');
        return Array.prototype.map.call(cells, function (c) {
          return [Number(c.dataset.index), Number(c.dataset.value)]; });""")


def dom_highlight(browser):
    return browser.execute_script("""
        var q = function (s, a) {
          return Array.prototype.map.call(document.querySelectorAll(s),
                                          function (c) { return Number(c.dataset[a]); }); };
        return {inputs: q('#canvas-planes .cell.read', 'input'),
                weights: q('#weight-planes .cell.read', 'index'),
                reach: q('#output-planes .cell.reach', 'index'),
                equation: document.getElementById('equation').textContent};""")


def test_page_draws_what_npconv_computes(browser, seed_page):
    """The drawn page: output cells hold npconv's values; selecting an output cell lights the
    input and weight cells the loops find, selecting an input cell the outputs it reaches."""
    open_page(browser, seed_page)
    rng = np.random.default_rng(7)
    drawn = 0
    while drawn < DRAWN:
        s = with_values(random_settings(rng), rng)
        expected = npconv_answer(s)
        if isinstance(expected, str):
            shown = browser.execute_script("return window.npconvExplain.show(arguments[0]);", s)
            assert shown["error"] == expected
            assert expected in browser.find_element("id", "error").text
            continue
        browser.execute_script("window.npconvExplain.show(arguments[0]);", s)
        cells = sorted(dom_outputs(browser))
        assert [i for i, _ in cells] == list(range(expected.size))
        np.testing.assert_allclose([v for _, v in cells], expected.ravel(), rtol=1e-12, atol=1e-12)
        reads = oracle_reads(s, expected.shape)
        for i in rng.choice(expected.size, size=min(3, expected.size), replace=False):
            browser.execute_script("window.npconvExplain.select(arguments[0]);", int(i))
            lit = dom_highlight(browser)
            assert set(lit["inputs"]) == {a for a, _ in reads[i]}, (s, i)
            assert set(lit["weights"]) == {b for _, b in reads[i]}, (s, i)
            assert lit["equation"].startswith("out"), lit["equation"]
        q = int(rng.integers(len(s["input"])))
        position = np.unravel_index(q % math.prod(s["input_size"]), s["input_size"])
        channel = q // math.prod(s["input_size"])
        reached = {i for i, r in enumerate(reads) if any(a == q for a, _ in r)}
        pos = browser.execute_script(
            """
            var c = document.querySelector('#canvas-planes .cell[data-input="' + arguments[0] +
                                           '"].k-input');
            return c ? [Number(c.dataset.channel), c.dataset.pos.split(',').map(Number)] : null;
            """,
            q,
        )
        if pos is None:  # cropped off a transposed conv's canvas by a large padding
            assert s["op"] == "conv_transpose" and not reached, (s, q)
        else:
            assert pos[0] == channel, (s, q)
            browser.execute_script(
                "window.npconvExplain.selectInput(arguments[0], arguments[1]);", *pos
            )
            assert set(dom_highlight(browser)["reach"]) == reached, (s, q, position)
        drawn += 1


def test_seed_page_by_mouse_and_keyboard(browser, seed_page, tmp_path):
    """Real pointer and key events on the seeds' page, then its screenshot."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    open_page(browser, seed_page)
    assert "match npconv's own" in browser.find_element("id", "check").text
    assert (
        browser.find_element("id", "call-torch").text
        == "torch.nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1, bias=False)"
    )
    assert browser.find_element("id", "formulas").text.splitlines() == [
        "H_out = (3 - 1)*2 - 2*1 + 1*(3 - 1) + 0 + 1 = 5",
        "W_out = (3 - 1)*2 - 2*1 + 1*(3 - 1) + 0 + 1 = 5",
    ]

    def output_cell(i):
        return browser.find_element("css selector", f'#output-planes .cell[data-index="{i}"]')

    equation = browser.find_element("id", "equation")
    ActionChains(browser).move_to_element(output_cell(7)).perform()  # out[1, 2]
    assert equation.text == "out[1, 2] = 2*8 + 5*2 = 26"
    output_cell(7).click()  # pin it
    ActionChains(browser).move_to_element(browser.find_element("tag name", "h1")).perform()
    assert equation.text == "out[1, 2] = 2*8 + 5*2 = 26"
    assert "pinned: out[1, 2]" in browser.find_element("id", "pin-note").text
    # the input cell holding 5 reaches the 3 x 3 block of outputs around out[2, 2]
    five = browser.find_element("css selector", '#canvas-planes .cell.k-input[data-input="4"]')
    ActionChains(browser).move_to_element(five).perform()
    reach = {
        c.get_attribute("data-index")
        for c in browser.find_elements("css selector", "#output-planes .cell.reach")
    }
    assert reach == {str(5 * r + c) for r in (1, 2, 3) for c in (1, 2, 3)}
    # keyboard: focus out[1, 2], arrow right to out[1, 3], Enter pins it
    ActionChains(browser).move_to_element(browser.find_element("tag name", "h1")).perform()
    browser.execute_script("arguments[0].focus();", output_cell(7))
    output_cell(7).send_keys(Keys.ARROW_RIGHT)
    assert browser.switch_to.active_element.get_attribute("data-index") == "8"
    assert equation.text.startswith("out[1, 3] = ")
    browser.switch_to.active_element.send_keys(Keys.ARROW_DOWN, Keys.ENTER)
    assert "pinned: out[2, 3]" in browser.find_element("id", "pin-note").text
    # step through the cells in order
    browser.find_element("id", "reset").click()
    browser.find_element("id", "next").click()
    browser.find_element("id", "next").click()
    assert browser.find_element("id", "step-label").text == "step 2 of 25"
    assert equation.text.startswith("out[0, 1] = ")
    # a control recomputes the page; an impossible one says why in torch's words
    stride = browser.find_element("id", "c-stride")
    stride.clear()
    stride.send_keys("1")
    assert browser.find_element("id", "formulas").text.splitlines()[0].endswith("= 3")
    assert (
        browser.find_element("id", "title").text
        == "ConvTranspose2d(1, 1, 3, padding=1, bias=False)"
    )
    op = browser.find_element("id", "c-output-padding")
    op.clear()
    op.send_keys("1")
    assert browser.find_element("id", "error").text == (
        "Impossible setting: output padding must be smaller than either stride or dilation, "
        "but got output_padding_height: 1 output_padding_width: 1 stride_height: 1 "
        "stride_width: 1 dilation_height: 1 dilation_width: 1"
    )
    op.clear()
    op.send_keys("0")
    size = browser.find_element("id", "c-size")
    size.clear()
    size.send_keys("40")
    assert "Too large to draw" in browser.find_element("id", "error").text
    # the screenshot of the seeds' page, out[1, 2] pinned
    browser.set_window_size(1200, 1150)
    open_page(browser, seed_page)
    browser.execute_script("window.npconvExplain.select(7); window.scrollTo(0, 0);")
    shot = tmp_path / "explain-page.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("NPCONV_WRITE_DOCS"):
        shutil.copy(shot, DOCS / "explain-page.png")
    browser.set_window_size(1280, 1000)


def test_committed_page_is_current():
    """docs/explain-convtranspose2d.html is what to_html writes today for the seeds' layer."""
    layer = eval(SEED_LAYER, {"__builtins__": {}}, vars(nn))
    committed = (DOCS / "explain-convtranspose2d.html").read_text(encoding="utf-8")
    assert committed == explain.to_html(layer, (3, 3)), (
        "docs/explain-convtranspose2d.html is stale: rewrite it with npconv explain "
        f'"{SEED_LAYER}" --input 3,3 -o docs/explain-convtranspose2d.html'
    )
