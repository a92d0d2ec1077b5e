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
-- Runs inside the policy sandbox, but is plain Lua and runs unsandboxed as well.
local getinfo = debug and debug.getinfo -- captured before the sandbox is locked: example locations

local policy = {}

-- Severity for resolve = "worst"; the values of the 3GPP Equipment-Status are elsewhere.
policy.SEVERITY = { WHITELISTED = 0, UNKNOWN = 1, GREYLISTED = 2, BLACKLISTED = 3 }

local DAY = 86400

local Policy = {}
Policy.__index = Policy
Policy.__name = "imei.policy"

local CONDITION_FIELDS = {
  name = "string", status = "string", when = "function", unless = "function",
  grace_days = "number|function", since = "function", blocking = "boolean", sticky = "boolean",
  reason = "string", final = "boolean", description = "string", max_ratio = "number",
}
local EXAMPLE_FIELDS = {
  pei = "string", imei = "string", imsi = "string", msisdn = "string", operator = "string",
  rat = "string", time = "number", extras = "table", expect = "string", reasons = "table",
  lists = "table", device = "table|boolean", sightings = "table", note = "string",
  block_date = "string", notify = "boolean",
}
local META_FIELDS = {
  name = "string", version = "string", resolve = "string", default = "string", description = "string",
}

local function where(level)
  if not getinfo then return "?" end
  local info = getinfo(level + 1, "Sl")
  return info and (info.short_src .. ":" .. (info.currentline or "?")) or "?"
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
  if policy.SEVERITY[status] == nil then
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
  return setmetatable({
    name = meta.name, version = meta.version, description = meta.description,
    resolve = resolve, default = default,
    conditions = {},   -- name -> condition
    order = {},        -- conditions in the order written
    examples = {},
    raw_check = nil,
    base = nil,        -- name@version of the policy this one extends
  }, Policy)
end

function policy.is_policy(value)
  return getmetatable(value) == Policy
end

local function validate_condition(c, what, level)
  if type(c.name) ~= "string" or not c.name:match("^[%a_][%w_]*$") then
    error(what .. ": 'name' is required (a word: letters, digits, _)", level + 1)
  end
  check_status(c.status, what .. " '" .. c.name .. "'", level + 1)
  if type(c.when) ~= "function" then
    error(what .. " '" .. c.name .. "': 'when' must be a function(d, r)", level + 1)
  end
  if type(c.grace_days) == "number" and c.grace_days < 0 then
    error(what .. " '" .. c.name .. "': grace_days must be >= 0", level + 1)
  end
  if c.max_ratio and (c.max_ratio <= 0 or c.max_ratio > 1) then
    error(what .. " '" .. c.name .. "': max_ratio must be in (0, 1]", level + 1)
  end
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
  validate_condition(c, "condition", 2)
  self.conditions[c.name] = c
  self.order[#self.order + 1] = c
  return self
end

--- P:override{ name =, … } — changes fields of an existing condition (kept in its place).
function Policy:override(spec)
  check_fields(spec, CONDITION_FIELDS, "override", 2)
  local c = self.conditions[spec.name]
  if not c then
    error(("override: no condition named '%s' to override"):format(tostring(spec.name)), 2)
  end
  local changed = {}
  for k, v in pairs(c) do changed[k] = v end
  for k, v in pairs(spec) do changed[k] = v end
  changed.changed_at = where(2)
  validate_condition(changed, "override", 2)
  for k, v in pairs(changed) do c[k] = v end
  return self
end

--- P:disable(name [, why]) / P:enable(name)
function Policy:disable(name, why)
  local c = self.conditions[name]
  if not c then error(("disable: no condition named '%s'"):format(tostring(name)), 2) end
  c.disabled = why or true
  return self
end

function Policy:enable(name)
  local c = self.conditions[name]
  if not c then error(("enable: no condition named '%s'"):format(tostring(name)), 2) end
  c.disabled = nil
  return self
end

--- P:check(function(d, r, ctx) return verdict_or_status end) — full control: replaces
-- the conditions. The function returns a status string or a verdict table.
function Policy:check(fn)
  if type(fn) ~= "function" then error("P:check expects a function(d, r)", 2) end
  self.raw_check = fn
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

--- A copy of a policy under a new name and version: what an operator policy extends.
function policy.derive(base, meta)
  if not policy.is_policy(base) then error("policy.derive: the base is not a policy", 2) end
  check_fields(meta, META_FIELDS, "policy.extend", 3)
  local P = policy.new {
    name = meta.name or base.name, version = meta.version or base.version,
    resolve = meta.resolve or base.resolve, default = meta.default or base.default,
    description = meta.description or base.description,
  }
  P.base = base.name .. "@" .. base.version
  -- conditions the base's examples exercise (for lint's coverage report)
  P.base_covered = {}
  for name in pairs(base.base_covered or {}) do P.base_covered[name] = true end
  for _, e in ipairs(base.examples) do
    for _, name in ipairs(e.reasons or {}) do P.base_covered[name] = true end
  end
  for _, c in ipairs(base.order) do
    local copy = {}
    for k, v in pairs(c) do copy[k] = v end
    P.conditions[copy.name] = copy
    P.order[#P.order + 1] = copy
  end
  -- the base's examples stay with the base (its own `imei policy test` runs them): the
  -- derived policy changes outcomes on purpose, and writes examples of its own
  P.raw_check = base.raw_check
  return P
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
  return function(d) return days[d.rbi or ""] or days.default or 0 end
end

local function block_date_of(t)
  return os.date("!%Y-%m-%d", t)
end

-- The reason entry of one matching condition, with its grace period applied.
local function reason_of(c, d, r, ctx)
  local reason = { condition = c.name, status = c.status, text = c.reason }
  if not c.blocking then reason.informative = true end
  if c.sticky then reason.sticky = true end
  local grace = c.grace_days
  if type(grace) == "function" then grace = grace(d, r) end
  if type(grace) == "number" and grace > 0 and c.status ~= "WHITELISTED" then
    local start = c.since and c.since(d, r) or (ctx and ctx.first_seen and ctx.first_seen(d, r)) or r.time
    local block_time = start + math.floor(grace * DAY)
    reason.block_date = block_date_of(block_time)
    if r.time < block_time then
      reason.status = "GREYLISTED"
      reason.notify = true
    end
  end
  return reason
end

local SEVERITY = policy.SEVERITY

-- Turn a raw check's answer into a verdict.
local function normalise_raw(answer, self)
  if type(answer) == "string" then answer = { status = answer } end
  if type(answer) ~= "table" then
    error(("raw check returned %s; it must return a status string or a verdict table"):format(type(answer)))
  end
  check_status(answer.status, "raw check verdict", 2)
  answer.reasons = answer.reasons or {}
  answer.policy = self.name .. "@" .. self.version
  return answer
end

--- P:evaluate(d, r [, ctx]) → verdict { status, reasons, block_date?, notify?, policy }
function Policy:evaluate(d, r, ctx)
  if self.raw_check then return normalise_raw(self.raw_check(d, r, ctx), self) end
  local reasons, n = {}, 0
  local first = self.resolve == "first"
  for _, c in ipairs(self.order) do
    if not c.disabled and c.when(d, r) and not (c.unless and c.unless(d, r)) then
      local reason = reason_of(c, d, r, ctx)
      n = n + 1
      reasons[n] = reason
      if c.final then
        -- a final condition decides alone; what matched before it is kept, overruled
        for i = 1, n - 1 do reasons[i].overruled = true end
        return {
          status = reason.status, reasons = reasons, block_date = reason.block_date, notify = reason.notify,
          policy = self.name .. "@" .. self.version,
        }
      end
      if first and not reason.informative then break end
    end
  end
  local status, decided = self.default, false
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
  return {
    status = status, reasons = reasons, block_date = block_date, notify = notify,
    policy = self.name .. "@" .. self.version,
  }
end

--- Names of the conditions in order, with their state; for lint and reports.
function Policy:describe()
  local out = {}
  for i, c in ipairs(self.order) do
    out[i] = {
      name = c.name, status = c.status, blocking = c.blocking, changed_at = c.changed_at,
      grace_days = type(c.grace_days) == "function" and "by rule" or c.grace_days,
      sticky = c.sticky or false, final = c.final or false, disabled = c.disabled and true or false,
      reason = c.reason, defined_at = c.defined_at, max_ratio = c.max_ratio, description = c.description,
    }
  end
  return out
end

return policy
