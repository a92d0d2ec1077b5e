--- imei.classify.register — the national register: what `imei classify` decided, kept from
-- run to run in an LMDB table (host.kv_open, core/kv_lmdb.c) inside the state folder
-- (docs/register.md). Per device it keeps its block (date, reasons, since when, the
-- exceptions of its pairs), its notices per subscriber (block date as notified, the grace
-- periods they were computed with, every MSISDN seen, the operators), each condition's
-- first and last match, its unblock with the cause, the appeal that applies, and the
-- events of the runs that changed it.
--
-- The rules (docs/register.md):
--   * a block date, once notified, stays: it counts from the first notification; only a
--     changed grace period moves it (reported as `grace_changed`);
--   * a blocked device stays blocked until an explicit cause: an allow or registration
--     list entry (`list:NAME`), a pairing (`pairing`), an appeal (`appeal`), a policy
--     change (`policy_change`), or a condition declared `sticky = false` that no longer
--     holds (`condition_cleared`). Not being seen, or data ageing out of a window, is
--     never a cause;
--   * a notice whose block date has come blocks the device, seen in this run or not;
--   * an appeal (the exceptions file) lifts a block or a notice until its date, then
--     expires by itself.
-- The whole register is written in ONE LMDB transaction, committed after the lists are on
-- disk and before they are renamed into place: a run killed before that changes nothing.
-- A run of the same date and the same inputs (dumps, lists, policy, appeals) as the last
-- committed one replaces it: the changes of that run are
-- undone first (its undo log) and the deltas are computed against the lists it started from,
-- so the same inputs twice give the same lists, deltas and report.
local host = require "imei.host"
local cjson = require "cjson"

local register = {}

register.FORMAT = "imei-register/1"

local function encode(t)
  return cjson.encode(t)
end

local function decode(s, key)
  local ok, t = pcall(cjson.decode, s)
  if not ok or type(t) ~= "table" then
    error({ message = ("register: damaged record %q: %s"):format(key, tostring(t)) }, 0)
  end
  return t
end

-- YYYYMMDD plus n days.
local function add_days(date, n)
  local y, m, d = date:match("^(%d%d%d%d)(%d%d)(%d%d)$")
  local t = os.time { year = tonumber(y), month = tonumber(m), day = tonumber(d), hour = 12 }
  return os.date("%Y%m%d", t + n * 86400)
end
register.add_days = add_days

local function split(s)
  local out = {}
  for name in (s or ""):gmatch("[^|]+") do out[#out + 1] = name end
  return out
end

-- The conditions of a and b ('|'-separated), once each, in the policy's order (rank).
local rank = {}
local function union(a, b)
  local seen, out = {}, {}
  for _, list in ipairs({ split(a), split(b) }) do
    for _, name in ipairs(list) do
      if not seen[name] then
        seen[name] = true
        out[#out + 1] = name
      end
    end
  end
  table.sort(out, function(x, y)
    local rx, ry = rank[x] or math.huge, rank[y] or math.huge
    if rx ~= ry then return rx < ry end
    return x < y
  end)
  return out
end

--- Open the register of the state folder `dir` (created when missing). read_only: for
-- `imei history`, and for what-if runs (--store memory), which read it and keep nothing.
function register.open(dir, read_only)
  local kv, err
  if read_only then
    kv, err = host.kv_open(dir .. "/register", true)
    if not kv then return nil, err end
  else
    local ok, merr, code = host.mkdir(dir)
    if not ok and code ~= 17 then return nil, merr end
    kv, err = host.kv_open(dir .. "/register", false)
    if not kv then return nil, err end
  end
  local format = kv:get("meta:format")
  if format and format ~= register.FORMAT then
    kv:close()
    return nil, ("%s/register: not a register of this version (format %s, expected %s)")
      :format(dir, format, register.FORMAT)
  end
  return setmetatable({ kv = kv, dir = dir, read_only = read_only, undo = {}, touched = {} },
    { __index = register })
end

function register:close()
  if self.kv then self.kv:close() end
  self.kv = nil
end

--- The last committed run: { date, generation, prev = { [file] = bytes } } or nil.
function register:last_run()
  local s = self.kv:get("meta:last")
  return s and decode(s, "meta:last") or nil
end

function register:generation()
  return math.tointeger(tonumber(self.kv:get("meta:generation") or "0")) or 0
end

--- The device record of an IMEI key, or nil.
function register:device(imei)
  local s = self.kv:get("d:" .. imei)
  return s and decode(s, "d:" .. imei) or nil
end

--- Every device record: { [imei] = record }.
function register:devices()
  local out = {}
  local t = self.kv:scan("d:")
  for i = 1, #t, 2 do
    out[t[i]:sub(3)] = decode(t[i + 1], t[i])
    t[i + 1] = false -- the text is garbage once decoded (not all of them held at the end)
  end
  return out
end

--- Start the run's transaction. date: the run's date. fresh: start the register over.
-- Returns { rerun = bool, generation_before, prev_files } (prev_files: the lists the run
-- being replaced started from, when it is a re-run).
function register:begin(date, fresh, fingerprint)
  assert(not self.read_only)
  local ok, err = self.kv:begin()
  if not ok then error({ message = err }, 0) end
  local info = { generation_before = self:generation() }
  if fresh then
    local all = self.kv:scan("")
    for i = 1, #all, 2 do self.kv:del(all[i]) end
    info.generation_before = 0
    info.fresh = true
    return info
  end
  local last = self:last_run()
  if last and last.date == date and last.fingerprint == fingerprint then
    -- a re-run of the last run's date: undo it, and start from where it started
    local undo = self.kv:get("meta:undo")
    for key, old in pairs(undo and decode(undo, "meta:undo") or {}) do
      if old == false then self.kv:del(key) else self.kv:put(key, old) end
    end
    info.rerun = true
    info.generation_before = (math.tointeger(last.generation) or 1) - 1
    info.prev_files = last.prev or {}
  elseif last and last.date > date then
    info.older = last.date
  end
  return info
end

-- Write a device record (remembering its old value for the undo log). absent: the
-- register is known to hold no record of it (its old value is none: not looked up).
function register:put_device(imei, rec, absent)
  self:put_record(imei, encode(rec), absent)
end

-- Write a device record given as its JSON text (see put_device).
function register:put_record(imei, json, absent)
  local key = "d:" .. imei
  if self.undo[key] == nil then self.undo[key] = not absent and self.kv:get(key) or false end
  self.kv:put(key, json)
end

-- The JSON text of the record of a device new to the register that this run blocks and
-- nothing else touched (no notice, no appeal): the record the general path would build
-- (its block, the first and last match of its reasons, the "blocked" event, and the
-- exceptions of its pairs), written out directly rather than built as tables first.
-- quoted: a memo of JSON strings (the few texts that repeat: dates, reasons, list names).
local function new_block_json(imei, row, date, generation, on_lists, exceptions, quoted)
  local function q(v)
    local j = quoted[v]
    if not j then
      j = encode(v)
      quoted[v] = j
    end
    return j
  end
  local jdate = q(date)
  local conds, seen = {}, {}
  for name in row[3]:gmatch("[^|]+") do
    if not seen[name] then
      seen[name] = true
      conds[#conds + 1] = q(name) .. ':{"first":' .. jdate .. ',"last":' .. jdate .. "}"
    end
  end
  local on = ""
  if on_lists then -- as cjson writes a table: an array, or {} when empty
    on = {}
    for i, name in ipairs(on_lists) do on[i] = q(name) end
    on = ',"on_lists":' .. (#on > 0 and ("[" .. table.concat(on, ",") .. "]") or "{}")
  end
  return table.concat {
    '{"imei":', imei:find("^%d+$") and ('"' .. imei .. '"') or encode(imei),
    ',"notices":{},"conds":{', table.concat(conds, ","), "}",
    ',"events":[{"date":', jdate, generation ~= nil and (',"generation":' .. encode(generation)) or "",
    ',"what":"blocked","detail":', q(("on %s (%s)"):format(row[2], row[3])), "}]",
    ',"block":{"date":', q(row[2]), ',"reasons":', q(row[3]), ',"since":', jdate, on,
    exceptions and (',"exceptions":' .. encode(exceptions)) or "", "}}",
  }
end

--- Commit the run: generation, the undo log, the lists it started from; with `store`,
-- its sightings snapshot (written straight into the register's value: no copy of it).
function register:commit(date, generation, prev_files, runinfo, fingerprint, store)
  if store then self.kv:put_snapshot("s:snapshot", store) end
  self.kv:put("meta:format", register.FORMAT)
  self.kv:put("meta:generation", tostring(generation))
  self.kv:put("meta:undo", encode(next(self.undo) and self.undo or { ["meta:none"] = false }))
  self.kv:put("meta:last",
    encode { date = date, generation = generation, prev = prev_files, fingerprint = fingerprint })
  self.kv:put(("r:%08d"):format(generation), encode(runinfo))
  local ok, err = self.kv:commit()
  if not ok then error({ message = err }, 0) end
end

function register:abort()
  if self.kv then self.kv:abort() end
end

function register:stat()
  return self.kv:stat()
end

--- The sticky rule of a condition (describe()'s row): sticky when it says so, and by
-- default every condition that can block; `sticky = false` opts out.
function register.is_sticky(c)
  if c == nil then return false end
  if c.sticky_explicit then return c.sticky == true end
  return c.status == "BLACKLISTED" and c.blocking ~= false and not c.disabled
end

-- ---- the exceptions file -----------------------------------------------------------------

local function valid_date(y, m, d)
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  if not y or y < 2000 or y > 2099 or m < 1 or m > 12 or d < 1 then return false end
  local mdays = { 31, (y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0)) and 29 or 28, 31, 30, 31, 30, 31, 31, 30,
                  31, 30, 31 }
  return d <= mdays[m]
end

--- Read an exceptions (appeals) file: `imei,reason,until` or `imei,imsi,reason,until`
-- (a header line naming the columns is optional; until is YYYY-MM-DD or YYYYMMDD, the
-- last day the exception holds). Returns { { imei (14-digit key or text), imsi?, reason,
-- until (YYYYMMDD), line } } or nil and "FILE:LINE: field 'F': why".
function register.read_exceptions(path)
  local dsv = require "imei.tacdb.dsv"
  local f, oerr = io.open(path, "rb")
  if not f then return nil, ("--exceptions %s"):format(oerr) end
  local body = f:read("a") or ""
  f:close()
  local out, ncols, seen = {}, nil, {}
  for lineno, cells, why in dsv.records(body, ",") do
    if not cells then return nil, ("%s:%d: %s"):format(path, lineno, why) end
    local function bad(field, msg) return nil, ("%s:%d: field '%s': %s"):format(path, lineno, field, msg) end
    if lineno == 1 and cells[1] and cells[1]:lower():match("^imei") then
      ncols = #cells
      if ncols ~= 3 and ncols ~= 4 then
        return nil, ("%s:1: header with %d columns: expected imei,reason,until or imei,imsi,reason,until")
          :format(path, ncols)
      end
    else
      if #cells ~= 3 and #cells ~= 4 then
        return nil, ("%s:%d: %d fields: expected imei,reason,until or imei,imsi,reason,until"):format(path, lineno,
          #cells)
      end
      if ncols and #cells ~= ncols then
        return nil, ("%s:%d: %d fields, the header has %d"):format(path, lineno, #cells, ncols)
      end
      local imei, imsi, reason, untl
      if #cells == 3 then imei, reason, untl = cells[1], cells[2], cells[3]
      else imei, imsi, reason, untl = cells[1], cells[2], cells[3], cells[4] end
      imei = imei:gsub("^%s+", ""):gsub("%s+$", "")
      local digits = imei:gsub("[%s%-]", "")
      if digits:match("^%d+$") then
        if #digits == 15 then
          local core = require "imei.core"
          if not core.luhn(digits) then
            return bad("imei", ("'%s': the check digit is wrong (Luhn, TS 23.003 §B.2)"):format(imei))
          end
          digits = digits:sub(1, 14)
        elseif #digits ~= 14 then
          return bad("imei", ("'%s': an IMEI has 14 or 15 digits"):format(imei))
        end
        imei = digits
      elseif imei == "" or imei:find("[%c,]") or #imei > 32 then
        return bad("imei", ("'%s': empty, too long or a control character"):format(imei))
      end
      if imsi then
        imsi = imsi:gsub("^%s+", ""):gsub("%s+$", "")
        if not imsi:match("^%d+$") or #imsi < 6 or #imsi > 15 then
          return bad("imsi", ("'%s': an IMSI is 6 to 15 digits"):format(imsi))
        end
      end
      if reason == "" or reason:find("[%c|]") or #reason > 200 then
        return bad("reason", ("'%s': give a reason (one line, no '|', at most 200 bytes)"):format(reason))
      end
      local y, m, d = untl:match("^%s*(%d%d%d%d)%-?(%d%d)%-?(%d%d)%s*$")
      if not y or not valid_date(y, m, d) then
        return bad("until", ("'%s': not a date (YYYY-MM-DD, the last day the exception holds)"):format(untl))
      end
      -- two rows for one device (or pair) would leave which one holds to the file's order
      local id = imsi and imei .. "/" .. imsi or imei
      if seen[id] then
        return nil, ("%s:%d: %s %s already has an exception at line %d: give one row each"):format(path, lineno,
          imsi and "the pair" or "the device", imsi and imei .. " + " .. imsi or imei, seen[id])
      end
      seen[id] = lineno
      out[#out + 1] = { imei = imei, imsi = imsi, reason = reason, ["until"] = y .. m .. d, line = lineno }
    end
  end
  return out
end

-- ---- the reconciliation ------------------------------------------------------------------

-- What a record lacks is walked as this (read only: a loop over every record of the
-- register allocates nothing for it).
local NO_ENTRIES = setmetatable({}, { __newindex = function() error("register: NO_ENTRIES is read only") end })

--- Merge this run's decisions (the maps of lists.build: block[imei] = {imei, date,
-- reasons}, notifications[op][imei/imsi] = {imei, imsi, msisdn, date, reasons},
-- exceptions[op][imei/imsi/msisdn] = row) with the register, in place. ctx:
--   date (YYYYMMDD), replay (find), conditions ({ [name] = describe() row }),
--   appeals (read_exceptions), cause_of(imei, imsis) -> cause | nil (lists, pairing),
--   msisdns_of(imei, imsi) -> { msisdn, ... } | nil, write (false: a what-if run).
-- Returns causes = { block = { [imei] = cause }, notifications = { [imei/imsi] = cause } }
-- and counts.
function register:reconcile(block, notifications, exceptions, ctx)
  local date, conds = ctx.date, ctx.conditions
  rank = {}
  for i, name in ipairs(ctx.order or {}) do rank[name] = i end
  local recs = self:devices()
  local existed = {}
  for imei in pairs(recs) do existed[imei] = true end
  local writing = ctx.write ~= false
  -- a run that writes nothing (what-if) keeps no conditions nor events: its new records
  -- share one table that refuses them
  local NONE = not writing and setmetatable({}, { __newindex = function()
    error("register: a what-if run records no conditions nor events")
  end }) or nil
  local causes = { block = {}, notifications = {} }
  local counts = { carried = 0, sticky_kept = 0, matured = 0, unblocked = 0, resolved = 0, grace_changed = 0,
                   appeals_active = 0, appeals_expired = 0, devices = 0, blocked = 0, notices = 0 }
  local dirty = {}
  local function rec_of(imei)
    local r = recs[imei]
    if not r then
      r = { imei = imei, notices = {}, conds = NONE or {}, events = NONE or {} }
      recs[imei] = r
    end
    r.notices = r.notices or {}
    r.conds = r.conds or {}
    r.events = r.events or {}
    return r
  end
  -- detail: a text, or a format and its arguments (formatted only when kept)
  local function event(r, what, detail, ...)
    -- the events are kept for the device's history: a run that writes nothing needs none
    if writing then
      if select("#", ...) > 0 then detail = detail:format(...) end
      r.events[#r.events + 1] = { date = date, generation = ctx.generation, what = what, detail = detail }
    end
    dirty[r.imei] = true
  end
  local function grace_of(name)
    local c = conds[name]
    return c and type(c.grace_days) == "number" and c.grace_days or 0
  end
  local function graces(reasons)
    local g = {}
    for _, name in ipairs(split(reasons)) do g[name] = grace_of(name) end
    return g
  end
  local function note_match(r, reasons)
    if not writing then return end -- the first and last match of each condition are kept only
    for name in (reasons or ""):gmatch("[^|]+") do
      local c = r.conds[name]
      if not c then
        r.conds[name] = { first = date, last = date }
        dirty[r.imei] = true
      elseif c.last ~= date then
        c.last = date
        dirty[r.imei] = true
      end
    end
  end
  -- an explicit cause for a decision that this run no longer makes (nil: none)
  local function explicit_cause(imei, reasons, imsis, known_lists)
    local gone = true
    for _, name in ipairs(split(reasons)) do
      local c = conds[name]
      if c and not c.disabled and c.blocking ~= false and c.status ~= "WHITELISTED" then gone = false end
    end
    if gone then return "policy_change" end
    local known = {}
    for _, name in ipairs(known_lists or {}) do known[name] = true end
    local cause = ctx.cause_of and ctx.cause_of(imei, imsis, known)
    if cause then return cause end
    for _, name in ipairs(split(reasons)) do
      if register.is_sticky(conds[name]) then return nil end
    end
    return "condition_cleared"
  end

  -- appeals in force today, by device and by pair
  local appeal_dev, appeal_pair = {}, {}
  for _, a in ipairs(ctx.appeals or {}) do
    local r = rec_of(a.imei)
    local key = a.imsi and (a.imei .. "/" .. a.imsi) or a.imei
    r.appeals = r.appeals or {}
    local known = r.appeals[key]
    if a["until"] >= date then
      if a.imsi then appeal_pair[key] = a else appeal_dev[a.imei] = a end
      counts.appeals_active = counts.appeals_active + 1
      if not known or known["until"] ~= a["until"] or known.reason ~= a.reason then
        r.appeals[key] = { reason = a.reason, ["until"] = a["until"], imsi = a.imsi, recorded = date }
        event(r, "appeal", "%s until %s%s", a.reason, a["until"], a.imsi and (" for " .. a.imsi) or "")
      end
    elseif known and not known.expired then
      known.expired = date
      counts.appeals_expired = counts.appeals_expired + 1
      event(r, "appeal_expired", "%s (until %s)", known.reason, known["until"])
    end
  end
  -- an appeal recorded before and no longer in the file (or past its date) has expired
  for imei, r in pairs(recs) do
    for key, a in pairs(r.appeals or NO_ENTRIES) do
      if not a.expired and a["until"] < date then
        a.expired = date
        counts.appeals_expired = counts.appeals_expired + 1
        event(r, "appeal_expired", "%s (until %s)", a.reason, a["until"])
      elseif not a.expired and not appeal_dev[imei] and not appeal_pair[key] and a.recorded then
        local listed = false
        for _, x in ipairs(ctx.appeals or {}) do
          if (x.imsi and x.imei .. "/" .. x.imsi or x.imei) == key then listed = true end
        end
        if not listed then
          a.expired = date
          event(r, "appeal_withdrawn", a.reason)
        end
      end
    end
  end

  -- 1. notices: this run's, and the register's that this run did not make
  local run_notice = {} -- imei/imsi -> { row, ops = {op = true} }
  for op, map in pairs(notifications) do
    for key, row in pairs(map) do
      local n = run_notice[key]
      if not n then
        n = { row = row, ops = {} }
        run_notice[key] = n
      end
      n.ops[op] = true
    end
  end
  local final_notice = {} -- imei/imsi -> { imei, imsi, msisdns, date, reasons, ops }
  for key, n in pairs(run_notice) do
    local row = n.row
    local imei, imsi = row[1], row[2]
    local r = rec_of(imei)
    note_match(r, row[5])
    local old = r.notices[imsi]
    local ops = {}
    for op in pairs(n.ops) do ops[#ops + 1] = op end
    table.sort(ops)
    local msisdns = ctx.msisdns_of and ctx.msisdns_of(imei, imsi) or { row[3] }
    if old and not old.ended then
      -- notified before: the block date stays, unless the grace period changed
      local moved = 0
      for name, g in pairs(old.grace or {}) do
        local now = grace_of(name)
        if conds[name] and now ~= g and math.abs(now - g) > math.abs(moved) then moved = now - g end
      end
      if moved ~= 0 then
        local bdate = add_days(old.block_date, moved)
        counts.grace_changed = counts.grace_changed + 1
        event(r, "grace_changed", "%s: block date %s -> %s", imsi, old.block_date, bdate)
        old.block_date = bdate
        old.grace = graces(row[5])
        causes.notifications[key] = "grace_changed"
      end
      local have, changed = {}, false
      for _, m in ipairs(old.msisdns or {}) do have[m] = true end
      for _, m in ipairs(msisdns) do
        if m ~= "" and not have[m] then
          old.msisdns = old.msisdns or {}
          old.msisdns[#old.msisdns + 1] = m
          changed = true
        end
      end
      if changed then table.sort(old.msisdns) end
      if old.reasons ~= row[5] or table.concat(old.operators or {}, "|") ~= table.concat(ops, "|") or changed then
        old.reasons = table.concat(union(old.reasons, row[5]), "|")
        old.operators = ops
        dirty[imei] = true
      end
    else
      local ms = {}
      for _, m in ipairs(msisdns) do if m ~= "" then ms[#ms + 1] = m end end
      table.sort(ms)
      r.notices[imsi] = { block_date = row[4], reasons = row[5], notified = date, grace = graces(row[5]),
                          msisdns = ms, operators = ops,
                          on_lists = ctx.cause_of and ctx.cause_of(imei, "lists") or nil }
      event(r, "notified", "%s: block on %s (%s)", imsi, row[4], row[5])
      old = r.notices[imsi]
    end
    final_notice[key] = { imei, imsi, old.msisdns, old.block_date, old.reasons, old.operators }
  end
  for imei, r in pairs(recs) do
    for imsi, old in pairs(r.notices or NO_ENTRIES) do
      local key = imei .. "/" .. imsi
      if not old.ended and not final_notice[key] and not block[imei] then
        local seen = ctx.replay:find(imei, imsi)
        local cause = seen and explicit_cause(imei, old.reasons, { imsi }, old.on_lists) or nil
        if cause then
          old.ended = date
          old.cause = cause
          causes.notifications[key] = cause
          counts.resolved = counts.resolved + 1
          event(r, "resolved", "%s: %s", imsi, cause)
        else
          final_notice[key] = { imei, imsi, old.msisdns, old.block_date, old.reasons, old.operators, carried = true }
        end
      end
    end
  end
  -- a notice whose block date has come blocks its device (matured)
  for key, n in pairs(final_notice) do
    local imei, imsi = n[1], n[2]
    if n[4] ~= "" and n[4] <= date and not appeal_pair[key] and not appeal_dev[imei] then
      local r = recs[imei]
      if not block[imei] or n.carried then
        local old = block[imei]
        if old then
          if n[4] < old[2] then old[2] = n[4] end
          old[3] = table.concat(union(old[3], n[5]), "|")
        else
          block[imei] = { imei, n[4], n[5] }
        end
        counts.matured = counts.matured + 1
      end
      r.notices[imsi].ended = date
      r.notices[imsi].cause = "blocked"
      final_notice[key] = nil
    end
  end

  -- 2. blocks
  -- blocked devices new to the register (nothing else in this run made them a record):
  -- counted; a run that keeps the register writes each record from its row at the end
  -- (new_block_json), a run that keeps nothing needs none
  local unrecorded, new_blocks = 0, {}
  for imei, row in pairs(block) do
    local r = recs[imei] and rec_of(imei)
    if not r then
      unrecorded = unrecorded + 1
      if writing then new_blocks[imei] = row end
    else
      note_match(r, row[3])
      if r.block then
        row[2] = r.block.date -- never slides
        local keep = {}
        for _, name in ipairs(split(r.block.reasons)) do
          if register.is_sticky(conds[name]) then keep[#keep + 1] = name end
        end
        row[3] = table.concat(union(row[3], table.concat(keep, "|")), "|")
        if row[3] ~= r.block.reasons then
          r.block.reasons = row[3]
          dirty[imei] = true
        end
      else
        -- the date notified, when a notice of this device announced it
        for _, old in pairs(r.notices) do
          if old.block_date and old.block_date ~= "" and (old.ended == date or not old.ended)
            and old.block_date < row[2] and old.block_date <= date then
            row[2] = old.block_date
          end
        end
        -- on_lists: what a later run reads (the lists it was on when blocked); none kept here
        r.block = { date = row[2], reasons = row[3], since = date,
                    on_lists = writing and ctx.cause_of and ctx.cause_of(imei, "lists") or nil }
        r.unblocked = nil
        event(r, "blocked", "on %s (%s)", row[2], row[3])
      end
      for imsi, old in pairs(r.notices) do
        if not old.ended then
          old.ended = date
          old.cause = "blocked"
          dirty[imei] = true
          final_notice[imei .. "/" .. imsi] = nil
        end
      end
    end
  end
  for imei, r in pairs(recs) do
    if r.block and not block[imei] then
      local seen = ctx.replay:find(imei)
      local cause
      if seen then
        local imsis = {}
        for imsi in pairs(r.notices) do imsis[#imsis + 1] = imsi end
        for _, e in ipairs(r.block.exceptions or {}) do imsis[#imsis + 1] = e[2] end
        cause = explicit_cause(imei, r.block.reasons, imsis, r.block.on_lists)
      end
      if cause then
        r.unblocked = { date = date, cause = cause, block_date = r.block.date, reasons = r.block.reasons }
        r.block = nil
        causes.block[imei] = cause
        counts.unblocked = counts.unblocked + 1
        event(r, "unblocked", cause)
      else
        block[imei] = { imei, r.block.date, r.block.reasons }
        if seen then counts.sticky_kept = counts.sticky_kept + 1 else counts.carried = counts.carried + 1 end
        for _, e in ipairs(r.block.exceptions or NO_ENTRIES) do
          local b = exceptions[e[4]] or {}
          exceptions[e[4]] = b
          b[e[1] .. "/" .. e[2] .. "/" .. e[3]] = { e[1], e[2], e[3] }
        end
      end
    end
  end
  -- the exceptions of each block, kept for the runs that do not see the device
  local exc_of = {}
  for op, map in pairs(exceptions) do
    for _, row in pairs(map) do
      local l = exc_of[row[1]] or {}
      exc_of[row[1]] = l
      l[#l + 1] = { row[1], row[2], row[3], op }
    end
  end
  local new_exceptions = {}
  local function by_text(a, b) return table.concat(a, ",") < table.concat(b, ",") end
  for imei in pairs(block) do
    local r = recs[imei] -- none: a device new to the register (new_blocks)
    local l = exc_of[imei]
    local had = r and r.block.exceptions
    if not r then
      if l and writing then
        table.sort(l, by_text)
        new_exceptions[imei] = l
      end
    elseif l or (had and next(had) ~= nil) then -- none before and none now: unchanged
      l = l or {}
      table.sort(l, by_text)
      if encode(l) ~= encode(r.block.exceptions or {}) then
        r.block.exceptions = l
        dirty[imei] = true
      end
    end
  end

  -- 3. appeals lift what they name, for as long as they hold
  for imei, a in pairs(appeal_dev) do
    if block[imei] then
      block[imei] = nil
      causes.block[imei] = "appeal"
    end
    for op, map in pairs(notifications) do
      for key in pairs(map) do
        if key:sub(1, #imei + 1) == imei .. "/" then map[key] = nil end
      end
      local _ = op
    end
    for key in pairs(final_notice) do
      if key:sub(1, #imei + 1) == imei .. "/" then
        final_notice[key] = nil
        causes.notifications[key] = "appeal"
      end
    end
    local _ = a
  end
  for key, a in pairs(appeal_pair) do
    if final_notice[key] then
      final_notice[key] = nil
      causes.notifications[key] = "appeal"
    end
    if block[a.imei] then
      -- the pair keeps service: an exception of the blocked device, on its operators
      local seen = ctx.replay:find(a.imei, a.imsi)
      local ops = seen and seen.operators or {}
      for _, op in ipairs(ops) do
        local b = exceptions[op] or {}
        exceptions[op] = b
        b[a.imei .. "/" .. a.imsi .. "/" .. (seen.msisdn or "")] = { a.imei, a.imsi, seen.msisdn or "" }
      end
    end
  end

  -- the notification lists, from the register's notices
  for op in pairs(notifications) do notifications[op] = {} end
  for key, n in pairs(final_notice) do
    for _, op in ipairs(n[6] or {}) do
      local b = notifications[op] or {}
      notifications[op] = b
      b[key] = { n[1], n[2], table.concat(n[3] or {}, "|"), n[4], n[5] }
    end
  end
  for imei in pairs(appeal_dev) do
    for op, map in pairs(exceptions) do
      for key in pairs(map) do
        if key:sub(1, #imei + 1) == imei .. "/" then map[key] = nil end
      end
      local _ = op
    end
  end

  local changed = {}
  counts.devices, counts.blocked = unrecorded, unrecorded
  for imei, r in pairs(recs) do
    counts.devices = counts.devices + 1
    if r.block then counts.blocked = counts.blocked + 1 end
    for _, n in pairs(r.notices) do
      if not n.ended then counts.notices = counts.notices + 1 end
    end
    if dirty[imei] and writing then changed[#changed + 1] = imei end
  end
  for imei in pairs(new_blocks) do changed[#changed + 1] = imei end
  -- written in key order: LMDB then fills its pages one after the other (a third of the
  -- time of random order, and fewer pages to commit)
  table.sort(changed)
  local quoted = {}
  for _, imei in ipairs(changed) do
    local row = new_blocks[imei]
    if row then
      self:put_record(imei, new_block_json(imei, row, date, ctx.generation,
        ctx.cause_of and ctx.cause_of(imei, "lists") or nil, new_exceptions[imei], quoted), true)
    else
      self:put_device(imei, recs[imei], not existed[imei])
    end
  end
  return causes, counts
end

-- ---- a run's state --------------------------------------------------------------------------

--- The state folder of a run: --state, else `state` inside --out.
function register.state_dir(opts)
  return opts.state or (opts.out .. "/state")
end

--- The sightings store of a run: --store, else a memory store that the run fills from the
-- state's snapshot (the register's "s:snapshot") and saves back into it.
function register.store_spec(opts)
  return opts.store or "memory"
end

-- A register that holds nothing and keeps nothing (a what-if run with no state yet).
local EMPTY_KV = {
  get = function() return nil end, scan = function() return {} end, put = function() end, del = function() end,
  put_snapshot = function() end, restore_snapshot = function() return true, false end,
  begin = function() return true end, commit = function() return true end, abort = function() end,
  close = function() end, stat = function() return 0, 0 end,
}

--- The register of a run: read and written (keep), or read only (a what-if run: --store
-- memory keeps nothing, but decides from what the register holds).
function register.for_run(state, keep, fresh)
  if keep then return register.open(state, false) end
  local size, _, isdir = host.file_size(state .. "/register")
  if size and isdir and not fresh then
    local reg, err = register.open(state, true)
    if reg then return reg end
    return nil, err
  end
  return setmetatable({ kv = EMPTY_KV, dir = state, read_only = true, undo = {}, touched = {} },
    { __index = register })
end

--- Restore the sightings kept in the register (its "s:snapshot") into a memory store:
-- true and whether there was one, or nil and why. Read where LMDB maps it: no copy.
function register.restore_snapshot(reg, store)
  local ok, found = reg.kv:restore_snapshot("s:snapshot", store)
  if not ok then return nil, found end
  return true, nil, found
end

--- Close and reopen the register's database: the pages a large read mapped into the
-- process (the snapshot) leave its resident memory. Between two transactions only.
function register:remap()
  if self.kv == EMPTY_KV or not self.kv then return true end
  self.kv:close()
  self.kv = nil
  local kv, err = host.kv_open(self.dir .. "/register", self.read_only == true)
  if not kv then return nil, err end
  self.kv = kv
  return true
end

local ALLOW_LISTS = { registration = true, golden = true, allow = true, whitelist = true, exempt = true }

--- The causes the run can see for lifting a decision: a device on an allow or registration
-- list, a pairing (pairing list or the store's pairings).
function register.cause_finder(list_set, store)
  local allow, pairing = {}, nil
  if list_set then
    for _, name in ipairs(list_set:names()) do
      if ALLOW_LISTS[name] then allow[#allow + 1] = { name, list_set:get(name) } end
      if name == "pairing" then pairing = list_set:get(name) end
    end
    table.sort(allow, function(a, b) return a[1] < b[1] end)
  end
  -- known: the lists the device was on when the decision was made (not a new cause)
  return function(imei, imsis, known)
    if imsis == "lists" then -- the allow lists the device is on now
      local on = {}
      for _, l in ipairs(allow) do
        if l[2]:has(imei) then on[#on + 1] = l[1] end
      end
      return on
    end
    for _, l in ipairs(allow) do
      if l[2]:has(imei) and not (known and known[l[1]]) then return "list:" .. l[1] end
    end
    for _, imsi in ipairs(imsis or {}) do
      if pairing and pairing:has(imei, imsi) then return "pairing" end
      local ok, paired = pcall(store.is_paired, store, imei, imsi)
      if ok and paired == true then return "pairing" end
    end
    return nil
  end
end

--- Every MSISDN the store saw with (imei, imsi).
function register.msisdn_finder(store)
  return function(imei, imsi)
    local ok, rows = pcall(store.sightings, store, imei)
    if not ok or type(rows) ~= "table" then return nil end
    local set, out = {}, {}
    for _, row in ipairs(rows) do
      if row.imsi == imsi and row.msisdn and not set[row.msisdn] then
        set[row.msisdn] = true
        out[#out + 1] = row.msisdn
      end
    end
    table.sort(out)
    return #out > 0 and out or nil
  end
end

--- The report's `register` section (report.json) and its text (report.txt).
function register.report_section(t)
  local text = require "imei.classify.text"
  local c = t.counts or {}
  local lines = { "", "State (the national register)" }
  if t.kept then
    lines[#lines + 1] = ("  kept in %s: generation %d -> %d%s%s"):format(t.state, t.generation_before,
      t.generation_after, t.generation_after == t.generation_before and " (unchanged)" or "",
      t.fresh and "; started over (--fresh): earlier decisions and sightings were dropped" or "")
  else
    lines[#lines + 1] = ("  what-if run (--store %s): nothing is kept; decided from the register in %s as it stands")
      :format(t.store or "memory", t.state)
    if t.fresh then lines[#lines + 1] = "  --fresh: the register was not read" end
  end
  if t.older then
    lines[#lines + 1] = ("  NOTE: the register's last run is dated %s, after this one"):format(t.older)
  end
  lines[#lines + 1] = ("  devices in the register %s, blocked %s, open notices %s"):format(text.count(c.devices or 0),
    text.count(c.blocked or 0), text.count(c.notices or 0))
  lines[#lines + 1] = ("  blocks kept: not seen in this run %s, by a sticky condition %s; notices come due %s")
    :format(text.count(c.carried or 0), text.count(c.sticky_kept or 0), text.count(c.matured or 0))
  lines[#lines + 1] = ("  unblocked %s, notices resolved %s (causes in the deltas), grace periods changed %s")
    :format(text.count(c.unblocked or 0), text.count(c.resolved or 0), text.count(c.grace_changed or 0))
  lines[#lines + 1] = ("  appeals in force %s, expired %s"):format(text.count(c.appeals_active or 0),
    text.count(c.appeals_expired or 0))
  for _, ne in ipairs(t.not_effective or {}) do
    lines[#lines + 1] = ("  not in effect before %s: %s matched %s devices (nothing notified or blocked for it)")
      :format(ne.effective, ne.name, text.count(ne.devices))
  end
  return table.concat(lines, "\n") .. "\n"
end

-- ---- history -----------------------------------------------------------------------------

--- The sightings a state keeps, in a memory store of their own (reading changes nothing
-- in the state): for `imei history` and `imei explain --state`. An empty store when the
-- state holds none yet; nil and why when there is no register or its snapshot is damaged.
function register.open_sightings(state)
  local reg, err = register.open(state, true)
  if not reg then return nil, err end
  local store = assert(require("imei.sightings").open("memory"))
  local ok, rerr = register.restore_snapshot(reg, store)
  reg:close()
  if not ok then
    store:close()
    return nil, ("%s/register: the sightings kept in the state: %s"):format(state, tostring(rerr))
  end
  return store
end

--- One device's history (the Lua API of `imei history`): the register's record and the
-- sightings of the state's store. state: the state folder; imei: any IMEI form or text.
-- Returns { imei, record (or nil), sightings = { rows }, runs = { run records that changed it } }
-- or nil and why.
-- The days a sighting row was seen on, ascending, as YYYY-MM-DD: the store keeps a bit per
-- day for the 64 days ending with the last one seen (docs/sightings.md), so an older day is
-- counted in days_seen but not listed.
local function days_of(row)
  local bits, last, days = row.days_bitmap or 0, row.last_seen // 86400, {}
  for i = 63, 0, -1 do
    if (bits >> i) & 1 == 1 then days[#days + 1] = os.date("!%Y-%m-%d", (last - i) * 86400) end
  end
  return days
end

function register.history(state, imei)
  local key = tostring(imei):gsub("[%s%-]", "")
  if key:match("^%d+$") then
    if #key == 15 or #key == 14 then key = key:sub(1, 14)
    elseif #key == 16 then key = key:sub(1, 14) -- an IMEISV: its TAC and SNR
    end
  end
  local reg, err = register.open(state, true)
  if not reg then return nil, err end
  local rec = reg:device(key)
  local out = { imei = key, record = rec, sightings = {}, runs = {} }
  local gens = {}
  for _, e in ipairs(rec and rec.events or {}) do
    if e.generation and not gens[e.generation] then
      gens[e.generation] = true
      local s = reg.kv:get(("r:%08d"):format(e.generation))
      if s then out.runs[#out.runs + 1] = decode(s, "run") end
    end
  end
  out.generation = reg:generation()
  reg:close()
  do
    local store, serr = register.open_sightings(state)
    if not store then return nil, serr end
    local rows = store:sightings(#key == 14 and key .. "0" or key)
    if rows then
      table.sort(rows, function(a, b)
        if a.first_seen ~= b.first_seen then return a.first_seen < b.first_seen end
        return tostring(a.imsi) < tostring(b.imsi)
      end)
      for _, row in ipairs(rows) do
        out.sightings[#out.sightings + 1] = {
          imsi = row.imsi, msisdn = row.msisdn, operator = row.operator,
          first_seen = os.date("!%Y-%m-%d", row.first_seen), last_seen = os.date("!%Y-%m-%d", row.last_seen),
          days_seen = row.days_seen, days = days_of(row),
        }
      end
    end
    store:close()
  end
  return out
end

return register
