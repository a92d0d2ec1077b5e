--- imei.policy.runtime — trusted code between the engine and a policy.
--
-- Inside the engine's sandbox (host/sandbox.c) this module is loaded before the state
-- is locked down, so it keeps what it needs (file reading, load) as locals; the policy
-- itself only ever sees the environment built by `environment()` below. It also runs
-- in a plain Lua state (unsandboxed), which the benchmarks use as the reference.
--
--   local inst = runtime.new{ policy = PATH, tacdb = db, lists = lists, store = store,
--                             store_ro = store, record = false }
--   inst.check(request) --> verdict
--
-- The device record `d` a condition sees is imei.parse()'s table for the request's
-- pei (or imei), plus: input, parsed, valid, error (when it does not parse), device
-- (the TAC record, nil when the TAC is unknown) and known_tac.
local core = require "imei.core"
local policy = require "imei.policy"
local duplicates = require "imei.policy.duplicates"

-- Captured now: the sandbox removes these from the globals when it locks the state.
local open, load = io.open, load
-- The host's bounded log (core/sandbox.c), nil outside the sandbox.
local host_log = rawget(_G, "_IMEI_HOST_LOG")
local parse = core.parse

local runtime = {}

local IMEI_KINDS = { imei = true, imei14 = true, imeisv = true }

--- The device record of a request (never raises on bad input: the policy decides).
function runtime.device(r, tacdb)
  local input = r.pei or r.imei
  if type(input) ~= "string" then
    return { parsed = false, valid = false, error = "the request has no pei or imei" }
  end
  local d, err = parse(input)
  if not d then
    return { input = input, parsed = false, valid = false, error = err }
  end
  d.input = input
  d.parsed = true
  d.imei_kind = IMEI_KINDS[d.kind] or false
  d.valid = d.imei_kind and d.cd_ok ~= false
  if d.key and tacdb then
    d.device = tacdb:lookup(d.key)
    d.known_tac = d.device ~= nil -- stays nil without a TAC database: not known either way
  end
  return d
end

-- A table that refuses writes, so shared objects survive a careless policy.
local function read_only(t, what)
  return setmetatable({}, {
    __index = t,
    __newindex = function() error(what .. " is read-only", 2) end,
    __metatable = false,
  })
end

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

--- The policy's global environment: a whitelist (docs/sandbox.md). Reads the globals at
-- call time, i.e. after the sandbox is locked: setmetatable refuses __gc and the string
-- functions are the budgeted ones.
local function environment(api)
  local env = {
    assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs, pcall = pcall,
    select = select, tonumber = tonumber, tostring = tostring, type = type, xpcall = xpcall,
    rawequal = rawequal, rawget = rawget, rawlen = rawlen,
    setmetatable = setmetatable, getmetatable = getmetatable, _VERSION = _VERSION,
    string = copy(string), table = copy(table), math = copy(math), utf8 = copy(utf8),
    coroutine = copy(coroutine),
    os = { time = os.time, date = os.date, clock = os.clock, difftime = os.difftime },
    policy = api.policy, lists = api.lists, sightings = api.sightings, imei = api.imei,
    log = api.log, print = api.log,
  }
  env.string.dump = nil
  env._G = env
  return env
end

-- The identifier functions a policy may call.
local imei_api = read_only({
  parse = core.parse, valid = core.valid, luhn = core.luhn, check_digit = core.check_digit,
}, "imei")

--- Lists as a policy sees them: lists.NAME:has(id [, imsi]) on the loaded list itself (a
-- frozen C set). A name with no list loaded is an empty list, and a warning says so once.
-- Each name is looked up once and then read raw; a new collection empties the view.
local EMPTY_LIST = read_only({ has = function() return false end }, "an empty list")

local function lists_view(state)
  local view = {}
  function state.reset_lists()
    for name in pairs(view) do view[name] = nil end
  end
  return setmetatable(view, {
    __index = function(t, name)
      if type(name) ~= "string" then return nil end
      local source = state.lists
      local list = source and source:get(name)
      if list == nil then
        if state.warn then
          state.warn(("policy uses list '%s', but no such list is loaded: it is empty"):format(name))
        end
        list = EMPTY_LIST
      end
      rawset(t, name, list)
      return list
    end,
    __newindex = function() error("lists is read-only", 2) end,
    __metatable = false,
  })
end

--- Lists declared by an example: { name = { "imei", … } or { { "imei", "imsi" }, … } }.
local function fixture_lists(spec)
  local lists = {}
  for name, entries in pairs(spec or {}) do
    local keys = {}
    for _, entry in ipairs(entries) do
      local id, imsi = entry, nil
      if type(entry) == "table" then id, imsi = entry[1], entry[2] end
      local parsed = parse(id)
      local key = parsed and parsed.key or (id:match("^%d%d%d%d%d%d%d%d$") and id)
      if not key then error(("example list '%s': '%s' is not an IMEI or TAC"):format(name, tostring(id))) end
      keys[key .. (imsi and ("/" .. imsi) or "")] = true
      if imsi then keys[key .. "/*"] = true end -- the device is paired with someone
    end
    lists[name] = {
      has = function(_, id, imsi)
        local parsed = parse(id)
        local key = parsed and parsed.key
        if not key then return false end
        if imsi == nil and keys[key .. "/*"] then return true end
        return keys[key .. (imsi and ("/" .. imsi) or "")] or keys[key:sub(1, 8)] or false
      end,
    }
    setmetatable(lists[name], { __len = function() return #entries end })
  end
  return { get = function(_, name) return lists[name] end }
end

--- The store's windows are whole UTC days (docs/sightings.md): "N days at now" is the N
-- calendar days ending with now's day. A sighting from first to last is in the window
-- when its last day is in it.
local function in_window(first, last, days, now)
  local today = now // 86400
  return last // 86400 > today - days and first // 86400 <= today
end

--- Sightings as a policy sees them (read-only; "now" is the request's time). The store
-- is imei.sightings' (C) or an example's fixture; both answer the same methods.
local function sightings_view(state)
  local api = {}
  function api.available() return state.store ~= nil end
  function api.imsis(key, days)
    local store = state.store
    return store and store:imsis(key, days, state.now) or 0
  end
  function api.msisdns(key, days)
    local store = state.store
    return store and store:msisdns(key, days, state.now) or 0
  end
  function api.first_imsi(key)
    local store = state.store
    return store and (store:first_imsi(key)) or nil
  end
  function api.first_seen(key)
    local store = state.store
    if not store then return nil end
    local _, time = store:first_imsi(key)
    return time
  end
  function api.is_paired(key, imsi)
    local store = state.store
    return store ~= nil and imsi ~= nil and store:is_paired(key, imsi) == true
  end
  function api.paired_with_anyone(key)
    local store = state.store
    local pairs_of = store and store:pairs_of(key)
    return pairs_of ~= nil and #pairs_of > 0
  end
  local NO_DAYS = { days_seen = 0, total = 0, average = 0 }
  --- Distinct IMSIs per day over the days seen within the window: {days_seen, total, average}.
  function api.daily(key, days)
    local store = state.store
    return store and store:daily(key, days, state.now) or NO_DAYS
  end
  --- The sightings of the key: { {imsi, msisdn, operator, first_seen, last_seen, days_seen}, … }
  function api.rows(key)
    local store = state.store
    return store and store:sightings(key) or {}
  end
  --- When the n-th distinct IMSI seen within the window first appeared: the moment a
  -- duplicate threshold was crossed, from which its grace period counts.
  function api.nth_imsi_seen(key, n, days)
    local store = state.store
    if not store then return nil end
    local rows = store:sightings(key) or {}
    local first = {}
    for _, row in ipairs(rows) do
      if in_window(row.first_seen, row.last_seen, days, state.now) then
        local t = first[row.imsi]
        if not t or row.first_seen < t then first[row.imsi] = row.first_seen end
      end
    end
    local times = {}
    for _, t in pairs(first) do times[#times + 1] = t end
    table.sort(times)
    return times[n]
  end
  return read_only(api, "sightings")
end

--- The sightings of an example: { {imsi =, msisdn =, days_ago = | time = }, … }, answering
-- the methods of a store for the example's device.
local function fixture_store(entries, now)
  local rows = {}
  for i, e in ipairs(entries or {}) do
    local t = e.time or (now - (e.days_ago or 0) * 86400)
    rows[i] = { imsi = e.imsi, msisdn = e.msisdn, operator = e.operator, first_seen = t, last_seen = t,
                days_seen = 1 }
  end
  local function distinct(field, days, at)
    local seen, n = {}, 0
    for _, row in ipairs(rows) do
      local v = row[field]
      if v and in_window(row.first_seen, row.last_seen, days, at) and not seen[v] then
        seen[v] = true
        n = n + 1
      end
    end
    return n
  end
  local store = {}
  function store.imsis(_, _, days, at) return distinct("imsi", days, at) end
  function store.msisdns(_, _, days, at) return distinct("msisdn", days, at) end
  function store.first_imsi()
    local best
    for _, row in ipairs(rows) do if not best or row.first_seen < best.first_seen then best = row end end
    if best then return best.imsi, best.first_seen end
    return nil
  end
  function store.is_paired() return false end
  function store.pairs_of() return {} end
  function store.sightings() return rows end
  function store.daily(_, _, days, at)
    local per_day, total, days_seen = {}, 0, 0
    for _, row in ipairs(rows) do
      if in_window(row.first_seen, row.last_seen, days, at) then
        local day = row.first_seen // 86400
        local imsis = per_day[day]
        if not imsis then
          imsis = {}
          per_day[day] = imsis
          days_seen = days_seen + 1
        end
        if not imsis[row.imsi] then
          imsis[row.imsi] = true
          total = total + 1
        end
      end
    end
    return { days_seen = days_seen, total = total, average = days_seen > 0 and total / days_seen or 0 }
  end
  return store
end

-- Policy files: the main one, and the ones it extends (same folder or below only).
local function read_file(path)
  local f, err = open(path, "rb")
  if not f then return nil, err end
  local text = f:read("a")
  f:close()
  return text
end

local function dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

-- sources: path -> text already read (a rebuild of the same policy reads no file again);
-- files.texts gets each text read, for the host to keep.
local function load_policy(path, env, files, depth, sources)
  if depth > 8 then error(("policy.extend: more than 8 levels of extension at %s"):format(path), 0) end
  local text, err = sources and sources[path]
  if not text then text, err = read_file(path) end
  if not text then error(("cannot read policy %s"):format(err), 0) end
  files[#files + 1] = path
  files.texts = files.texts or {}
  files.texts[#files] = text
  local chunk, syntax = load(text, "@" .. path, "t", env)
  if not chunk then error(syntax, 0) end
  local P = chunk()
  if type(P) == "table" and not policy.is_policy(P) and type(P.check) == "function" then
    -- a raw policy: return { name =, version =, check = function(d, r) … end }
    local raw = policy.new { name = P.name or "unnamed", version = P.version or "0" }
    raw:check(P.check)
    P = raw
  end
  if not policy.is_policy(P) then
    error(("%s must return a policy (built with policy.new), got %s"):format(path, type(P)), 0)
  end
  return P
end

--- The `policy` table a policy file sees: the library, plus extend() bound to its folder.
local function policy_api(state, env)
  local api = {}
  for k, v in pairs(policy) do api[k] = v end
  for k, v in pairs(duplicates { sightings = env.sightings, lists = env.lists }) do api[k] = v end
  --- policy.extend("base.lua", { name =, version = }) → a copy of the base to change.
  function api.extend(relative, meta)
    local current = state.files[#state.files]
    if not state.loading then error("policy.extend can only be called while the policy loads", 2) end
    if type(relative) ~= "string" or not relative:match("^[%w_%-][%w_%-/.]*%.lua$") or relative:find("..", 1, true) then
      error(("%s: policy.extend(%q): give a relative path to a .lua file in the policy's folder, without '..'")
        :format(current, tostring(relative)), 0)
    end
    state.depth = state.depth + 1 -- a policy extending itself, directly or not, stops at 8 levels
    local base = load_policy(state.dir .. "/" .. relative, env, state.files, state.depth, state.sources)
    state.depth = state.depth - 1
    return policy.derive(base, meta or {})
  end
  return read_only(api, "policy")
end

local instance_methods = {}

local function first_seen_of(state)
  return function(d)
    local store = state.store
    if not (store and d.key) then return nil end
    local _, time = store:first_imsi(d.key)
    return time
  end
end

--- runtime.new(opts) → instance. Loads the policy and runs its examples; raises with a
-- clear message when either fails.
function runtime.new(opts)
  assert(type(opts) == "table" and type(opts.policy) == "string", "runtime.new: opts.policy is required")
  local state = {
    dir = dirname(opts.policy), files = {}, depth = 0, loading = true,
    tacdb = opts.tacdb, lists = opts.lists, store = opts.store_ro or opts.store,
    store_rw = opts.store, record = opts.record, now = os.time(), warnings = {}, sources = opts.sources,
  }
  local warned = {}
  function state.warn(message)
    if not warned[message] and #state.warnings < 100 then -- bounded: a state must not grow
      warned[message] = true
      state.warnings[#state.warnings + 1] = message
    end
  end
  local env = {}
  local api = {
    policy = nil, lists = lists_view(state), sightings = sightings_view(state), imei = imei_api,
    -- print and log: to the host's log through a bounded buffer (drops counted there);
    -- outside the sandbox, the last 100 lines are kept as warnings.
    log = host_log or function(...)
      local parts = table.pack(...)
      for i = 1, parts.n do parts[i] = tostring(parts[i]) end
      if #state.warnings >= 100 then table.remove(state.warnings, 1) end
      state.warnings[#state.warnings + 1] = "log: " .. table.concat(parts, " ", 1, parts.n)
    end,
  }
  for k, v in pairs(environment(api)) do env[k] = v end
  env.policy = policy_api(state, env)
  env._G = env
  local P = load_policy(opts.policy, env, state.files, 0, state.sources)
  state.loading = false
  local inst = setmetatable({ policy = P, state = state, context = { first_seen = first_seen_of(state) } },
    { __index = instance_methods })
  -- the closures the engine calls
  function inst.check(r) return inst:evaluate(r) end
  function inst.set_lists(lists)
    state.lists = lists
    state.reset_lists()
    return true
  end
  if not opts.skip_examples then
    local results = inst:run_examples()
    if #results.failed > 0 then
      local lines = {}
      for _, f in ipairs(results.failed) do lines[#lines + 1] = "  " .. f.at .. ": " .. f.message end
      error(("%d of %d examples of %s failed:\n%s"):format(#results.failed, results.total,
        P.name .. "@" .. P.version, table.concat(lines, "\n")), 0)
    end
  end
  return inst
end


--- inst:evaluate(request) → verdict. `request.time` defaults to now (UTC seconds).
function instance_methods:evaluate(r)
  local state = self.state
  if r.time == nil then r.time = os.time() end
  state.now = r.time
  local d = runtime.device(r, state.tacdb)
  if state.record and state.store_rw and d.key and r.imsi then
    state.store_rw:record { key = d.key, imsi = r.imsi, msisdn = r.msisdn, operator = r.operator,
                            rat = r.rat, time = r.time }
  end
  return self.policy:evaluate(d, r, self.context)
end

local function has_reason(verdict, name)
  for _, reason in ipairs(verdict.reasons or {}) do
    if reason.condition == name then return true end
  end
  return false
end

--- inst:run_examples() → { total =, passed =, failed = { {at =, message =}, … } }
-- Each example runs against its own declared lists, device and sightings.
function instance_methods:run_examples()
  local P, state = self.policy, self.state
  local results = { total = #P.examples, passed = 0, failed = {} }
  local saved_lists, saved_store, saved_tacdb = state.lists, state.store, state.tacdb
  for _, e in ipairs(P.examples) do
    local r = {
      pei = e.pei, imei = e.imei, imsi = e.imsi, msisdn = e.msisdn, operator = e.operator, rat = e.rat,
      time = e.time or 1767225600, -- 2026-01-01T00:00:00Z: examples are reproducible
    }
    for k, v in pairs(e.extras or {}) do r[k] = v end
    state.lists = fixture_lists(e.lists)
    state.reset_lists()
    state.store = e.sightings and fixture_store(e.sightings, r.time) or nil
    local device = e.device
    state.tacdb = { lookup = function() return device or nil end }
    local ok, verdict = pcall(self.evaluate, self, r)
    local problem
    if not ok then
      problem = "raised: " .. tostring(verdict)
    elseif verdict.status ~= e.expect then
      local got = {}
      for _, reason in ipairs(verdict.reasons) do got[#got + 1] = reason.condition end
      problem = ("expected %s, got %s (reasons: %s)"):format(e.expect, verdict.status,
        #got > 0 and table.concat(got, ", ") or "none")
    else
      for _, name in ipairs(e.reasons or {}) do
        if not has_reason(verdict, name) then
          problem = ("expected reason '%s' among the reasons"):format(name)
          break
        end
      end
      if not problem and e.block_date and verdict.block_date ~= e.block_date then
        problem = ("expected block_date %s, got %s"):format(e.block_date, tostring(verdict.block_date))
      end
      if not problem and e.notify ~= nil and (verdict.notify or false) ~= e.notify then
        problem = ("expected notify = %s"):format(tostring(e.notify))
      end
    end
    if problem then
      results.failed[#results.failed + 1] = { at = e.at, message = (e.note and (e.note .. ": ") or "") .. problem,
                                              example = e, verdict = ok and verdict or nil }
    else
      results.passed = results.passed + 1
    end
  end
  state.lists, state.store, state.tacdb = saved_lists, saved_store, saved_tacdb
  state.reset_lists()
  return results
end

--- inst:info() → { name, version, base, files, conditions, warnings, examples }
function instance_methods:info()
  local P = self.policy
  local example_reasons = {}
  for name in pairs(P.base_covered or {}) do example_reasons[#example_reasons + 1] = name end
  for _, e in ipairs(P.examples) do
    for _, name in ipairs(e.reasons or {}) do example_reasons[#example_reasons + 1] = name end
  end
  return {
    example_reasons = example_reasons,
    name = P.name, version = P.version, base = P.base, resolve = P.resolve, default = P.default,
    files = self.state.files, conditions = P:describe(), warnings = self.state.warnings,
    examples = #P.examples, raw = P.raw_check ~= nil,
  }
end

runtime._fixture_store = fixture_store -- for tests: examples' sightings answer as a store does
return runtime
