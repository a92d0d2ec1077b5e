--- imei.gen — realistic synthetic national operator dumps, deterministic for a seed.
--
--   local gen = require "imei.gen"
--   local summary = assert(gen.run { out = "dumps/", subscribers = 20000, days = 30, seed = 7,
--                                    tacdb = "data/osmocom-tacdb.csv", lists = "lists/" })
--
-- What is in them (rates are options, defaults in gen.DEFAULTS):
--   * subscribers of several operators (market shares), each with a phone whose TAC is
--     drawn from a TAC database with a Zipf skew (a few models are everywhere), seen on
--     most days (one row per date–IMEI–IMSI–MSISDN, as DIRBS dumps have), some switching
--     to a new phone during the period;
--   * cloned IMEIs: one IMEI shared by 10 to 40 subscribers (counterfeit batches);
--   * junk IMEIs (000000000000000, 123456789012347, the emulator's 358240051111110, …),
--     wrong check digits, unallocated TACs, test IMEIs, MEIDs, malformed values, and the
--     same device written as IMEI, IMEI without CD or IMEISV;
--   * stolen devices in use, unregistered devices, roamers (foreign IMSIs for a few days);
--   * damaged rows of every kind imei classify refuses, counted by kind, so that a
--     replay's report can be checked against the generator's own counts.
-- Files: one per operator, Operator_Region_START_END.csv (.gz with gzip = true), written
-- to a temporary name and renamed. With `lists`: stolen.csv, registration.csv and
-- pairing.csv that match the dumps (DIRBS column names); stolen.csv always holds at least
-- one device in use (a policy reading lists.stolen refuses an empty one).
-- Country: mcc (IMSIs: MCC, the operators' MNCs, MSIN; TS 23.003 §2.2) and cc (the E.164
-- country code of the MSISDNs). Dates are calendar days, computed in UTC whatever TZ says.
local core = require "imei.core"
local host = require "imei.host"

local gen = {}

gen.DEFAULTS = {
  seed = 1, subscribers = 10000, days = 30, start = "20260101", region = "National", mcc = "410", cc = "92",
  operators = "Jazz:01:38,Zong:04:26,Telenor:06:20,Ufone:03:16",
  zipf = 1.05,          -- TAC popularity skew
  active = 0.85,        -- mean share of days a subscriber is seen
  switch = 0.03,        -- subscribers changing phone during the period
  clone = 0.01,         -- subscribers on a cloned IMEI
  junk = 0.003,         -- subscribers on a junk IMEI
  wrong_cd = 0.003,     -- phones whose IMEI has a wrong check digit
  unknown_tac = 0.005,  -- phones with an unallocated TAC
  test_imei = 0.0005,
  meid = 0.0005,
  malformed = 0.0005,
  imeisv = 0.03,        -- phones written as IMEISV (16 digits)
  imei14 = 0.02,        -- phones written without their check digit
  unregistered = 0.02,  -- phones missing from registration.csv
  stolen = 0.002,       -- phones on stolen.csv (and in use)
  paired = 0.3,         -- phones with their subscriber on pairing.csv
  roamers = 0.01,       -- foreign subscribers, relative to the national ones
  damaged = 0.0002,     -- damaged rows, relative to all rows
}

-- A deterministic generator (SplitMix64): the same seed gives the same dumps on any
-- platform Lua 5.4 runs on (64-bit integers, wrapping).
local function rng(seed)
  local s = seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019
  local r = {}
  function r.next()
    s = s + 0x9E3779B97F4A7C15
    local z = s
    z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ~ (z >> 27)) * 0x94D049BB133111EB
    return z ~ (z >> 31)
  end
  function r.float() return (r.next() >> 11) * (1.0 / 9007199254740992.0) end
  function r.int(n) return (r.next() >> 1) % n + 1 end -- 1..n
  function r.digits(n)
    local t = {}
    for i = 1, n do t[i] = (r.next() >> 1) % 10 end
    return table.concat(t)
  end
  return r
end
gen.rng = rng

local JUNK = { "000000000000000", "123456789012347", "358240051111110", "111111111111111", "012345678901237" }
local MALFORMED = { "35209900176148x", "UNKNOWN", "0", "3520990017614", "86-2012-03-abc", "NULL" }
local RATS = { { "EUTRAN", 0.70 }, { "UTRAN", 0.15 }, { "GERAN", 0.10 }, { "NR", 0.05 } }
local ROAMING = { "234", "404", "424", "286", "520", "470" }

local DAMAGE_KINDS = { "fields", "date", "date_range", "imei_empty", "imei_text", "imsi", "msisdn", "rat", "quote",
                       "control_byte", "long_line" }
gen.DAMAGE_KINDS = DAMAGE_KINDS

local function with_cd(body)
  return body .. core.check_digit(body)
end

-- Days since 1970-01-01 of a proleptic Gregorian date: arithmetic, so no time zone (os.time
-- reads the date as local time) can move it a day (H. Hinnant's days_from_civil).
local function day_number(yyyymmdd)
  local y, m, d = tonumber(yyyymmdd:sub(1, 4)), tonumber(yyyymmdd:sub(5, 6)), tonumber(yyyymmdd:sub(7, 8))
  if m <= 2 then y = y - 1 end
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * (m > 2 and m - 3 or m + 9) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end
gen.day_number = day_number

local function date_of(day)
  return os.date("!%Y%m%d", day * 86400) -- "!": UTC
end

-- Countries whose MNCs have 3 digits (ITU-T E.212 assignments: North America, Mexico,
-- Jamaica, Argentina, Colombia); elsewhere 2.
local MNC3 = { ["302"] = true, ["310"] = true, ["311"] = true, ["312"] = true, ["313"] = true, ["314"] = true,
               ["315"] = true, ["316"] = true, ["334"] = true, ["338"] = true, ["722"] = true, ["732"] = true }
gen.MNC3 = MNC3

--- The operators of another country than the default's, when none are given.
function gen.default_operators(mcc)
  if mcc == gen.DEFAULTS.mcc then return gen.DEFAULTS.operators end
  local f = MNC3[mcc] and "%03d" or "%02d"
  return ("OperatorA:" .. f .. ":38,OperatorB:" .. f .. ":26,OperatorC:" .. f .. ":20,OperatorD:" .. f .. ":16")
    :format(1, 2, 3, 4)
end

local function parse_operators(spec, mcc)
  local ops, total = {}, 0
  for item in spec:gmatch("[^,]+") do
    local name, mnc, share = item:match("^%s*([%w._%-]+):(%d%d%d?):([%d.]+)%s*$")
    if not name then
      name = item:match("^%s*([%w._%-]+)%s*$")
      if not name then return nil, ("operators: '%s': give Name:MNC:share or Name"):format(item) end
      mnc, share = ("%02d"):format(#ops + 1), 100 / (#ops + 1)
    end
    if MNC3[mcc] and #mnc ~= 3 then
      return nil, ("operators: '%s': MCC %s has 3-digit MNCs (E.212)"):format(item, mcc)
    end
    ops[#ops + 1] = { name = name, mnc = mnc, share = tonumber(share), mcc = mcc }
    total = total + tonumber(share)
  end
  if #ops == 0 then return nil, "operators: none given" end
  local acc = 0
  for _, o in ipairs(ops) do
    acc = acc + o.share / total
    o.cumulative = acc
  end
  ops[#ops].cumulative = 1
  return ops
end

-- TACs of a database (8-digit keys) with their device type; or invented ones.
local function load_tacs(path, r)
  local tacs = {}
  if path then
    local db, err = require("imei.tacdb").open(path)
    if not db then
      local loaded, load_err = require("imei.tacdb").load(path)
      if not loaded then return nil, ("tacdb %s: %s"):format(path, tostring(load_err or err)) end
      db = loaded
    end
    for i = 1, #db do
      local rec = db:record(i)
      if rec and rec.tac and #rec.tac == 8 then tacs[#tacs + 1] = { tac = rec.tac, type = rec.device_type } end
    end
  end
  if #tacs == 0 then
    for i = 1, 2000 do tacs[i] = { tac = "35" .. ("%06d"):format((i * 7919) % 1000000) } end
  end
  -- a deterministic shuffle: the rank of a model does not follow the file's order
  for i = #tacs, 2, -1 do
    local j = r.int(i)
    tacs[i], tacs[j] = tacs[j], tacs[i]
  end
  return tacs
end

-- Zipf sampler over ranks 1..n: P(k) ∝ 1 / k^s.
local function zipf(n, s)
  local cum, acc = {}, 0
  for k = 1, n do
    acc = acc + 1 / k ^ s
    cum[k] = acc
  end
  return function(u)
    local x = u * acc
    local lo, hi = 1, n
    while lo < hi do
      local mid = (lo + hi) // 2
      if cum[mid] < x then lo = mid + 1 else hi = mid end
    end
    return lo
  end
end

local function pick_rat(r)
  local u, acc = r.float(), 0
  for _, e in ipairs(RATS) do
    acc = acc + e[2]
    if u < acc then return e[1] end
  end
  return "EUTRAN"
end

-- Writers: a temporary name in the same folder, renamed at close.
local function open_out(path, gzip)
  local tmp = path .. ".tmp-" .. host.getpid()
  local f, err
  if gzip then
    f, err = io.popen("gzip -c -1 > '" .. tmp:gsub("'", "'\\''") .. "'", "w")
  else
    f, err = io.open(tmp, "wb")
  end
  if not f then return nil, err end
  if not gzip then f:setvbuf("full", 1 << 16) end
  return { f = f, tmp = tmp, path = path, gzip = gzip, buf = {}, n = 0 }
end

local function flush(w)
  if w.n > 0 then
    local ok, err = w.f:write(table.concat(w.buf, "", 1, w.n))
    if not ok then error(("%s: %s"):format(w.path, tostring(err)), 0) end
    w.n = 0
  end
end

local function put(w, line)
  local n = w.n + 1
  w.buf[n] = line
  w.n = n
  if n == 4096 then flush(w) end
end

local function close_out(w)
  flush(w)
  local ok, how, code = w.f:close()
  if w.gzip and (not ok or how ~= "exit" or code ~= 0) then
    os.remove(w.tmp)
    return nil, ("%s: gzip failed (%s %s)"):format(w.path, tostring(how), tostring(code))
  end
  if not ok then
    os.remove(w.tmp)
    return nil, ("%s: %s"):format(w.path, tostring(how))
  end
  local rok, rerr = host.durable_rename(w.tmp, w.path)
  if not rok then return nil, rerr end
  return true
end

local function discard(writers)
  for _, w in pairs(writers) do
    pcall(w.f.close, w.f)
    os.remove(w.tmp)
  end
end

--- Generate. opts: out (folder, required), and any of gen.DEFAULTS; rows (stop after
-- this many rows; subscribers derived from it when not given), gzip, header (default
-- true), lists (a folder for stolen/registration/pairing.csv), tacdb (a TAC database
-- file). Returns a summary table, or nil and a message.
function gen.run(opts)
  local o = {}
  for k, v in pairs(gen.DEFAULTS) do o[k] = v end
  for k, v in pairs(opts) do o[k] = v end
  if type(o.out) ~= "string" then return nil, "an output folder is required (--out)" end
  if not (o.start:match("^%d%d%d%d%d%d%d%d$") and require("imei.classify.dumps").valid_date(o.start)) then
    return nil, ("--start '%s': give a date YYYYMMDD"):format(o.start)
  end
  if o.days < 1 or o.days > 3650 then return nil, "--days: 1 to 3650" end
  if o.rows and not opts.subscribers then
    o.subscribers = math.max(1, math.ceil(1.03 * o.rows / (o.days * o.active * (1 + o.roamers * 0.2))))
  end
  if o.subscribers < 1 then return nil, "--subscribers: at least 1" end
  o.mcc, o.cc = tostring(o.mcc), tostring(o.cc)
  if not o.mcc:match("^[2-7]%d%d$") then
    return nil, ("--mcc '%s': a mobile country code is 3 digits, the first 2 to 7 (E.212)"):format(o.mcc)
  end
  if not o.cc:match("^[1-9]%d?%d?$") then
    return nil, ("--cc '%s': a country code is 1 to 3 digits, not starting with 0 (E.164)"):format(o.cc)
  end
  if not opts.operators then o.operators = gen.default_operators(o.mcc) end
  local r = rng(o.seed)
  local ops, err = parse_operators(o.operators, o.mcc)
  if not ops then return nil, err end
  local tacs
  tacs, err = load_tacs(o.tacdb, r)
  if not tacs then return nil, err end
  local pick_tac = zipf(#tacs, o.zipf)
  local first_day = day_number(o.start)
  local last_day = first_day + o.days - 1
  local start, stop = date_of(first_day), date_of(last_day)

  local summary = {
    seed = o.seed, subscribers = o.subscribers, days = o.days, start = start, stop = stop, mcc = o.mcc, cc = o.cc,
    tacdb = o.tacdb or "none: TACs invented (give tacdb)",
    files = {}, rows = 0, rows_by_operator = {}, damaged = 0, damaged_by_kind = {},
    devices = { normal = 0, clone_groups = 0, cloned_subscribers = 0, junk = 0, wrong_cd = 0, unknown_tac = 0,
                test_imei = 0, meid = 0, malformed = 0, imeisv = 0, imei14 = 0, switched = 0, roamers = 0,
                stolen = 0, unregistered = 0, paired = 0 },
  }
  for _, k in ipairs(DAMAGE_KINDS) do summary.damaged_by_kind[k] = 0 end
  local dev = summary.devices

  local registered, stolen, paired = {}, {}, {}
  local used_serials = {}
  local function new_phone()
    local t
    repeat
      t = tacs[pick_tac(r.float())]
      local body = t.tac .. r.digits(6)
      if not used_serials[body] then
        used_serials[body] = true
        return body, t
      end
    until false
  end

  -- a phone as written in the dumps: its text, and what the lists know of it
  local function phone_text(kind)
    local body, t = new_phone()
    local id
    if kind == "wrong_cd" then
      local cd = tonumber(core.check_digit(body))
      id = body .. tostring((cd + 1 + r.int(8)) % 10)
    elseif kind == "unknown_tac" then
      body = "35" .. ("%06d"):format(999000 + r.int(999)) .. body:sub(9)
      id = with_cd(body)
    elseif kind == "imeisv" then
      id = body .. ("%02d"):format(r.int(98))
    elseif kind == "imei14" then
      id = body
    else
      id = with_cd(body)
    end
    return id, body, t
  end

  -- national subscribers
  local subs = {}
  local n = o.subscribers
  local clone_groups = {}
  local n_cloned = math.floor(n * o.clone + 0.5)
  while n_cloned > 0 do
    local size = math.min(n_cloned, 9 + r.int(31))
    local body = new_phone()
    clone_groups[#clone_groups + 1] = { id = with_cd(body), body = body, size = size, members = 0 }
    n_cloned = n_cloned - size
  end
  dev.clone_groups = #clone_groups
  local cg = 1
  local first_phone -- the first national phone with an allocated TAC (see stolen below)
  for i = 1, n do
    local u = r.float()
    local op
    for _, cand in ipairs(ops) do
      if u <= cand.cumulative then op = cand break end
    end
    -- IMSI: MCC, MNC, then an MSIN filling it to 15 digits (TS 23.003 §2.2)
    local msin_digits = 15 - #o.mcc - #op.mnc
    local s = {
      op = op, imsi = o.mcc .. op.mnc .. ("%0" .. msin_digits .. "d"):format(math.tointeger(10 ^ (msin_digits - 1))
        + i * 7 + tonumber(op.mnc) * 13),
      msisdn = o.cc .. ("3%02d"):format(tonumber(op.mnc) % 100) .. ("%07d"):format(i),
      active = r.float() < 0.1 and 0.3 or math.min(1, o.active / 0.93), rat = pick_rat(r),
    }
    local kind_u = r.float()
    local function take(rate) kind_u = kind_u - rate return kind_u < 0 end
    local group = clone_groups[cg]
    if group and group.members < group.size then
      s.id = group.id
      group.members = group.members + 1
      if group.members == 1 then
        paired[#paired + 1] = { group.id, s.imsi, s.msisdn } -- the legitimate owner
        registered[#registered + 1] = group.id
      end
      dev.cloned_subscribers = dev.cloned_subscribers + 1
      if group.members == group.size then cg = cg + 1 end
    elseif take(o.junk) then
      s.id = JUNK[r.int(#JUNK)]
      dev.junk = dev.junk + 1
    elseif take(o.test_imei) then
      s.id = with_cd("00" .. r.digits(12))
      dev.test_imei = dev.test_imei + 1
    elseif take(o.meid) then
      s.id = "A" .. ("%X"):format(r.int(15)) .. r.digits(12)
      dev.meid = dev.meid + 1
    elseif take(o.malformed) then
      s.id = MALFORMED[r.int(#MALFORMED)]
      dev.malformed = dev.malformed + 1
    else
      local kind = "imei"
      if take(o.wrong_cd) then kind = "wrong_cd"
      elseif take(o.unknown_tac) then kind = "unknown_tac"
      elseif take(o.imeisv) then kind = "imeisv"
      elseif take(o.imei14) then kind = "imei14" end
      if kind ~= "imei" then dev[kind] = dev[kind] + 1 end
      local id, body = phone_text(kind)
      s.id = id
      dev.normal = dev.normal + 1
      if kind ~= "unknown_tac" then
        first_phone = first_phone or with_cd(body)
        if r.float() >= o.unregistered then
          registered[#registered + 1] = with_cd(body)
        else
          dev.unregistered = dev.unregistered + 1
        end
        if r.float() < o.stolen then
          stolen[#stolen + 1] = with_cd(body)
          dev.stolen = dev.stolen + 1
        end
        if r.float() < o.paired then
          paired[#paired + 1] = { with_cd(body), s.imsi, s.msisdn }
          dev.paired = dev.paired + 1
        end
      end
      if r.float() < o.switch then
        local id2, body2 = phone_text("imei")
        s.id2, s.switch_day = id2, first_day + r.int(o.days) - 1
        registered[#registered + 1] = with_cd(body2)
        dev.switched = dev.switched + 1
      end
    end
    subs[i] = s
  end
  -- stolen.csv is never empty: the first national phone in use is reported stolen
  if #stolen == 0 and first_phone then
    stolen[1] = first_phone
    dev.stolen = dev.stolen + 1
  end
  -- roamers: foreign subscribers with foreign phones, for a few days on one network
  local nroam = math.floor(n * o.roamers + 0.5)
  for i = 1, nroam do
    local mcc = ROAMING[r.int(#ROAMING)]
    if mcc == o.mcc then mcc = "410" end -- never the home country's
    local body = new_phone()
    local from = first_day + r.int(o.days) - 1
    subs[#subs + 1] = {
      op = ops[r.int(#ops)], imsi = mcc .. "10" .. ("%010d"):format(i * 31 + 5000000000),
      msisdn = mcc:sub(1, 2) .. ("7%09d"):format(i), id = with_cd(body), rat = pick_rat(r),
      active = 0.9, from = from, to = math.min(last_day, from + 2 + r.int(7)), roamer = true,
    }
    dev.roamers = dev.roamers + 1
  end

  -- the dumps
  local ok_dir, dir_err = os.execute("mkdir -p '" .. o.out:gsub("'", "'\\''") .. "'")
  if not ok_dir then return nil, ("%s: cannot create the folder (%s)"):format(o.out, tostring(dir_err)) end
  local writers = {}
  for _, op in ipairs(ops) do
    local name = ("%s/%s_%s_%s_%s.csv%s"):format(o.out, op.name, o.region, start, stop, o.gzip and ".gz" or "")
    local w, werr = open_out(name, o.gzip)
    if not w then
      discard(writers)
      return nil, werr
    end
    writers[op.name] = w
    w.rows = 0
    if o.header ~= false then put(w, "date,imei,imsi,msisdn,rat\n") end
    summary.files[#summary.files + 1] = name
    summary.rows_by_operator[op.name] = 0
  end

  local function damaged_row(date, s)
    local kind = DAMAGE_KINDS[r.int(#DAMAGE_KINDS)]
    local imei, imsi, msisdn = s.id, s.imsi, s.msisdn
    local line
    if kind == "fields" then line = ("%s,%s,%s"):format(date, imei, imsi)
    elseif kind == "date" then
      line = ("2026%02d%02d,%s,%s,%s,%s"):format(13 + r.int(80), r.int(28), imei, imsi, msisdn, s.rat)
    elseif kind == "date_range" then
      line = ("%s,%s,%s,%s,%s"):format(date_of(first_day - r.int(30)), imei, imsi, msisdn, s.rat)
    elseif kind == "imei_empty" then line = ("%s,,%s,%s,%s"):format(date, imsi, msisdn, s.rat)
    elseif kind == "imei_text" then line = ("%s,%s,%s,%s,%s"):format(date, imei .. ("9"):rep(33), imsi, msisdn, s.rat)
    elseif kind == "imsi" then line = ("%s,%s,%sX,%s,%s"):format(date, imei, imsi:sub(1, 10), msisdn, s.rat)
    elseif kind == "msisdn" then line = ("%s,%s,%s,%s-00,%s"):format(date, imei, imsi, msisdn, s.rat)
    elseif kind == "rat" then line = ("%s,%s,%s,%s,6G"):format(date, imei, imsi, msisdn)
    elseif kind == "quote" then line = ('%s,"%s,%s,%s,%s'):format(date, imei, imsi, msisdn, s.rat)
    elseif kind == "control_byte" then line = ("%s,%s,%s\0,%s,%s"):format(date, imei, imsi, msisdn, s.rat)
    else line = ("%s,%s,%s,%s,%s"):format(date, imei, imsi, msisdn, ("x"):rep(4100)) end
    summary.damaged_by_kind[kind] = summary.damaged_by_kind[kind] + 1
    summary.damaged = summary.damaged + 1
    return line .. "\n"
  end

  local limit = o.rows or math.huge
  local total = 0
  local ok_run, run_err = pcall(function()
    for day = first_day, last_day do
      local date = date_of(day)
      local prefix = date .. ","
      for i = 1, #subs do
        if total >= limit then return end
        local s = subs[i]
        if (not s.roamer or (day >= s.from and day <= s.to)) and r.float() < s.active then
          local w = writers[s.op.name]
          local line
          if r.float() < o.damaged then
            line = damaged_row(date, s)
          else
            local id = (s.switch_day and day >= s.switch_day) and s.id2 or s.id
            local tail = s.tail
            if not tail or s.tail_id ~= id then
              tail = id .. "," .. s.imsi .. "," .. s.msisdn .. "," .. s.rat .. "\n"
              s.tail, s.tail_id = tail, id
            end
            line = prefix .. tail
          end
          put(w, line)
          w.rows = w.rows + 1
          total = total + 1
        end
      end
    end
  end)
  if not ok_run then
    discard(writers)
    return nil, tostring(run_err)
  end
  for _, op in ipairs(ops) do
    local w = writers[op.name]
    summary.rows_by_operator[op.name] = w.rows
    local ok, cerr = close_out(w)
    if not ok then
      discard(writers)
      return nil, cerr
    end
  end
  summary.rows = total

  -- the lists that go with them
  if o.lists then
    os.execute("mkdir -p '" .. o.lists:gsub("'", "'\\''") .. "'")
    local function write_list(name, header, rows)
      local w, werr = open_out(o.lists .. "/" .. name, false)
      if not w then return nil, werr end
      put(w, header .. "\n")
      for _, row in ipairs(rows) do put(w, row .. "\n") end
      return close_out(w)
    end
    local reg_rows, stolen_rows, pair_rows = {}, {}, {}
    for i, id in ipairs(registered) do reg_rows[i] = id .. ",Make,Model,whitelist" end
    if #stolen == 0 then -- no national phone at all (every subscriber on junk): one not in use
      stolen[1] = with_cd((new_phone()))
      dev.stolen = dev.stolen + 1
    end
    local reported = date_of(first_day - 10)
    for i, id in ipairs(stolen) do stolen_rows[i] = id .. "," .. reported .. ",blacklist" end
    for i, p in ipairs(paired) do pair_rows[i] = table.concat(p, ",") end
    local ok, lerr = write_list("registration.csv", "approved_imei,make,model,status", reg_rows)
    if ok then ok, lerr = write_list("stolen.csv", "imei,reporting_date,status", stolen_rows) end
    if ok then ok, lerr = write_list("pairing.csv", "imei,imsi,msisdn", pair_rows) end
    if not ok then return nil, lerr end
    summary.lists = { folder = o.lists, registration = #registered, stolen = #stolen, pairing = #paired }
  end
  return summary
end

return gen
