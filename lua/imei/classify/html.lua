--- imei.classify.html — report.html: the report of a run as a page people look at (a
-- minister, a board), written next to report.txt and report.json from the same table.
--
-- Self-contained: the charts are inline SVG drawn here, the styles inline, and the one
-- script (sortable tables) inline and named by its SHA-256 in the page's
-- Content-Security-Policy, which also forbids every network fetch (default-src 'none').
-- Every text that comes from data (operator names, brands, condition names and reasons,
-- file names, the what-if examples) goes through html.escape: a brand named `<script>`
-- is shown, never run; the CSP is the second wall behind the escaping.
local text = require "imei.classify.text"
local sha256 = require "imei.classify.sha256"

local html = {}

local STATUSES = { "WHITELISTED", "GREYLISTED", "BLACKLISTED", "UNKNOWN" }

local ESC = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }

--- Text as HTML (element content and quoted attribute values alike). Control bytes but
-- tab and line end are shown as U+FFFD: they have no place in a page.
function html.escape(v)
  if v == nil then return "" end
  v = tostring(v)
  return (v:gsub("[&<>\"']", ESC):gsub("[%z\1-\8\11\12\14-\31\127]", "\xEF\xBF\xBD"))
end
local esc = html.escape

-- A label cut to n characters (UTF-8 aware; bytes when the text is not UTF-8), with "…".
local function short(s, n)
  s = tostring(s or "")
  local len = utf8.len(s)
  if len then
    if len <= n then return s end
    return s:sub(1, utf8.offset(s, n) - 1) .. "…"
  end
  if #s <= n then return s end
  return s:sub(1, n) .. "…"
end

local function num(n) -- a figure, 0 for what is not a finite number
  if type(n) ~= "number" or n ~= n or n == math.huge or n == -math.huge then return 0 end
  return n
end

local function size(n) return math.max(0, num(n)) end -- a length in a chart: never negative

local function fmt(n) -- a number for people: 12,345 or 0.123 (n/a: not a finite number)
  if math.type(n) == "integer" then return text.count(n) end
  if type(n) == "number" then
    if num(n) ~= n then return "n/a" end
    if n == math.floor(n) and math.abs(n) < 2 ^ 53 then return text.count(math.tointeger(n)) end
    return ("%.3g"):format(n)
  end
  return tostring(n or "")
end

-- Charts (inline SVG) -------------------------------------------------------------------

local W, LABEL_W, ROW_H = 820, 200, 24

--- Horizontal bars. spec: { id, title, series = { {name, class}, … }, rows = { { label,
-- values = { n, … }, marks = { {value, class, label} }, over = bool or { bool per value } } },
-- max (the scale's end; default the largest value or mark), percent (values are shares) }.
-- The figures are written after the bars, "a / b" for two series.
function html.hbars(spec)
  local rows, series = spec.rows, spec.series
  local top = spec.max or 0
  for _, r in ipairs(rows) do
    for _, v in ipairs(r.values) do top = math.max(top, size(v)) end
    for _, m in ipairs(r.marks or {}) do top = math.max(top, size(m[1])) end
  end
  if top <= 0 then top = 1 end
  local bar_w = W - LABEL_W - 180 -- room for the figures "1,234,567 / 12,345 / 1,234"
  local sub_h = math.max(4, math.floor((ROW_H - 6) / #series))
  local h = ROW_H * #rows + 8
  local value_text = spec.percent and function(x) return num(x) == x and text.percent(x) or "n/a" end or fmt
  local out = {}
  out[#out + 1] = ('<svg class="chart" id="%s" role="img" aria-labelledby="%s-t" viewBox="0 0 %d %d" ' ..
    'width="%d" height="%d" xmlns="http://www.w3.org/2000/svg"><title id="%s-t">%s</title>')
    :format(spec.id, spec.id, W, h, W, h, spec.id, esc(spec.title))
  for i, r in ipairs(rows) do
    local y = (i - 1) * ROW_H + 4
    out[#out + 1] = ('<text class="label" x="%d" y="%d" text-anchor="end"><title>%s</title>%s</text>')
      :format(LABEL_W - 6, y + ROW_H / 2 + 4, esc(r.label), esc(short(r.label, 26)))
    for j, v in ipairs(r.values) do
      local width = bar_w * size(v) / top
      local over = r.over == true or (type(r.over) == "table" and r.over[j])
      local cls = series[j][2] .. (over and " over" or "")
      out[#out + 1] = ('<rect class="bar %s" x="%d" y="%.1f" width="%.1f" height="%d">' ..
        '<title>%s — %s: %s</title></rect>')
        :format(cls, LABEL_W, y + 2 + (j - 1) * sub_h, width, sub_h - 1, esc(r.label), esc(series[j][1]),
          esc(value_text(v)))
    end
    for _, m in ipairs(r.marks or {}) do
      local x = LABEL_W + bar_w * size(m[1]) / top
      out[#out + 1] = ('<line class="mark %s" x1="%.1f" x2="%.1f" y1="%d" y2="%d"><title>%s: %s</title></line>')
        :format(m[2], x, x, y, y + ROW_H - 2, esc(m[3]), esc(value_text(m[1])))
    end
    local shown = {}
    for j, v in ipairs(r.values) do shown[j] = value_text(v) end
    out[#out + 1] = ('<text class="value" x="%d" y="%d">%s</text>')
      :format(LABEL_W + bar_w + 6, y + ROW_H / 2 + 4, esc(table.concat(shown, " / ")))
  end
  out[#out + 1] = "</svg>"
  return table.concat(out)
end

--- Columns over dates. spec: { id, title, series = { {name, class} }, days = { { date
-- (YYYYMMDD), values = { n, … } } }, mark = date (a vertical line: the run's date) }.
function html.columns(spec)
  local days, series = spec.days, spec.series
  local top = 0
  for _, d in ipairs(days) do
    for _, v in ipairs(d.values) do top = math.max(top, size(v)) end
  end
  if top <= 0 then top = 1 end
  local left, plot_h, bottom = 60, 200, 40
  local plot_w = W - left - 10
  local slot = plot_w / math.max(1, #days)
  local col_w = math.max(1, slot * 0.8 / #series)
  local h = plot_h + bottom + 10
  local out = {}
  out[#out + 1] = ('<svg class="chart" id="%s" role="img" aria-labelledby="%s-t" viewBox="0 0 %d %d" ' ..
    'width="%d" height="%d" xmlns="http://www.w3.org/2000/svg"><title id="%s-t">%s</title>')
    :format(spec.id, spec.id, W, h, W, h, spec.id, esc(spec.title))
  out[#out + 1] = ('<line class="axis" x1="%d" x2="%d" y1="%d" y2="%d"/>')
    :format(left, W - 10, plot_h + 10, plot_h + 10)
  out[#out + 1] = ('<text class="label" x="%d" y="%d" text-anchor="end">%s</text>'):format(left - 4, 18, esc(fmt(top)))
  out[#out + 1] = ('<text class="label" x="%d" y="%d" text-anchor="end">0</text>'):format(left - 4, plot_h + 10)
  local every = math.max(1, math.ceil(#days / 8))
  for i, d in ipairs(days) do
    local x0 = left + (i - 1) * slot + slot * 0.1
    for j, v in ipairs(d.values) do
      local ch = plot_h * size(v) / top
      out[#out + 1] = ('<rect class="bar %s" x="%.1f" y="%.1f" width="%.1f" height="%.1f">' ..
        '<title>%s — %s: %s</title></rect>')
        :format(series[j][2], x0 + (j - 1) * col_w, plot_h + 10 - ch, col_w, ch, esc(text.iso_date(d.date)),
          esc(series[j][1]), esc(fmt(v)))
    end
    -- a date under every `every`-th column, and under the last unless it would overlap
    if (i - 1) % every == 0 or (i == #days and (i - 1) % every >= every / 2) then
      out[#out + 1] = ('<text class="label" x="%.1f" y="%d" text-anchor="middle">%s</text>')
        :format(left + (i - 0.5) * slot, plot_h + 28, esc(text.iso_date(d.date)))
    end
    if spec.mark and d.date == spec.mark then
      local x = left + (i - 0.5) * slot
      out[#out + 1] = ('<line class="mark today" x1="%.1f" x2="%.1f" y1="10" y2="%d">' ..
        '<title>the run\'s date %s</title></line>')
        :format(x, x, plot_h + 10, esc(text.iso_date(d.date)))
    end
  end
  out[#out + 1] = "</svg>"
  return table.concat(out)
end

local function legend(series, extra)
  local out = { '<p class="legend">' }
  for _, s in ipairs(series) do
    out[#out + 1] = ('<span><i class="sw %s"></i>%s</span> '):format(s[2], esc(s[1]))
  end
  if extra then out[#out + 1] = extra end
  out[#out + 1] = "</p>"
  return table.concat(out)
end

-- Tables -----------------------------------------------------------------------------

--- A table people can sort by clicking a heading. columns: { {name, num = bool} };
-- rows: cells, each a value (shown as is) or { v = sort value, t = shown text }.
function html.table(id, columns, rows, caption)
  local out = {}
  out[#out + 1] = ('<div class="scroll"><table class="sortable" id="%s">'):format(id)
  if caption then out[#out + 1] = "<caption>" .. esc(caption) .. "</caption>" end
  out[#out + 1] = "<thead><tr>"
  for _, c in ipairs(columns) do
    out[#out + 1] = ('<th scope="col"%s tabindex="0">%s</th>'):format(c.num and ' data-type="num"' or "", esc(c[1]))
  end
  out[#out + 1] = "</tr></thead><tbody>"
  for _, row in ipairs(rows) do
    out[#out + 1] = "<tr>"
    for i, cell in ipairs(row) do
      local col = columns[i] or {}
      if type(cell) == "table" then
        out[#out + 1] = ('<td data-v="%s">%s</td>'):format(esc(cell.v), esc(cell.t))
      elseif col.num and type(cell) == "number" then
        out[#out + 1] = ('<td data-v="%s">%s</td>'):format(esc(cell), esc(fmt(cell)))
      else
        out[#out + 1] = ("<td>%s</td>"):format(esc(cell))
      end
    end
    out[#out + 1] = "</tr>"
  end
  out[#out + 1] = "</tbody></table></div>"
  return table.concat(out)
end

local function pct(x) return { v = num(x), t = text.percent(x) } end

-- The page --------------------------------------------------------------------------

-- The one script: sort a table by a heading (click, or Enter on a focused heading);
-- numbers by data-v, text by the locale. It marks each table data-sortable="ready" when
-- set up (the browser test looks for it) and does nothing else.
html.SCRIPT = [[
(function () {
  "use strict";
  function key(td, num) {
    var v = td.hasAttribute("data-v") ? td.getAttribute("data-v") : td.textContent;
    return num ? (parseFloat(v) || 0) : v;
  }
  function sort(table, th, index) {
    var num = th.getAttribute("data-type") === "num";
    var dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    var ths = table.tHead.rows[0].cells;
    for (var i = 0; i < ths.length; i++) ths[i].removeAttribute("aria-sort");
    th.setAttribute("aria-sort", dir);
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[index], num), y = key(b.cells[index], num);
      var c = num ? x - y : String(x).localeCompare(String(y));
      return dir === "ascending" ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  var tables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(tables, function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      th.addEventListener("click", function () { sort(table, th, index); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter") sort(table, th, index);
      });
    });
    table.setAttribute("data-sortable", "ready");
  });
})();
]]

local STYLE = [[
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:62em;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.2em .5em;text-align:left}
td[data-v]{text-align:right;font-variant-numeric:tabular-nums}
th{background:#f3f3f3;cursor:pointer;user-select:none}
th[aria-sort=ascending]::after{content:" \25B2"}th[aria-sort=descending]::after{content:" \25BC"}
caption{text-align:left;font-weight:bold;padding:.3em 0}
.cards{display:flex;flex-wrap:wrap;gap:.8em}.card{border:1px solid #ddd;border-radius:4px;padding:.5em 1em}
.card b{display:block;font-size:1.4em}
.banner{padding:.6em 1em;border-radius:4px}.ok{background:#e6f4ea}.refused{background:#fde7e7}
svg.chart{max-width:100%;height:auto;display:block}
svg text{font-size:12px;fill:#333}
.bar{fill:#4e79a7}.s-white{fill:#59a14f;background:#59a14f}.s-grey{fill:#bab0ac;background:#bab0ac}
.s-black{fill:#e15759;background:#e15759}.s-unknown{fill:#76b7b2;background:#76b7b2}
.c-a{fill:#4e79a7;background:#4e79a7}.c-b{fill:#f28e2b;background:#f28e2b}.c-c{fill:#edc948;background:#edc948}
.c-d{fill:#b07aa1;background:#b07aa1}
.bar.over{fill:#c00}.mark{stroke:#000;stroke-width:2}.mark.today{stroke:#c00;stroke-dasharray:4 3}
.axis{stroke:#999}
.legend span{margin-right:1.2em}.sw{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:middle}
.sw.mark-sw{background:#000;width:3px}
.warn{color:#a00}.scroll{overflow-x:auto}
]]

local function h2(out, id, title)
  out[#out + 1] = ('<h2 id="%s">%s</h2>'):format(id, esc(title))
end

local function card(label, value)
  return ('<div class="card">%s<b>%s</b></div>'):format(esc(label), esc(value))
end

local function section_summary(out, r)
  local run, input, d = r.run or {}, r.input, r.devices
  out[#out + 1] = ("<h1>imei classify: %s@%s, run date %s</h1>"):format(esc(r.policy.name), esc(r.policy.version),
    esc(text.iso_date(run.date) or "?"))
  out[#out + 1] = ("<p>Started %s; dumps %s to %s; output %s.</p>"):format(esc(run.started),
    esc(text.iso_date(input.first_date) or "-"), esc(text.iso_date(input.last_date) or "-"), esc(run.out))
  if r.refused and #r.refused > 0 then
    out[#out + 1] = ('<div class="banner refused" id="refused"><b>%s</b><ul>'):format(r.lists_written
      and "FORCED (--force): the lists were written although" or "LISTS NOT WRITTEN (--force writes them anyway):")
    for _, why in ipairs(r.refused) do out[#out + 1] = "<li>" .. esc(why) .. "</li>" end
    out[#out + 1] = "</ul></div>"
  elseif r.lists_written then
    out[#out + 1] = '<div class="banner ok">Lists written.</div>'
  end
  out[#out + 1] = '<div class="cards">'
  out[#out + 1] = card("rows read", text.count(input.rows))
  out[#out + 1] = card("rows rejected", text.count(input.rejected))
  out[#out + 1] = card("devices", text.count(d.total))
  out[#out + 1] = card("device–subscriber pairs", text.count(d.pairs))
  out[#out + 1] = card("devices blocked", text.count((d.by_status or {}).BLACKLISTED or 0))
  out[#out + 1] = card("devices to notify", text.count(d.notified or 0))
  out[#out + 1] = "</div>"
  for _, w in ipairs(input.warnings or {}) do out[#out + 1] = '<p class="warn">WARNING: ' .. esc(w) .. "</p>" end
  -- --operator-policy: which policy decided whose pairs
  if type(r.operator_policies) == "table" and #r.operator_policies > 0 then
    local rows = {}
    for _, p in ipairs(r.operator_policies) do
      rows[#rows + 1] = { p.network == "*" and "* (national)" or p.network,
        (p.name or "?") .. "@" .. (p.version or "?"), p.file or "", p.base or "", num(p.pairs) }
    end
    out[#out + 1] = html.table("table-policies", { { "home network" }, { "policy" }, { "file" }, { "extends" },
      { "pairs", num = true } }, rows, "Policies applied")
  end
end

local function section_statuses(out, r)
  local d = r.devices
  h2(out, "statuses", "Verdicts")
  local series = { { "devices", "c-a" }, { "pairs", "c-b" } }
  local rows, trows = {}, {}
  for _, s in ipairs(STATUSES) do
    local n, p = (d.by_status or {})[s] or 0, (d.pairs_by_status or {})[s] or 0
    rows[#rows + 1] = { label = s, values = { n, p } }
    trows[#trows + 1] = { s, n, pct(d.total > 0 and n / d.total or 0), p }
  end
  out[#out + 1] = legend(series)
  out[#out + 1] = html.hbars { id = "chart-statuses", title = "Devices and pairs by verdict", series = series,
    rows = rows }
  out[#out + 1] = html.table("table-statuses", { { "status" }, { "devices", num = true }, { "share", num = true },
    { "pairs", num = true } }, trows)
end

local function section_conditions(out, r)
  h2(out, "conditions", "Conditions and their safety ratios")
  local series = { { "share of all devices", "c-a" } }
  local rows, trows = {}, {}
  for _, c in ipairs(r.conditions) do
    local marks = c.max_ratio and { { c.max_ratio, "ratio", "safety ratio" .. (c.max_ratio_default and " (default)"
      or "") } } or nil
    rows[#rows + 1] = { label = c.name, values = { c.share }, marks = marks, over = c.over_ratio }
    local note = c.disabled and "disabled" or (c.over_ratio and "OVER THE LIMIT") or (not c.blocking and "informative")
      or ""
    trows[#trows + 1] = { c.name, c.status, c.devices, pct(c.share), c.devices_blocked, c.devices_grace,
      c.max_ratio and { v = c.max_ratio, t = text.percent(c.max_ratio) .. (c.max_ratio_default and "*" or "") }
        or { v = -1, t = "-" }, note, c.reason or "" }
  end
  out[#out + 1] = legend(series, '<span><i class="sw mark-sw"></i>its safety ratio (max_ratio); ' ..
    'a red bar is over it</span>')
  out[#out + 1] = html.hbars { id = "chart-conditions", title = "Share of devices each condition hits, against " ..
    "its safety ratio", series = series, rows = rows, percent = true }
  out[#out + 1] = html.table("table-conditions", { { "condition" }, { "status" }, { "devices", num = true },
    { "share", num = true }, { "blocked", num = true }, { "in grace", num = true }, { "limit", num = true },
    { "note" }, { "reason" } }, trows)
  out[#out + 1] = ("<p>* the default safety ratio (%s) applies: the condition sets no max_ratio.</p>")
    :format(esc(text.percent(0.1)))
end

local function section_operators(out, r)
  h2(out, "operators", "Operators")
  local series = { { "devices", "c-a" }, { "blocked", "s-black" }, { "notifications", "c-c" } }
  local rows, trows = {}, {}
  for _, o in ipairs(r.operators) do
    rows[#rows + 1] = { label = o.name, values = { o.devices or 0, o.blocked or 0, o.notifications or 0 } }
    trows[#trows + 1] = { o.name, o.rows or 0, o.rejected or 0, o.devices or 0, o.blocked or 0, o.notifications or 0,
      o.exceptions or 0 }
  end
  out[#out + 1] = legend(series)
  out[#out + 1] = html.hbars { id = "chart-operators", title = "Devices, blocked devices and notifications per " ..
    "operator", series = series, rows = rows }
  out[#out + 1] = html.table("table-operators", { { "operator" }, { "rows", num = true }, { "rejected", num = true },
    { "devices", num = true }, { "blocked", num = true }, { "notifications", num = true },
    { "exceptions", num = true } }, trows)
end

local TOP_BRANDS, TABLE_BRANDS = 15, 200

local function section_brands(out, r)
  if not r.brands or #r.brands == 0 then return end
  h2(out, "brands", ("Brands (%d; the %d with most devices)"):format(#r.brands, math.min(TOP_BRANDS, #r.brands)))
  local series = { { "devices", "c-a" }, { "blocked", "s-black" }, { "notified", "c-c" } }
  local rows, trows = {}, {}
  for i, b in ipairs(r.brands) do
    if i <= TOP_BRANDS then rows[#rows + 1] = { label = b.brand, values = { b.devices, b.blocked, b.notified } } end
    if i <= TABLE_BRANDS then trows[#trows + 1] = { b.brand, b.devices, b.blocked, b.notified } end
  end
  out[#out + 1] = legend(series)
  out[#out + 1] = html.hbars { id = "chart-brands", title = "Top brands: devices, blocked, notified", series = series,
    rows = rows }
  out[#out + 1] = html.table("table-brands", { { "brand" }, { "devices", num = true }, { "blocked", num = true },
    { "notified", num = true } }, trows, #r.brands > TABLE_BRANDS and
      ("the %d brands with most devices of %d (report.json has them all)"):format(TABLE_BRANDS, #r.brands) or nil)
end

--- The longest time line drawn day by day in the chart of blocks and notices.
html.MAX_DAYS = 400

local function section_days(out, r)
  local days = r.per_day
  if not days or #days == 0 then return end
  h2(out, "days", "Blocks and notices by block date")
  local series = { { "devices blocked from this date (block list)", "s-black" },
                   { "notices: subscribers told their device is blocked from this date", "c-c" } }
  local cols, trows = {}, {}
  for _, d in ipairs(days) do
    cols[#cols + 1] = { date = d.date, values = { d.blocks, d.notices } }
    trows[#trows + 1] = { { v = d.date, t = text.iso_date(d.date) }, d.blocks, d.notices }
  end
  -- a time line: the days between with nothing are drawn as empty (up to MAX_DAYS days)
  local function t(date)
    local y, m, dd = date:match("^(%d%d%d%d)(%d%d)(%d%d)$")
    return y and os.time { year = tonumber(y), month = tonumber(m), day = tonumber(dd), hour = 12 }
  end
  local first, last = t(days[1].date), t(days[#days].date)
  local span = first and last and math.floor((last - first) / 86400 + 0.5) + 1
  local note = ""
  if span and span <= html.MAX_DAYS then
    local by = {}
    for _, c in ipairs(cols) do by[c.date] = c end
    cols = {}
    for i = 0, span - 1 do
      local date = os.date("%Y%m%d", first + i * 86400)
      cols[#cols + 1] = by[date] or { date = date, values = { 0, 0 } }
    end
  elseif span then
    note = ("<p>The dates span %s days: only the %d dates with blocks or notices are drawn, side by side.</p>")
      :format(esc(text.count(span)), #cols)
  end
  out[#out + 1] = legend(series, '<span><i class="sw mark-sw"></i>the run\'s date</span>')
  out[#out + 1] = html.columns { id = "chart-days", title = "Blocks and notices per day", series = series,
    days = cols, mark = r.run and r.run.date } .. note
  out[#out + 1] = html.table("table-days", { { "date", num = true }, { "blocks", num = true },
    { "notices", num = true } }, trows)
end

local function section_deltas(out, r)
  local l = r.lists
  if not l then return end
  h2(out, "deltas", "Changes against the previous run")
  local rows, trows = {}, {}
  local function add(kind, label, t)
    local keys = {}
    for k in pairs(t or {}) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do
      rows[#rows + 1] = { label = label .. ": " .. k, values = { t[k] } }
      trows[#trows + 1] = { kind, k, t[k] }
    end
  end
  add("block list", "block list", l.deltas.block)
  add("notifications", "notifications", l.deltas.notifications)
  add("exceptions", "exceptions", l.deltas.exceptions)
  if r.previous then
    local prev = r.previous.by_status or {}
    for _, s in ipairs(STATUSES) do
      local delta = ((r.devices.by_status or {})[s] or 0) - (prev[s] or 0)
      trows[#trows + 1] = { "devices " .. s, "since " .. (text.iso_date(r.previous.date) or "the previous run"), delta }
    end
  end
  if #rows == 0 then
    out[#out + 1] = "<p>No change in the lists against the previous run.</p>"
  else
    out[#out + 1] = html.hbars { id = "chart-deltas", title = "Changes of the lists against the previous run",
      series = { { "entries", "c-b" } }, rows = rows }
  end
  out[#out + 1] = html.table("table-deltas", { { "what" }, { "change" }, { "count", num = true } }, trows)
  out[#out + 1] = ("<p>Block list: %s devices (%s carried over from the previous run, %s kept by a sticky " ..
    "condition).</p>"):format(esc(text.count(l.blocklist)), esc(text.count(l.carried_over or 0)),
    esc(text.count(l.kept_by_sticky or 0)))
end

local function section_compare(out, r)
  local c = r.compare
  if type(c) ~= "table" then return end
  local old, new = type(c.old) == "table" and c.old or {}, type(c.new) == "table" and c.new or {}
  h2(out, "compare", "What if: this policy against the one it replaces (--compare)")
  out[#out + 1] = ("<p>Old: %s@%s (%s). New: %s@%s (%s). One read of the data, both policies deciding every " ..
    "pair; only the new policy's lists are written.</p>"):format(esc(old.name), esc(old.version), esc(old.file),
    esc(new.name), esc(new.version), esc(new.file))
  local d, s = type(c.devices) == "table" and c.devices or {}, type(c.subscribers) == "table" and c.subscribers or {}
  out[#out + 1] = '<div class="cards">'
  out[#out + 1] = card("devices changed", ("%s of %s"):format(text.count(num(d.changed)), text.count(num(d.total))))
  out[#out + 1] = card("newly blocked", text.count(num(d.newly_blocked)))
  out[#out + 1] = card("unblocked", text.count(num(d.unblocked)))
  out[#out + 1] = card("newly notified", text.count(num(d.newly_notified)))
  out[#out + 1] = card("no longer notified", text.count(num(d.no_longer_notified)))
  out[#out + 1] = card("subscribers changed", text.count(num(s.imsis_changed)))
  out[#out + 1] = "</div>"
  local series = { { "old policy", "c-d" }, { "new policy", "c-a" } }
  out[#out + 1] = legend(series)
  out[#out + 1] = html.hbars { id = "chart-compare-devices", title = "Devices blocked and notified, old against new",
    series = series, rows = {
      { label = "blocked", values = { num(d.blocked_old), num(d.blocked_new) } },
      { label = "notified", values = { num(d.notified_old), num(d.notified_new) } },
    } }
  -- the conditions and their safety ratios under both
  local crow, trows = {}, {}
  for _, cond in ipairs(type(c.conditions) == "table" and c.conditions or {}) do
    local o, n = type(cond.old) == "table" and cond.old or {}, type(cond.new) == "table" and cond.new or {}
    local limit = n.max_ratio or o.max_ratio
    local marks = {}
    if o.max_ratio then marks[#marks + 1] = { o.max_ratio, "ratio", "the old policy's safety ratio" } end
    if n.max_ratio and n.max_ratio ~= o.max_ratio then
      marks[#marks + 1] = { n.max_ratio, "ratio", "the new policy's safety ratio" }
    end
    crow[#crow + 1] = { label = cond.name, values = { num(o.share), num(n.share) }, marks = marks,
      over = { o.over_ratio == true, n.over_ratio == true } }
    trows[#trows + 1] = { cond.name, cond.in_old and "yes" or "no", cond.in_new and "yes" or "no", num(o.devices),
      num(n.devices), pct(o.share), pct(n.share),
      limit and { v = limit, t = text.percent(limit) } or { v = -1, t = "-" },
      (o.over_ratio and "old " or "") .. (n.over_ratio and "new" or ""),
      num(cond.newly_matched), num(cond.no_longer_matched), num(cond.newly_blocked), num(cond.no_longer_blocked) }
  end
  if #crow > 0 then
    out[#out + 1] = legend(series, '<span><i class="sw mark-sw"></i>the safety ratio; a red bar is over it</span>')
    out[#out + 1] = html.hbars { id = "chart-compare-conditions", title = "Share of devices each condition hits, " ..
      "old against new", series = series, rows = crow, percent = true }
    out[#out + 1] = html.table("table-compare-conditions", { { "condition" }, { "in old" }, { "in new" },
      { "devices old", num = true }, { "devices new", num = true }, { "share old", num = true },
      { "share new", num = true }, { "limit", num = true }, { "over the limit" }, { "newly matched", num = true },
      { "no longer matched", num = true }, { "newly blocked", num = true }, { "no longer blocked", num = true } },
      trows)
  end
  local safety = type(c.safety) == "table" and c.safety or {}
  for _, which in ipairs({ "old", "new" }) do
    local over = type(safety[which]) == "table" and safety[which].over_ratio or {}
    if type(over) == "table" and #over > 0 then
      local names = {}
      for i, name in ipairs(over) do names[i] = esc(name) end
      out[#out + 1] = ('<p class="warn">Over its safety ratio under the %s policy: %s.</p>')
        :format(which, table.concat(names, ", "))
    end
  end
  -- transitions, then who changed: by operator, brand, RBI
  trows = {}
  for _, t in ipairs(type(c.transitions) == "table" and c.transitions or {}) do
    trows[#trows + 1] = { t.old, t.new, num(t.devices) }
  end
  if #trows > 0 then
    out[#out + 1] = html.table("table-compare-transitions", { { "old status" }, { "new status" },
      { "devices", num = true } }, trows, "Status changes of devices")
  end
  local dims = { { "operators", "name", "operator" }, { "brands", "brand", "brand" }, { "rbi", "rbi", "RBI" } }
  for _, dim in ipairs(dims) do
    local list = type(c[dim[1]]) == "table" and c[dim[1]] or {}
    if #list > 0 then
      local rows
      crow, rows = {}, {}
      for i, e in ipairs(list) do
        if i <= 15 then
          crow[#crow + 1] = { label = e[dim[2]],
            values = { num(e.devices_changed), num(e.newly_blocked), num(e.unblocked) } }
        end
        rows[#rows + 1] = { e[dim[2]], num(e.devices_changed), num(e.newly_blocked), num(e.unblocked) }
      end
      local cs = { { "devices changed", "c-a" }, { "newly blocked", "s-black" }, { "unblocked", "s-white" } }
      out[#out + 1] = "<h3>Changes by " .. esc(dim[3]) .. "</h3>" .. legend(cs)
      out[#out + 1] = html.hbars { id = "chart-compare-" .. dim[1], title = "Devices that change, by " .. dim[3],
        series = cs, rows = crow }
      out[#out + 1] = html.table("table-compare-" .. dim[1], { { dim[3] }, { "devices changed", num = true },
        { "newly blocked", num = true }, { "unblocked", num = true } }, rows)
    end
  end
  trows = {}
  for _, e in ipairs(type(c.examples) == "table" and c.examples or {}) do
    local o, n = type(e.old) == "table" and e.old or {}, type(e.new) == "table" and e.new or {}
    local function side(v)
      local reasons = type(v.reasons) == "table" and table.concat(v.reasons, "|") or ""
      return ("%s%s%s%s"):format(v.status or "?", v.block_date and (" from " .. v.block_date) or "",
        v.notify and ", notified" or "", reasons ~= "" and (" (" .. reasons .. ")") or "")
    end
    trows[#trows + 1] = { e.device, e.imsi, e.operator, type(e.changes) == "table" and table.concat(e.changes, ", ")
      or "", side(o), side(n) }
  end
  if #trows > 0 then
    out[#out + 1] = html.table("table-compare-examples", { { "device" }, { "imsi" }, { "operator" }, { "changes" },
      { "old" }, { "new" } }, trows, "Examples (the first changed devices)")
  end
end

local function section_input(out, r)
  local input = r.input
  h2(out, "input", "Input")
  local trows = {}
  for _, f in ipairs(input.files or {}) do
    trows[#trows + 1] = { f.path, f.operator, f.rows or 0, f.rejected or 0,
      f.period_first and (f.period_first .. "-" .. f.period_last) or "-" }
  end
  out[#out + 1] = html.table("table-files", { { "file" }, { "operator" }, { "rows", num = true },
    { "rejected", num = true }, { "period" } }, trows)
  if #(input.rejected_by_reason or {}) > 0 then
    trows = {}
    for _, rj in ipairs(input.rejected_by_reason) do
      local ex = rj.examples and rj.examples[1]
      trows[#trows + 1] = { rj.reason, rj.count, rj.text or "",
        ex and ("%s:%s: %s"):format(ex.file, ex.line, ex.message) or "" }
    end
    out[#out + 1] = html.table("table-rejected", { { "reason" }, { "rows", num = true }, { "what" },
      { "first example" } }, trows, "Rejected rows")
  end
  if r.lists_loaded and #r.lists_loaded > 0 then
    trows = {}
    for _, l in ipairs(r.lists_loaded) do
      trows[#trows + 1] = { l.name, l.file or "-", l.rows or 0, l.loaded or 0, l.rejected or 0, l.sha256 or "" }
    end
    out[#out + 1] = html.table("table-lists-read", { { "list" }, { "file" }, { "rows", num = true },
      { "loaded", num = true }, { "rejected", num = true }, { "sha256" } }, trows, "Lists read")
  end
  if r.policy_failures and r.policy_failures.count > 0 then
    out[#out + 1] = ('<p class="warn">POLICY FAILURES: %s pairs (their verdict is the engine\'s on_error ' ..
      'status)</p><ul>'):format(esc(text.count(r.policy_failures.count)))
    for _, m in ipairs(r.policy_failures.examples or {}) do out[#out + 1] = "<li>" .. esc(m) .. "</li>" end
    out[#out + 1] = "</ul>"
  end
  local p = r.performance or {}
  out[#out + 1] = ("<p>Time: read %.2f s, decided %.2f s (%s threads), total %.2f s.</p>"):format(
    num(p.ingest_seconds), num(p.eval_seconds), esc(fmt(p.threads or 0)), num(p.total_seconds))
end

--- The page, from report.build's table (with refused, lists_written, files, and
-- optionally per_day, previous and compare).
function html.render(r)
  local body = {}
  section_summary(body, r)
  section_statuses(body, r)
  section_conditions(body, r)
  section_operators(body, r)
  section_brands(body, r)
  section_days(body, r)
  section_deltas(body, r)
  section_compare(body, r)
  section_input(body, r)
  local hash = sha256.base64(sha256.digest(html.SCRIPT))
  return table.concat {
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n",
    -- nothing from the network, no script but ours (by its digest), styles inline only
    ("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; " ..
      "script-src 'sha256-%s'; img-src data:; base-uri 'none'; form-action 'none'\">\n"):format(hash),
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
    ("<title>imei classify report: %s, %s</title>\n"):format(esc(r.policy.name),
      esc(text.iso_date((r.run or {}).date) or "")),
    "<style>", STYLE, "</style></head>\n<body>\n", table.concat(body, "\n"),
    "\n<script>", html.SCRIPT, "</script>\n</body></html>\n",
  }
end

return html
