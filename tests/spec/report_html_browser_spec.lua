-- report.html in a real browser: headless Chromium (Debian's `chromium`, installed by
-- `make deps`) renders the report of a run whose data is hostile (a brand named
-- <script>, a reason that is an <img onerror>), and the test reads back the DOM after
-- the page's script ran (with a what-if section added, as --compare writes it): the
-- charts are drawn, every table is sortable and sorts when
-- its heading is clicked, no element came from the data, and the console is empty.
-- A control page (the report with its script changed by one byte, so the CSP refuses it)
-- must show a console error: the detector can fail.
--
-- Chromium runs with its own profile and HOME under a temporary folder, without network
-- (every host name resolves to nothing; the page's CSP fetches nothing), for at most 60 s
-- (timeout -k 5), and exits by itself after --dump-dom. Without chromium the tests are
-- pending, saying so.
local html = require "imei.classify.html"
local sha256 = require "imei.classify.sha256"
local support = require "support"
local sc = require "html_scenario"

local function find_chromium()
  for _, name in ipairs({ "chromium", "chromium-browser" }) do
    local p = io.popen("command -v " .. name .. " 2>/dev/null")
    local path = p and p:read("l")
    if p then p:close() end
    if path and path ~= "" then return path end
  end
end

local CHROMIUM = find_chromium()
local SKIP = "chromium is not installed (apt-get install chromium, or make deps): report.html is not tested " ..
  "in a browser"

-- Render file:// path; returns the DOM, the console lines of its stderr, the exit status.
local function render(chromium, dir, path, name)
  local cmd = table.concat({
    -- the sanitizer runtime (make sanitize preloads it into lua5.4) is not Chromium's
    "env -u LD_PRELOAD -u ASAN_OPTIONS -u UBSAN_OPTIONS HOME='" .. dir .. "'",
    "timeout -k 5 60", "'" .. chromium .. "'", "--headless", "--disable-gpu", "--no-sandbox", "--disable-dev-shm-usage",
    "--user-data-dir='" .. dir .. "/profile-" .. name .. "'",
    "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-sync",
    "--disable-background-networking", "--disable-component-update", "--disable-default-apps",
    "--disable-breakpad", "--host-resolver-rules='MAP * ~NOTFOUND'",
    "--enable-logging=stderr", "--v=0", "--dump-dom", "'file://" .. path .. "'",
    ">'" .. dir .. "/" .. name .. ".dom' 2>'" .. dir .. "/" .. name .. ".err'",
  }, " ")
  local _, _, code = os.execute(cmd)
  local dom = support.read(dir .. "/" .. name .. ".dom") or ""
  local console = {}
  for line in (support.read(dir .. "/" .. name .. ".err") or ""):gmatch("[^\n]+") do
    if line:find(":CONSOLE", 1, true) then console[#console + 1] = line end
  end
  return dom, console, code
end

-- The test's own script, added to a copy of the page (and to its CSP by its digest): it
-- clicks headings and writes what it saw into <pre id="test-result"> as JSON.
local PROBE = [[
(function () {
  function col(t) {
    return Array.prototype.map.call(t.tBodies[0].rows, function (r) { return r.cells[0].textContent; }).join(",");
  }
  var res = {};
  var ops = document.getElementById("table-operators");
  var th = ops.tHead.rows[0].cells[3];
  res.operators_before = col(ops);
  th.click(); res.operators_asc = col(ops); res.operators_asc_sort = th.getAttribute("aria-sort");
  th.click(); res.operators_desc = col(ops); res.operators_desc_sort = th.getAttribute("aria-sort");
  var conds = document.getElementById("table-conditions");
  var name = conds.tHead.rows[0].cells[0];
  name.click(); name.click(); res.conditions_desc = col(conds);
  name.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter" })); res.conditions_enter = col(conds);
  res.charts = document.querySelectorAll("svg.chart").length;
  res.drawn = Array.prototype.filter.call(document.querySelectorAll("svg.chart"), function (svg) {
    var box = svg.getBoundingClientRect();
    return box.width > 100 && box.height > 20;
  }).length;
  res.bars = document.querySelectorAll("svg.chart rect").length;
  res.tables = document.querySelectorAll("table.sortable").length;
  res.ready = document.querySelectorAll("table[data-sortable=ready]").length;
  res.title = document.title;
  var pre = document.createElement("pre");
  pre.id = "test-result";
  pre.textContent = JSON.stringify(res);
  document.body.appendChild(pre);
})();
]]

describe("report.html in headless Chromium", function()
  local dir, page

  setup(function()
    if not CHROMIUM then return end
    dir = support.tmpdir()
    local result = sc.run(dir)
    page = assert(support.read(dir .. "/out/report.html"))
    -- the page as classify wrote it, with the what-if section of --compare added
    assert.equal(page, html.render(result.report))
    result.report.compare = sc.compare()
    page = html.render(result.report)
  end)
  teardown(support.cleanup)

  it("renders the charts and sortable tables, runs nothing from the data, logs nothing", function()
    if not CHROMIUM then
      pending(SKIP)
      return
    end
    local ours = "'sha256-" .. sha256.base64(sha256.digest(html.SCRIPT)) .. "'"
    local probe = "'sha256-" .. sha256.base64(sha256.digest(PROBE)) .. "'"
    local probed, n1 = page:gsub("script%-src " .. ours:gsub("%p", "%%%0"), "script-src " .. ours .. " " .. probe)
    local n2
    probed, n2 = probed:gsub("</body>", function() return "<script>" .. PROBE .. "</script>\n</body>" end)
    assert.equal(1, n1)
    assert.equal(1, n2)
    local path = support.write(dir .. "/probed.html", probed)
    local dom, console, code = render(CHROMIUM, dir, path, "probed")
    assert.equal(0, code, "chromium exited " .. tostring(code) .. " (124: it took more than 60 s)")
    assert.same({}, console)
    local json = assert(dom:match('<pre id="test%-result">(.-)</pre>'), "the probe did not run: " .. dom:sub(1, 300))
    json = json:gsub("&lt;", "<"):gsub("&gt;", ">"):gsub("&amp;", "&")
    local res = require("cjson").decode(json)
    -- the charts, with their bars
    assert.equal(11, res.charts)
    assert.equal(11, res.drawn)
    assert.is_true(res.bars > 30)
    for _, id in ipairs({ "chart-statuses", "chart-conditions", "chart-operators", "chart-brands", "chart-days",
                          "chart-deltas", "chart-compare-devices", "chart-compare-conditions",
                          "chart-compare-operators", "chart-compare-brands", "chart-compare-rbi" }) do
      assert.truthy(dom:find('<svg class="chart" id="' .. id .. '"', 1, true), id)
    end
    -- every table set up by the page's script, and sorting on a click
    assert.is_true(res.tables >= 8)
    assert.equal(res.tables, res.ready)
    assert.equal("Alpha,Beta", res.operators_before)
    assert.equal("Beta,Alpha", res.operators_asc)
    assert.equal("ascending", res.operators_asc_sort)
    assert.equal("Alpha,Beta", res.operators_desc)
    assert.equal("descending", res.operators_desc_sort)
    assert.equal("unregistered,stolen", res.conditions_desc)
    assert.equal("stolen,unregistered", res.conditions_enter) -- Enter on a focused heading sorts too
    -- the hostile data is text: no element, no script ran (the title is the page's)
    assert.equal("imei classify report: html, 2026-01-31", res.title)
    assert.falsy(dom:find("<img", 1, true))
    assert.truthy(dom:find("&lt;script&gt;document.title='pwned'&lt;/script&gt;", 1, true))
  end)

  it("sees a console error when there is one (a script the CSP refuses)", function()
    if not CHROMIUM then
      pending(SKIP)
      return
    end
    local tampered, n = page:gsub('"use strict";', '"use strict"; ', 1)
    assert.equal(1, n)
    local path = support.write(dir .. "/tampered.html", tampered)
    local dom, console, code = render(CHROMIUM, dir, path, "tampered")
    assert.equal(0, code)
    assert.is_true(#console >= 1)
    assert.truthy(table.concat(console, "\n"):find("Content Security Policy", 1, true), table.concat(console, "\n"))
    assert.falsy(dom:find('data-sortable="ready"', 1, true))
    assert.truthy(dom:find('<svg class="chart" id="chart-statuses"', 1, true))
  end)
end)
