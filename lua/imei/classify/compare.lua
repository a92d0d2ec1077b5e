--- imei.classify.compare — what-if (`--compare OLD.lua`) and operator policies
-- (`--operator-policy 410-06=FILE`) for a classify run (docs/classify.md).
--
-- The counting is C (host/replay_compare.c: OLD decides every pair in the same pass as
-- the run's policy, both tallied by the same device rules); this module loads and checks
-- the policies, shapes the counts into the report's `compare` and `operator_policies`
-- sections, and writes their text.
local text = require "imei.classify.text"
local util = require "imei.cli.util"

local compare = {}

--- A policy's description and its conditions as the replay counts them, loading it once
-- with its examples (they must pass). data: { tacdb, lists, store, lua_path }.
function compare.describe(engine_mod, path, data)
  local engine, err = engine_mod.new { policy = path, tacdb = data.tacdb, lists = data.lists, store = data.store,
                                       lua_path = data.lua_path }
  if not engine then return nil, err end
  local info = engine:info()
  engine:close()
  local conditions = {}
  for _, c in ipairs(info.conditions or {}) do conditions[#conditions + 1] = { name = c.name, status = c.status } end
  return info, conditions
end

--- "410-06=telenor.lua" → network, path; nil and a message when malformed.
function compare.parse_operator_policy(spec)
  if type(spec) ~= "string" then return nil, "--operator-policy: expected MCC-MNC=FILE" end
  local net, path = spec:match("^(%d%d%d%-%d%d%d?)=(.+)$")
  if not net then
    return nil, ("--operator-policy '%s': expected MCC-MNC=FILE, the subscribers' home network " ..
      "(e.g. 410-06=telenor.lua)")
      :format(spec)
  end
  return net, path
end

local function normal_path(path)
  path = path:gsub("/+", "/"):gsub("/%./", "/"):gsub("^%./", "")
  return path
end

-- Whether an operator policy extends the national one: directly (its base is the
-- national name@version) or through other files (the national file is among those it
-- loaded after its own).
local function extends(info, want, national_file)
  if info.base == want then return true end
  local national = normal_path(national_file)
  for i, f in ipairs(info.files or {}) do
    if i > 1 and normal_path(f) == national then return true end
  end
  return false
end

--- The operator policies: each loaded and checked to extend the national policy.
-- Returns { { network =, file =, info = }, … }, the networks for replay:evaluate, and the
-- conditions to count (the national ones first, then each operator policy's others).
function compare.operator_policies(engine_mod, specs, national, national_file, conditions, data)
  local list, networks, seen = {}, {}, {}
  local counted = {}
  for _, c in ipairs(conditions) do counted[c.name] = true end
  local want = national.name .. "@" .. national.version
  for _, spec in ipairs(specs or {}) do
    local net, path = compare.parse_operator_policy(spec)
    if not net then return nil, path end
    if seen[net] then
      return nil, ("--operator-policy: network %s is given twice (%s and %s)"):format(net, seen[net], path)
    end
    seen[net] = path
    local info, conds = compare.describe(engine_mod, path, data)
    if not info then return nil, ("--operator-policy %s=%s: %s"):format(net, path, conds) end
    if not extends(info, want, national_file) then
      return nil, ("--operator-policy %s=%s: the policy %s@%s does not extend the national policy %s (%s)%s; " ..
        "an operator policy starts with policy.extend(\"%s\", {…})"):format(net, path, tostring(info.name),
        tostring(info.version), want, national_file,
        info.base and (": it extends " .. info.base) or ": it extends nothing", national_file:match("([^/]*)$"))
    end
    for _, c in ipairs(conds) do
      if not counted[c.name] then
        counted[c.name] = true
        conditions[#conditions + 1] = c
      end
    end
    list[#list + 1] = { network = net, file = path, info = info }
    networks[#networks + 1] = { network = net, policy = path }
  end
  if #conditions > 64 then
    return nil, "the national and operator policies have more than 64 conditions together: " ..
      "batch replay counts at most 64"
  end
  return list, networks
end

--- The national policy's description with the conditions the operator policies add
-- (after its own, each once), so that the report counts them too; sticky gets theirs.
function compare.with_operator_conditions(info, list, sticky)
  local merged, known = {}, {}
  for k, v in pairs(info) do merged[k] = v end
  merged.conditions = {}
  for _, c in ipairs(info.conditions or {}) do
    known[c.name] = true
    merged.conditions[#merged.conditions + 1] = c
  end
  for _, p in ipairs(list) do
    for _, c in ipairs(p.info.conditions or {}) do
      if c.sticky then sticky[c.name] = true end
      if not known[c.name] then
        known[c.name] = true
        merged.conditions[#merged.conditions + 1] = c
      end
    end
  end
  return merged
end

--- report.json's operator_policies: the national policy first, then each network's.
function compare.operator_section(replay, national, national_file, list)
  local pairs_by = replay:network_pairs()
  local out = text.array()
  out[1] = { network = "*", name = national.name, version = national.version, file = national_file,
             pairs = pairs_by[#list + 1] or 0 }
  for i, p in ipairs(list) do
    out[#out + 1] = { network = p.network, name = p.info.name, version = p.info.version, file = p.file,
                      base = p.info.base, pairs = pairs_by[i] or 0 }
  end
  return out
end

local function share(n, total)
  if not total or total == 0 then return 0 end
  return n / total
end

-- One side's counts of a condition, with its safety ratio (report.guarded decides which
-- conditions have one, as for the run's own report).
local function side(report, c, counts, total, over)
  local e = { devices = counts.devices or 0, devices_blocked = counts.devices_blocked or 0,
              devices_grace = counts.devices_grace or 0 }
  e.share = share(e.devices, total)
  if c and report.guarded(c) then
    e.max_ratio = c.max_ratio or report.DEFAULT_MAX_RATIO
    e.max_ratio_default = c.max_ratio == nil
    e.over_ratio = e.share > e.max_ratio
    if e.over_ratio then over[#over + 1] = c.name end
  end
  return e
end

local function sorted_groups(map, key)
  local out = text.array()
  for name, g in pairs(map or {}) do
    g[key] = name
    out[#out + 1] = g
  end
  table.sort(out, function(a, b)
    if a.devices_changed ~= b.devices_changed then return a.devices_changed > b.devices_changed end
    return a[key] < b[key]
  end)
  return out
end

--- Examples shown: at most this many.
compare.EXAMPLES = 20

--- Up to n of the examples (each with `changes`, in device order), taken in turn from
-- each kind of change (its first: verdict, block_date, notification) so that a rare
-- kind is shown beside a common one; returned in device order.
function compare.pick_examples(all, n)
  local by_kind, kinds = {}, {}
  for i, e in ipairs(all) do
    local kind = e.changes[1] or "?"
    if not by_kind[kind] then
      by_kind[kind] = {}
      kinds[#kinds + 1] = kind
    end
    table.insert(by_kind[kind], i)
  end
  local chosen = {}
  for round = 1, n do
    for _, kind in ipairs(kinds) do
      if #chosen < n and by_kind[kind][round] then chosen[#chosen + 1] = by_kind[kind][round] end
    end
  end
  table.sort(chosen)
  local out = {}
  for i, k in ipairs(chosen) do out[i] = all[k] end
  return out
end

--- report.json's `compare` section (docs/classify.md, "What-if").
-- ctx: { replay, report (the module), new_info, old_info, new_file, old_file, conditions
-- (the run's report.conditions: NEW's counts), brands_db }
function compare.section(ctx)
  local raw = ctx.replay:compare(ctx.brands_db)
  if not raw then return nil end
  local report = ctx.report
  local total = raw.devices.total
  local new_desc, old_desc = {}, {}
  for _, c in ipairs(ctx.new_info.conditions or {}) do new_desc[c.name] = c end
  for _, c in ipairs(ctx.old_info.conditions or {}) do old_desc[c.name] = c end
  local new_counts = {}
  for _, c in ipairs(ctx.replay:conditions()) do new_counts[c.name] = c end
  local safety = { old = { over_ratio = text.array() }, new = { over_ratio = text.array() } }
  local conditions = text.array()
  for _, c in ipairs(raw.conditions) do
    local entry = {
      name = c.name, in_new = c.in_new, in_old = c.in_old,
      newly_matched = c.newly_matched, no_longer_matched = c.no_longer_matched,
      newly_blocked = c.newly_blocked, no_longer_blocked = c.no_longer_blocked,
      newly_grace = c.newly_grace, no_longer_grace = c.no_longer_grace,
    }
    if c.in_new then
      entry.new = side(report, new_desc[c.name], new_counts[c.name] or {}, total, safety.new.over_ratio)
    end
    if c.in_old then entry.old = side(report, old_desc[c.name], c.old, total, safety.old.over_ratio) end
    conditions[#conditions + 1] = entry
  end
  local transitions = text.array(raw.transitions)
  table.sort(transitions, function(a, b)
    if a.devices ~= b.devices then return a.devices > b.devices end
    if a.old ~= b.old then return a.old < b.old end
    return a.new < b.new
  end)
  local examples = text.array()
  for i, e in ipairs(compare.pick_examples(raw.examples, compare.EXAMPLES)) do
    for _, s in ipairs({ e.old, e.new }) do
      s.block_date = text.iso_date(s.block_date)
      s.reasons = text.array(s.reasons)
    end
    e.changes = text.array(e.changes)
    examples[i] = e
  end
  return {
    old = { name = ctx.old_info.name, version = ctx.old_info.version, base = ctx.old_info.base, file = ctx.old_file },
    new = { name = ctx.new_info.name, version = ctx.new_info.version, base = ctx.new_info.base, file = ctx.new_file },
    devices = raw.devices, subscribers = raw.subscribers, transitions = transitions,
    conditions = conditions, safety = safety, failures_old = raw.failures_old,
    operators = sorted_groups(raw.operators, "name"), brands = sorted_groups(raw.brands, "brand"),
    rbi = sorted_groups(raw.rbi, "rbi"), examples = examples,
  }
end

-- Text ----------------------------------------------------------------------------------

local function line(out, s) out[#out + 1] = s or "" end

local function ratio_cell(e)
  if not e then return "-" end
  local s = text.percent(e.share)
  if e.max_ratio then s = s .. " / " .. text.percent(e.max_ratio) .. (e.over_ratio and " OVER" or "") end
  return s
end

--- The "What-if" section of report.txt.
function compare.text(c)
  local out = {}
  local d, s = c.devices, c.subscribers
  line(out, ("What-if: %s@%s (%s) -> %s@%s (%s)"):format(tostring(c.old.name), tostring(c.old.version), c.old.file,
    tostring(c.new.name), tostring(c.new.version), c.new.file))
  line(out, ("  devices changed: %s of %s (verdict %s, block date %s, notification %s)"):format(text.count(d.changed),
    text.count(d.total), text.count(d.verdict), text.count(d.block_date), text.count(d.notification)))
  line(out, ("  blocked: %s -> %s (%s newly blocked, %s unblocked); notified: %s -> %s (+%s, -%s)")
    :format(text.count(d.blocked_old), text.count(d.blocked_new), text.count(d.newly_blocked),
      text.count(d.unblocked), text.count(d.notified_old), text.count(d.notified_new), text.count(d.newly_notified),
      text.count(d.no_longer_notified)))
  line(out, ("  subscribers (device-IMSI pairs) changed: %s of %s, %s distinct IMSIs (verdict %s, block date %s, " ..
    "notification %s)"):format(text.count(s.pairs_changed), text.count(s.pairs), text.count(s.imsis_changed),
    text.count(s.verdict), text.count(s.block_date), text.count(s.notification)))
  if (c.failures_old or 0) > 0 then
    line(out, ("  the old policy failed on %s pairs"):format(text.count(c.failures_old)))
  end
  for _, t in ipairs(c.transitions) do
    line(out, ("  %s -> %s: %s devices"):format(t.old, t.new, text.count(t.devices)))
  end
  local rows = { { "condition", "old share/limit", "new share/limit", "+matched", "-matched", "+blocked", "-blocked",
                   "+grace", "-grace" } }
  for _, e in ipairs(c.conditions) do
    rows[#rows + 1] = { e.name, e.in_old and ratio_cell(e.old) or "(absent)", e.in_new and ratio_cell(e.new)
      or "(absent)", text.count(e.newly_matched), text.count(e.no_longer_matched), text.count(e.newly_blocked),
      text.count(e.no_longer_blocked), text.count(e.newly_grace), text.count(e.no_longer_grace) }
  end
  out[#out + 1] = util.table(rows, "  "):sub(1, -2)
  for _, which in ipairs({ "old", "new" }) do
    local over = c.safety[which].over_ratio
    line(out, ("  safety ratio, %s policy: %s"):format(which, #over == 0 and "every condition within its limit"
      or ("over the limit: " .. table.concat(over, ", "))))
  end
  local groups = { { "operators", "name", "operator" }, { "rbi", "rbi", "RBI" }, { "brands", "brand", "brand" } }
  for _, g in ipairs(groups) do
    local list = c[g[1]]
    if #list > 0 then
      rows = { { g[3], "changed", "+blocked", "-blocked", "block date", "notification" } }
      for i, e in ipairs(list) do
        if i > 15 then break end
        rows[#rows + 1] = { e[g[2]], text.count(e.devices_changed), text.count(e.newly_blocked),
          text.count(e.unblocked), text.count(e.block_date), text.count(e.notification) }
      end
      out[#out + 1] = util.table(rows, "  "):sub(1, -2)
    end
  end
  if #c.examples > 0 then
    line(out, "  examples:")
    for i, e in ipairs(c.examples) do
      if i > 10 then break end -- report.json has up to 20
      local function show(v)
        local parts = { v.status }
        if v.block_date then parts[#parts + 1] = "block " .. v.block_date end
        if v.notify then parts[#parts + 1] = "notified" end
        if #v.reasons > 0 then parts[#parts + 1] = "[" .. table.concat(v.reasons, ",") .. "]" end
        return table.concat(parts, " ")
      end
      line(out, ("    %s/%s (%s): %s -> %s"):format(e.device, e.imsi, e.operator, show(e.old), show(e.new)))
    end
  end
  return table.concat(out, "\n")
end

--- The "Policies applied" lines of report.txt.
function compare.operator_text(list)
  local rows = { { "network", "policy", "file", "pairs" } }
  for _, p in ipairs(list) do
    rows[#rows + 1] = { p.network == "*" and "* (national)" or p.network, ("%s@%s"):format(tostring(p.name),
      tostring(p.version)), p.file, text.count(p.pairs) }
  end
  return "Policies applied (by the home network of the subscriber's IMSI):\n" .. util.table(rows, "  "):sub(1, -2)
end

return compare
