--- imei.explain.trace — why a verdict is what it is (docs/explain.md).
--
-- Runs inside the engine's sandbox, beside the policy runtime (imei.policy.runtime), and
-- only when an explanation is asked for: the plain check never comes here and pays
-- nothing for it. An explanation runs the very evaluation a check runs
-- (runtime's inst:evaluate → Policy:evaluate), on a copy of the policy whose conditions
-- are wrapped to note what each one did, and with the instance's data (lists, sightings
-- store, TAC db) swapped for recording proxies, so that every fact a condition looked at
-- is noted with the condition and the phase (when, unless, since, grace_days) that asked.
-- Nothing is recorded in the store: an explanation has no side effect.
--
--   local report = trace.run(inst, request)   -- inst: a runtime instance
--   trace.finish(inst)                         -- always, even when run raised (the host does)
local getinfo = debug and debug.getinfo -- captured while the runtime loads, before the lock
local os_date = os.date
local parse = require("imei.core").parse
local sealed_of = require("imei.policy").sealed_of

local trace = {}

local DAY = 86400
local MAX_ROWS = 50      -- sightings rows kept in one fact
local MAX_FACTS = 500    -- facts kept in one explanation (a loop in a policy must not grow it)

local function date_of(t)
  return type(t) == "number" and os_date("!%Y-%m-%d", math.floor(t)) or nil
end

-- Where a function was written: "policies/example-country.lua:43".
local function where(fn)
  if not getinfo or type(fn) ~= "function" then return nil end
  local info = getinfo(fn, "S")
  return info and (info.short_src .. ":" .. tostring(info.linedefined)) or nil
end

-- A plain copy of a value a store or list answered with (tables: rows, bounded).
local function plain(v, depth)
  if type(v) ~= "table" then
    if type(v) == "function" or type(v) == "userdata" or type(v) == "thread" then return tostring(v) end
    return v
  end
  if (depth or 0) > 2 then return "…" end
  local out, n = {}, 0
  for k, x in pairs(v) do
    n = n + 1
    if n > MAX_ROWS then out.truncated = true break end
    if type(k) == "string" or type(k) == "number" then out[k] = plain(x, (depth or 0) + 1) end
  end
  return out
end

-- The facts a run notes: t.facts in order; each also under the condition that asked.
local function note(t, fact)
  if #t.facts >= MAX_FACTS then
    t.dropped = (t.dropped or 0) + 1
    return
  end
  local entry = t.current
  fact.condition = entry and entry.name or nil
  fact.phase = entry and t.phase or "device"
  t.facts[#t.facts + 1] = fact
  if entry then entry.facts[#entry.facts + 1] = fact end
end

-- The sightings store, recording: every method is the store's, called on the store.
local function store_proxy(t, store)
  local methods = {}
  return setmetatable({}, {
    __index = function(_, name)
      local m = methods[name]
      if m then return m end
      local real = store[name]
      if type(real) ~= "function" then return real end
      m = function(_, ...)
        local result = table.pack(real(store, ...))
        local args = table.pack(...)
        local failed = result[1] == nil and result[2] ~= nil
        note(t, { source = "sightings", call = name, args = plain({ table.unpack(args, 1, args.n) }),
                  result = plain(result[1]), error = failed and tostring(result[2]) or nil })
        return table.unpack(result, 1, result.n)
      end
      methods[name] = m
      return m
    end,
    __metatable = false,
  })
end

-- A list, recording its lookups; any other method is the list's own.
local function list_proxy(t, name, list)
  return setmetatable({}, {
    __index = function(_, method)
      local real = list[method]
      if type(real) ~= "function" then return real end
      return function(_, ...)
        local result = table.pack(real(list, ...))
        if method == "has" then
          local args = table.pack(...)
          note(t, { source = "lists", list = name, call = "has", args = plain({ table.unpack(args, 1, args.n) }),
                    result = result[1] == true })
        end
        return table.unpack(result, 1, result.n)
      end
    end,
    __len = function() return #list end,
    __metatable = false,
  })
end

local function lists_proxy(t, lists)
  local made = {}
  return {
    get = function(_, name)
      if made[name] then return made[name] end
      local list = lists and lists:get(name)
      if not list then
        note(t, { source = "lists", list = name, call = "loaded", result = false })
        return nil
      end
      made[name] = list_proxy(t, name, list)
      return made[name]
    end,
  }
end

local function tacdb_proxy(t, tacdb)
  return {
    lookup = function(_, key)
      local record = tacdb:lookup(key)
      t.tac_asked = true
      t.tac = record and plain(record) or nil
      return record
    end,
  }
end

-- A condition copy that notes what the original does; the original's functions decide.
local function traced_condition(t, c, entry)
  local tc = {}
  for k, v in pairs(c) do tc[k] = v end
  local when, unless, since, grace = c.when, c.unless, c.since, c.grace_days
  tc.when = function(d, r)
    t.current, t.phase = entry, "when"
    entry.evaluated = true
    local v = when(d, r)
    entry.matched = v and true or false
    return v
  end
  if unless then
    tc.unless = function(d, r)
      t.current, t.phase = entry, "unless"
      local v, label = unless(d, r)
      entry.exempted = v and true or false
      if v and type(label) == "string" then entry.exempt_label = label end
      return v
    end
  end
  -- since and a grace_days function: their value noted under their own name
  local function noted(fn, phase)
    return function(d, r)
      t.current, t.phase = entry, phase
      local value = fn(d, r)
      entry[phase] = value
      return value
    end
  end
  if since then tc.since = noted(since, "since") end
  if type(grace) == "function" then tc.grace_days = noted(grace, "grace_days") else entry.grace_days = grace end
  return tc
end

--- Start an explanation: the data swapped for recording proxies (trace.finish puts them
-- back), the policy copied with traced conditions. Returns the trace table.
local function begin(inst)
  local state = inst.state
  if state.explain_saved then trace.finish(inst) end -- an earlier run cut short
  local t = { facts = {}, entries = {} }
  state.explain_saved = { store = state.store, lists = state.lists, tacdb = state.tacdb, policy = inst.policy,
                          context = inst.context }
  if state.store then state.store = store_proxy(t, state.store) end
  state.lists = lists_proxy(t, state.lists)
  state.reset_lists()
  if state.tacdb then state.tacdb = tacdb_proxy(t, state.tacdb) end
  -- what a check decides with: the policy's sealed copy (policy.seal), whatever its code
  -- did to the policy table since
  local P = sealed_of(inst.policy)
  local copy = {}
  for k, v in pairs(P) do copy[k] = v end
  copy.scratch = nil -- a run state of its own: the policy's stays as the checks left it
  copy.order = {}
  for i, c in ipairs(P.order) do
    local entry = { name = c.name, index = i, facts = {} }
    t.entries[i] = entry
    t.entries[c.name] = entry
    entry.unless_at = c.unless and where(c.unless) or nil
    copy.order[i] = traced_condition(t, c, entry)
  end
  inst.policy = setmetatable(copy, getmetatable(inst.policy))
  local ctx = {}
  for k, v in pairs(inst.context or {}) do ctx[k] = v end
  local first_seen = ctx.first_seen
  if first_seen then
    ctx.first_seen = function(d, r)
      local entry = t.current
      local phase = t.phase
      t.phase = "since"
      local start = first_seen(d, r)
      t.phase = phase
      if entry then entry.first_seen = start end
      return start
    end
  end
  inst.context = ctx
  return t
end

--- Put the instance back as the checks know it. Safe to call twice.
function trace.finish(inst)
  local state = inst.state
  local saved = state.explain_saved
  if not saved then return end
  state.store, state.lists, state.tacdb = saved.store, saved.lists, saved.tacdb
  inst.policy, inst.context = saved.policy, saved.context
  state.explain_saved = nil
  state.reset_lists()
end

-- Why an unless held, in words: its own label, else the fact it found true.
local function exemption_reason(entry, r)
  if entry.exempt_label then return entry.exempt_label end
  for i = #entry.facts, 1, -1 do
    local f = entry.facts[i]
    if f.phase == "unless" then
      if f.source == "lists" and f.call == "has" and f.result then
        if f.args[2] ~= nil then return ("paired with this SIM (list %s)"):format(f.list) end
        return ("on list %s"):format(f.list)
      elseif f.source == "sightings" and f.call == "is_paired" and f.result == true then
        return "paired with this SIM"
      elseif f.source == "sightings" and f.call == "first_imsi" and f.result ~= nil and f.result == r.imsi then
        return "the first SIM seen with this device"
      end
    end
  end
  return nil
end

-- The grace of a matched condition: its start, where the start came from, the block date.
local function grace_of(P, c, entry, reason, r)
  local days = entry.grace_days
  if type(days) ~= "number" or days <= 0 or c.status == "WHITELISTED" then return nil end
  local start, from = entry.since, "since"
  if start == nil then start, from = entry.first_seen, "first sighting" end
  if start == nil then start, from = r.time, "request time" end
  -- no grace period starts before the condition (or policy) goes live, where it has a date
  local effective = c.effective_time or P.effective_time
  if type(effective) == "number" and start < effective then start, from = effective, "effective date" end
  local block_time = start + math.floor(days * DAY)
  return {
    days = days, start = start, start_date = date_of(start), from = from,
    block_date = reason and reason.block_date or date_of(block_time),
    -- the subscriber is told while the grace runs: from its start (a register keeps the
    -- day the notice went out; without one, this is the day the policy would give)
    notice_date = date_of(start), in_grace = r.time < block_time,
  }
end

local SUMMARY = {
  imsis = "distinct SIMs", msisdns = "distinct numbers", daily = "SIMs a day", first_imsi = "first SIM",
  is_paired = "paired", pairs_of = "paired SIMs", sightings = "sightings",
}

--- trace.run(inst, r) → the explanation (docs/explain.md "The report").
function trace.run(inst, r)
  local t = begin(inst)
  local verdict = inst:evaluate(r) -- the evaluation a check runs
  local parsed = parse(r.pei or r.imei or "")
  local d_key = parsed and parsed.key or nil
  t.current, t.phase = nil, nil
  -- the device's standing, whichever condition asked: first and paired SIMs
  local device = { pei = r.pei or r.imei, key = d_key, imsi = r.imsi, operator = r.operator, time = r.time,
                   date = date_of(r.time) }
  local store = inst.state.store
  if store and d_key then
    local ok, err = pcall(function()
      local first, first_time = store:first_imsi(d_key)
      device.first_imsi, device.first_seen = first, first_time
      device.first_seen_date = date_of(first_time)
      local paired = store:pairs_of(d_key)
      device.paired_imsis = paired and plain(paired) or {}
      if r.imsi then device.paired_with_this_sim = store:is_paired(d_key, r.imsi) == true end
    end)
    if not ok then device.store_error = tostring(err) end
  end
  if t.tac_asked then device.tac_record = t.tac or false end
  trace.finish(inst)
  local P = sealed_of(inst.policy)
  local reasons = {}
  for _, reason in ipairs(verdict.reasons or {}) do reasons[reason.condition] = reason end
  local conditions, stopped_at = {}, nil
  for i, c in ipairs(P.order) do
    local entry = t.entries[i]
    local reason = reasons[c.name]
    local out = { name = c.name, index = i, status = c.status, text = c.reason, at = c.changed_at or c.defined_at,
                  blocking = c.blocking, final = c.final or false, facts = entry.facts }
    if c.disabled then
      out.result = "disabled"
      if type(c.disabled) == "string" then out.disabled_why = c.disabled end
    elseif reason and reason.failed then
      out.result, out.error = "failed", reason.error
      if reason.status and not reason.informative then out.decides = reason.status end
    elseif not entry.evaluated then
      out.result = "not_evaluated"
      out.stopped_at = stopped_at
    elseif entry.matched == false then
      out.result = "not_matched"
    elseif entry.exempted then
      out.result = "exempted"
      out.unless = { at = entry.unless_at, because = exemption_reason(entry, r) }
    else
      out.result = "matched"
      if reason then
        out.verdict_status = reason.status
        out.informative = reason.informative or nil
        out.notify = reason.notify or nil
        out.block_date = reason.block_date
        if reason.overruled then out.overruled_by = reason.overruled_by end
        out.grace = grace_of(P, c, entry, reason, r)
        out.not_effective = reason.not_effective or nil
        out.decided = not reason.informative and not reason.overruled and reason.status == verdict.status or nil
        if c.final or (P.resolve == "first" and not reason.informative) then stopped_at = c.name end
      end
    end
    conditions[i] = out
  end
  -- the facts, by kind: what customer care reads first
  local lists, windows = {}, {}
  for _, f in ipairs(t.facts) do
    if f.source == "lists" then
      local l = lists[f.list]
      if not l then
        l = { list = f.list, loaded = true, lookups = {} }
        lists[f.list] = l
        lists[#lists + 1] = l
      end
      if f.call == "loaded" then l.loaded = false
      else l.lookups[#l.lookups + 1] = { args = f.args, member = f.result } end
    elseif f.source == "sightings" and (f.call == "imsis" or f.call == "msisdns" or f.call == "daily") then
      windows[#windows + 1] = { what = SUMMARY[f.call], call = f.call, days = f.args[2], result = f.result,
                                condition = f.condition }
    end
  end
  for _, l in ipairs(lists) do lists[l.list] = nil end
  return {
    policy = verdict.policy, resolve = P.resolve, default = P.default, raw = P.raw_check ~= nil,
    verdict = { status = verdict.status, block_date = verdict.block_date, notify = verdict.notify or false,
                failed = verdict.failed or false, reasons = verdict.reasons },
    device = device, conditions = conditions, lists = lists, windows = windows, facts_dropped = t.dropped,
  }
end

return trace
