--- imei.policy — the library a policy file sees as `policy` (docs/policies.md).
--
--   local P = policy.new { name = "example-country", version = "2026-11" }
--   P:condition { name = "stolen", status = "BLACKLISTED", reason = "reported stolen",
--                 when = function(d) return lists.stolen:has(d.key) end }
--   P:example { pei = "imei-490154203237518", lists = { stolen = { "490154203237518" } },
--               expect = "BLACKLISTED", reasons = { "stolen" } }
--   return P
--
-- A condition is a named rule: when `when(d, r)` holds and `unless(d, r)` does not, it
-- asks for `status`. With `grace_days` the status is GREYLISTED (notify the subscriber)
-- until the block date, counted from `since(d, r)` or the device's first sighting or the
-- request time. How several matching conditions resolve is the policy's `resolve`:
--   "worst" (default)  the most severe status wins: BLACKLISTED > GREYLISTED > UNKNOWN > WHITELISTED
--   "first"            the first matching condition, in the order written, decides
-- A condition with `final = true` decides alone when it matches (an allow list): the
-- evaluation stops there and conditions matched before it are reported as overruled.
-- A condition with `blocking = false` is reported in the reasons but decides nothing.
-- A condition with `locked = true` is a national lock: a policy that extends this one
-- cannot disable, enable or override it (it fails to load, naming the condition and both
-- files), nor replace the conditions with a raw check or change `resolve`, and a final
-- condition does not overrule it. A policy made with `national = true` binds the policies
-- that extend it to its examples too (docs/policies.md, "National locks").
-- Runs inside the policy sandbox, but is plain Lua and runs unsandboxed as well.
--
-- Fail-safe: each condition runs in its own protected call (ctx.protect, the sandbox's
-- budgeted pcall; plain pcall outside a sandbox). A condition that raises or runs out of
-- its share of the budget is reported as a reason with failed = true and its error, and
-- decides nothing, unless it names its own `on_error` status, which it then asks for.
-- The other conditions still decide.
local getinfo = debug and debug.getinfo -- captured before the sandbox is locked: example locations
-- Status names and their severity (resolve = "worst") come from C: core/imei_status.h.
local SEVERITY = require("imei.core").SEVERITY

local policy = {}

local DAY = 86400

local Policy = {}
Policy.__index = Policy
Policy.__name = "imei.policy"

local CONDITION_FIELDS = {
  name = "string", status = "string", when = "function", unless = "function",
  grace_days = "number|function", since = "function", blocking = "boolean", sticky = "boolean",
  reason = "string", detail = "function", final = "boolean", description = "string", max_ratio = "number",
  on_error = "string", locked = "boolean", effective = "string",
}
local EXAMPLE_FIELDS = {
  pei = "string", imei = "string", imsi = "string", msisdn = "string", operator = "string",
  rat = "string", time = "number", extras = "table", expect = "string", reasons = "table",
  lists = "table", device = "table|boolean", sightings = "table", note = "string",
  block_date = "string", notify = "boolean",
}
local META_FIELDS = {
  name = "string", version = "string", resolve = "string", default = "string", description = "string",
  effective = "string", national = "boolean",
}

-- effective = "YYYY-MM-DD": the UTC midnight it names (seconds), or nil when it is no date.
local function effective_time(s)
  local y, m, d = tostring(s):match("^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  if not y or m < 1 or m > 12 or d < 1 then return nil end
  local feb = (y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0)) and 29 or 28
  local mdays = { 31, feb, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }
  if d > mdays[m] then return nil end
  -- days from the civil date (H. Hinnant's algorithm), UTC
  local yy = m <= 2 and y - 1 or y
  local era = yy // 400
  local yoe = yy - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return (era * 146097 + doe - 719468) * 86400
end
policy.effective_time = effective_time

local function check_effective(value, what, level)
  if value == nil then return nil end
  local t = effective_time(value)
  if not t then
    error(("%s: effective = %q: give a date \"YYYY-MM-DD\" (the day the rule takes effect)"):format(what, value),
      level + 1)
  end
  return t
end

-- grace_days functions made by policy.by_rbi, with their tables (for lint): weak keys.
local BY_RBI = setmetatable({}, { __mode = "k" })

-- What a policy file must not reach, even by hand (P is a plain table it can write to),
-- by policy object (weak keys): `owner`, a token naming the policy in its conditions'
-- locks (no way back to the object); `changed`, name -> where, the conditions this policy
-- overrode, disabled or enabled; `inherited`, the examples of national bases it runs,
-- { example =, from =, changed = }; `snapshots`, the locked conditions it got (verify).
local PRIVATE = setmetatable({}, { __mode = "k" })

local function where(level)
  if not getinfo then return "?" end
  local info = getinfo(level + 1, "Sl")
  if not info then return "?" end
  -- the full path (short_src cuts long ones): a lock's message names both files
  local src = info.source:sub(1, 1) == "@" and info.source:sub(2) or info.short_src
  return src .. ":" .. (info.currentline or "?")
end

-- Edit distance (Levenshtein), bounded: names are short words.
local function distance(a, b)
  if #a > 64 or #b > 64 then return math.huge end
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    local ca = a:byte(i)
    for j = 1, #b do
      local cost = ca == b:byte(j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

--- policy.suggest(name, candidates) → " (did you mean 'x'?)" or "": the nearest of the
-- candidates (a list or a set's keys) within a third of the name's length (at least 2).
function policy.suggest(name, candidates)
  if type(name) ~= "string" then return "" end
  local best, best_d = nil, math.max(2, #name // 3) + 1
  local function try(c)
    if type(c) == "string" and c ~= name then
      local dist = distance(name:lower(), c:lower())
      if dist < best_d or (dist == best_d and best and c < best) then best, best_d = c, dist end
    end
  end
  if #candidates > 0 then
    for _, c in ipairs(candidates) do try(c) end
  else
    for c in pairs(candidates) do try(c) end
  end
  return best and (" (did you mean '%s'?)"):format(best) or ""
end

-- Check a spec table against its field types; `what` names it in errors, level points
-- the error at the policy author's line.
local function check_fields(spec, fields, what, level)
  if type(spec) ~= "table" then
    error(("%s expects a table, got %s"):format(what, type(spec)), level + 1)
  end
  for key, value in pairs(spec) do
    local expected = fields[key]
    if expected == nil then
      local known = {}
      for k in pairs(fields) do known[#known + 1] = k end
      table.sort(known)
      error(("%s: unknown field '%s' (known: %s)"):format(what, tostring(key), table.concat(known, ", ")), level + 1)
    end
    local ok = false
    for t in expected:gmatch("[^|]+") do ok = ok or type(value) == t end
    if not ok then
      error(("%s: field '%s' must be a %s, got %s"):format(what, key, expected:gsub("|", " or "), type(value)),
        level + 1)
    end
  end
end

local function check_status(status, what, level)
  if SEVERITY[status] == nil then
    error(("%s: status '%s' is not one of WHITELISTED, GREYLISTED, BLACKLISTED, UNKNOWN"):format(what,
      tostring(status)), level + 1)
  end
end

--- policy.new{ name =, version = [, resolve = "worst"|"first"] [, default = "WHITELISTED"] }
function policy.new(meta)
  check_fields(meta, META_FIELDS, "policy.new", 2)
  if not meta.name or not meta.name:match("^[%w_.%-]+$") then
    error("policy.new: 'name' is required (letters, digits, _ . -)", 2)
  end
  if not meta.version then error("policy.new: 'version' is required", 2) end
  local resolve = meta.resolve or "worst"
  if resolve ~= "worst" and resolve ~= "first" then
    error("policy.new: resolve must be \"worst\" or \"first\", got \"" .. tostring(resolve) .. "\"", 2)
  end
  local default = meta.default or "WHITELISTED"
  check_status(default, "policy.new: default", 2)
  local effective = check_effective(meta.effective, "policy.new", 2)
  local P = setmetatable({
    name = meta.name, version = meta.version, description = meta.description,
    effective = meta.effective, effective_time = effective,
    resolve = resolve, default = default, national = meta.national or false,
    conditions = {},   -- name -> condition
    order = {},        -- conditions in the order written
    examples = {},
    raw_check = nil,
    base = nil,        -- name@version of the policy this one extends
    required_lists = {}, -- P:requires_list, in order (the engine reads them: host/engine.c)
  }, Policy)
  PRIVATE[P] = { owner = {}, changed = {}, inherited = {}, snapshots = {} }
  return P
end

function policy.is_policy(value)
  return getmetatable(value) == Policy
end

--- A reason name (a condition's name; a raw check's reason names) is a word: it is written
-- into lists, reports, metrics and logs, so no newline, comma, quote or control character.
local function is_word(name)
  return type(name) == "string" and name:match("^[%a_][%w_]*$") ~= nil and #name <= 64
end
policy.is_reason_name = is_word

--- A reason text is for people: one line, no control characters.
local function is_text(text)
  return type(text) == "string" and not text:find("[%c]") and #text <= 512
end

local function validate_condition(c, what, level)
  if not is_word(c.name) then
    error(("%s: 'name' is required (a word: letters, digits and _, not starting with a digit, at most 64 bytes)%s")
      :format(what, type(c.name) == "string" and ("; %q is not a word"):format(c.name) or ""), level + 1)
  end
  if not is_text(c.reason) then
    error(("%s '%s': reason text %q must be one line without control characters (at most 512 bytes)")
      :format(what, c.name, tostring(c.reason)), level + 1)
  end
  check_status(c.status, what .. " '" .. c.name .. "'", level + 1)
  if c.on_error ~= nil then check_status(c.on_error, what .. " '" .. c.name .. "': on_error", level + 1) end
  if type(c.when) ~= "function" then
    error(what .. " '" .. c.name .. "': 'when' must be a function(d, r)", level + 1)
  end
  if type(c.grace_days) == "number" and c.grace_days < 0 then
    error(what .. " '" .. c.name .. "': grace_days must be >= 0", level + 1)
  end
  if c.max_ratio and (c.max_ratio <= 0 or c.max_ratio > 1) then
    error(what .. " '" .. c.name .. "': max_ratio must be in (0, 1]", level + 1)
  end
  c.effective_time = check_effective(c.effective, what .. " '" .. c.name .. "'", level + 1)
end

--- P:condition{ name =, status =, when = function(d, r) … end, … } — adds a rule.
function Policy:condition(spec)
  check_fields(spec, CONDITION_FIELDS, "condition", 2)
  if spec.name and self.conditions[spec.name] then
    error(("condition '%s' is already defined; use P:override to change it"):format(spec.name), 2)
  end
  local c = {}
  for k, v in pairs(spec) do c[k] = v end
  if c.blocking == nil then c.blocking = true end
  c.reason = c.reason or c.name
  c.defined_at = where(2)
  if c.locked then
    c.lock_owner, c.locked_at, c.locked_by = PRIVATE[self].owner, c.defined_at, self.name .. "@" .. self.version
  end
  validate_condition(c, "condition", 2)
  self.conditions[c.name] = c
  self.order[#self.order + 1] = c
  return self
end

-- The condition `name` that `action` (override, disable, enable) is to change, at the
-- policy author's line (level): it must exist, and must not be locked by a policy this one
-- extends. The one place the national lock is enforced on a condition.
local function changeable(self, name, action, level)
  local c = self.conditions[name]
  if not c then
    local names = {}
    for _, other in ipairs(self.order) do names[#names + 1] = other.name end
    error(("%s: no condition named '%s'%s"):format(action, tostring(name), policy.suggest(name, names)), level + 1)
  end
  if c.locked and c.lock_owner ~= PRIVATE[self].owner then
    error(("%s: cannot %s condition '%s': it is locked (locked = true) by %s at %s"):format(where(level + 1),
      action, c.name, c.locked_by or "the policy it extends", c.locked_at or "?"), 0)
  end
  PRIVATE[self].changed[c.name] = where(level + 1)
  return c
end

--- P:override{ name =, … } — changes fields of an existing condition (kept in its place).
function Policy:override(spec)
  check_fields(spec, CONDITION_FIELDS, "override", 2)
  local c = changeable(self, spec.name, "override", 2)
  local changed = {}
  for k, v in pairs(c) do changed[k] = v end
  for k, v in pairs(spec) do changed[k] = v end
  changed.changed_at = where(2)
  if spec.locked then
    changed.lock_owner, changed.locked_at = PRIVATE[self].owner, changed.changed_at
    changed.locked_by = self.name .. "@" .. self.version
  end
  validate_condition(changed, "override", 2)
  for k, v in pairs(changed) do c[k] = v end
  return self
end

--- P:disable(name [, why]) / P:enable(name)
function Policy:disable(name, why)
  local c = changeable(self, name, "disable", 2)
  c.disabled = why or true
  c.changed_at = where(2)
  return self
end

function Policy:enable(name)
  local c = changeable(self, name, "enable", 2)
  c.disabled = nil
  c.changed_at = where(2)
  return self
end

-- The conditions this policy inherited locked (from the policies it extends), in order.
local function inherited_locks(self)
  local locks = {}
  for _, c in ipairs(self.order) do
    if c.locked and c.lock_owner ~= PRIVATE[self].owner then locks[#locks + 1] = c end
  end
  return locks
end

--- P:check(function(d, r, ctx) return verdict_or_status end) — full control: replaces
-- the conditions. The function returns a status string or a verdict table.
function Policy:check(fn)
  if type(fn) ~= "function" then error("P:check expects a function(d, r)", 2) end
  local locks = inherited_locks(self)
  if #locks > 0 then
    error(("%s: P:check would replace the conditions, and condition '%s' is locked by %s at %s"):format(where(2),
      locks[1].name, locks[1].locked_by or "the policy it extends", locks[1].locked_at or "?"), 0)
  end
  self.raw_check = fn
  return self
end

local NEED_FIELDS = { min_rows = "number", max_rejected = "number", optional = "boolean" }

--- P:requires_list(name [, { min_rows =, max_rejected =, optional = }]) — a list the
-- policy cannot do without. Hosts (imei check, classify, serve, a reload, a swap of lists)
-- refuse to run the policy when it is missing (unless optional), has fewer accepted rows
-- than min_rows (default 1; 0 when optional) or rejected more than max_rejected of its rows
-- (default 0.01). Lists read as lists.NAME in the policy's files are needed anyway, with
-- the defaults; declaring one sets its terms (docs/lists.md).
function Policy:requires_list(name, opts)
  if type(name) ~= "string" or not name:match("^[%w_.%-]+$") or #name > 63 then
    error("requires_list: the list name is a word (letters, digits, _ . -), at most 63 bytes", 2)
  end
  opts = opts or {}
  check_fields(opts, NEED_FIELDS, "requires_list", 2)
  local min_rows = opts.min_rows or (opts.optional and 0 or 1)
  if min_rows < 0 or min_rows ~= math.floor(min_rows) or min_rows >= 2^53 then
    error("requires_list: min_rows must be a whole number >= 0", 2)
  end
  local max_rejected = opts.max_rejected or 0.01
  if not (max_rejected >= 0 and max_rejected <= 1) then error("requires_list: max_rejected must be in [0, 1]", 2) end
  local need = { name = name, min_rows = math.tointeger(min_rows), max_rejected = max_rejected,
                 optional = opts.optional or false, at = where(2) }
  for i, have in ipairs(self.required_lists) do
    if have.name == name then
      self.required_lists[i] = need
      return self
    end
  end
  self.required_lists[#self.required_lists + 1] = need
  return self
end

--- P:example{ pei =, expect =, … } — a self-test, run on load and on every reload.
-- It sees only what it declares: lists = { name = { id, … } or { {id, imsi}, … } },
-- device = a TAC record table (or false/nil: unknown TAC), sightings = { {imsi =,
-- msisdn =, days_ago = }, … } for the device's key.
function Policy:example(spec)
  check_fields(spec, EXAMPLE_FIELDS, "example", 2)
  if not spec.expect then error("example: 'expect' (the status) is required", 2) end
  check_status(spec.expect, "example", 2)
  local e = {}
  for k, v in pairs(spec) do e[k] = v end
  e.at = where(2)
  self.examples[#self.examples + 1] = e
  return self
end

--- policy.verify(P [, file]) — raises when a condition P inherited locked was changed, moved or
-- removed by hand; the runtime calls it when a policy file has loaded, derive on its base.
function policy.verify(P, file)
  -- the locked conditions P got from its base, as they were: the policy file could change
  -- them by hand (P.conditions.x.when = …) instead of through override
  local private = PRIVATE[P]
  if not private then error("policy.verify: not a policy made by policy.new", 2) end
  for _, snap in ipairs(private.snapshots) do
    local c = snap.condition
    local ok = P.order[snap.index] == c and P.conditions[c.name] == c
    for k, v in pairs(snap.fields) do ok = ok and rawequal(rawget(c, k), v) end
    for k in pairs(c) do ok = ok and snap.fields[k] ~= nil end
    if not ok then
      local fields = snap.fields
      error(("%s (%s): condition '%s' is locked by %s at %s, and was changed by hand"):format(file or "?",
        P.name .. "@" .. P.version, snap.name, fields.locked_by or "?", fields.locked_at or "?"), 0)
    end
  end
  return true
end

--- A copy of a policy under a new name and version: what an operator policy extends.
function policy.derive(base, meta)
  if not policy.is_policy(base) then error("policy.derive: the base is not a policy", 2) end
  check_fields(meta, META_FIELDS, "policy.extend", 3)
  policy.verify(base)
  local P = policy.new {
    name = meta.name or base.name, version = meta.version or base.version,
    resolve = meta.resolve or base.resolve, default = meta.default or base.default,
    description = meta.description or base.description, national = meta.national,
    effective = meta.effective or base.effective,
  }
  P.base = base.name .. "@" .. base.version
  -- conditions the base's examples exercise (for lint's coverage report)
  P.base_covered = {}
  for name in pairs(base.base_covered or {}) do P.base_covered[name] = true end
  -- list names the base's examples declare (known to the strict lists view)
  P.base_lists = {}
  for name in pairs(base.base_lists or {}) do P.base_lists[name] = true end
  for _, e in ipairs(base.examples) do
    for name in pairs(type(e.lists) == "table" and e.lists or {}) do P.base_lists[name] = true end
  end
  for _, e in ipairs(base.examples) do
    for _, name in ipairs(e.reasons or {}) do P.base_covered[name] = true end
  end
  local mine, theirs = PRIVATE[P], PRIVATE[base]
  local snapshots = mine.snapshots
  for i, c in ipairs(base.order) do
    local copy = {}
    for k, v in pairs(c) do copy[k] = v end
    P.conditions[copy.name] = copy
    P.order[#P.order + 1] = copy
    if copy.locked then
      local fields = {}
      for k, v in pairs(copy) do fields[k] = v end
      snapshots[#snapshots + 1] = { condition = copy, index = i, name = copy.name, fields = fields }
    end
  end
  if #snapshots > 0 then
    if P.resolve ~= base.resolve then
      error(("policy.extend: resolve cannot change from \"%s\": condition '%s' is locked by %s at %s"):format(
        base.resolve, snapshots[1].name, snapshots[1].fields.locked_by, snapshots[1].fields.locked_at), 3)
    end
    if base.raw_check then error("policy.extend: a policy with a raw check has no conditions to lock", 3) end
  end
  -- A national base binds this policy to its examples (and those it was bound to), except
  -- an example that names in `reasons` a condition changed since it was written
  -- (overridden, disabled or enabled: the change is allowed; its outcome is the changer's).
  for _, inherited in ipairs(theirs.inherited) do
    local changed = {}
    for name, at in pairs(inherited.changed) do changed[name] = at end
    for name, at in pairs(theirs.changed) do changed[name] = changed[name] or at end
    mine.inherited[#mine.inherited + 1] = { example = inherited.example, from = inherited.from, changed = changed }
  end
  if base.national then
    for _, e in ipairs(base.examples) do
      mine.inherited[#mine.inherited + 1] = { example = e, from = P.base, changed = {} }
    end
  end
  P.raw_check = base.raw_check
  for i, need in ipairs(base.required_lists or {}) do P.required_lists[i] = need end
  return P
end

-- The conditions a run goes through: those not disabled, in order, and their `when`
-- functions apart (the run calls when(d, r) first, and reads the rest only on a match).
-- A sealed copy's are made once (ACTIVE, by policy.seal); any other P's at each evaluate.
local ACTIVE = setmetatable({}, { __mode = "k" })
local function active_of(order)
  local active, whens = {}, {}
  for _, c in ipairs(order) do
    if not c.disabled then
      active[#active + 1] = c
      whens[#active] = c.when
    end
  end
  return { order = active, whens = whens }
end

--- policy.seal(P) — what P decides with from now on: copies of its conditions and of its
-- settings, out of the policy code's reach, so that a condition that edits P.conditions,
-- P.order or P.raw_check while a check runs changes nothing (a lock holds at check time
-- too). The runtime seals a policy once it has loaded and passed policy.verify.
function policy.seal(P)
  local private = PRIVATE[P]
  if not private then error("policy.seal: not a policy made by policy.new", 2) end
  local order = {}
  for i, c in ipairs(P.order) do
    local copy = {}
    for k, v in pairs(c) do copy[k] = v end
    order[i] = copy
  end
  -- every setting (name, version, resolve, default, raw_check, and any other evaluate reads)
  local sealed = {}
  for k, v in pairs(P) do sealed[k] = v end
  sealed.order, sealed.conditions, sealed.scratch = order, nil, nil
  sealed.full_name = P.name .. "@" .. P.version -- a verdict's `policy`, made once
  private.sealed = sealed
  ACTIVE[sealed] = active_of(order)
  return P
end

--- policy.sealed_of(P) → the table P decides with: its sealed copy (P itself before
-- policy.seal). For the runtime's explanations (lua/imei/explain/trace.lua), which run
-- the very conditions a check runs; never handed to policy files.
function policy.sealed_of(P)
  local private = PRIVATE[P]
  return private and private.sealed or P
end

--- policy.examples_of(P) → { {example =, from =, skip =}, … }: the examples to run, the
-- policy's own, then those of the national bases it is bound to (from = "name@version");
-- an inherited one whose `reasons` name a condition changed since it was written has
-- skip = why (the change is allowed, its outcome is the changer's to test).
function policy.examples_of(P)
  local private = PRIVATE[P]
  local list = {}
  for _, e in ipairs(P.examples) do list[#list + 1] = { example = e } end
  for _, inherited in ipairs(private and private.inherited or {}) do
    local skip
    for _, name in ipairs(inherited.example.reasons or {}) do
      local at = inherited.changed[name] or private.changed[name]
      if at then
        skip = ("names '%s', changed at %s"):format(name, at)
        break
      end
    end
    list[#list + 1] = { example = inherited.example, from = inherited.from, skip = skip }
  end
  return list
end

--- grace_days = policy.by_rbi{ ["35"] = 20, ["86"] = 19, default = 30 } — per reporting
-- body delays, as DIRBS does for gsma_not_found.
function policy.by_rbi(days)
  if type(days) ~= "table" then error("policy.by_rbi expects a table of RBI = days", 2) end
  for rbi, n in pairs(days) do
    if (rbi ~= "default" and not (type(rbi) == "string" and rbi:match("^%d%d$"))) or type(n) ~= "number" then
      error("policy.by_rbi: keys are two-digit RBIs (or 'default'), values days", 2)
    end
  end
  local copy = {}
  for rbi, n in pairs(days) do copy[rbi] = n end
  local fn = function(d) return copy[d.rbi or ""] or copy.default or 0 end
  BY_RBI[fn] = copy
  return fn
end

local function block_date_of(t)
  return os.date("!%Y-%m-%d", t)
end

-- The reason text with the condition's `detail(d, r)` for this device (e.g. the parser's
-- message: where the bad character is): "reason: detail", made one line of at most 512
-- bytes; a detail that is not a string is an error of the condition.
local function reason_text(c, d, r)
  local detail = c.detail(d, r)
  if detail == nil then return c.reason end
  if type(detail) ~= "string" then
    error(("condition '%s': detail returned %s, not a string"):format(c.name, type(detail)), 0)
  end
  local text = (c.reason .. ": " .. detail):gsub("%c", " ")
  if #text > 512 then text = text:sub(1, 509) .. "..." end
  return text
end

-- The reason entry of one matching condition, with its grace period applied.
-- effective (the condition's, else the policy's: seconds) is the go-live: no grace period
-- starts before it, and before it the condition only reports (informative, not_effective).
local function reason_of(c, d, r, ctx, effective)
  local text = c.reason
  if c.detail then text = reason_text(c, d, r) end
  local reason = { condition = c.name, status = c.status, text = text }
  if not c.blocking then reason.informative = true end
  if c.sticky then reason.sticky = true end
  if c.locked then reason.locked = true end
  effective = c.effective_time or effective
  if effective and r.time < effective and c.blocking and c.status ~= "WHITELISTED" then
    reason.informative = true
    reason.not_effective = true
  end
  local grace = c.grace_days
  if type(grace) == "function" then grace = grace(d, r) end
  if type(grace) == "number" and grace > 0 and c.status ~= "WHITELISTED" then
    local start = c.since and c.since(d, r) or (ctx and ctx.first_seen and ctx.first_seen(d, r)) or r.time
    if effective and start < effective then start = effective end
    local block_time = start + math.floor(grace * DAY)
    reason.block_date = block_date_of(block_time)
    if r.time < block_time then
      reason.status = "GREYLISTED"
      reason.notify = true
    end
  end
  return reason
end

-- Turn a raw check's answer into a verdict; its reason names must be words.
local function normalise_raw(answer, self)
  if type(answer) == "string" then answer = { status = answer } end
  if type(answer) ~= "table" then
    error(("raw check returned %s; it must return a status string or a verdict table"):format(type(answer)))
  end
  check_status(answer.status, "raw check verdict", 2)
  answer.reasons = answer.reasons or {}
  if type(answer.reasons) ~= "table" then error("raw check verdict: 'reasons' must be a table", 2) end
  for i, reason in ipairs(answer.reasons) do
    if type(reason) ~= "table" or not is_word(reason.condition) then
      error(("raw check verdict: reason %d: 'condition' must be a word (letters, digits, _), got %q")
        :format(i, tostring(type(reason) == "table" and reason.condition or reason)), 2)
    end
    if reason.text ~= nil and not is_text(reason.text) then
      error(("raw check verdict: reason '%s': text must be one line without control characters")
        :format(reason.condition), 2)
    end
  end
  answer.policy = self.name .. "@" .. self.version
  return answer
end

-- Outside a sandbox a condition's protected call is a plain pcall (f returns one value).
local function plain_protect(f, arg)
  local ok, result = pcall(f, arg)
  if ok then return true, result end
  return false, tostring(result), "error"
end

-- The reason of a condition that failed: it decides nothing, unless it has on_error.
local function failed_reason(c, message)
  local reason = { condition = c.name, text = c.reason, failed = true, error = message }
  if c.on_error and c.blocking then
    reason.status = c.on_error
  else
    reason.status = c.on_error or c.status
    reason.informative = true
  end
  if c.sticky then reason.sticky = true end
  if c.locked then reason.locked = true end
  return reason
end

-- A run's reasons array, made when the first condition matches (most checks match none).
local function new_reasons(run)
  local reasons = {}
  run.reasons = reasons
  return reasons
end

-- The conditions from run.i + 1 on, until one decides alone (final, or resolve = "first").
-- Progress lives in `run`, so that when a condition raises, the caller knows which one.
-- (What only a match needs, run.ctx and run.first, is read when one matches: every
-- instruction here runs under the count hook.)
local function run_conditions(run)
  local order, whens, d, r = run.order, run.whens, run.d, run.r
  for i = run.i + 1, #order do -- (a numeric for: the fewest instructions under the hook)
    run.i = i -- which condition runs, for the caller when it raises
    if whens[i](d, r) then
      local c = order[i]
      if not (c.unless and c.unless(d, r)) then
        local reason = reason_of(c, d, r, run.ctx, run.effective)
        local k = run.n + 1
        run.n = k
        local reasons = run.reasons or new_reasons(run)
        reasons[k] = reason
        if c.final then
          run.final = k
          return
        end
        if run.first and not reason.informative then return end
      end
    end
  end
end

-- One condition alone (after a run of several ran out of budget in it): true when the
-- run may go on after it.
local function run_one(run)
  local c = run.order[run.i]
  if not c.disabled and c.when(run.d, run.r) and not (c.unless and c.unless(run.d, run.r)) then
    local reason = reason_of(c, run.d, run.r, run.ctx, run.effective)
    run.n = run.n + 1
    local reasons = run.reasons or new_reasons(run)
    reasons[run.n] = reason
    if c.final then
      run.final = run.n
      return false
    end
    return not (run.first and not reason.informative)
  end
  return true
end

-- decide(P, d, r, ctx, name) → status, reasons, block_date, notify, failed, policy: what
-- P:evaluate's verdict holds, as values; reasons is nil when no condition matched (the
-- verdict's is then an empty array), failed nil unless one failed. P is what a policy
-- decides with (its sealed copy, policy.seal), never a raw check; name is the verdict's
-- `policy`. The runtime's check returns these values to the host as they are: no verdict
-- table is made for it (host/engine.c reads them off the stack).
local function decide(P, d, r, ctx, name)
  local protect = ctx and ctx.protect or plain_protect
  -- the run's state: one table per policy, reused check after check (a nested evaluate,
  -- from a policy that calls P:evaluate itself, gets a fresh one); a sealed policy's
  -- conditions and settings stay as they are, any other P's are read again
  local run = P.scratch
  if run and not run.busy and run.sealed then
    run.d, run.r, run.ctx, run.n, run.i, run.busy = d, r, ctx, 0, 0, true
  else
    local sealed = ACTIVE[P]
    local active = sealed or active_of(P.order)
    -- (reasons and final are false, never nil, between checks, and d, r and ctx keep the
    -- last check's until the next sets them: a field that keeps its key is set in place,
    -- where one set to nil is inserted again by the next check, in the VM's slow path)
    local fresh = { order = active.order, whens = active.whens, d = d, r = r, ctx = ctx, n = 0, i = 0,
                    first = P.resolve == "first", busy = true, effective = P.effective_time, sealed = sealed ~= nil,
                    reasons = false, final = false }
    if not (run and run.busy) then P.scratch = fresh end
    run = fresh
  end
  local order = run.order
  local nfailed = 0
  -- The usual case is one protected call for all conditions. When one fails, it is
  -- reported and the run goes on after it; when a run of several ran out of budget, the
  -- one it ran out in gets a protected call (and a share of the budget) of its own.
  local start = 0
  while true do
    local ok, message, kind = protect(run_conditions, run)
    if ok then break end
    local i = run.i
    local c = order[i]
    local last = run.reasons and run.reasons[run.n]
    if last and last.condition == c.name then
      -- it had finished when the error came (between two conditions): nothing failed
      if run.final or run.first and not last.informative then break end
    else
      local handled = false
      if (kind == "budget" or kind == "deadline") and i > start + 1 then
        local ok1, more = protect(run_one, run)
        if ok1 then
          handled = true
          if not more then break end
        else
          message = more
        end
      end
      if not handled then
        local reason = failed_reason(c, message)
        nfailed = nfailed + 1
        run.n = run.n + 1
        local reasons = run.reasons or new_reasons(run)
        reasons[run.n] = reason
        if run.first and not reason.informative then break end
      end
    end
    if run.i >= #order then break end
    start = run.i
  end
  local n = run.n
  run.busy = false -- (d, r and ctx are the next check's to set: they hold this one's till then)
  -- no reason (most checks): reasons and final are still false, and nothing failed (a
  -- failed condition adds a reason)
  if n == 0 then return P.default, nil, nil, nil, nil, name end
  local final, reasons = run.final, run.reasons
  run.reasons, run.final = false, false
  local failed = nfailed > 0 or nil
  if final then
    -- a final condition decides alone; what matched before it is kept, overruled by it,
    -- except a locked (national) condition, which it cannot overrule: the worse one wins
    local decider = reasons[final]
    local status, block_date, notify = decider.status, decider.block_date, decider.notify
    for i = 1, final - 1 do
      local reason = reasons[i]
      if reason.locked and not reason.informative then
        if SEVERITY[reason.status] > SEVERITY[status] then
          status, block_date, notify = reason.status, reason.block_date, reason.notify
        end
      else
        reason.overruled = true
        reason.overruled_by = decider.condition
      end
    end
    return status, reasons, block_date, notify, failed, name
  end
  local status, decided = P.default, false
  for i = 1, n do
    local reason = reasons[i]
    if not reason.informative and (not decided or SEVERITY[reason.status] > SEVERITY[status]) then
      status, decided = reason.status, true
    end
  end
  -- block_date: for a blocked device, when its block took effect (if a grace period led
  -- to it); otherwise the earliest pending block, and the subscriber is to be notified
  local block_date, notify
  for i = 1, n do
    local reason = reasons[i]
    local date = reason.block_date
    if date and not reason.informative and (not block_date or date < block_date) then
      if status == "BLACKLISTED" and reason.status == "BLACKLISTED" then
        block_date = date
      elseif status ~= "BLACKLISTED" and reason.notify then
        block_date, notify = date, true
      end
    end
  end
  return status, reasons, block_date, notify, failed, name
end

--- P:evaluate(d, r [, ctx]) → verdict { status, reasons, block_date?, notify?, failed?, policy }
function Policy:evaluate(d, r, ctx)
  -- a sealed policy decides with its sealed copy (policy.seal), whatever its code does to P
  local private = PRIVATE[self]
  local P = private and private.sealed or self
  if P.raw_check then return normalise_raw(P.raw_check(d, r, ctx), P) end
  local status, reasons, block_date, notify, failed, name =
    decide(P, d, r, ctx, P ~= self and P.full_name or P.name .. "@" .. P.version)
  return {
    status = status, reasons = reasons or {}, block_date = block_date, notify = notify, failed = failed,
    policy = name,
  }
end

--- policy.evaluate(P, d, r, ctx): P:evaluate, as the runtime calls it: this very function,
-- whatever a policy file does to P or its metatable (the runtime's check path relies on
-- that: lua/imei/policy/runtime.lua). Never handed to policy files.
policy.evaluate = Policy.evaluate
--- policy.decide(S, d, r, ctx, name): decide above, on S = policy.sealed_of(P) of a policy
-- without a raw check; the runtime's check (the verdict as values). Never handed to policy
-- files either.
policy.decide = decide

--- Names of the conditions in order, with their state; for lint and reports.
function Policy:describe()
  local out = {}
  for i, c in ipairs(self.order) do
    out[i] = {
      name = c.name, status = c.status, blocking = c.blocking, changed_at = c.changed_at,
      grace_days = type(c.grace_days) == "function" and (BY_RBI[c.grace_days] and "by RBI" or "by rule")
        or c.grace_days,
      grace_by_rbi = BY_RBI[c.grace_days], locked = c.locked or false, locked_by = c.locked and c.locked_by or nil,
      locked_at = c.locked and c.locked_at or nil,
      sticky = c.sticky or false, final = c.final or false, disabled = c.disabled and true or false,
      effective = c.effective or self.effective, sticky_explicit = c.sticky ~= nil,
      reason = c.reason, defined_at = c.defined_at,
      max_ratio = c.max_ratio, description = c.description,
    }
  end
  return out
end

return policy
