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
local paths = require "imei.paths"
-- Only when an explanation is asked for (docs/explain.md); the check never calls it.
local explain_trace = require "imei.explain.trace"

-- Captured now: the sandbox removes these from the globals when it locks the state.
local open, load = io.open, load
local os_time, os_date = os.time, os.date
-- The host's bounded log (core/sandbox.c), nil outside the sandbox.
local host_log = rawget(_G, "_IMEI_HOST_LOG")
local parse, device_facts = core.parse, core.device_facts
-- Lua's own setmetatable, for the runtime's tables (the sandbox's checks for __gc, which
-- the runtime's metatables never have, cost a C call per device record).
local raw_setmetatable = setmetatable
-- The examples' data are the real C objects, built in the examples' own instance.
local list_load_string, lists_new, sightings_open = core.list_load_string, core.lists_new, core.sightings_open
-- Inside the engine's sandbox: a protected call with a share of the check's budget, for
-- each condition (lua/imei/policy/init.lua). Outside one (a plain state) policy uses pcall.
local has_sandbox, sandbox = pcall(require, "imei.sandbox")
local protect = has_sandbox and sandbox.pcall_budget or nil
local decide, sealed_of = policy.decide, policy.sealed_of

local runtime = {}

local IMEI_KINDS = { imei = true, imei14 = true, imeisv = true }

--- The fields a device record may have (imei.parse's, and the runtime's). Reading any
-- other is an error, so that a typo (d.kye) fails a condition and its examples instead of
-- reading as nil.
local D_FIELDS = {}
for name in ([[kind digits from_pei key tac snr rbi rbi_name test cd_expected cd cd_ok spare pei svn
  svn_reserved junk pesn decimal decimal_form input parsed valid error imei_kind device known_tac]]):gmatch("%S+") do
  D_FIELDS[name] = true
end
runtime.DEVICE_FIELDS = D_FIELDS
local function no_such_field(name)
  error(("d.%s: the device record has no such field (see docs/policies.md)"):format(tostring(name)), 3)
end
local STRICT_D = {
  __index = function(_, name)
    if D_FIELDS[name] then return nil end
    no_such_field(name)
  end,
  __metatable = false,
}

-- A device record is built from the facts every check reads (core.device_facts: kind, key,
-- cd_ok, spare, test, junk) and, with a TAC database, known_tac from the TAC's index; the
-- other fields of imei.parse's table, and `device` (the TAC record), are filled in the
-- first time a policy reads one of them, with the values they would have had from the
-- start. What to fill in is kept under keys no policy can name: the input as given, and
-- the TAC's record index.
local PARSE_FIELDS = {} -- imei.parse's fields that core.device_facts does not give
for name in ([[digits from_pei tac snr rbi rbi_name cd_expected cd pei svn svn_reserved pesn decimal
  decimal_form]]):gmatch("%S+") do
  PARSE_FIELDS[name] = true
end
local LAZY_INPUT, LAZY_TAC = {}, {}

-- Fill in the rest of imei.parse's fields (those not set already).
local function fill_parse(d, input)
  d[LAZY_INPUT] = nil
  local t = parse(input)
  for k, v in next, t do
    if rawget(d, k) == nil then rawset(d, k, v) end
  end
end

-- The metatable of the device records read with this TAC database (one per database).
local LAZY_D = setmetatable({}, { __mode = "k" })
local function lazy_d(tacdb)
  local mt = LAZY_D[tacdb]
  if mt then return mt end
  mt = {
    __index = function(d, name)
      if PARSE_FIELDS[name] then
        local input = rawget(d, LAZY_INPUT)
        if input == nil then return nil end
        fill_parse(d, input)
        return rawget(d, name)
      elseif name == "device" then
        local idx = rawget(d, LAZY_TAC)
        if idx == nil then return nil end
        d[LAZY_TAC] = nil
        local record = tacdb:record(idx)
        rawset(d, "device", record)
        return record
      elseif D_FIELDS[name] then
        return nil
      end
      no_such_field(name)
    end,
    __metatable = false,
  }
  LAZY_D[tacdb] = mt
  return mt
end
local LAZY_NO_TACDB = lazy_d(false)
-- The last TAC database a device record was read with, its index method and metatable
-- (weak: the cache keeps no database alive).
local LAST = setmetatable({}, { __mode = "v" })

--- The device record of a request (never raises on bad input: the policy decides).
function runtime.device(r, tacdb)
  local input = r.pei or r.imei
  local kind, key, cd_ok, spare, test, junk = device_facts(input) -- false: input is not a string
  if not kind then
    if kind == false then
      return setmetatable({ parsed = false, valid = false, error = "the request has no pei or imei" }, STRICT_D)
    end
    return setmetatable({ input = input, parsed = false, valid = false, error = key }, STRICT_D)
  end
  local imei_kind = IMEI_KINDS[kind] or false
  local d = { input = input, parsed = true, kind = kind, key = key, cd_ok = cd_ok, spare = spare, test = test,
              junk = junk, imei_kind = imei_kind, valid = imei_kind and cd_ok ~= false, [LAZY_INPUT] = input }
  if key and tacdb then
    local index, mt = LAST.index, LAST.mt
    if tacdb ~= LAST.tacdb then
      index = tacdb.index
      mt = index and lazy_d(tacdb)
      LAST.tacdb, LAST.index, LAST.mt = tacdb, index, mt
    end
    if index then -- a TAC database: known_tac from the index; the record when asked for
      local idx = index(tacdb, key)
      d.known_tac = idx ~= nil
      d[LAZY_TAC] = idx
      return raw_setmetatable(d, mt)
    end
    d.device = tacdb:lookup(key) -- the examples' device, the explanation's recording proxy
    d.known_tac = d.device ~= nil -- stays nil without a TAC database: not known either way
  end
  return raw_setmetatable(d, LAZY_NO_TACDB)
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
local function environment(api, state)
  local env = {
    assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs, pcall = pcall,
    select = select, tonumber = tonumber, tostring = tostring, type = type, xpcall = xpcall,
    rawequal = rawequal, rawget = rawget, rawlen = rawlen,
    setmetatable = setmetatable, getmetatable = getmetatable, _VERSION = _VERSION,
    string = copy(string), table = copy(table), math = copy(math), utf8 = copy(utf8),
    coroutine = copy(coroutine),
    -- the clock is the request's: os.time() and os.date(fmt) without a time give r.time
    os = {
      time = function(t)
        if t == nil then return state.now end
        return os_time(t)
      end,
      date = function(fmt, t)
        if t == nil then t = state.now end
        return os_date(fmt, t)
      end,
      clock = os.clock, difftime = os.difftime,
    },
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
-- frozen C set). A name with no list loaded is an empty list when the name is known (a
-- list kind of docs/lists.md, or a list an example of the policy declares), and a
-- warning says so once; any other name is an error (a typo must not read as empty).
-- Each name is looked up once and then read raw; a new collection empties the view.
local EMPTY_LIST = read_only({ has = function() return false end }, "an empty list")
local KNOWN_LISTS = {}
for name in ([[stolen lost blocked block blocklist barred barred_tac golden registration approved pairing
  exceptions exception notification notifications monitoring]]):gmatch("%S+") do
  KNOWN_LISTS[name] = true
end

local function lists_view(state)
  local view = {}
  function state.reset_lists()
    for name in pairs(view) do view[name] = nil end
  end
  return setmetatable(view, {
    __index = function(t, name)
      local source = state.lists
      local list = type(name) == "string" and source and source:get(name)
      if not list then
        if type(name) ~= "string" or not (KNOWN_LISTS[name] or state.declared_lists[name]) then
          error(("lists.%s: no such list (not a list kind of docs/lists.md, none is loaded under that name, "
            .. "and no example of the policy declares it)"):format(tostring(name)), 2)
        end
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

-- One CSV field, quoted (RFC 4180): an example's entry cannot forge another row.
local function csv_field(value)
  return '"' .. tostring(value):gsub('"', '""') .. '"'
end

--- The lists of an example, { name = { "imei", … } | { "tac", … } | { {"imei", "imsi"}, … } },
-- loaded by the C loader (core/list.c) from text, as a lists collection: an example tests
-- the very code that answers live.
local function example_lists(spec)
  local made = {}
  for name, entries in pairs(spec or {}) do
    if type(name) ~= "string" or not name:match("^[%a_][%w_]*$") then
      error(("example: list name %q is not a word"):format(tostring(name)), 0)
    end
    if type(entries) ~= "table" then error(("example list '%s': a table of entries"):format(name), 0) end
    local kind, rows = nil, {}
    for i, entry in ipairs(entries) do
      local k, row
      if type(entry) == "table" then
        k, row = "pairs", csv_field(entry[1]) .. "," .. csv_field(entry[2])
      elseif type(entry) == "string" and entry:match("^%d%d%d%d%d%d%d%d$") then
        k, row = "tacs", entry
      elseif type(entry) == "string" then
        k, row = "keys", csv_field(entry)
      else
        error(("example list '%s': entry %d is a %s"):format(name, i, type(entry)), 0)
      end
      if kind and kind ~= k then
        error(("example list '%s': entries of two kinds (%s and %s)"):format(name, kind, k), 0)
      end
      kind = k
      rows[i] = row
    end
    local header = kind == "pairs" and "imei,imsi" or kind == "tacs" and "tac" or "imei"
    local list, report = list_load_string(header .. "\n" .. table.concat(rows, "\n") .. "\n", name)
    if not list then error(("example list '%s': %s"):format(name, tostring(report)), 0) end
    if report.rejected > 0 then
      local first = report.errors[1]
      error(("example list '%s': entry %d: %s"):format(name, first and first.line - 1 or 0,
        first and first.reason or "rejected"), 0)
    end
    made[#made + 1] = list
  end
  local lists, err = lists_new(made)
  if not lists then error("example lists: " .. tostring(err), 0) end
  return lists
end

--- The sightings of an example, { {imsi =, msisdn =, operator =, days_ago = | time = }, … },
-- recorded for the example's device in a memory store of its own (core/sightings*.c).
local function example_store(entries, key, now)
  if not key then error("example: sightings need a pei that parses as an IMEI", 0) end
  local store = assert(sightings_open("memory"))
  for i, e in ipairs(entries) do
    if type(e) ~= "table" then error(("example sighting %d: a table"):format(i), 0) end
    local ok, err = store:record { key = key, imsi = e.imsi, msisdn = e.msisdn, operator = e.operator,
                                   time = e.time or (now - (e.days_ago or 0) * 86400) }
    if not ok then
      error(("example sighting %d: %s"):format(i, tostring(err)), 0)
    end
  end
  return store
end

--- Sightings as a policy sees them (read-only; "now" is the request's time). The store
-- is imei.sightings' (C): the live one, or an example's memory store.
-- A store that cannot answer (Redis away, a damaged file) raises, so the condition that
-- asked fails (it is reported as failed, with its on_error) instead of deciding on "none".
local function need(v, err, ...)
  if v == nil and err ~= nil then error("sightings store: " .. tostring(err), 0) end
  return v, err, ...
end

local function sightings_view(state)
  local api = {}
  function api.available() return state.store ~= nil end
  -- (the counts, asked on every check by the duplicate rules, check their answer inline,
  -- in the fewest instructions: they run under the count hook)
  function api.imsis(key, days)
    local store = state.store
    if store then
      local n, err = store:imsis(key, days, state.now)
      if n then return n end
      if err ~= nil then need(n, err) end
    end
    return 0
  end
  function api.msisdns(key, days)
    local store = state.store
    if store then
      local n, err = store:msisdns(key, days, state.now)
      if n then return n end
      if err ~= nil then need(n, err) end
    end
    return 0
  end
  function api.first_imsi(key)
    local store = state.store
    return store and (need(store:first_imsi(key))) or nil
  end
  function api.first_seen(key)
    local store = state.store
    if not store then return nil end
    local _, time = need(store:first_imsi(key))
    return time
  end
  function api.is_paired(key, imsi)
    local store = state.store
    return store ~= nil and imsi ~= nil and need(store:is_paired(key, imsi)) == true
  end
  function api.paired_with_anyone(key)
    local store = state.store
    local pairs_of = store and need(store:pairs_of(key))
    return pairs_of ~= nil and #pairs_of > 0
  end
  local NO_DAYS = { days_seen = 0, total = 0, average = 0 }
  --- Distinct IMSIs per day over the days seen within the window: {days_seen, total, average}.
  function api.daily(key, days)
    local store = state.store
    return store and need(store:daily(key, days, state.now)) or NO_DAYS
  end
  --- The sightings of the key: { {imsi, msisdn, operator, first_seen, last_seen, days_seen}, … };
  -- with days, those seen within the window of `days` days at the request's time (the
  -- store's own window rule, core/sightings.c).
  function api.rows(key, days)
    local store = state.store
    if not store then return {} end
    if days == nil then return need(store:sightings(key)) or {} end
    return need(store:sightings(key, days, state.now)) or {}
  end
  --- When the n-th distinct IMSI seen within the window first appeared: the moment a
  -- duplicate threshold was crossed, from which its grace period counts.
  function api.nth_imsi_seen(key, n, days)
    local store = state.store
    if not store then return nil end
    local first = {}
    for _, row in ipairs(need(store:sightings(key, days, state.now)) or {}) do
      local t = first[row.imsi]
      if not t or row.first_seen < t then first[row.imsi] = row.first_seen end
    end
    local times = {}
    for _, t in pairs(first) do times[#times + 1] = t end
    table.sort(times)
    return times[n]
  end
  return read_only(api, "sightings")
end

-- Policy files: the main one, and the ones it extends: found beside the main policy, then
-- in $IMEI_POLICY_PATH, then in the installed policies (imei.paths), by a relative path
-- without "..". The search folders are read once, while the runtime loads (unlocked).
local POLICY_DIRS = paths.policy_dirs()
local exists = paths.exists
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

-- The runtime state of a policy environment (load_policy has the environment only).
local STATES = setmetatable({}, { __mode = "k" })
local function state_of(env) return STATES[env] end

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
  local outer, made = state_of(env).made, {} -- the policies policy.extend makes in this file
  state_of(env).made = made
  local P = chunk()
  state_of(env).made = outer
  if type(P) == "table" and not policy.is_policy(P) and type(P.check) == "function" then
    -- a raw policy: return { name =, version =, check = function(d, r) … end }
    local raw = policy.new { name = P.name or "unnamed", version = P.version or "0" }
    raw:check(P.check)
    P = raw
  end
  if not policy.is_policy(P) then
    error(("%s must return a policy (built with policy.new), got %s"):format(path, type(P)), 0)
  end
  if next(made) and not made[P] then -- a hand-made copy would leave the base's locks behind
    error(("%s calls policy.extend but returns another policy: return the one policy.extend made"):format(path), 0)
  end
  policy.verify(P, path)
  return P
end

--- The `policy` table a policy file sees: the library, plus extend() bound to its folder.
local function policy_api(state, env)
  local api = {}
  for k, v in pairs(policy) do
    -- examples_of hands out the national examples a policy file must not edit; seal and
    -- sealed_of (what a check decides with) are the runtime's
    if k ~= "examples_of" and k ~= "seal" and k ~= "sealed_of" and k ~= "evaluate" and k ~= "decide" then
      api[k] = v
    end
  end
  for k, v in pairs(duplicates { sightings = env.sightings, lists = env.lists }) do api[k] = v end
  --- policy.extend("base.lua", { name =, version = }) → a copy of the base to change.
  function api.extend(relative, meta)
    local current = state.files[#state.files]
    if not state.loading then error("policy.extend can only be called while the policy loads", 2) end
    if type(relative) ~= "string" or not relative:match("^[%w_%-][%w_%-/.]*%.lua$") or relative:find("..", 1, true) then
      error(("%s: policy.extend(%q): give a relative path to a .lua file in the policy's folder, without '..'")
        :format(current, tostring(relative)), 0)
    end
    local path = state.dir .. "/" .. relative
    if not exists(path) then
      local found, tried = paths.search(relative, POLICY_DIRS)
      if not found then
        error(("%s: policy.extend(%q): not found beside the policy (%s) nor in %s"):format(current, relative,
          path, #tried > 0 and table.concat(tried, ", ") or "any policy folder ($IMEI_POLICY_PATH unset)"), 0)
      end
      path = found
    end
    state.depth = state.depth + 1 -- a policy extending itself, directly or not, stops at 8 levels
    local made = state.made
    local base = load_policy(path, env, state.files, state.depth, state.sources)
    state.depth = state.depth - 1
    local P = policy.derive(base, meta or {})
    made[P] = true
    return P
  end
  return read_only(api, "policy")
end

local instance_methods = {}

local function first_seen_of(state)
  return function(d)
    local store = state.store
    if not (store and d.key) then return nil end
    local _, time = need(store:first_imsi(d.key))
    return time
  end
end

--- Run the examples of the policy file in an instance of their own (its own environment
-- and policy load, and no live data) and raise when one fails. The engine does the same
-- in a sandbox of its own (host/engine.c).
-- opts.sources (path -> text): the texts to test, those a live instance loaded.
function runtime.self_test(opts)
  local tester = runtime.new { policy = opts.policy, sources = opts.sources, skip_examples = true, examples = true }
  local results = tester:run_examples()
  if #results.failed > 0 then
    local lines = {}
    for _, f in ipairs(results.failed) do lines[#lines + 1] = "  " .. f.at .. ": " .. f.message end
    local P = tester.policy
    error(("%d of %d examples of %s failed:\n%s"):format(#results.failed, results.total,
      P.name .. "@" .. P.version, table.concat(lines, "\n")), 0)
  end
  return results
end

--- runtime.new(opts) → instance. Loads the policy and (unless skip_examples) runs its
-- examples in an instance of their own; raises with a clear message when either fails.
-- opts: policy, tacdb, lists, store (read-only: the engine records sightings itself, in
-- C), skip_examples, examples (an instance for examples only: it never holds live data).
function runtime.new(opts)
  assert(type(opts) == "table" and type(opts.policy) == "string", "runtime.new: opts.policy is required")
  if opts.examples and (opts.tacdb or opts.lists or opts.store) then
    error("runtime.new: an instance for examples holds no live data", 2)
  end
  local state = {
    dir = dirname(opts.policy), files = {}, depth = 0, loading = true,
    tacdb = opts.tacdb, lists = opts.lists, store = opts.store, now = os_time(), warnings = {},
    declared_lists = {}, examples = opts.examples, sources = opts.sources,
  }
  local warned = {}
  function state.warn(message)
    if not warned[message] and #state.warnings < 100 then -- bounded: a state must not grow
      warned[message] = true
      state.warnings[#state.warnings + 1] = message
    end
  end
  local env = {}
  STATES[env] = state
  state.made = {}
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
  for k, v in pairs(environment(api, state)) do env[k] = v end
  env.policy = policy_api(state, env)
  env._G = env
  local P = policy.seal(load_policy(opts.policy, env, state.files, 0, state.sources))
  state.loading = false
  for name in pairs(P.base_lists or {}) do state.declared_lists[name] = true end
  for _, e in ipairs(P.examples) do
    for name in pairs(type(e.lists) == "table" and e.lists or {}) do state.declared_lists[name] = true end
  end
  local inst = setmetatable({ policy = P, state = state,
                              context = { first_seen = first_seen_of(state), protect = protect } },
    { __index = instance_methods })
  -- the closures the engine calls
  function inst.check(r) return inst:evaluate(r) end
  if has_sandbox and not sealed_of(P).raw_check then
    -- In the sandbox, the check runs unhooked up to its conditions' protected call
    -- (ctx.protect, which runs them hooked) and after it: everything it calls until then
    -- is the runtime's (captured here, out of any policy's reach) and bounded, and the
    -- request is the host's own table. A raw check is policy code: it keeps the hook.
    -- It returns the verdict as values (policy.decide), which the host reads off the stack.
    -- The engine lifts the hook itself before it calls this check (check_unhooked: host/engine.c,
    -- imei_sandbox_unhook), a Lua call fewer per check; any other caller runs it hooked.
    local device, context, sealed = runtime.device, inst.context, sealed_of(P)
    local name = sealed.full_name
    inst.check_unhooked = true
    function inst.check(r)
      local now = r.time
      if now == nil then
        now = os_time()
        r.time = now
      end
      state.now = now
      return decide(sealed, device(r, state.tacdb), r, context, name)
    end
  end
  -- explain: the same evaluation, traced; the host calls explain_finish afterwards
  -- whatever happened (a run cut short by the budget leaves the data swapped)
  function inst.explain(r) return explain_trace.run(inst, r) end
  function inst.explain_finish() explain_trace.finish(inst) end
  function inst.set_lists(lists)
    state.lists = lists
    state.reset_lists()
    return true
  end
  if not opts.skip_examples then -- on the very texts this instance loaded
    local sources = {}
    for i, path in ipairs(state.files) do sources[path] = state.files.texts[i] end
    runtime.self_test { policy = opts.policy, sources = sources }
  end
  return inst
end


--- inst:evaluate(request) → verdict. `request.time` defaults to now (UTC seconds).
function instance_methods:evaluate(r)
  local state = self.state
  if r.time == nil then r.time = os_time() end
  state.now = r.time
  return self.policy:evaluate(runtime.device(r, state.tacdb), r, self.context)
end

local function has_reason(verdict, name)
  for _, reason in ipairs(verdict.reasons or {}) do
    if reason.condition == name then return true end
  end
  return false
end

local DEFAULT_EXAMPLE_TIME = 1767225600 -- 2026-01-01T00:00:00Z: examples are reproducible

-- One example against its own lists, store and device: the verdict, or raises.
local function run_example(self, e, r)
  local state = self.state
  state.lists = e.lists and example_lists(e.lists) or nil
  state.reset_lists()
  local parsed = parse(r.pei or r.imei or "")
  state.store = e.sightings and example_store(e.sightings, parsed and parsed.key, r.time) or nil
  local device = e.device
  state.tacdb = { lookup = function() return device or nil end }
  return self:evaluate(r)
end

-- What is wrong with an example's verdict, or nil.
local function example_problem(e, verdict)
  for _, reason in ipairs(verdict.reasons) do
    if reason.failed then
      return ("condition '%s' failed: %s"):format(reason.condition, tostring(reason.error))
    end
  end
  local got = {}
  for _, reason in ipairs(verdict.reasons) do got[#got + 1] = reason.condition end
  local actual = #got > 0 and table.concat(got, ", ") or "none"
  if verdict.status ~= e.expect then
    return ("expected %s, got %s (reasons: %s)"):format(e.expect, verdict.status, actual)
  end
  -- reasons: each name must be among the verdict's reasons (informative and overruled ones
  -- count); others may be there too, and the order does not matter
  for _, name in ipairs(e.reasons or {}) do
    if not has_reason(verdict, name) then
      return ("expected reason '%s' among the reasons, got: %s"):format(name, actual)
    end
  end
  if e.block_date and verdict.block_date ~= e.block_date then
    return ("expected block_date %s, got %s"):format(e.block_date, tostring(verdict.block_date))
  end
  if e.notify ~= nil and (verdict.notify or false) ~= e.notify then
    return ("expected notify = %s"):format(tostring(e.notify))
  end
end

--- inst:run_examples() → { total =, passed =, skipped =, failed = { {at =, message =}, … },
--   examples = { {at =, note =, result = "ok"|"fail"|"skip", from =, message =}, … } }
-- Only in an instance made for examples (runtime.new{examples = true}): each example
-- runs against its own declared lists, device and sightings, built as real C objects,
-- and a condition that fails fails the example. `from` names the national base an
-- inherited example comes from.
function instance_methods:run_examples()
  local P, state = self.policy, self.state
  if not state.examples then
    error("examples run in an instance of their own (runtime.new{ examples = true }), never on live data", 2)
  end
  local list = policy.examples_of(P)
  local results = { total = #list, passed = 0, skipped = 0, failed = {}, examples = {} }
  for _, item in ipairs(list) do
    local e = item.example
    local entry = { at = e.at, note = e.note, from = item.from, expect = e.expect }
    results.examples[#results.examples + 1] = entry
    if item.skip then
      entry.result, entry.message = "skip", item.skip
      results.skipped = results.skipped + 1
    else
      local r = {
        pei = e.pei, imei = e.imei, imsi = e.imsi, msisdn = e.msisdn, operator = e.operator, rat = e.rat,
        time = e.time or DEFAULT_EXAMPLE_TIME,
      }
      for k, v in pairs(e.extras or {}) do r[k] = v end
      local ok, verdict = pcall(run_example, self, e, r)
      -- the example's store and lists go with the collector (inside a sandbox their close
      -- methods are sealed away); they never outlive this instance
      state.lists, state.store, state.tacdb = nil, nil, nil
      local problem
      if not ok then
        problem = "raised: " .. tostring(verdict)
      else
        problem = example_problem(e, verdict)
        entry.status = verdict.status
      end
      if problem then
        local message = (e.note and (e.note .. ": ") or "") .. problem
        if item.from then message = message .. " (an example of " .. item.from .. ")" end
        entry.result, entry.message = "fail", message
        results.failed[#results.failed + 1] = { at = e.at, message = message, from = item.from,
                                                example = e, verdict = ok and verdict or nil }
      else
        entry.result = "ok"
        results.passed = results.passed + 1
      end
    end
  end
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
    examples = #P.examples, raw = P.raw_check ~= nil, national = P.national,
    required_lists = P.required_lists,
  }
end

return runtime
