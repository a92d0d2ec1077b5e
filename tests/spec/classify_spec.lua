-- imei classify: batch replay of operator dumps (lua/imei/classify, host/replay*.c).
-- A hand-made scenario of 13 devices on two operators, where every list entry and every
-- count of the report is known; damaged rows of every kind; deltas across two runs;
-- the safety ratio; and interrupted runs that must leave the output folder untouched.
local imei = require "imei"
local core = require "imei.core"
local host = require "imei.host"
local classify = require "imei.classify"
local support = require "support"

local function cd(body) return body .. imei.check_digit(body) end

-- Devices (14-digit keys) and subscribers of the scenario.
local D1, D2, D3, D4, D5, D6 = "35209900176148", "49015420323751", "35000000000003", "35000000000004",
  "35000000000005", "35000000000006"
local D7, D8, D9, D10 = "35209900176148x", "A0000000002329", "86000000000009", "35000000000010"
local D11, D12, D13 = "35000000000011", "35000000000012", "35000000000013"
local function S(n) return ("4100100000000%02d"):format(n) end
local function M(n) return ("9230000000%02d"):format(n) end
local S5a, S5b, S5c, S5d = "410010000000051", "410010000000052", "410010000000053", "410010000000054"
local S6a, S6b, S6c = "410010000000061", "410010000000062", "410010000000063"
local ROAMER = "234150000000009"
local function wrong_cd(body) -- a wrong check digit that is not the spare 0 either
  local right = tonumber(imei.check_digit(body))
  return body .. tostring(right == 9 and 8 or right + 1)
end

-- The test policy: a small country policy whose every rule the scenario exercises.
local POLICY = [[
local P = policy.new { name = "scenario", version = "1" }
P:requires_list("stolen", { min_rows = 0 }) -- a run below empties it on purpose
P:condition { name = "malformed", status = "BLACKLISTED", max_ratio = 1,
  when = function(d) return not d.parsed end }
P:condition { name = "not_an_imei", status = "UNKNOWN",
  when = function(d) return d.parsed and not d.imei_kind end }
P:condition { name = "wrong_cd", status = "GREYLISTED", blocking = false,
  when = function(d) return d.cd_ok == false and not d.spare end }
P:condition { name = "stolen", status = "BLACKLISTED", sticky = true, max_ratio = STOLEN_RATIO,
  when = function(d) return d.key ~= nil and lists.stolen:has(d.key) end }
P:condition { name = "unregistered", status = "BLACKLISTED", grace_days = 30, UNREGISTERED_RATIO
  when = function(d) return d.imei_kind and not lists.registration:has(d.key) end,
  unless = function(_, r) return r.operator ~= nil and r.operator:sub(1, 3) ~= "410" end }
P:condition(policy.duplicate_threshold { name = "duplicate", imsis = 3, days = 30, grace_days = 10, max_ratio = 1 })
return P
]]

local function write_policy(dir, opts)
  opts = opts or {}
  local text = POLICY:gsub("STOLEN_RATIO", tostring(opts.stolen_ratio or 1))
    :gsub("UNREGISTERED_RATIO", opts.default_ratio and "" or "max_ratio = 1,")
  return support.write(dir .. "/scenario.lua", text)
end

local function csv(lines) return table.concat(lines, "\n") .. "\n" end

-- The lists of run 1.
local function write_lists(dir, changes)
  changes = changes or {}
  os.execute("mkdir -p '" .. dir .. "'")
  local registered = changes.registered or { cd(D1), cd(D2), cd(D5), cd(D6), cd(D10) }
  local reg = { "approved_imei,make,model,status" }
  for _, id in ipairs(registered) do reg[#reg + 1] = id .. ",Make,Model,whitelist" end
  support.write(dir .. "/registration.csv", csv(reg))
  local stolen = { "imei,reporting_date,status" }
  for _, id in ipairs(changes.stolen or { cd(D2) }) do stolen[#stolen + 1] = id .. ",20251201,blacklist" end
  support.write(dir .. "/stolen.csv", csv(stolen))
  local pairing = { "imei,imsi,msisdn" }
  for _, p in ipairs(changes.pairing or {}) do pairing[#pairing + 1] = table.concat(p, ",") end
  support.write(dir .. "/pairing.csv", csv(pairing))
  return dir
end

-- Alpha's dump: a header, good rows, one damaged row of every kind, a blank line.
-- Returns the path and the line numbers of the damaged rows by reason.
local function alpha_rows()
  local good = {
    { "20260101", "3520990017614800", S(1), M(1), "EUTRAN" },  -- D1 as an IMEISV
    { "20260131", cd(D1), S(1), M(1), "EUTRAN" },
    { "20260120", cd(D2), S(2), M(2), "UTRAN" },
    { "20260101", cd(D4), S(4), M(4), "EUTRAN" },
    { "20260115", cd(D4), S(4), M(4), "EUTRAN" },
    { "20260102", cd(D5), S5a, M(51), "EUTRAN" },
    { "20260110", cd(D5), S5a, M(51), "EUTRAN" },
    { "20260105", cd(D5), S5b, M(52), "EUTRAN" },
    { "20260125", cd(D6), S6a, M(61), "NR" },
    { "20260128", cd(D6), S6b, M(62), "NR", key = "S6b" },
    { "20260111", D7, S(7), M(7), "GERAN", key = "D7" },
    { "20260113", wrong_cd(D10), S(10), M(10), "EUTRAN" },
    { "20260115", cd(D12), S(12), M(12), "EUTRAN" },
    { "20260101", cd(D13), S(13), M(13), "EUTRAN" },
  }
  return good
end

local DAMAGED = {
  { "fields", "20260105,350000000000042,410010000000004" },
  { "quote", '20260105,"350000000000042,410010000000004,923000000004,EUTRAN' },
  { "long_line", "20260105," .. ("9"):rep(5000) },
  { "control_byte", "20260105,350000000000042,41001000\x000000004,923000000004,EUTRAN" },
  { "date", "20261301,350000000000042,410010000000004,923000000004,EUTRAN" },
  { "date_range", "20251231,350000000000042,410010000000004,923000000004,EUTRAN" },
  { "imei_empty", "20260105,,410010000000004,923000000004,EUTRAN" },
  { "imei_text", "20260105," .. ("1"):rep(40) .. ",410010000000004,923000000004,EUTRAN" },
  { "imsi", "20260105,350000000000042,4100100000ABC,923000000004,EUTRAN" },
  { "msisdn", "20260105,350000000000042,410010000000004,92300000000x,EUTRAN" },
  { "rat", "20260105,350000000000042,410010000000004,923000000004,6G" },
}

local function write_alpha(dir, opts)
  opts = opts or {}
  local lines = { "date,imei,imsi,msisdn,rat" }
  local damaged_at = {}
  local good = alpha_rows()
  if opts.extra then for _, row in ipairs(opts.extra) do good[#good + 1] = row end end
  for i, row in ipairs(good) do
    if not (row.key and opts.drop and opts.drop[row.key]) then
      lines[#lines + 1] = table.concat(row, ",", 1, 5)
    end
    if i == 3 and not opts.clean then lines[#lines + 1] = "" end -- a blank line: skipped, counted
    if i == 5 and not opts.clean then
      for _, d in ipairs(DAMAGED) do
        lines[#lines + 1] = d[2]
        damaged_at[d[1]] = #lines
      end
    end
  end
  return support.write(dir .. "/Alpha_North_20260101_20260131.csv", csv(lines)), damaged_at
end

-- Beta's dump: no header, four columns (the optional rat left out).
local function write_beta(dir, opts)
  opts = opts or {}
  local rows = {
    { "20260110", cd(D3), S(3), M(3) },
    { "20260131", cd(D3), S(3), M(3) },
    { "20260106", cd(D5), S5c, M(53) },
    { "20260107", cd(D5), S5d, M(54) },
    { "20260130", cd(D6), S6c, M(63) },
    { "20260112", D8, S(8), M(8) },
    { "20260120", cd(D9), ROAMER, "447700900009" },
    { "20260121", cd(D9), ROAMER, "447700900009" },
    { "20260120", cd(D11), S(11), M(11), key = "D11" },
  }
  local lines = {}
  for _, row in ipairs(rows) do
    if not (row.key and opts.drop and opts.drop[row.key]) then lines[#lines + 1] = table.concat(row, ",", 1, 4) end
  end
  return support.write(dir .. "/Beta_North_20260101_20260131.csv", csv(lines))
end

local function read(path) return support.read(path) end

local function run(dir, out, extra)
  local opts = {
    policy = extra and extra.policy or write_policy(dir), lists = dir .. "/lists", out = out,
    dumps = { dir .. "/Alpha_North_20260101_20260131.csv", dir .. "/Beta_North_20260101_20260131.csv" },
    jobs = extra and extra.jobs or 2,
  }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return classify.run(opts)
end

local function scenario(dir)
  write_lists(dir .. "/lists")
  local _, damaged_at = write_alpha(dir)
  write_beta(dir)
  return damaged_at
end

describe("imei classify", function()
  describe("the hand-made scenario", function()
    local dir, out, result, damaged_at

    setup(function()
      dir = support.tmpdir()
      out = dir .. "/out"
      damaged_at = scenario(dir)
      result = assert(run(dir, out))
    end)
    teardown(support.cleanup)

    it("writes the lists and exits 0", function()
      assert.equal(0, result.code)
      assert.is_true(result.report.lists_written)
      assert.same({}, result.report.refused)
    end)

    it("blocks exactly the blocked devices, with their dates and reasons", function()
      assert.equal(csv {
        "imei,block_date,reasons",
        D4 .. ",20260131,unregistered",          -- first seen 20260101 + 30 days' grace: blocked today
        D5 .. ",20260116,duplicate",             -- 3rd IMSI on 20260106 + 10 days
        D13 .. ",20260131,unregistered",
        D7 .. ",20260111,malformed",             -- not an identifier: kept as written; no grace:
        D2 .. ",20260120,stolen",                -- blocked from the day the data first showed it
      }, read(out .. "/blocklist.csv"))
    end)

    it("notifies the pairs in a grace period, on the operator they were seen on", function()
      assert.equal(csv {
        "imei,imsi,msisdn,block_date,reasons",
        D6 .. "," .. S6b .. "," .. M(62) .. ",20260209,duplicate",
        D12 .. "," .. S(12) .. "," .. M(12) .. ",20260214,unregistered",
      }, read(out .. "/notifications_Alpha.csv"))
      assert.equal(csv {
        "imei,imsi,msisdn,block_date,reasons",
        D3 .. "," .. S(3) .. "," .. M(3) .. ",20260209,unregistered",
        D6 .. "," .. S6c .. "," .. M(63) .. ",20260209,duplicate",
        D11 .. "," .. S(11) .. "," .. M(11) .. ",20260219,unregistered",
      }, read(out .. "/notifications_Beta.csv"))
    end)

    it("lists the exempt pairs of blocked devices as exceptions (the first SIM seen keeps service)", function()
      assert.equal(csv { "imei,imsi,msisdn", D5 .. "," .. S5a .. "," .. M(51) }, read(out .. "/exceptions_Alpha.csv"))
      assert.equal(csv { "imei,imsi,msisdn" }, read(out .. "/exceptions_Beta.csv"))
    end)

    it("writes first deltas: everything is new", function()
      assert.equal(csv {
        "imei,block_date,reasons,change,cause",
        D4 .. ",20260131,unregistered,blocked,",
        D5 .. ",20260116,duplicate,blocked,",
        D13 .. ",20260131,unregistered,blocked,",
        D7 .. ",20260111,malformed,blocked,",
        D2 .. ",20260120,stolen,blocked,",
      }, read(out .. "/blocklist_delta.csv"))
      assert.equal(csv { "imei,imsi,msisdn,change", D5 .. "," .. S5a .. "," .. M(51) .. ",added" },
        read(out .. "/exceptions_Alpha_delta.csv"))
      assert.equal(csv { "imei,imsi,msisdn,change" }, read(out .. "/exceptions_Beta_delta.csv"))
      local alpha = read(out .. "/notifications_Alpha_delta.csv")
      assert.equal(csv {
        "imei,imsi,msisdn,block_date,reasons,change,cause",
        D6 .. "," .. S6b .. "," .. M(62) .. ",20260209,duplicate,new,",
        D12 .. "," .. S(12) .. "," .. M(12) .. ",20260214,unregistered,new,",
      }, alpha)
    end)

    it("leaves nothing else in the output folder", function()
      local names = host.listdir(out)
      table.sort(names)
      assert.same({ "blocklist.csv", "blocklist_delta.csv", "exceptions_Alpha.csv", "exceptions_Alpha_delta.csv",
        "exceptions_Beta.csv", "exceptions_Beta_delta.csv", "notifications_Alpha.csv",
        "notifications_Alpha_delta.csv", "notifications_Beta.csv", "notifications_Beta_delta.csv",
        "report.html", "report.json", "report.txt", "state" }, names) -- state: the national register (docs/register.md)
    end)

    it("counts the rows: read, accepted, rejected, blank, headers", function()
      local input = result.report.input
      assert.equal(34, input.rows)
      assert.equal(23, input.accepted)
      assert.equal(11, input.rejected)
      assert.equal(1, input.blank_lines)
      assert.equal(1, input.headers)
      assert.equal(21, input.sightings_recorded) -- the malformed and the MEID rows are not IMEIs
      assert.equal("20260101", input.first_date)
      assert.equal("20260131", input.last_date)
      assert.equal("20260131", result.report.run.date)
      local files = input.files
      assert.equal(2, #files)
      assert.same({ 25, 14, 11, 1, true }, { files[1].rows, files[1].accepted, files[1].rejected,
        files[1].blank_lines, files[1].header })
      assert.same({ 9, 9, 0, false }, { files[2].rows, files[2].accepted, files[2].rejected, files[2].header })
      assert.equal("20260101", files[1].period_first)
      assert.equal("20260131", files[1].period_last)
    end)

    it("counts every damaged row by reason, with its file and line", function()
      local by = {}
      for _, r in ipairs(result.report.input.rejected_by_reason) do by[r.reason] = r end
      local alpha = dir .. "/Alpha_North_20260101_20260131.csv"
      for _, d in ipairs(DAMAGED) do
        local r = by[d[1]]
        assert.is_table(r, d[1])
        assert.equal(1, r.count, d[1])
        assert.equal(1, #r.examples, d[1])
        assert.equal(alpha, r.examples[1].file)
        assert.equal(damaged_at[d[1]], r.examples[1].line, d[1])
      end
      assert.equal(#DAMAGED, #result.report.input.rejected_by_reason)
      -- the messages name the field and what is wrong with it
      assert.matches("expected 5", by.fields.examples[1].message)
      assert.equal(3, by.imsi.examples[1].field)
      assert.matches("^imsi: '4100100000ABC': character 11 is not a digit", by.imsi.examples[1].message)
      assert.equal(4, by.msisdn.examples[1].field)
      assert.equal(5, by.rat.examples[1].field)
      assert.matches("'6G'", by.rat.examples[1].message)
      assert.matches("outside the file's period 20260101%-20260131", by.date_range.examples[1].message)
      assert.matches("not a date", by.date.examples[1].message)
      assert.matches("0x00", by.control_byte.examples[1].message)
      assert.matches("more than 4096", by.long_line.examples[1].message)
      assert.matches("does not close", by.quote.examples[1].message)
      assert.matches("40 characters", by.imei_text.examples[1].message)
      assert.equal("imei: empty", by.imei_empty.examples[1].message)
    end)

    it("counts devices and pairs by status and as written", function()
      local d = result.report.devices
      assert.equal(13, d.total)
      assert.equal(18, d.pairs)
      assert.same({ WHITELISTED = 3, BLACKLISTED = 5, GREYLISTED = 4, UNKNOWN = 1 }, d.by_status)
      assert.same({ WHITELISTED = 5, BLACKLISTED = 7, GREYLISTED = 5, UNKNOWN = 1 }, d.pairs_by_status)
      assert.same({ imei = 11, imei14 = 0, imeisv = 0, meid = 1, esn = 0, malformed = 1 }, d.by_kind)
      assert.equal(4, d.notified)
    end)

    it("counts devices per condition, and the share each blocking condition hits", function()
      local c = {}
      for _, e in ipairs(result.report.conditions) do c[e.name] = e end
      local function counts(name)
        local e = c[name]
        return { e.devices, e.devices_blocked, e.devices_grace, e.pairs }
      end
      assert.same({ 1, 1, 0, 1 }, counts("malformed"))
      assert.same({ 1, 0, 0, 1 }, counts("not_an_imei"))
      assert.same({ 1, 0, 0, 1 }, counts("wrong_cd"))
      assert.same({ 1, 1, 0, 1 }, counts("stolen"))
      assert.same({ 5, 2, 3, 5 }, counts("unregistered"))
      assert.same({ 2, 1, 1, 5 }, counts("duplicate"))
      assert.near(5 / 13, c.unregistered.share, 1e-9)
      assert.equal(1, c.unregistered.max_ratio)
      assert.is_false(c.unregistered.over_ratio)
      assert.is_nil(c.not_an_imei.max_ratio) -- UNKNOWN blocks nothing: no safety ratio
      assert.is_nil(c.wrong_cd.max_ratio)    -- informative
      assert.same({ "malformed", "not_an_imei", "wrong_cd", "stolen", "unregistered", "duplicate" },
        (function()
          local names = {}
          for i, e in ipairs(result.report.conditions) do names[i] = e.name end
          return names
        end)())
    end)

    it("counts per operator", function()
      local ops = result.report.operators
      assert.equal(2, #ops)
      local a, b = ops[1], ops[2]
      assert.same({ "Alpha", 25, 11, 9, 11, 2, 1 }, { a.name, a.rows, a.rejected, a.devices, a.pairs,
        a.notifications, a.exceptions })
      assert.same({ WHITELISTED = 2, BLACKLISTED = 5, GREYLISTED = 2, UNKNOWN = 0 }, a.devices_by_status)
      assert.same({ "Beta", 9, 0, 6, 7, 3, 0 }, { b.name, b.rows, b.rejected, b.devices, b.pairs,
        b.notifications, b.exceptions })
      assert.same({ WHITELISTED = 1, BLACKLISTED = 1, GREYLISTED = 3, UNKNOWN = 1 }, b.devices_by_status)
    end)

    it("counts the lists and their changes", function()
      local l = result.report.lists
      assert.equal(5, l.blocklist)
      assert.same({ Alpha = 2, Beta = 3 }, l.notifications)
      assert.same({ Alpha = 1, Beta = 0 }, l.exceptions)
      assert.same({ blocked = 5 }, l.deltas.block)
      assert.same({ new = 5 }, l.deltas.notifications)
      assert.same({ added = 1 }, l.deltas.exceptions)
      assert.equal(0, l.carried_over)
      assert.equal(0, l.kept_by_sticky)
    end)

    it("writes the same report as JSON and as text", function()
      local json = read(out .. "/report.json")
      assert.matches('"rows": 34', json, 1, true)
      assert.matches('"reason": "imei_text"', json, 1, true)
      local text = read(out .. "/report.txt")
      assert.equal(result.text, text)
      assert.matches("Input: 2 file(s), 34 rows: 23 accepted, 11 rejected, 1 blank lines skipped", text, 1, true)
      assert.matches("Alpha_North_20260101_20260131.csv:" .. damaged_at.imsi .. " field 3: imsi:", text, 1, true)
    end)

    it("hands the list writer only the devices to list, or all when asked", function()
      local store = imei.sightings.open("memory")
      local r = assert(host.replay_new { store = store })
      r:add_file(dir .. "/Alpha_North_20260101_20260131.csv", "Alpha")
      r:add_file(dir .. "/Beta_North_20260101_20260131.csv", "Beta")
      repeat local state = assert(r:ingest(100)) until state == "done"
      assert(r:evaluate { policy = write_policy(dir), store = store, lua_path = package.path,
                          lists = core.lists_load_dir(dir .. "/lists") })
      repeat local state = assert(r:wait(100)) until state == "done"
      local listed, all = {}, 0
      for dev in r:devices() do listed[#listed + 1] = dev.imei end
      for _ in r:devices(true) do all = all + 1 end
      table.sort(listed)
      -- blocked: D2, D4, D5, D7, D13; to notify: D3, D6, D11, D12
      assert.same({ D3, D4, D5, D6, D11, D12, D13, D7, D2 }, listed)
      assert.equal(13, all)
      local p = r:find(cd(D5), S5b)
      assert.same({ "BLACKLISTED", "20260116", true }, { p.status, p.block_date, p.device_blocked })
      assert.is_nil(r:find(D5, "410010000000099"))
      r:close()
    end)

    it("gives the same answers with one thread", function()
      local out1 = dir .. "/out-j1"
      local r1 = assert(run(dir, out1, { jobs = 1 }))
      for _, name in ipairs(host.listdir(out)) do
        if name:match("%.csv$") then assert.equal(read(out .. "/" .. name), read(out1 .. "/" .. name), name) end
      end
      assert.same(result.report.devices, r1.report.devices)
      assert.same(result.report.conditions, r1.report.conditions)
      assert.same(result.report.input.rejected_by_reason, r1.report.input.rejected_by_reason)
    end)

    it("reads gzip dumps and standard layouts given by --columns", function()
      local gz = support.tmpdir()
      write_lists(gz .. "/lists")
      local alpha = write_alpha(gz)
      write_beta(gz)
      assert(os.execute("gzip -n '" .. alpha .. "'"))
      -- Beta rewritten with its columns in another order: imsi,msisdn,date,imei
      local lines = {}
      for line in io.lines(gz .. "/Beta_North_20260101_20260131.csv") do
        local d, i, s, m = line:match("^([^,]*),([^,]*),([^,]*),([^,]*)$")
        lines[#lines + 1] = table.concat({ s, m, d, i }, ";")
      end
      support.write(gz .. "/beta-reordered.txt", csv(lines))
      local r2 = assert(classify.run {
        policy = write_policy(gz), lists = gz .. "/lists", out = gz .. "/out-a", jobs = 2,
        dumps = { alpha .. ".gz" },
      })
      local r3 = assert(classify.run {
        policy = write_policy(gz), lists = gz .. "/lists", out = gz .. "/out-b", jobs = 2, operator = "Beta",
        columns = "imsi,msisdn,date,imei", delimiter = ";", dumps = { gz .. "/beta-reordered.txt" },
      })
      assert.equal(25, r2.report.input.rows)
      assert.is_true(r2.report.input.files[1].gzip)
      assert.equal(11, r2.report.input.rejected)
      assert.equal(9, r3.report.input.accepted)
      assert.equal(0, r3.report.input.rejected)
      assert.equal(read(out .. "/notifications_Beta.csv"):gsub("\n.*", ""),
        read(gz .. "/out-b/notifications_Beta.csv"):gsub("\n.*", ""))
    end)
  end)

  describe("deltas across two runs", function()
    after_each(support.cleanup)

    it("reports blocked, unblocked, changed; new, resolved, blacklisted, changed, no_longer_seen; added, removed",
      function()
        local dir = support.tmpdir()
        local out = dir .. "/out"
        scenario(dir)
        assert(run(dir, out))
        -- run 2: D2 no longer reported stolen (but stolen is sticky), D1, D6 and D13 now
        -- stolen, D3 and D4 registered, D5/S5b paired (a paired device keeps its paired SIM,
        -- not the first one seen), D7 and D11 not seen, D12 seen ten days earlier than before
        write_lists(dir .. "/lists", {
          registered = { cd(D1), cd(D2), cd(D3), cd(D4), cd(D5), cd(D6), cd(D10) },
          stolen = { cd(D1), cd(D6), cd(D13) },
          pairing = { { cd(D5), S5b, M(52) } },
        })
        write_alpha(dir, { drop = { D7 = true }, extra = { { "20260105", cd(D12), S(12), M(12), "EUTRAN" } } })
        write_beta(dir, { drop = { D11 = true } })
        local r2 = assert(run(dir, out))
        assert.equal(0, r2.code)
        assert.equal(csv {
          "imei,block_date,reasons,change,cause",
          D4 .. ",20260131,unregistered,unblocked,list:registration", -- the cause, from the register
          D6 .. ",20260125,stolen,blocked,",     -- no grace: from the first day the data showed it
          D13 .. ",20260131,stolen|unregistered,changed,",
          D1 .. ",20260101,stolen,blocked,",
        }, read(out .. "/blocklist_delta.csv"))
        assert.equal(csv {
          "imei,block_date,reasons",
          D5 .. ",20260116,duplicate",
          D6 .. ",20260125,stolen",
          D13 .. ",20260131,stolen|unregistered",
          D1 .. ",20260101,stolen",
          D7 .. ",20260111,malformed",    -- not seen in this run: carried over
          D2 .. ",20260120,stolen",       -- no longer on stolen.csv, but stolen is sticky
        }, read(out .. "/blocklist.csv"))
        assert.equal(csv {
          "imei,imsi,msisdn,block_date,reasons,change,cause",
          D6 .. "," .. S6b .. "," .. M(62) .. ",20260209,duplicate,blacklisted,",
        }, read(out .. "/notifications_Alpha_delta.csv"))
        assert.equal(csv {
          "imei,imsi,msisdn,block_date,reasons",
          D12 .. "," .. S(12) .. "," .. M(12) .. ",20260214,unregistered", -- as notified: never slides
        }, read(out .. "/notifications_Alpha.csv"))
        assert.equal(csv {
          "imei,imsi,msisdn,block_date,reasons,change,cause",
          D3 .. "," .. S(3) .. "," .. M(3) .. ",20260209,unregistered,resolved,list:registration",
          D6 .. "," .. S6c .. "," .. M(63) .. ",20260209,duplicate,blacklisted,",
          -- D11, not seen: its notice stays (not being seen is not innocence)
        }, read(out .. "/notifications_Beta_delta.csv"))
        assert.equal(csv {
          "imei,imsi,msisdn,change",
          D5 .. "," .. S5a .. "," .. M(51) .. ",removed",
          D5 .. "," .. S5b .. "," .. M(52) .. ",added",
        }, read(out .. "/exceptions_Alpha_delta.csv"))
        assert.equal(csv { "imei,imsi,msisdn,change" }, read(out .. "/exceptions_Beta_delta.csv"))
        assert.equal(csv { "imei,imsi,msisdn", D5 .. "," .. S5b .. "," .. M(52) }, read(out .. "/exceptions_Alpha.csv"))
        local l = r2.report.lists
        -- the report prints one result: an operator's notifications and exceptions are the
        -- rows of its lists (carried-over rows included), decided once (replay_tally.c)
        assert.equal(2, #r2.report.operators)
        for _, o in ipairs(r2.report.operators) do
          assert.equal(l.notifications[o.name], o.notifications)
          assert.equal(l.exceptions[o.name], o.exceptions)
        end
        assert.equal(1, l.carried_over)
        assert.equal(1, l.kept_by_sticky)
        assert.same({ blocked = 2, unblocked = 1, changed = 1 }, l.deltas.block)
        assert.same({ blacklisted = 2, resolved = 1 }, l.deltas.notifications)
        assert.same({ added = 1, removed = 1 }, l.deltas.exceptions)
        -- a third run with the same date and inputs replaces the second (docs/register.md):
        -- the same lists and the same deltas, not a new run on top
        local delta2 = read(out .. "/blocklist_delta.csv")
        local r3 = assert(run(dir, out))
        assert.is_true(r3.report.run.rerun)
        assert.same(l.deltas.block, r3.report.lists.deltas.block)
        assert.equal(delta2, read(out .. "/blocklist_delta.csv"))
      end)

    it("with --fresh, describes this run alone (nothing carried over, no sticky memory)", function()
      local dir = support.tmpdir()
      local out = dir .. "/out"
      scenario(dir)
      assert(run(dir, out))
      write_lists(dir .. "/lists", { stolen = {} })
      write_alpha(dir, { drop = { D7 = true } })
      local r2 = assert(run(dir, out, { fresh = true }))
      local text = read(out .. "/blocklist.csv")
      assert.not_matches(D7, text, 1, true)
      assert.not_matches(D2, text, 1, true)
      assert.same({ unblocked = 2 }, r2.report.lists.deltas.block)
    end)

    it("refuses a previous list it cannot read, naming the file and line", function()
      local dir = support.tmpdir()
      local out = dir .. "/out"
      scenario(dir)
      os.execute("mkdir -p '" .. out .. "'")
      support.write(out .. "/blocklist.csv", "imei,block_date,reasons\n35000000000004,20260131\n")
      local r, err = run(dir, out)
      assert.is_nil(r)
      assert.matches("blocklist.csv:2: 2 fields, expected 3", err, 1, true)
    end)
  end)

  describe("the safety ratio", function()
    after_each(support.cleanup)

    it("refuses to write lists when a condition hits more devices than its max_ratio, unless forced", function()
      local dir = support.tmpdir()
      local out = dir .. "/out"
      scenario(dir)
      local policy = write_policy(dir, { stolen_ratio = 0.05 }) -- 1 of 13 devices is 7.7%
      local r = assert(run(dir, out, { policy = policy }))
      assert.equal(1, r.code)
      assert.is_false(r.report.lists_written)
      assert.equal(1, #r.report.refused)
      assert.matches("condition 'stolen' hits 7.69% of the devices (1 of 13), over its safety ratio of 5.00%",
        r.report.refused[1], 1, true)
      local names = host.listdir(out)
      table.sort(names)
      assert.same({ "report.html", "report.json", "report.txt" }, names) -- the report says why; no list, no state
      assert.matches("LISTS NOT WRITTEN", read(out .. "/report.txt"), 1, true)
      local forced = assert(run(dir, out, { policy = policy, force = true }))
      assert.equal(0, forced.code)
      assert.is_true(forced.report.lists_written)
      assert.truthy(read(out .. "/blocklist.csv"))
    end)

    it("applies 10% to a blocking condition without max_ratio", function()
      local dir = support.tmpdir()
      scenario(dir)
      local r = assert(run(dir, dir .. "/out", { policy = write_policy(dir, { default_ratio = true }) }))
      assert.equal(1, r.code)
      assert.matches("condition 'unregistered' hits 38.46% of the devices (5 of 13), over its safety ratio of " ..
        "10.00% (the default: it sets no max_ratio)", r.report.refused[1], 1, true)
    end)

    it("exits 1 from the command line and says why", function()
      local dir = support.tmpdir()
      scenario(dir)
      local policy = write_policy(dir, { stolen_ratio = 0.05 })
      local stdout, _, code = support.imei(("classify --policy '%s' --lists '%s/lists' --out '%s/out' '%s' '%s'")
        :format(policy, dir, dir, dir .. "/Alpha_North_20260101_20260131.csv",
          dir .. "/Beta_North_20260101_20260131.csv"))
      assert.equal(1, code)
      assert.matches("LISTS NOT WRITTEN", stdout, 1, true)
    end)
  end)

  describe("errors", function()
    after_each(support.cleanup)

    it("names the file when a dump is missing or its operator unknown", function()
      local dir = support.tmpdir()
      local r, err = classify.run { policy = write_policy(dir), out = dir .. "/out", dumps = { dir .. "/nope.csv" },
                                    operator = "X" }
      assert.is_nil(r)
      assert.matches("nope.csv", err, 1, true)
      support.write(dir .. "/dump.csv", "20260101,352099001761481,410010000000001,923001234567\n")
      r, err = classify.run { policy = write_policy(dir), out = dir .. "/out", dumps = { dir .. "/dump.csv" } }
      assert.is_nil(r)
      assert.matches("cannot tell the operator", err, 1, true)
    end)

    it("stops on a damaged gzip file, writing nothing", function()
      local dir = support.tmpdir()
      local alpha = write_alpha(dir)
      assert(os.execute("gzip -n '" .. alpha .. "'"))
      local gz = support.read(alpha .. ".gz")
      support.write(alpha .. ".gz", gz:sub(1, #gz // 2))
      write_lists(dir .. "/lists")
      local r, err = classify.run { policy = write_policy(dir), out = dir .. "/out", dumps = { alpha .. ".gz" },
                                    lists = dir .. "/lists" }
      assert.is_nil(r)
      assert.matches("truncated", err, 1, true)
      assert.same({}, host.listdir(dir .. "/out"))
    end)

    it("refuses a header without an imsi column", function()
      local dir = support.tmpdir()
      support.write(dir .. "/X_Y_20260101_20260131.csv", "date,imei,msisdn\n20260101,352099001761481,923001234567\n")
      write_lists(dir .. "/lists")
      local r, err = classify.run { policy = write_policy(dir), out = dir .. "/out", lists = dir .. "/lists",
                                    dumps = { dir .. "/X_Y_20260101_20260131.csv" } }
      assert.is_nil(r)
      assert.matches("X_Y_20260101_20260131.csv:1: header: no 'imsi' column", err, 1, true)
    end)

    it("refuses a second run into a folder another run is writing", function()
      local dir = support.tmpdir()
      scenario(dir)
      os.execute("mkdir -p '" .. dir .. "/out'")
      local lock = assert(host.lock_dir(dir .. "/out"))
      local r, err = run(dir, dir .. "/out")
      lock:unlock()
      assert.is_nil(r)
      assert.matches("another run is writing into this folder", err, 1, true)
    end)
  end)

  describe("an interrupted run", function()
    after_each(support.cleanup)

    -- A run reads its dump from a named pipe; the test feeds it part of the rows, waits
    -- until the run is under way (its temporary folder exists), and kills it.
    local function listing(dir)
      local names = host.listdir(dir) or {}
      table.sort(names)
      local t = {}
      for _, n in ipairs(names) do t[#t + 1] = n .. "=" .. tostring(support.read(dir .. "/" .. n)) end
      return t
    end

    local function start(dir, out, jobs)
      local fifo = dir .. "/Alpha_North_20260101_20260131.csv"
      assert(os.execute("mkfifo '" .. fifo .. "'"))
      local cmd = ("exec sh -c 'echo $$; exec bin/imei classify --policy %s --lists %s/lists --out %s --jobs %d %s " ..
                   ">%s/log 2>&1'"):format(write_policy(dir), dir, out, jobs, fifo, dir)
      local proc = assert(io.popen(cmd, "r"))
      local pid = assert(tonumber(proc:read("l")))
      -- the writer waits until the run opens the pipe; if the run never does (it failed),
      -- the writer gives up after 60 s and the test fails instead of hanging
      local feed = assert(io.popen(("exec timeout 60 sh -c 'cat >\"%s\"'"):format(fifo), "w"))
      return proc, pid, feed
    end

    local function wait_for_tmp(out)
      for _ = 1, 500 do
        for _, n in ipairs(host.listdir(out) or {}) do
          if n:match("^%.classify%-%d+%.tmp$") then return n end
        end
        os.execute("sleep 0.01")
      end
      error("the run never started")
    end

    for _, case in ipairs({ { "TERM", 1 }, { "TERM", 2 }, { "INT", 2 } }) do
      local sig, jobs = case[1], case[2]
      it(("SIG%s with --jobs %d leaves the output folder as it was"):format(sig, jobs), function()
        local dir = support.tmpdir()
        local out = dir .. "/out"
        scenario(dir)
        assert(run(dir, out))                 -- a previous run's lists are there
        local before = listing(out)
        os.remove(dir .. "/Alpha_North_20260101_20260131.csv")
        local proc, pid, feed = start(dir, out, jobs)
        local row = "20260101," .. cd(D1) .. "," .. S(1) .. "," .. M(1) .. ",EUTRAN\n"
        feed:write("date,imei,imsi,msisdn,rat\n", row:rep(20000))
        feed:flush()
        wait_for_tmp(out)
        local t0 = host.monotime()
        assert(os.execute(("kill -%s %d"):format(sig, pid)))
        local ok, how, code = proc:close()    -- waits for the run to end
        -- promptly, though the pipe's writer stays open with nothing more to send: the
        -- signal cuts the read short (a retried read waited for the writer's 60 s)
        local took = host.monotime() - t0
        feed:close()
        assert.is_true(took < 20, ("the run took %.1f s to stop"):format(took))
        assert.is_nil(ok)
        assert.equal("signal", how)
        assert.equal(sig == "TERM" and 15 or 2, code)
        assert.same(before, listing(out))     -- same files, same bytes, no temporary folder
        assert.matches("interrupted by SIG" .. sig, support.read(dir .. "/log"), 1, true)
      end)
    end

    -- The run's handler is in place from its first step: a signal while it still sets
    -- up (here it waits on an --exceptions file that is a pipe nobody writes to) stops it
    -- like one caught later, and what it made is gone. Before, lua5.4's own handler got
    -- it: "internal error: interrupted!" and the state folder the setup had made stayed.
    for _, jobs in ipairs({ 1, 2 }) do
      it(("SIGINT while it sets up, --jobs %d: stopped, nothing left"):format(jobs), function()
        local dir = support.tmpdir()
        local out = dir .. "/out"
        scenario(dir)
        local fifo = dir .. "/exceptions.csv"
        assert(os.execute("mkfifo '" .. fifo .. "'"))
        local cmd = ("exec sh -c 'echo $$; exec bin/imei classify --policy %s --lists %s/lists --out %s --jobs %d " ..
                     "--exceptions %s %s/Alpha_North_20260101_20260131.csv >%s/log 2>&1'")
          :format(write_policy(dir), dir, out, jobs, fifo, dir, dir)
        local proc = assert(io.popen(cmd, "r"))
        local pid = assert(tonumber(proc:read("l")))
        -- the writer's open returns once the run has opened the pipe to read it; it then
        -- writes nothing for a while (the run waits in its read), and gives up after 60 s
        -- so that a run that never stops fails the test instead of hanging it
        local writer = assert(io.popen(("exec timeout 60 sh -c 'exec 3>\"%s\"; echo open; sleep 1'"):format(fifo),
          "r"))
        assert.equal("open", writer:read("l"))
        os.execute("sleep 0.2")
        assert(os.execute(("kill -INT %d"):format(pid)))
        local ok, how, code = proc:close()
        writer:close()
        local log = support.read(dir .. "/log")
        assert.is_nil(ok)
        assert.equal("signal", how, log)
        assert.equal(2, code)
        assert.matches("interrupted by SIGINT", log, 1, true)
        assert.not_matches("internal error", log, 1, true)
        assert.same({}, host.listdir(out) or {}) -- no state, no lists, no temporary folder
      end)
    end

    it("SIGKILL leaves only its temporary folder, which the next run removes", function()
      local dir = support.tmpdir()
      local out = dir .. "/out"
      scenario(dir)
      assert(run(dir, out))
      local before = listing(out)
      os.rename(dir .. "/Alpha_North_20260101_20260131.csv", dir .. "/alpha.keep")
      local proc, pid, feed = start(dir, out, 2)
      feed:write("date,imei,imsi,msisdn,rat\n")
      feed:flush()
      local tmp = wait_for_tmp(out)
      assert(os.execute(("kill -KILL %d"):format(pid)))
      proc:close()
      feed:close()
      local after = listing(out)
      assert.equal(#before + 1, #after)       -- the lists untouched, plus the temporary folder
      os.remove(dir .. "/Alpha_North_20260101_20260131.csv")
      os.rename(dir .. "/alpha.keep", dir .. "/Alpha_North_20260101_20260131.csv")
      assert(run(dir, out))
      local names = host.listdir(out)
      for _, n in ipairs(names) do assert.not_equal(tmp, n) end
      assert.equal(#before, #names)
    end)
  end)
end)
