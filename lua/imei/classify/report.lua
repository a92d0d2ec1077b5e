--- imei.classify.report — the impact report of a replay, as a table (written as JSON)
-- and as text for people: rows read and refused (by reason, with the first examples and
-- their lines), devices per status, per condition, per operator and per brand, the share
-- of devices each blocking condition hits against its safety ratio, and the lists.
local text = require "imei.classify.text"
local util = require "imei.cli.util"

local report = {}

--- The safety ratio of a condition without max_ratio: DIRBS's default
-- max_allowed_matching_ratio (0.1: a condition hitting more than a tenth of all devices
-- is far more likely a broken rule or a broken input than a fact).
report.DEFAULT_MAX_RATIO = 0.1

local STATUSES = { "WHITELISTED", "GREYLISTED", "BLACKLISTED", "UNKNOWN" }

local function share(n, total)
  if not total or total == 0 then return 0 end
  return n / total
end

--- Whether a condition counts for the safety ratio: it can block (status BLACKLISTED,
-- blocking, not disabled).
function report.guarded(c)
  return c.status == "BLACKLISTED" and c.blocking ~= false and not c.disabled
end

--- Build the report table. ctx: { replay, info (engine:info()), run = {...}, built
-- (lists.build's result or nil), brands_db (a TAC db or nil) }.
function report.build(ctx)
  local replay, info = ctx.replay, ctx.info
  local totals = replay:totals()
  local r = {
    run = ctx.run,
    policy = { name = info.name, version = info.version, base = info.base, files = text.array(info.files) },
    input = {
      files = text.array(replay:files()), rows = totals.rows, accepted = totals.accepted,
      rejected = totals.rejected, blank_lines = totals.blank_lines, headers = totals.headers,
      first_date = totals.first_date, last_date = totals.last_date, sightings_recorded = totals.sightings,
      rejected_by_reason = text.array(replay:rejections()),
    },
    devices = {
      total = totals.devices, pairs = totals.pairs, by_status = totals.devices_by_status,
      pairs_by_status = totals.pairs_by_status, by_kind = totals.devices_by_kind,
      notified = totals.devices_notified, unknown_tac = ctx.brands_db and totals.unknown_tac or nil,
    },
    policy_failures = { count = totals.failures, examples = text.array(replay:failures()) },
    performance = {
      ingest_seconds = totals.ingest_seconds, eval_seconds = totals.eval_seconds,
      threads = totals.threads, reader_thread = ctx.run.reader_thread,
    },
  }
  -- the lists the policy read: what each file gave (rows, accepted, rejected by reason)
  -- and its SHA-256, so that a report says which lists it was computed from
  r.lists_loaded = text.array()
  if ctx.lists then
    for _, name in ipairs(ctx.lists:names()) do
      local l = ctx.lists:get(name)
      local rep = l:report()
      local errors = text.array()
      for i = 1, math.min(5, #rep.errors) do errors[i] = rep.errors[i] end
      r.lists_loaded[#r.lists_loaded + 1] = {
        name = name, file = l:path(), kind = l:kind(), rows = rep.rows, loaded = rep.loaded,
        rejected = rep.rejected, rejected_by = rep.rejected_by, duplicates = rep.duplicates,
        warnings = rep.warnings, bytes = rep.bytes, sha256 = rep.sha256, errors = errors,
      }
    end
  end
  -- what the reader noticed without refusing a row: a file that ends mid-line
  r.input.warnings = text.array()
  for _, f in ipairs(r.input.files) do
    if f.unterminated_line then
      r.input.warnings[#r.input.warnings + 1] = ("%s:%d: the file ends in the middle of this line (no line end): " ..
        "was the copy cut short? The line was read as it stands"):format(f.path, f.unterminated_line)
    end
  end
  -- conditions, in the policy's order, with their counts and safety ratios
  local stats = {}
  for _, c in ipairs(replay:conditions()) do stats[c.name] = c end
  r.conditions = text.array()
  r.over_ratio = text.array()
  for _, c in ipairs(info.conditions or {}) do
    local s = stats[c.name] or {}
    local entry = {
      name = c.name, status = c.status, blocking = c.blocking ~= false, sticky = c.sticky or false,
      disabled = c.disabled or false, reason = c.reason,
      grace_days = type(c.grace_days) == "number" and c.grace_days or nil,
      devices = s.devices or 0, devices_blocked = s.devices_blocked or 0, devices_grace = s.devices_grace or 0,
      pairs = s.pairs or 0,
    }
    entry.share = share(entry.devices, totals.devices)
    if report.guarded(c) then
      entry.max_ratio = c.max_ratio or report.DEFAULT_MAX_RATIO
      entry.max_ratio_default = c.max_ratio == nil
      entry.over_ratio = entry.share > entry.max_ratio
      if entry.over_ratio then r.over_ratio[#r.over_ratio + 1] = c.name end
    end
    r.conditions[#r.conditions + 1] = entry
  end
  -- operators; their notifications and exceptions are the rows of the lists built
  -- (lists.build writes out the decisions of the replay, and nothing else does)
  local built = ctx.built
  r.operators = text.array()
  for _, o in ipairs(replay:operators()) do
    o.blocked = o.devices_by_status.BLACKLISTED
    o.notifications = built and built.notifications[o.name] and #built.notifications[o.name] or 0
    o.exceptions = built and built.exceptions[o.name] and #built.exceptions[o.name] or 0
    r.operators[#r.operators + 1] = o
  end
  -- brands, most devices first
  r.brands = text.array()
  if ctx.brands_db then
    for brand, b in pairs(replay:brands(ctx.brands_db)) do
      r.brands[#r.brands + 1] = { brand = brand, devices = b.devices, blocked = b.blocked, notified = b.notified }
    end
    table.sort(r.brands, function(a, b)
      if a.devices ~= b.devices then return a.devices > b.devices end
      return a.brand < b.brand
    end)
  end
  -- lists
  if built then
    local l = {
      blocklist = #built.block, carried_over = built.counts.carried, kept_by_sticky = built.counts.sticky_kept,
      sticky_reasons_kept = built.counts.sticky_reasons_kept,
      notifications = {}, exceptions = {},
      deltas = built.delta_counts,
    }
    for _, op in ipairs(built.operators) do
      l.notifications[op] = #built.notifications[op]
      l.exceptions[op] = #built.exceptions[op]
    end
    r.lists = l
    -- per day: the devices blocked from that date (block list) and the notices telling a
    -- subscriber that the device is blocked from that date (the notification rows of all
    -- operators), for report.html's timeline
    local days = {}
    local function day(d)
      local e = days[d]
      if not e then
        e = { date = d, blocks = 0, notices = 0 }
        days[d] = e
      end
      return e
    end
    for _, row in ipairs(built.block) do
      local e = day(row[2])
      e.blocks = e.blocks + 1
    end
    for _, op in ipairs(built.operators) do
      for _, row in ipairs(built.notifications[op] or {}) do
        if row[4] ~= "" then
          local e = day(row[4])
          e.notices = e.notices + 1
        end
      end
    end
    r.per_day = text.array()
    for _, e in pairs(days) do r.per_day[#r.per_day + 1] = e end
    table.sort(r.per_day, function(a, b) return a.date < b.date end)
  end
  return r
end

--- What report.html compares this run with: the previous run's report.json in --out,
-- as { date, by_status }, or nil (none, unreadable, or lua-cjson not installed: the page
-- then shows the lists' deltas alone).
function report.read_previous(path, body) -- body: the file's bytes, when kept elsewhere (a re-run)
  body = body or (path and text.read_file(path))
  local has_cjson, cjson = pcall(require, "cjson.safe")
  if not body or not has_cjson then return nil end
  local prev = cjson.decode(body)
  if type(prev) ~= "table" or type(prev.devices) ~= "table" or type(prev.devices.by_status) ~= "table" then
    return nil
  end
  local by = {}
  for k, v in pairs(prev.devices.by_status) do
    if type(k) == "string" and math.type(v) then by[k] = math.tointeger(v) or v end -- cjson gives floats
  end
  return { date = type(prev.run) == "table" and type(prev.run.date) == "string" and prev.run.date or nil,
           by_status = by }
end

-- Text ----------------------------------------------------------------------------------

local function line(out, s) out[#out + 1] = s or "" end

local function counts_by_status(t, total)
  local parts = {}
  for _, s in ipairs(STATUSES) do
    local n = t[s] or 0
    if n > 0 then parts[#parts + 1] = ("%s %s (%s)"):format(s, text.count(n), text.percent(share(n, total))) end
  end
  return #parts > 0 and table.concat(parts, ", ") or "none"
end

local function changes(t)
  local parts = {}
  local keys = {}
  for k in pairs(t or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do parts[#parts + 1] = ("%s %s"):format(text.count(t[k]), k) end
  return #parts > 0 and table.concat(parts, ", ") or "no change"
end

--- The report as text.
function report.text(r)
  local out = {}
  local run = r.run
  line(out, ("imei classify: policy %s@%s, run date %s"):format(r.policy.name, r.policy.version,
    text.iso_date(run.date) or "?"))
  local input = r.input
  line(out, ("Input: %d file(s), %s rows: %s accepted, %s rejected%s%s"):format(#input.files, text.count(input.rows),
    text.count(input.accepted), text.count(input.rejected),
    input.blank_lines > 0 and (", " .. text.count(input.blank_lines) .. " blank lines skipped") or "",
    input.first_date and (", dates " .. text.iso_date(input.first_date) .. " to " .. text.iso_date(input.last_date))
      or ""))
  local rows = { { "file", "operator", "rows", "rejected", "period" } }
  for _, f in ipairs(input.files) do
    rows[#rows + 1] = { f.path, f.operator, text.count(f.rows), text.count(f.rejected),
      f.period_first and (f.period_first .. "-" .. f.period_last) or "-" }
  end
  out[#out + 1] = util.table(rows, "  "):sub(1, -2)
  for _, w in ipairs(input.warnings or {}) do line(out, "  WARNING: " .. w) end
  if #input.rejected_by_reason > 0 then
    line(out)
    line(out, "Rejected rows, by reason (first examples):")
    for _, rj in ipairs(input.rejected_by_reason) do
      line(out, ("  %-13s %10s  %s"):format(rj.reason, text.count(rj.count), rj.text))
      for i, ex in ipairs(rj.examples) do
        if i > 3 then break end -- the report.json has up to 5
        local field = ex.field and (" field " .. ex.field) or ""
        line(out, ("      %s:%d%s: %s"):format(ex.file, ex.line, field, ex.message))
      end
    end
  end
  if r.lists_loaded and #r.lists_loaded > 0 then
    line(out)
    line(out, "Lists read:")
    rows = { { "list", "file", "rows", "loaded", "rejected", "duplicates", "sha256" } }
    for _, l in ipairs(r.lists_loaded) do
      local why = {}
      local reasons = {}
      for reason in pairs(l.rejected_by) do reasons[#reasons + 1] = reason end
      table.sort(reasons)
      for _, reason in ipairs(reasons) do why[#why + 1] = reason .. " " .. text.count(l.rejected_by[reason]) end
      rows[#rows + 1] = { l.name, l.file or "-", text.count(l.rows), text.count(l.loaded),
        text.count(l.rejected) .. (#why > 0 and (" (" .. table.concat(why, ", ") .. ")") or ""),
        text.count(l.duplicates), l.sha256 }
    end
    out[#out + 1] = util.table(rows, "  "):sub(1, -2)
    for _, l in ipairs(r.lists_loaded) do
      for i, e in ipairs(l.errors) do
        if i > 3 then break end
        line(out, ("      %s:%d: %s"):format(l.file or l.name, e.line, e.reason))
      end
    end
  end
  line(out)
  local d = r.devices
  line(out, ("Devices: %s (%s device-subscriber pairs)"):format(text.count(d.total), text.count(d.pairs)))
  line(out, "  devices: " .. counts_by_status(d.by_status, d.total))
  line(out, "  pairs:   " .. counts_by_status(d.pairs_by_status, d.pairs))
  local kinds = {}
  for _, k in ipairs({ "imei", "imei14", "imeisv", "meid", "esn", "malformed" }) do
    if (d.by_kind[k] or 0) > 0 then kinds[#kinds + 1] = k .. " " .. text.count(d.by_kind[k]) end
  end
  if #kinds > 0 then line(out, "  as written: " .. table.concat(kinds, ", ")) end
  if d.unknown_tac then line(out, "  TAC not in the database: " .. text.count(d.unknown_tac)) end
  line(out, ("  to notify (not blocked): %s"):format(text.count(d.notified)))
  line(out)
  line(out, "Conditions (share = devices matched / all devices; limit = the safety ratio):")
  rows = { { "condition", "status", "devices", "share", "blocked", "in grace", "limit", "note" } }
  for _, c in ipairs(r.conditions) do
    local flag = c.disabled and "disabled" or (c.over_ratio and "OVER THE LIMIT") or (not c.blocking and "informative")
      or ""
    rows[#rows + 1] = { c.name, c.status, text.count(c.devices), text.percent(c.share), text.count(c.devices_blocked),
      text.count(c.devices_grace), c.max_ratio and (text.percent(c.max_ratio) .. (c.max_ratio_default and "*" or ""))
        or "-", flag }
  end
  out[#out + 1] = util.table(rows, "  "):sub(1, -2)
  line(out, ("  * the default safety ratio (%s) applies: the condition sets no max_ratio")
    :format(text.percent(report.DEFAULT_MAX_RATIO)))
  line(out)
  line(out, "Operators:")
  rows = { { "operator", "rows", "rejected", "devices", "blocked", "notifications", "exceptions" } }
  for _, o in ipairs(r.operators) do
    rows[#rows + 1] = { o.name, text.count(o.rows), text.count(o.rejected), text.count(o.devices),
      text.count(o.blocked), text.count(o.notifications), text.count(o.exceptions) }
  end
  out[#out + 1] = util.table(rows, "  "):sub(1, -2)
  if #r.brands > 0 then
    line(out)
    line(out, ("Brands (%d; the 15 with most devices):"):format(#r.brands))
    rows = { { "brand", "devices", "blocked", "notified" } }
    for i = 1, math.min(15, #r.brands) do
      local b = r.brands[i]
      rows[#rows + 1] = { b.brand, text.count(b.devices), text.count(b.blocked), text.count(b.notified) }
    end
    out[#out + 1] = util.table(rows, "  "):sub(1, -2)
  end
  if r.policy_failures.count > 0 then
    line(out)
    line(out, ("POLICY FAILURES: %s pairs (their verdict is the engine's on_error status)")
      :format(text.count(r.policy_failures.count)))
    for _, m in ipairs(r.policy_failures.examples) do line(out, "  " .. m) end
  end
  line(out)
  if r.refused and #r.refused > 0 then
    line(out, r.lists_written and "FORCED (--force): the lists were written although"
      or "LISTS NOT WRITTEN (--force writes them anyway):")
    for _, why in ipairs(r.refused) do line(out, "  " .. why) end
  end
  if r.lists then
    local l = r.lists
    if r.lists_written then
      line(out, ("Lists in %s:"):format(run.out))
    else
      line(out, "The lists would have been:")
    end
    line(out, ("  blocklist.csv  %s devices  [%s]"):format(text.count(l.blocklist), changes(l.deltas.block)))
    if l.carried_over > 0 or l.kept_by_sticky > 0 then
      line(out, ("    of which %s carried over from the previous run (not seen in this one), %s kept by a sticky "
        .. "condition"):format(text.count(l.carried_over), text.count(l.kept_by_sticky)))
    end
    local ops = {}
    for op in pairs(l.notifications) do ops[#ops + 1] = op end
    table.sort(ops)
    rows = { { "  operator", "notifications", "exceptions" } }
    for _, op in ipairs(ops) do
      rows[#rows + 1] = { "  " .. op, text.count(l.notifications[op]), text.count(l.exceptions[op]) }
    end
    out[#out + 1] = util.table(rows, "  "):sub(1, -2)
    line(out, ("  changes: block list [%s]; notifications [%s]; exceptions [%s]"):format(changes(l.deltas.block),
      changes(l.deltas.notifications), changes(l.deltas.exceptions)))
  end
  -- what-if and operator policies (imei.classify.compare)
  if r.operator_policies then
    line(out)
    out[#out + 1] = require("imei.classify.compare").operator_text(r.operator_policies)
  end
  if r.compare then
    line(out)
    out[#out + 1] = require("imei.classify.compare").text(r.compare)
  end
  local p = r.performance
  line(out)
  local audit_line = require("imei.classify.audit").text(r.audit)
  if audit_line then line(out, audit_line) end
  line(out, ("Time: setup %.2f s, read %.2f s (%srows/s), decided %.2f s (%s pairs, %d thread%s), lists %.2f s, " ..
    "total %.2f s"):format(p.setup_seconds or 0, p.ingest_seconds,
      p.ingest_seconds > 0 and text.count(input.rows / p.ingest_seconds) .. " " or "",
      p.eval_seconds, text.count(d.pairs), p.threads, p.threads == 1 and "" or "s", p.lists_seconds or 0,
      p.total_seconds or 0))
  return table.concat(out, "\n") .. "\n"
end

return report
