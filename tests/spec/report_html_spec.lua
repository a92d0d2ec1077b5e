-- report.html (lua/imei/classify/html.lua) and notices (lua/imei/classify/notices.lua):
-- the page's charts and sortable tables, its escaping of hostile data and its strict
-- Content-Security-Policy, the what-if section present or absent; the notice templates
-- in four languages, their CSV quoting, and every template error named by file and line.
-- The page in a real browser: report_html_browser_spec.lua.
local classify = require "imei.classify"
local html = require "imei.classify.html"
local notices = require "imei.classify.notices"
local sha256 = require "imei.classify.sha256"
local host = require "imei.host"
local support = require "support"
local sc = require "html_scenario"

local S, M = sc.S, sc.M

-- RFC 4180 records (quoted cells may hold commas, quotes and line ends): rows of cells.
local function parse_csv(s)
  local rows, row, cell, i, n = {}, {}, {}, 1, #s
  local quoted = false
  while i <= n do
    local c = s:sub(i, i)
    if quoted then
      if c == '"' and s:sub(i + 1, i + 1) == '"' then
        cell[#cell + 1] = '"'
        i = i + 1
      elseif c == '"' then
        quoted = false
      else
        cell[#cell + 1] = c
      end
    elseif c == '"' then
      quoted = true
    elseif c == "," then
      row[#row + 1] = table.concat(cell)
      cell = {}
    elseif c == "\n" then
      row[#row + 1] = table.concat(cell)
      rows[#rows + 1] = row
      row, cell = {}, {}
    else
      cell[#cell + 1] = c
    end
    i = i + 1
  end
  assert(not quoted, "a quote left open")
  return rows
end

local function count(s, pattern)
  local _, n = s:gsub(pattern, "")
  return n
end

describe("report.html", function()
  local dir, out, result, page

  setup(function()
    dir = support.tmpdir()
    out = dir .. "/out"
    result = sc.run(dir)
    page = assert(support.read(out .. "/report.html"))
  end)
  teardown(support.cleanup)

  it("is written by every run, beside report.txt and report.json", function()
    assert.equal(0, result.code)
    local names = host.listdir(out)
    table.sort(names)
    assert.same({ "blocklist.csv", "blocklist_delta.csv", "exceptions_Alpha.csv", "exceptions_Alpha_delta.csv",
      "exceptions_Beta.csv", "exceptions_Beta_delta.csv", "notices_Alpha.csv", "notices_Beta.csv",
      "notifications_Alpha.csv", "notifications_Alpha_delta.csv", "notifications_Beta.csv",
      "notifications_Beta_delta.csv", "report.html", "report.json", "report.txt", "state" }, names)
    assert.truthy(page:find("^<!DOCTYPE html>"))
    assert.truthy(page:find('<meta charset="utf-8">', 1, true))
  end)

  it("has a chart of statuses, conditions, operators, brands, days and deltas", function()
    for _, id in ipairs({ "chart-statuses", "chart-conditions", "chart-operators", "chart-brands", "chart-days",
                          "chart-deltas" }) do
      assert.truthy(page:find('<svg class="chart" id="' .. id .. '"', 1, true), id)
    end
    -- one bar per status and series (devices, pairs) in the statuses chart
    local statuses = page:match('<svg class="chart" id="chart%-statuses".-</svg>')
    assert.equal(8, count(statuses, "<rect "))
    -- each blocking condition's bar has its safety-ratio mark
    local conditions = page:match('<svg class="chart" id="chart%-conditions".-</svg>')
    assert.equal(2, count(conditions, '<line class="mark ratio"'))
    -- the brands in the chart, the hostile one escaped
    local brands = page:match('<svg class="chart" id="chart%-brands".-</svg>')
    assert.truthy(brands:find("Café Ünïcode", 1, true))
    assert.truthy(brands:find(">Nokia<", 1, true))
  end)

  it("counts blocks and notices per block date, with the run's date marked", function()
    -- a block without grace dates from the first day the data showed the device (docs/register.md)
    assert.same({ { date = "20260120", blocks = 1, notices = 0 }, { date = "20260131", blocks = 1, notices = 0 },
      { date = "20260214", blocks = 0, notices = 1 }, { date = "20260219", blocks = 0, notices = 1 },
      { date = "20260224", blocks = 0, notices = 1 } }, result.report.per_day)
    local days = page:match('<svg class="chart" id="chart%-days".-</svg>')
    assert.truthy(days:find('<line class="mark today"', 1, true))
    assert.truthy(days:find("2026-02-24", 1, true))
    -- a time line: 2026-01-20 to 2026-02-24 day by day (36 days, two columns each)
    assert.equal(72, count(days, "<rect "))
    assert.truthy(days:find("<title>2026-02-01 — devices blocked from this date (block list): 0</title>", 1, true))
    -- dates years apart: only the dates that have something, said so
    local r = result.report
    local saved = r.per_day
    r.per_day = { { date = "20200101", blocks = 1, notices = 0 }, saved[2], saved[5] }
    local ok, s = pcall(html.render, r)
    r.per_day = saved
    assert(ok, s)
    assert.equal(6, count(s:match('<svg class="chart" id="chart%-days".-</svg>'), "<rect "))
    assert.truthy(s:find("The dates span 2,247 days: only the 3 dates with blocks or notices are drawn", 1, true))
    local tbl = page:match('<table class="sortable" id="table%-days">.-</table>')
    assert.truthy(tbl:find('<td data-v="20260131">2026-01-31</td><td data-v="1">1</td><td data-v="0">0</td>', 1,
      true))
  end)

  it("has tables people can sort: numeric columns carry their value, the script sorts them", function()
    for _, id in ipairs({ "table-statuses", "table-conditions", "table-operators", "table-brands", "table-days",
                          "table-deltas", "table-files" }) do
      assert.truthy(page:find('<table class="sortable" id="' .. id .. '">', 1, true), id)
    end
    local ops = page:match('<table class="sortable" id="table%-operators">.-</table>')
    assert.truthy(ops:find('<th scope="col" data-type="num" tabindex="0">devices</th>', 1, true))
    assert.truthy(ops:find('<td>Alpha</td><td data-v="6">6</td>', 1, true))
    assert.truthy(page:find("<script>" .. html.SCRIPT .. "</script>", 1, true))
  end)

  it("escapes every text from the data: a brand named <script> is shown, never run", function()
    assert.falsy(page:find(sc.EVIL_BRAND, 1, true))
    assert.falsy(page:find(sc.EVIL_REASON, 1, true))
    assert.falsy(page:find("<i>x</i>", 1, true))
    assert.truthy(page:find("&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;", 1, true))
    assert.truthy(page:find("&lt;img src=x onerror=document.title=&#39;pwned&#39;&gt;", 1, true))
    assert.truthy(page:find("dumps&lt;i&gt;x&lt;/i&gt;", 1, true))
    -- one script element, ours; no element from the data
    assert.equal(1, count(page, "<script"))
    assert.equal(0, count(page, "<img"))
    assert.equal(0, count(page, "<i>"))
  end)

  it("fetches nothing and runs nothing but its own script (CSP with the script's SHA-256)", function()
    -- the digest computed by openssl, not by the module under test
    local tmp = support.write(dir .. "/script.js", html.SCRIPT)
    local p = assert(io.popen("openssl dgst -sha256 -binary '" .. tmp .. "' | base64"))
    local digest = p:read("l")
    p:close()
    assert.equal(digest, sha256.base64(sha256.digest(html.SCRIPT)))
    assert.truthy(page:find(("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; " ..
      "style-src 'unsafe-inline'; script-src 'sha256-%s';"):format(digest), 1, true))
    assert.falsy(page:find("src=[\"']?https?:"))
    assert.falsy(page:find("href="))
    assert.falsy(page:find("@import", 1, true))
    assert.falsy(page:find("url(", 1, true))
    for url in page:gmatch("https?://[^\"'%s<]+") do assert.equal("http://www.w3.org/2000/svg", url) end
  end)

  it("draws no negative or infinite length, whatever the figures", function()
    local svg = html.hbars { id = "t", title = "t", series = { { "a", "c-a" }, { "b", "c-b" } }, rows = {
      { label = "x", values = { -5, 0 / 0 }, marks = { { math.huge, "ratio", "m" } } },
      { label = "y", values = { 3, -math.huge } } } }
    assert.falsy(svg:find('="%-'))
    assert.falsy(svg:find("[Ii]nf"))
    assert.falsy(svg:find("[Nn]a[Nn]"))
    assert.truthy(svg:find('<rect class="bar c-a" x="200" y="6.0" width="0.0"', 1, true))
    local cols = html.columns { id = "c", title = "c", series = { { "a", "c-a" } },
      days = { { date = "20260101", values = { -1 } }, { date = "20260102", values = { 2 } } } }
    assert.falsy(cols:find('="%-'))
  end)

  it("escapes markup and control bytes, and shows every other byte", function()
    assert.equal("&lt;a href=&quot;x&quot;&gt;&amp;&#39;", html.escape('<a href="x">&\''))
    assert.equal("a\xEF\xBF\xBDb\tc\n", html.escape("a\0b\tc\n"))
    assert.equal("اردو", html.escape("اردو"))
    assert.equal("", html.escape(nil))
  end)

  it("marks a condition over its safety ratio in red, and the refusal", function()
    local r = result.report
    local saved_over, saved_refused = r.conditions[1].over_ratio, r.refused
    r.conditions[1].over_ratio = true
    r.refused = { "condition 'stolen' hits 33.33% of the devices" }
    local ok, s = pcall(html.render, r)
    r.conditions[1].over_ratio, r.refused = saved_over, saved_refused
    assert(ok, s)
    local conditions = s:match('<svg class="chart" id="chart%-conditions".-</svg>')
    assert.equal(1, count(conditions, 'class="bar c%-a over"'))
    assert.truthy(s:find('<div class="banner refused" id="refused">', 1, true))
    assert.truthy(s:find("condition &#39;stolen&#39; hits 33.33% of the devices", 1, true))
  end)

  it("names the policies applied with --operator-policy, and nothing without", function()
    assert.falsy(page:find("table-policies", 1, true))
    local r = result.report
    r.operator_policies = {
      { network = "*", name = "country", version = "1", file = "country.lua", pairs = 5 },
      { network = "410-06", name = "telenor", version = "2", file = "<b>telenor.lua", base = "country@1", pairs = 1 },
    }
    local ok, s = pcall(html.render, r)
    r.operator_policies = nil
    assert(ok, s)
    local t = assert(s:match('<table class="sortable" id="table%-policies">.-</table>'))
    assert.truthy(t:find('<td>* (national)</td><td>country@1</td><td>country.lua</td><td></td><td data-v="5">5</td>',
      1, true))
    assert.truthy(t:find("<td>410-06</td><td>telenor@2</td><td>&lt;b&gt;telenor.lua</td><td>country@1</td>", 1, true))
  end)

  it("has no what-if section without --compare", function()
    assert.is_nil(result.report.compare)
    assert.falsy(page:find('id="compare"', 1, true))
    assert.falsy(page:find("chart-compare", 1, true))
  end)

  it("shows the what-if of a real --compare run", function()
    local d = support.tmpdir()
    -- the old policy had no stolen condition: the stolen device is newly blocked
    local r, opts = sc.run(d, function(o)
      o.compare = support.write(d .. "/old.lua", (sc.POLICY:gsub('version = "1"', 'version = "0"')
        :gsub("P:condition { name = \"stolen\".-end }\n", ""):gsub("EVIL_REASON", "x")))
    end)
    assert.equal(1, r.report.compare.devices.newly_blocked)
    local s = assert(support.read(opts.out .. "/report.html"))
    assert.truthy(s:find('<h2 id="compare">', 1, true))
    assert.truthy(s:find('<svg class="chart" id="chart-compare-devices"', 1, true))
    local examples = assert(s:match('<table class="sortable" id="table%-compare%-examples">.-</table>'))
    assert.truthy(examples:find("<td>" .. sc.D2 .. "</td>", 1, true))
    assert.truthy(examples:find("BLACKLISTED", 1, true))
    local brands = assert(s:match('<table class="sortable" id="table%-compare%-brands">.-</table>'))
    assert.truthy(brands:find("&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;", 1, true))
    assert.equal(1, count(s, "<script"))
  end)

  it("shows the what-if section of --compare: both policies' safety ratios, who changes, examples", function()
    local r = result.report
    r.compare = sc.compare()
    local ok, s = pcall(html.render, r)
    r.compare = nil
    assert(ok, s)
    assert.truthy(s:find('<h2 id="compare">', 1, true))
    for _, id in ipairs({ "chart-compare-devices", "chart-compare-conditions", "chart-compare-operators",
                          "chart-compare-brands", "chart-compare-rbi" }) do
      assert.truthy(s:find('<svg class="chart" id="' .. id .. '"', 1, true), id)
    end
    for _, id in ipairs({ "table-compare-conditions", "table-compare-transitions", "table-compare-examples" }) do
      assert.truthy(s:find('<table class="sortable" id="' .. id .. '">', 1, true), id)
    end
    -- old over its ratio (red), new under it
    local cond = s:match('<svg class="chart" id="chart%-compare%-conditions".-</svg>')
    assert.equal(1, count(cond, 'class="bar c%-d over"'))
    assert.equal(0, count(cond, 'class="bar c%-a over"'))
    assert.equal(2, count(cond, '<line class="mark ratio"'))
    assert.truthy(cond:find(">16.67% / 16.67%</text>", 1, true))
    assert.truthy(s:find("Over its safety ratio under the old policy: stolen.", 1, true))
    assert.truthy(s:find("BLACKLISTED from 2026-01-31 (unregistered)", 1, true))
    assert.falsy(s:find(sc.EVIL_BRAND, 1, true))
    assert.equal(1, count(s, "<script"))
  end)
end)

describe("notices", function()
  local dir, out, result

  setup(function()
    dir = support.tmpdir()
    out = dir .. "/out"
    result = sc.run(dir)
  end)
  teardown(support.cleanup)

  it("fills a template per subscriber and language into notices_<OP>.csv, quoting as RFC 4180 says", function()
    assert.equal(0, result.code)
    local body = assert(support.read(out .. "/notices_Alpha.csv"))
    local D4 = sc.D4
    assert.equal(table.concat({
      "imei,imsi,msisdn,block_date,reasons,lang,text",
      D4 .. "," .. S(4) .. "," .. M(4) .. ",20260219,unregistered,ar,سيتم حظر هاتفك " .. D4 ..
        " في 19/02/2026 (unregistered).",
      D4 .. "," .. S(4) .. "," .. M(4) .. ",20260219,unregistered,en,\"Your phone " .. D4 ..
        " is not registered, \"\"as the law requires\"\".\nIt will be blocked on 2026-02-19 ({unregistered}).\"",
      D4 .. "," .. S(4) .. "," .. M(4) .. ",20260219,unregistered,fr,Votre Café Ünïcode Y " .. D4 ..
        " sera bloqué le 19/02/2026 (opérateur Alpha).",
      D4 .. "," .. S(4) .. "," .. M(4) .. ",20260219,unregistered,ur,آپ کا فون " .. D4 ..
        " رجسٹرڈ نہیں ہے۔ یہ 2026-02-19 کو بلاک کر دیا جائے گا۔",
    }, "\n"), body:match("^(.-ur,[^\n]*)\n"))
    -- read back: every record has its 7 cells; the rows are the notification list's
    local rows = parse_csv(body)
    assert.equal(1 + 2 * 4, #rows)
    local list = parse_csv(assert(support.read(out .. "/notifications_Alpha.csv")))
    for i = 2, #rows do
      assert.equal(7, #rows[i])
      local n = list[2 + (i - 2) // 4]
      assert.same({ n[1], n[2], n[3], n[4], n[5] }, { rows[i][1], rows[i][2], rows[i][3], rows[i][4], rows[i][5] })
      assert.truthy(utf8.len(rows[i][7]))
    end
    assert.equal("", rows[6][3]) -- D5 came without an MSISDN
    local beta = parse_csv(assert(support.read(out .. "/notices_Beta.csv")))
    assert.equal(5, #beta)
    assert.equal("Votre Café Ünïcode Y " .. sc.D6 .. " sera bloqué le 14/02/2026 (opérateur Beta).", beta[4][7])
  end)

  it("leaves the notification lists' columns as they were", function()
    assert.equal(sc.csv { "imei,imsi,msisdn,block_date,reasons",
      sc.D4 .. "," .. S(4) .. "," .. M(4) .. ",20260219,unregistered",
      sc.D5 .. "," .. S(5) .. ",,20260224,unregistered" }, support.read(out .. "/notifications_Alpha.csv"))
  end)

  it("removes the notices of an earlier run when a run writes its lists without --notices", function()
    local r = sc.run(dir, function(o) o.notices = nil end)
    assert.equal(0, r.code)
    assert.is_nil(support.read(out .. "/notices_Alpha.csv"))
    assert.is_nil(support.read(out .. "/notices_Beta.csv"))
    assert.truthy(support.read(out .. "/notifications_Alpha.csv"))
    -- the second run's page compares the devices per verdict with the first run's report.json
    assert.same({ date = "20260131", by_status = { BLACKLISTED = 2, GREYLISTED = 3, WHITELISTED = 1, UNKNOWN = 0 } },
      r.report.previous)
    local page = support.read(out .. "/report.html")
    assert.truthy(page:find('<td>devices BLACKLISTED</td><td>since 2026-01-31</td><td data-v="0">0</td>', 1, true))
  end)

  describe("template errors, named by file and line", function()
    local CONDITIONS = { { name = "stolen" }, { name = "unregistered", grace_days = 30 },
                         { name = "duplicate", grace_days = 10 } }
    local function load(files)
      local d = support.tmpdir()
      for name, body in pairs(files) do support.write(d .. "/" .. name, body) end
      local set, err = notices.load(d, CONDITIONS, host.listdir, require("imei.classify.text").read_file)
      return set, err and (err:gsub(d:gsub("%p", "%%%0"), "DIR"))
    end

    it("loads good templates in every language they are written in", function()
      local set = assert(load { ["default.en.txt"] = "{imei} {{x}}", ["unregistered.ur.txt"] = "\xEF\xBB\xBF{imei}\n",
        ["default.ur.txt"] = "x", ["notes.md"] = "ignored" })
      assert.same({ "en", "ur" }, set.langs)
      assert.equal("1 {x}", notices.fill(set.by.en.default, { imei = "1" }))
      assert.equal("7", notices.fill(set.by.ur.unregistered, { imei = "7" }))
    end)

    -- { what, the template files, the message (a Lua pattern; DIR is the folder) }
    local CASES = {
      { "an unknown placeholder", { ["default.en.txt"] = "Dear customer,\nyour phone {imie} will be blocked\n" },
        "^DIR/default%.en%.txt:2: unknown placeholder {imie}; the placeholders are {block_date}, {block_date_dmy}" },
      { "a brace left open", { ["default.en.txt"] = "line one\nline two\nblocked on {block_date\n" },
        "^DIR/default%.en%.txt:3: '{' is not closed on its line %(write {{ for a brace%)" },
      { "a brace that closes nothing", { ["default.en.txt"] = "a } b" },
        "^DIR/default%.en%.txt:1: a '}' that closes nothing" },
      { "a file that is not UTF-8", { ["default.en.txt"] = "ok\nok\nt\xE9l\xE9phone\n" },
        "^DIR/default%.en%.txt:3: not UTF%-8 %(byte 8%)" },
      { "a template of a condition the policy does not have",
        { ["default.en.txt"] = "x", ["unregisterd.en.txt"] = "x" },
        "^DIR/unregisterd%.en%.txt: the policy has no condition 'unregisterd'" },
      { "a notifying condition without a text in one of the languages",
        { ["default.en.txt"] = "x", ["unregistered.ar.txt"] = "x" },
        "^%-%-notices DIR: condition 'duplicate' notifies %(grace_days%) but has no template in language 'ar': " ..
          "write duplicate%.ar%.txt or default%.ar%.txt" },
      { "a name that is not CONDITION.LANG.txt", { ["readme.txt"] = "x" },
        "^DIR/readme%.txt: a template is named CONDITION%.LANG%.txt" },
      { "the TAC database's fields without a TAC database", { ["default.en.txt"] = "Your\n{brand} phone" },
        "^DIR/default%.en%.txt:2: {brand} comes from the TAC database: give %-%-tacdb" },
      { "no template at all", { ["notes.md"] = "x" }, "^%-%-notices DIR: no template %(CONDITION%.LANG%.txt%)" },
    }
    for _, case in ipairs(CASES) do
      it(case[1], function()
        local set, err = load(case[2])
        assert.is_nil(set)
        assert.truthy(err:find(case[3]), err)
      end)
    end

    it("from the command line: --notices, exit 2 and the file and line on a bad template", function()
      local d = support.tmpdir()
      local opts = sc.write(d)
      local args = ("classify --policy '%s' --lists '%s' --tacdb '%s' --out '%s/out' -q --notices '%s' '%s' '%s'")
        :format(opts.policy, opts.lists, opts.tacdb, d, opts.notices, opts.dumps[1], opts.dumps[2])
      local _, stderr, code = support.imei(args)
      assert.equal(0, code, stderr)
      assert.truthy(support.read(d .. "/out/notices_Beta.csv"):find("opérateur Beta", 1, true))
      support.write(opts.notices .. "/default.fr.txt", "ok\n{operator} {oops}\n")
      _, stderr, code = support.imei(args)
      assert.equal(2, code)
      assert.truthy(stderr:find(opts.notices .. "/default.fr.txt:2: unknown placeholder {oops}", 1, true), stderr)
    end)

    it("stops the run before anything is read or written", function()
      local d = support.tmpdir()
      local opts = sc.write(d)
      support.write(opts.notices .. "/unregistered.en.txt", "blocked {when}\n")
      opts.out = d .. "/out"
      local r, err = classify.run(opts)
      assert.is_nil(r)
      assert.truthy(err:find(opts.notices .. "/unregistered.en.txt:1: unknown placeholder {when}", 1, true), err)
      assert.is_nil(host.listdir(opts.out))
    end)
  end)
end)
