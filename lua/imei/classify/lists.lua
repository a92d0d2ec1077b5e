--- imei.classify.lists — the lists a CEIR gives operators (docs/classify.md, DIRBS formats),
-- from the verdicts of a replay, and their deltas against the previous run's lists.
--
--   blocklist.csv                 imei,block_date,reasons
--   notifications_<OP>.csv        imei,imsi,msisdn,block_date,reasons   (one per operator)
--   exceptions_<OP>.csv           imei,imsi,msisdn                      (pairing exceptions)
--   blocklist_delta.csv           imei,block_date,reasons,change   blocked|unblocked|changed
--   notifications_<OP>_delta.csv  …,change   new|resolved|blacklisted|changed|no_longer_seen
--   exceptions_<OP>_delta.csv     imei,imsi,msisdn,change                 added|removed
--
-- The list rules are decided once, in C, after the verdicts (host/replay_tally.c), and
-- come here as flags, through two iterators that yield only what the lists name (no table
-- per device or pair): replay:blocked() (the blocked devices, with the reasons, block date
-- and first day of their BLACKLISTED pairs) and replay:flagged() (the pairs flagged
-- exception or notification). This module only writes them out, per device (its 14-digit
-- key, or its text when it is no IMEI):
--   * blocked (dev.blocked: some observed pair's verdict is BLACKLISTED). block_date: the
--     earliest date a grace period of its blocking reasons ended, else the date it was
--     first listed (kept from the previous list), else the run's date. reasons: the
--     conditions that ask for BLACKLISTED, '|'-separated, in the policy's order.
--   * exception (p.exception: a pair of a blocked device whose own verdict is not
--     BLACKLISTED — the paired or first-seen subscriber of a cloned IMEI keeps service),
--     for every operator the pair was seen on.
--   * notification (p.notification: a pair not BLACKLISTED with a condition in its grace
--     period), with the date its block begins and the conditions in grace.
--   * carried over: a device on the previous block list that this run did not observe
--     stays listed as it was (not seen is not innocent), and so do its exceptions;
--     an observed device that was blocked by a sticky condition stays blocked too.
--     --fresh (opts.fresh) turns both off: the lists then describe this run alone.
local text = require "imei.classify.text"
local dsv = require "imei.tacdb.dsv"

local lists = {}

lists.HEADERS = {
  block = { "imei", "block_date", "reasons" },
  notifications = { "imei", "imsi", "msisdn", "block_date", "reasons" },
  exceptions = { "imei", "imsi", "msisdn" },
}

local DELTA_HEADERS = {
  block = { "imei", "block_date", "reasons", "change", "cause" },
  notifications = { "imei", "imsi", "msisdn", "block_date", "reasons", "change", "cause" },
  exceptions = { "imei", "imsi", "msisdn", "change" },
}

--- File names of the lists.
function lists.file(kind, operator, delta)
  local base = kind == "block" and "blocklist" or (kind .. "_" .. operator)
  return base .. (delta and "_delta" or "") .. ".csv"
end

-- Read one previous list: rows of cells, or nil and "PATH:LINE: why". The records are
-- read by the one CSV reader of the Lua side (imei.tacdb.dsv); blank lines are skipped.
local function read_list(path, kind, stored)
  local body, rerr
  if stored then
    body = stored[path:match("([^/]*)$")]
    if not body then return nil end
  else
    local f = io.open(path, "rb")
    if not f then return nil end
    body, rerr = f:read("a")
    f:close()
  end
  if not body then return nil, ("%s: %s"):format(path, tostring(rerr)) end
  local want = lists.HEADERS[kind]
  local rows, header = {}, false
  for lineno, cells, why, start, stop in dsv.records(body, ",") do
    if not cells then return nil, ("%s:%d: %s"):format(path, lineno, why) end
    if not header then
      if table.concat(cells, ",") ~= table.concat(want, ",") then
        return nil, ("%s:%d: not a previous %s list: the header is '%s', expected '%s'")
          :format(path, lineno, kind, body:sub(start, stop - 1):gsub("\r$", ""), table.concat(want, ","))
      end
      header = true
    else
      if #cells ~= #want then
        return nil, ("%s:%d: %d fields, expected %d (%s)"):format(path, lineno, #cells, #want, table.concat(want, ","))
      end
      rows[#rows + 1] = cells
    end
  end
  return rows
end

--- The previous run's lists in dir (each absent list is empty):
-- { block = { [imei] = {imei, date, reasons} }, notifications = { [op] = { [imei/imsi] = row } },
--   exceptions = { [op] = { [imei/imsi/msisdn] = row } }, operators = { op, … } }
-- stored: { [file name] = bytes } to read instead of dir (the lists a replaced run started
-- from, kept by the register); names then are its keys.
function lists.read_previous(dir, names, stored)
  local prev = { block = {}, notifications = {}, exceptions = {}, operators = {}, exceptions_of = {} }
  if stored then
    names = {}
    for name in pairs(stored) do names[#names + 1] = name end
  end
  local rows, err = read_list(dir .. "/" .. lists.file("block"), "block", stored)
  if err then return nil, err end
  for _, r in ipairs(rows or {}) do prev.block[r[1]] = r end
  local ops = {}
  for _, name in ipairs(names or {}) do
    local kind, op = name:match("^(notifications)_(.+)%.csv$")
    if not kind then kind, op = name:match("^(exceptions)_(.+)%.csv$") end
    if kind and not op:match("_delta$") then ops[op] = true end
  end
  for op in pairs(ops) do prev.operators[#prev.operators + 1] = op end
  table.sort(prev.operators)
  for _, op in ipairs(prev.operators) do
    local n = {}
    rows, err = read_list(dir .. "/" .. lists.file("notifications", op), "notifications", stored)
    if err then return nil, err end
    for _, r in ipairs(rows or {}) do n[r[1] .. "/" .. r[2]] = r end
    prev.notifications[op] = n
    local e = {}
    rows, err = read_list(dir .. "/" .. lists.file("exceptions", op), "exceptions", stored)
    if err then return nil, err end
    for _, r in ipairs(rows or {}) do
      e[r[1] .. "/" .. r[2] .. "/" .. r[3]] = r
      local of = prev.exceptions_of[r[1]] or {}
      prev.exceptions_of[r[1]] = of
      of[#of + 1] = { op = op, row = r }
    end
    prev.exceptions[op] = e
  end
  return prev
end

--- The bytes of the base lists in dir (not their deltas): what a run starts from, kept by
-- the register so that a re-run of the same date starts from the same lists.
function lists.base_files(dir, names)
  local out = {}
  for _, name in ipairs(names or {}) do
    if name == lists.file("block") or ((name:match("^notifications_.+%.csv$") or name:match("^exceptions_.+%.csv$"))
        and not name:match("_delta%.csv$")) then
      local f = io.open(dir .. "/" .. name, "rb")
      if f then
        out[name] = f:read("a")
        f:close()
      end
    end
  end
  return out
end

local find, concat = string.find, table.concat
-- byte order in C (qsort): the order of table.sort's < on strings, without its comparisons
-- through the VM (host/lua_sort.c)
local sort_strings = require("imei.host").sort_strings

-- Rows (arrays of text cells) in order, cell by cell. Each row is sorted by one text key,
-- its cells joined by NUL, so that they are sorted as strings in C instead of calling a
-- Lua comparator some n·log n times (NUL sorts below every other byte and Lua compares
-- strings NUL-segment by segment: the order is the cells' order). A cell that holds a NUL
-- itself (a hostile previous list) falls back to the comparator.
local function cell_order(a, b)
  for i = 1, #a do
    if a[i] ~= b[i] then return a[i] < b[i] end
  end
  return false
end

-- a text key of n cells: exactly n - 1 NULs (none inside a cell)
local plain_key = setmetatable({}, { __index = function(t, n)
  local p = "^[^%z]*" .. ("%z[^%z]*"):rep(n - 1) .. "$"
  t[n] = p
  return p
end })

-- The rows of one list or delta most often differ in their first cell (the block list and
-- its delta: one row per device): the first cells alone then give the order, sorted as
-- they are (no key to build). Otherwise every row is sorted by its NUL-joined key.
local function by_first_cell(map)
  local firsts, of = {}, {}
  for _, row in pairs(map) do
    local k = row[1]
    if type(k) ~= "string" or of[k] ~= nil then return nil end
    of[k] = row
    firsts[#firsts + 1] = k
  end
  sort_strings(firsts)
  for i = 1, #firsts do firsts[i] = of[firsts[i]] end
  return firsts
end

function lists.sorted_rows(map)
  local sorted = by_first_cell(map or {})
  if sorted then return sorted end
  local rows, keys, of, more = {}, {}, {}, nil
  for _, row in pairs(map or {}) do
    rows[#rows + 1] = row
    local key = keys and concat(row, "\0")
    if key and not find(key, plain_key[#row]) then keys = nil end
    if keys then
      if of[key] == nil then
        of[key] = row
        keys[#keys + 1] = key
      else -- the same cells twice: each row is written
        more = more or {}
        local l = more[key] or {}
        more[key] = l
        l[#l + 1] = row
      end
    end
  end
  if not keys then
    table.sort(rows, cell_order)
    return rows
  end
  sort_strings(keys)
  local n = 0
  for i = 1, #keys do
    local key = keys[i]
    n = n + 1
    rows[n] = of[key]
    for _, row in ipairs(more and more[key] or {}) do
      n = n + 1
      rows[n] = row
    end
  end
  return rows
end

local function split_reasons(s)
  local out = {}
  for name in (s or ""):gmatch("[^|]+") do out[#out + 1] = name end
  return out
end

--- Decide the lists. opts: run_date (YYYYMMDD), previous (read_previous), sticky (set of
-- condition names), fresh, check (called now and then; may raise to stop). Returns the
-- lists, their deltas and counts.
function lists.build(replay, opts)
  local names = replay:condition_names()
  -- a reason name goes into the lists' reasons cells, '|'-separated: a '|' would read back
  -- as two reasons, and a control byte (a line end) has no place in what operators load
  for _, name in ipairs(names) do
    if name:find("[|%c]") then
      error({ message = ("condition name %q: a '|' or a control character (a line end, ...) cannot go into the " ..
        "lists' reasons; name conditions with words (letters, digits, _)"):format(name) }, 0)
    end
  end
  local prev = opts.previous or { block = {}, notifications = {}, exceptions = {}, operators = {}, exceptions_of = {} }
  local sticky = opts.sticky or {}
  local memo = {}
  local function reasons(mask)
    local s = memo[mask]
    if s then return s end
    local out = {}
    for i = 1, #names do
      if mask & (1 << (i - 1)) ~= 0 then out[#out + 1] = names[i] end
    end
    s = table.concat(out, "|")
    memo[mask] = s
    return s
  end
  local function has_sticky(s)
    for _, name in ipairs(split_reasons(s)) do
      if sticky[name] then return true end
    end
    return false
  end

  local block = {}
  local notifications, exceptions = {}, {}
  local counts = { carried = 0, sticky_kept = 0, sticky_reasons_kept = 0 }
  local function bucket(t, op)
    local b = t[op]
    if not b then
      b = {}
      t[op] = b
    end
    return b
  end

  -- the operators of a pair (a bit per operator index), as names in that order
  local op_names, ops_memo = {}, {}
  for i, o in ipairs(replay:operators()) do op_names[i] = o.name end
  local function ops_of(bits)
    local l = ops_memo[bits]
    if not l then
      l = {}
      for i = 1, #op_names do
        if bits & (1 << (i - 1)) ~= 0 then l[#l + 1] = op_names[i] end
      end
      ops_memo[bits] = l
    end
    return l
  end

  -- the latest date one of the conditions of a reasons text takes effect (nil: none says)
  local effective_memo = {}
  local function latest_effective(why)
    local eff = effective_memo[why]
    if eff == nil then
      eff = false
      for name in why:gmatch("[^|]+") do
        local e = opts.effective and opts.effective[name]
        if e and (not eff or e > eff) then eff = e end
      end
      effective_memo[why] = eff
    end
    return eff or nil
  end

  -- the blocked devices, each with what its BLACKLISTED pairs say (C: no table per device
  -- or pair; the devices the lists do not name are never seen here)
  local listed = 0
  for imei, mask, date, first in replay:blocked() do
    listed = listed + 1
    if opts.check and listed % 4096 == 0 then opts.check() end
    local why = reasons(mask)
    if not date and first and opts.register then
      -- no grace period: blocked from the day the data first showed it (the same in one
      -- run over many days as in daily runs), not before its conditions took effect
      date = first
      local eff = latest_effective(why)
      if eff and eff > date then date = eff end
    end
    local old = not opts.register and prev.block[imei] or nil
    if old and not opts.fresh then
      -- sticky conditions of the previous listing stay among the reasons
      local have = {}
      for _, name in ipairs(split_reasons(why)) do have[name] = true end
      local extra = {}
      for _, name in ipairs(split_reasons(old[3])) do
        if sticky[name] and not have[name] then extra[#extra + 1] = name end
      end
      if #extra > 0 then
        why = why == "" and table.concat(extra, "|") or (why .. "|" .. table.concat(extra, "|"))
        counts.sticky_reasons_kept = counts.sticky_reasons_kept + 1
      end
    end
    date = date or (old and old[2]) or opts.run_date
    -- two cells more, false until the block delta's change and cause fill them (below):
    -- the list writes cells 1 to 3, the delta all five, of the same row
    block[imei] = { imei, date, why, false, false }
  end
  -- the pairs on a list of their own: exceptions (only a blocked device's pairs are) and
  -- notifications, for every operator the pair was seen on
  for imei, imsi, msisdn, exception, notification, block_date, grace, ops in replay:flagged() do
    listed = listed + 1
    if opts.check and listed % 4096 == 0 then opts.check() end
    msisdn = msisdn or ""
    for _, op in ipairs(ops_of(ops)) do
      if exception then
        bucket(exceptions, op)[imei .. "/" .. imsi .. "/" .. msisdn] = { imei, imsi, msisdn }
      end
      if notification then
        bucket(notifications, op)[imei .. "/" .. imsi] = { imei, imsi, msisdn, block_date or "", reasons(grace) }
      end
    end
  end

  -- the national register (imei.classify.register) decides what stays, what matures and
  -- what an explicit cause lifts; without one, the previous lists in --out do
  local causes = { block = {}, notifications = {} }
  if opts.register then
    causes, counts.register = opts.register(block, notifications, exceptions)
    counts.carried, counts.sticky_kept = counts.register.carried or 0, counts.register.sticky_kept or 0
  elseif not opts.fresh then
    for imei, old in pairs(prev.block) do
      if not block[imei] then
        local seen = replay:find(imei)
        local keep = false
        if not seen then
          keep = true
          counts.carried = counts.carried + 1
        elseif has_sticky(old[3]) then
          keep = true
          counts.sticky_kept = counts.sticky_kept + 1
        end
        if keep then
          block[imei] = { imei, old[2], old[3] }
          for _, e in ipairs(prev.exceptions_of[imei] or {}) do
            local r = e.row
            bucket(exceptions, e.op)[r[1] .. "/" .. r[2] .. "/" .. r[3]] = { r[1], r[2], r[3] }
          end
        end
      end
    end
  end

  -- operators: this run's and the previous run's, so that every list has its delta
  local opset, operators = {}, {}
  for _, o in ipairs(replay:operators()) do opset[o.name] = true end
  for _, op in ipairs(prev.operators) do opset[op] = true end
  for op in pairs(notifications) do opset[op] = true end
  for op in pairs(exceptions) do opset[op] = true end
  for op in pairs(opset) do operators[#operators + 1] = op end
  table.sort(operators)

  local function sorted_rows(map)
    return lists.sorted_rows(map)
  end
  local function same(a, b)
    for i = 1, #a do
      if a[i] ~= b[i] then return false end
    end
    return true
  end

  local out = {
    operators = operators, block = sorted_rows(block), notifications = {}, exceptions = {},
    deltas = { block = {}, notifications = {}, exceptions = {} }, counts = counts,
    delta_counts = { block = {}, notifications = {}, exceptions = {} },
  }
  local function tally(kind, change)
    local c = out.delta_counts[kind]
    c[change] = (c[change] or 0) + 1
  end

  -- block list delta: one row per device (the block list's, or the previous one's), so in
  -- the order of the first cell: the block list's rows (sorted above) merged with the
  -- unblocked ones, sorted on their own
  local bd, gone = {}, {}
  for imei in pairs(prev.block) do
    if not block[imei] then gone[#gone + 1] = imei end
  end
  table.sort(gone)
  local g = 1
  local function unblocked_before(imei)
    while gone[g] and (imei == nil or gone[g] < imei) do
      local old = prev.block[gone[g]]
      bd[#bd + 1] = { old[1], old[2], old[3], "unblocked", causes.block[gone[g]] or "" }
      g = g + 1
    end
  end
  -- a row of this run's blocked devices is its own delta row (a table per device less, some
  -- 2.4 MiB of the run's last peak with 16,094 devices); a row the register or the carry-over
  -- made has three cells, and its delta row is a table of its own
  local function delta_row(row, change, cause)
    if row[4] == false then
      row[4], row[5] = change, cause
      return row
    end
    return { row[1], row[2], row[3], change, cause }
  end
  for _, row in ipairs(out.block) do
    local imei = row[1]
    unblocked_before(imei)
    local old = prev.block[imei]
    if not old then
      bd[#bd + 1] = delta_row(row, "blocked", causes.block[imei] or "")
    elseif not same(old, row) then
      bd[#bd + 1] = delta_row(row, "changed", causes.block[imei] or "")
    end
  end
  unblocked_before(nil)
  out.deltas.block = bd
  for _, r in ipairs(bd) do tally("block", r[4]) end

  for _, op in ipairs(operators) do
    local new_n, old_n = notifications[op] or {}, prev.notifications[op] or {}
    local new_e, old_e = exceptions[op] or {}, prev.exceptions[op] or {}
    out.notifications[op] = sorted_rows(new_n)
    out.exceptions[op] = sorted_rows(new_e)
    local nd = {}
    for key, row in pairs(new_n) do
      local old = old_n[key]
      if not old then
        nd[#nd + 1] = { row[1], row[2], row[3], row[4], row[5], "new", causes.notifications[key] or "" }
      elseif not same(old, row) then
        nd[#nd + 1] = { row[1], row[2], row[3], row[4], row[5], "changed", causes.notifications[key] or "" }
      end
    end
    for key, old in pairs(old_n) do
      if not new_n[key] then
        local imei, imsi = old[1], old[2]
        local change
        if block[imei] and not new_e[imei .. "/" .. imsi .. "/" .. old[3]] then
          change = "blacklisted"
        elseif not replay:find(imei, imsi) then
          change = "no_longer_seen"
        else
          change = "resolved"
        end
        nd[#nd + 1] = { old[1], old[2], old[3], old[4], old[5], change, causes.notifications[key] or "" }
      end
    end
    out.deltas.notifications[op] = sorted_rows(nd)
    for _, r in ipairs(out.deltas.notifications[op]) do tally("notifications", r[6]) end
    local ed = {}
    for key, row in pairs(new_e) do
      if not old_e[key] then ed[#ed + 1] = { row[1], row[2], row[3], "added" } end
    end
    for key, old in pairs(old_e) do
      if not new_e[key] then ed[#ed + 1] = { old[1], old[2], old[3], "removed" } end
    end
    out.deltas.exceptions[op] = sorted_rows(ed)
    for _, r in ipairs(out.deltas.exceptions[op]) do tally("exceptions", r[4]) end
  end
  return out
end

-- Write rows to path; check() is called every 65,536 rows and may raise to stop.
-- Every cell is quoted as RFC 4180 says (text.write_csv), so a comma or a quote in a value
-- is written so that read_list reads it back; a control character (a line end) is refused. A full disk is reported as
-- such (text.io_error); the caller writes into a temporary folder and removes it then.
local function write_csv(path, header, rows, check)
  return text.write_csv(path, header, rows, { check = check, controls = function(line, i)
    -- a line end in a cell: read_list (one record per line) could not read it back
    return ("%s: row %d: %s: a cell holds a control character (a line end, ...); refused rather than " ..
      "write a list that cannot be read back"):format(path, i, (line:gsub("%c", function(c)
        return ("\\%d"):format(c:byte()) end)))
  end })
end

--- Write the lists and deltas into dir. Returns the file names written, or nil and why.
function lists.write(built, dir, check)
  local files = {}
  local function put(name, header, rows)
    local ok, err = write_csv(dir .. "/" .. name, header, rows, check)
    if not ok then return nil, err end
    files[#files + 1] = name
    return true
  end
  local ok, err = put(lists.file("block"), lists.HEADERS.block, built.block)
  if not ok then return nil, err end
  ok, err = put(lists.file("block", nil, true), DELTA_HEADERS.block, built.deltas.block)
  if not ok then return nil, err end
  for _, op in ipairs(built.operators) do
    for _, kind in ipairs({ "notifications", "exceptions" }) do
      ok, err = put(lists.file(kind, op), lists.HEADERS[kind], built[kind][op])
      if not ok then return nil, err end
      ok, err = put(lists.file(kind, op, true), DELTA_HEADERS[kind], built.deltas[kind][op])
      if not ok then return nil, err end
    end
  end
  return files
end

return lists
