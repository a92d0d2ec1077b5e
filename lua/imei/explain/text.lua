--- imei.explain.text — an explanation (imei.explain.trace's report) in words, for
-- customer care: the verdict, every condition in evaluation order, then the facts.
local text = {}

local function yesno(v) return v and "yes" or "no" end

local function join(items, sep)
  local out = {}
  for i, v in ipairs(items or {}) do out[i] = tostring(v) end
  return table.concat(out, sep or ", ")
end

--- One fact a condition looked at, in a few words.
function text.fact(f)
  local args = f.args or {}
  if f.source == "lists" then
    if f.call == "loaded" then return ("list %s: not loaded (empty)"):format(f.list) end
    if args[2] ~= nil then
      return ("list %s has %s with SIM %s: %s"):format(f.list, tostring(args[1]), tostring(args[2]), yesno(f.result))
    end
    return ("list %s has %s: %s"):format(f.list, tostring(args[1]), yesno(f.result))
  end
  if f.error then return ("sightings %s: the store failed: %s"):format(f.call, f.error) end
  local r = f.result
  if f.call == "imsis" then return ("distinct SIMs in %s days: %s"):format(tostring(args[2]), tostring(r)) end
  if f.call == "msisdns" then return ("distinct numbers in %s days: %s"):format(tostring(args[2]), tostring(r)) end
  if f.call == "daily" and type(r) == "table" then
    return ("SIMs a day over %s days: %.2f on average over %s days seen"):format(tostring(args[2]),
      tonumber(r.average) or 0, tostring(r.days_seen))
  end
  if f.call == "first_imsi" then return ("first SIM seen: %s"):format(r == nil and "none" or tostring(r)) end
  if f.call == "is_paired" then return ("paired with SIM %s: %s"):format(tostring(args[2]), yesno(r)) end
  if f.call == "pairs_of" then
    return ("paired SIMs: %s"):format(type(r) == "table" and #r > 0 and join(r) or "none")
  end
  if f.call == "sightings" then
    local n = type(r) == "table" and #r or 0
    if args[2] then return ("sightings in %s days: %d SIMs"):format(tostring(args[2]), n) end
    return ("sightings: %d SIMs"):format(n)
  end
  return ("sightings %s: %s"):format(tostring(f.call), type(r) == "table" and "(a table)" or tostring(r))
end

local RESULT = {
  not_matched = "not matched", not_evaluated = "not evaluated", disabled = "disabled",
}

local function condition_lines(out, c)
  local head
  if c.result == "matched" then
    local parts = { "MATCHED" }
    if c.verdict_status then parts[#parts + 1] = "-> " .. c.verdict_status end
    if c.verdict_status ~= c.status then parts[#parts + 1] = "(" .. c.status .. " after the grace period)" end
    if c.overruled_by then parts[#parts + 1] = "overruled by " .. c.overruled_by end
    if c.informative then parts[#parts + 1] = "informative, decides nothing" end
    if c.not_effective then parts[#parts + 1] = "not yet in force (reported only)" end
    if c.decided then parts[#parts + 1] = "decides the verdict" end
    head = table.concat(parts, " ") .. ": " .. tostring(c.text)
  elseif c.result == "exempted" then
    local u = c.unless or {}
    head = ("exempted: %s (unless at %s)"):format(u.because or "its unless held", u.at or "?")
  elseif c.result == "failed" then
    head = ("FAILED: %s%s"):format(tostring(c.error), c.decides and (" (its on_error asks " .. c.decides .. ")") or
      " (decides nothing)")
  elseif c.result == "not_evaluated" then
    head = "not evaluated" .. (c.stopped_at and (" (" .. c.stopped_at .. " decided alone)") or "")
  elseif c.result == "disabled" then
    head = "disabled" .. (c.disabled_why and (": " .. c.disabled_why) or "")
  else
    head = RESULT[c.result] or tostring(c.result)
  end
  out[#out + 1] = ("  %2d %-26s %s"):format(c.index, c.name, head)
  local g = c.grace
  if g then
    out[#out + 1] = ("       grace %s days from %s (%s): notice %s, block %s%s"):format(tostring(g.days),
      tostring(g.start_date), g.from, tostring(g.notice_date), tostring(g.block_date),
      g.in_grace and "" or " (passed)")
  end
  if c.result ~= "not_evaluated" and c.result ~= "disabled" then
    for _, f in ipairs(c.facts or {}) do
      out[#out + 1] = ("       %-7s %s"):format(f.phase .. ":", text.fact(f))
    end
  end
end

local function tac_line(record)
  if record == nil then return "no TAC database" end
  if record == false then return "TAC not in the TAC database" end
  local parts = {}
  for _, k in ipairs { "brand", "model", "device_type", "manufacturer", "bands" } do
    if record[k] ~= nil and record[k] ~= "" then parts[#parts + 1] = ("%s %s"):format(k, tostring(record[k])) end
  end
  return #parts > 0 and table.concat(parts, ", ") or "(an empty record)"
end

--- text.render(report) → the explanation, several lines.
function text.render(x)
  local out = {}
  local d, v = x.device or {}, x.verdict or {}
  out[#out + 1] = ("%s%s%s on %s"):format(tostring(d.pei), d.imsi and (" with SIM " .. d.imsi) or "",
    d.operator and (" (operator " .. d.operator .. ")") or "", tostring(d.date))
  local notes = {}
  if v.notify then notes[#notes + 1] = "notify the subscriber: blocked from " .. tostring(v.block_date) end
  if not v.notify and v.block_date then notes[#notes + 1] = "blocked since " .. tostring(v.block_date) end
  if v.failed then notes[#notes + 1] = "a condition FAILED" end
  out[#out + 1] = ("Verdict: %s%s  (policy %s, resolve %s, default %s)"):format(tostring(v.status),
    #notes > 0 and (", " .. table.concat(notes, ", ")) or "", tostring(x.policy), tostring(x.resolve),
    tostring(x.default))
  -- in a few lines, what customer care tells the subscriber
  local why = {}
  for _, c in ipairs(x.conditions or {}) do
    if c.result == "matched" and c.decided then
      local g, dates = c.grace, ""
      if g and g.in_grace then
        dates = (", notice from %s, blocked from %s"):format(tostring(g.notice_date), tostring(g.block_date))
      elseif c.block_date then
        dates = ", blocked since " .. c.block_date
      end
      why[#why + 1] = ("  because: %s (%s)%s"):format(tostring(c.text), c.name, dates)
    elseif c.result == "exempted" then
      local because = c.unless and c.unless.because or "its unless held"
      why[#why + 1] = ("  exempt from %s: %s"):format(c.name, tostring(because))
    elseif c.result == "failed" then
      why[#why + 1] = ("  could not decide %s: %s"):format(c.name, tostring(c.error))
    end
  end
  if #why == 0 and not x.raw then
    why[1] = ("  no condition applies: the policy's default, %s"):format(tostring(x.default))
  end
  for _, line in ipairs(why) do out[#out + 1] = line end
  out[#out + 1] = ""
  if x.raw then
    out[#out + 1] = "The policy decides with its own check function (no conditions): its reasons are"
    for _, r in ipairs(v.reasons or {}) do
      out[#out + 1] = ("  %-26s %s %s"):format(tostring(r.condition), tostring(r.status), tostring(r.text or ""))
    end
  else
    out[#out + 1] = "Conditions, in evaluation order:"
    for _, c in ipairs(x.conditions or {}) do condition_lines(out, c) end
  end
  out[#out + 1] = ""
  out[#out + 1] = "Facts:"
  out[#out + 1] = ("  device        %s"):format(d.key and ("IMEI key " .. d.key) or "does not parse as an IMEI")
  out[#out + 1] = ("  TAC record    %s"):format(tac_line(d.tac_record))
  if d.first_imsi ~= nil or d.paired_imsis ~= nil then
    out[#out + 1] = ("  first SIM     %s%s"):format(d.first_imsi or "none seen",
      d.first_seen_date and (" (seen " .. d.first_seen_date .. ")") or "")
    out[#out + 1] = ("  paired SIMs   %s%s"):format(#(d.paired_imsis or {}) > 0 and join(d.paired_imsis) or "none",
      d.paired_with_this_sim ~= nil and ("; this SIM paired: " .. yesno(d.paired_with_this_sim)) or "")
  elseif d.store_error then
    out[#out + 1] = "  sightings     the store failed: " .. d.store_error
  else
    out[#out + 1] = "  sightings     no store"
  end
  for _, w in ipairs(x.windows or {}) do
    local value = type(w.result) == "table" and ("%.2f on average"):format(tonumber(w.result.average) or 0)
      or tostring(w.result)
    out[#out + 1] = ("  %-13s %s in %s days (asked by %s)"):format(w.what, value, tostring(w.days),
      tostring(w.condition))
  end
  for _, l in ipairs(x.lists or {}) do
    local seen = {}
    for _, q in ipairs(l.lookups or {}) do
      seen[#seen + 1] = ("%s%s: %s"):format(tostring(q.args[1]), q.args[2] and ("+" .. tostring(q.args[2])) or "",
        q.member and "listed" or "not listed")
    end
    out[#out + 1] = ("  list %-12s %s"):format(l.list, not l.loaded and "not loaded (empty)" or join(seen, "; "))
  end
  local reg = x.register
  if reg then
    out[#out + 1] = ""
    out[#out + 1] = "Register (the dates as decided and notified; they do not slide):"
    if not reg.known then out[#out + 1] = "  the register has never decided on this device" end
    if reg.block then
      out[#out + 1] = ("  BLOCKED from %s (%s), listed since the run of %s"):format(tostring(reg.block.date),
        tostring(reg.block.reasons), tostring(reg.block.since))
    elseif reg.unblocked then
      out[#out + 1] = ("  unblocked on %s (%s); it had been blocked from %s"):format(tostring(reg.unblocked.date),
        tostring(reg.unblocked.cause), tostring(reg.unblocked.block_date))
    elseif reg.known then
      out[#out + 1] = "  not blocked"
    end
    local n = reg.notice
    if n then
      out[#out + 1] = ("  this SIM: notified %s, block on %s (%s)%s"):format(tostring(n.notified),
        tostring(n.block_date), tostring(n.reasons), n.ended and (", ended " .. tostring(n.ended) .. " ("
        .. tostring(n.cause) .. ")") or "")
    elseif reg.known then
      out[#out + 1] = ("  this SIM: no notice (%d notices for other SIMs)"):format(reg.notices or 0)
    end
    local names = {}
    for name in pairs(reg.conditions or {}) do names[#names + 1] = name end
    table.sort(names)
    for _, name in ipairs(names) do
      local c = reg.conditions[name]
      out[#out + 1] = ("  %-26s first matched %s, last %s"):format(name, tostring(type(c) == "table" and c.first),
        tostring(type(c) == "table" and c.last))
    end
  end
  if x.facts_dropped then out[#out + 1] = ("  (%d more facts not kept)"):format(x.facts_dropped) end
  return table.concat(out, "\n") .. "\n"
end

return text
