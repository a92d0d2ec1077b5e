--- imei history IMEI --state DIR [--json] — one device's record in the national register:
-- its sightings by subscriber and day, each condition's first and last match, its notices (block
-- date as notified, MSISDNs, operators), its block and unblock with the cause, appeals,
-- and the runs that changed it. What customer care reads out to a subscriber. The work
-- is imei.classify.register.history (the Lua API).
local history = {}

function history.configure(cmd)
  cmd:argument("imei", "The device: an IMEI (14 or 15 digits), an IMEISV, or the text as the dumps wrote it.")
  cmd:option("--state", "The state folder of imei classify (--state there; default there: OUT/state)."):count(1)
  cmd:flag("--json", "Print the history as JSON.")
  cmd:epilog([[
Exit status: 0 the device is in the register or was seen; 1 it is unknown to the state;
2 the state cannot be read.

Example:
  imei history 352099001761481 --state out/state]])
end

-- "2026-01-01..2026-01-03, 2026-01-07": consecutive days (YYYY-MM-DD, ascending) as one range
local function day_ranges(days)
  local day_number = require("imei.gen").day_number -- arithmetic: no time zone moves a day
  local function n(iso) return day_number((iso:gsub("-", ""))) end
  local out, i = {}, 1
  while i <= #days do
    local j = i
    while j < #days and n(days[j]) + 1 == n(days[j + 1]) do j = j + 1 end
    out[#out + 1] = j == i and days[i] or days[i] .. ".." .. days[j]
    i = j + 1
  end
  return table.concat(out, ", ")
end

local function text_of(h)
  local lines = { ("Device %s"):format(h.imei) }
  local rec = h.record
  if rec and rec.block then
    lines[#lines + 1] = ("  BLOCKED from %s (%s), listed since the run of %s"):format(rec.block.date, rec.block.reasons,
      rec.block.since)
  elseif rec and rec.unblocked then
    lines[#lines + 1] = ("  not blocked: unblocked on %s (%s); it had been blocked from %s (%s)"):format(
      rec.unblocked.date, rec.unblocked.cause, rec.unblocked.block_date, rec.unblocked.reasons)
  else
    lines[#lines + 1] = "  not blocked"
  end
  if rec then
    local names = {}
    for name in pairs(rec.conds or {}) do names[#names + 1] = name end
    table.sort(names)
    if #names > 0 then lines[#lines + 1] = "  Conditions (first and last run that matched):" end
    for _, name in ipairs(names) do
      local c = rec.conds[name]
      lines[#lines + 1] = ("    %-28s %s .. %s"):format(name, c.first, c.last)
    end
    local imsis = {}
    for imsi in pairs(rec.notices or {}) do imsis[#imsis + 1] = imsi end
    table.sort(imsis)
    if #imsis > 0 then lines[#lines + 1] = "  Notices (per subscriber):" end
    for _, imsi in ipairs(imsis) do
      local n = rec.notices[imsi]
      lines[#lines + 1] = ("    %s  MSISDN %s  notified %s, block on %s (%s)%s"):format(imsi,
        table.concat(n.msisdns or {}, ", "), n.notified, n.block_date, n.reasons,
        n.ended and (", ended " .. n.ended .. " (" .. tostring(n.cause) .. ")") or "")
    end
    local keys = {}
    for key in pairs(rec.appeals or {}) do keys[#keys + 1] = key end
    table.sort(keys)
    for _, key in ipairs(keys) do
      local a = rec.appeals[key]
      lines[#lines + 1] = ("  Appeal %s: %s, until %s%s"):format(key, a.reason, a["until"],
        a.expired and (" (ended " .. a.expired .. ")") or "")
    end
  end
  if #h.sightings > 0 then lines[#lines + 1] = "  Sightings (subscriber, first and last day, days seen):" end
  for _, s in ipairs(h.sightings) do
    lines[#lines + 1] = ("    %s  MSISDN %s  %s .. %s  %d days%s"):format(s.imsi, s.msisdn or "-", s.first_seen,
      s.last_seen, s.days_seen or 0, s.operator and ("  on " .. s.operator) or "")
    if s.days and #s.days > 0 then lines[#lines + 1] = "      seen on " .. day_ranges(s.days) end
  end
  if rec and #(rec.events or {}) > 0 then lines[#lines + 1] = "  Changes (run date, generation):" end
  for _, e in ipairs(rec and rec.events or {}) do
    local gen = tostring(math.tointeger(e.generation) or e.generation)
    lines[#lines + 1] = ("    %s  #%s  %s%s"):format(e.date, gen, e.what,
      e.detail and (": " .. e.detail) or "")
  end
  if not rec and #h.sightings == 0 then lines[#lines + 1] = "  unknown to this state (never listed, never seen)" end
  return table.concat(lines, "\n") .. "\n"
end

function history.run(args)
  local cli = require "imei.cli"
  local h, err = require("imei.classify.register").history(args.state, args.imei)
  if not h then return cli.fail("history", err) end
  if args.json then
    io.write(require("imei.classify.text").json(h, "  "), "\n")
  else
    io.write(text_of(h))
  end
  return (h.record or #h.sightings > 0) and 0 or 1
end

return history
