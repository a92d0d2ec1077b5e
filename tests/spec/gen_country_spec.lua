-- imei gen: dates in UTC whatever TZ says, other countries (--mcc/--cc), the shipped TAC
-- database found from any folder (or a clear error), and stolen.csv never empty.
local gen = require "imei.gen"
local support = require "support"

local ROOT = io.popen("pwd"):read("l")

local function lines(path)
  local t = {}
  for line in io.lines(path) do t[#t + 1] = line end
  return t
end

local function sh(cmd)
  local dir = support.tmpdir()
  local _, _, code = os.execute(("%s >'%s/out' 2>'%s/err'"):format(cmd, dir, dir))
  return support.read(dir .. "/out"), support.read(dir .. "/err"), code
end

describe("imei gen dates", function()
  after_each(support.cleanup)

  it("counts days in UTC: a 20260101 start is 20260101 under TZ=Pacific/Tongatapu (UTC+13)", function()
    assert.equal(20454, gen.day_number("20260101")) -- 2026-01-01 is day 20454 of the epoch
    assert.equal(0, gen.day_number("19700101"))
    assert.equal(11016, gen.day_number("20000229"))
    for _, tz in ipairs({ "Pacific/Tongatapu", "Pacific/Pago_Pago", "UTC" }) do
      local dir = support.tmpdir()
      local out, err, code = sh(("TZ=%s bin/imei gen --subscribers 50 --days 3 --start 20260101 --out '%s' --json")
        :format(tz, dir))
      assert.equal(0, code, err)
      assert.matches('"start": "20260101"', out, 1, true)
      assert.matches('"stop": "20260103"', out, 1, true)
      assert.is_not_nil(support.read(dir .. "/Jazz_National_20260101_20260103.csv"), tz)
      local rows = lines(dir .. "/Jazz_National_20260101_20260103.csv")
      assert.equal("20260101", rows[2]:sub(1, 8), tz)
      assert.equal("20260103", rows[#rows]:sub(1, 8), tz)
    end
  end)
end)

describe("imei gen for another country", function()
  after_each(support.cleanup)

  it("writes IMSIs of that MCC with the operators' MNCs and MSISDNs with that country code", function()
    local dir = support.tmpdir()
    local s = assert(gen.run { out = dir, subscribers = 500, days = 2, seed = 9, mcc = "262", cc = "49",
                               operators = "Telekom:01:50,Vodafone:02:30,O2:03:20", tacdb = "data/osmocom-tacdb.csv",
                               roamers = 0, damaged = 0, lists = dir .. "/lists" })
    assert.equal("262", s.mcc)
    local mnc = { Telekom = "01", Vodafone = "02", O2 = "03" }
    local imsis = {}
    for _, path in ipairs(s.files) do
      local op = path:match("([^/]+)_National_")
      for i, line in ipairs(lines(path)) do
        if i > 1 then
          local imsi, msisdn = line:match("^%d+,[^,]*,([^,]*),([^,]*),")
          assert.matches("^262" .. mnc[op] .. "%d%d%d%d%d%d%d%d%d%d$", imsi)
          assert.matches("^493" .. mnc[op] .. "%d%d%d%d%d%d%d$", msisdn)
          imsis[imsi] = msisdn
        end
      end
    end
    local n = 0
    for _ in pairs(imsis) do n = n + 1 end
    assert.is_true(n > 400) -- one IMSI per subscriber seen, none shared
    -- pairing.csv names the same subscribers
    for i, line in ipairs(lines(dir .. "/lists/pairing.csv")) do
      if i > 1 then assert.matches("^%d+,262%d+,49%d+$", line) end
    end
  end)

  it("uses 3-digit MNCs where the country does, with unique IMSIs of 15 digits", function()
    local dir = support.tmpdir()
    local s = assert(gen.run { out = dir, subscribers = 300, days = 1, seed = 2, mcc = "310", cc = "1",
                               tacdb = "data/osmocom-tacdb.csv", roamers = 0, damaged = 0 })
    local seen, count = {}, 0
    for _, path in ipairs(s.files) do
      assert.matches("/Operator[A-D]_National_", path)
      for i, line in ipairs(lines(path)) do
        if i > 1 then
          local imsi, msisdn = line:match("^%d+,[^,]*,([^,]*),([^,]*),")
          assert.matches("^3100%d%d%d%d%d%d%d%d%d%d%d$", imsi) -- MNC 001..004
          assert.matches("^13%d+$", msisdn)
          assert.is_nil(seen[imsi], imsi)
          seen[imsi] = true
          count = count + 1
        end
      end
    end
    assert.is_true(count > 200)
    local none, err = gen.run { out = dir, mcc = "310", cc = "1", operators = "A:01:50" }
    assert.is_nil(none)
    assert.matches("MCC 310 has 3-digit MNCs", err, 1, true)
  end)

  it("refuses a bad MCC or country code, and an MCC without its country code on the command line", function()
    local dir = support.tmpdir()
    assert.matches("--mcc '41'", select(2, gen.run { out = dir, mcc = "41" }), 1, true)
    assert.matches("--mcc '110'", select(2, gen.run { out = dir, mcc = "110" }), 1, true)
    assert.matches("--cc '0049'", select(2, gen.run { out = dir, mcc = "262", cc = "0049" }), 1, true)
    local _, err, code = support.imei(("gen --mcc 262 --out '%s'"):format(dir))
    assert.equal(2, code)
    assert.matches("--mcc 262: give the country code of its MSISDNs too (--cc)", err, 1, true)
  end)
end)

describe("imei gen lists", function()
  after_each(support.cleanup)

  it("always writes at least one stolen device, one in use", function()
    for seed = 1, 5 do
      local dir = support.tmpdir()
      local s = assert(gen.run { out = dir, subscribers = 3, days = 2, seed = seed, lists = dir .. "/lists",
                                 tacdb = "data/osmocom-tacdb.csv" })
      local stolen = lines(dir .. "/lists/stolen.csv")
      assert.is_true(#stolen >= 2, "seed " .. seed) -- header and a device
      assert.equal(#stolen - 1, s.lists.stolen)
      local imei = stolen[2]:match("^(%d+),")
      local used = false
      for _, path in ipairs(s.files) do
        local text = support.read(path)
        if text:find("," .. imei:sub(1, 14), 1, true) then used = true end
      end
      assert.is_true(used, "seed " .. seed .. ": the stolen device is in the dumps")
    end
  end)

  it("writes one even when no subscriber has a real phone", function()
    local dir = support.tmpdir()
    local s = assert(gen.run { out = dir, subscribers = 2, days = 1, seed = 1, lists = dir .. "/lists", junk = 1,
                               roamers = 0, tacdb = "data/osmocom-tacdb.csv" })
    assert.equal(2, s.devices.junk)
    assert.equal(1, s.lists.stolen)
    assert.matches("^%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d,", lines(dir .. "/lists/stolen.csv")[2])
  end)
end)

describe("imei gen's TAC database", function()
  after_each(support.cleanup)

  it("finds the shipped one from another folder", function()
    local dir = support.tmpdir()
    local out, err, code = sh(("cd '%s' && '%s/bin/imei' gen --subscribers 200 --days 2 --out dumps")
      :format(dir, ROOT))
    assert.equal(0, code, err)
    assert.matches("TACs from " .. ROOT .. "/data/osmocom-tacdb.csv", out, 1, true)
    local db = assert(require("imei.tacdb").load("data/osmocom-tacdb.csv"))
    local known, total = 0, 0
    for _, name in ipairs({ "Jazz", "Zong", "Telenor", "Ufone" }) do
      for i, line in ipairs(lines(("%s/dumps/%s_National_20260101_20260102.csv"):format(dir, name))) do
        local imei = line:match("^%d+,(%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d?),")
        if i > 1 and imei then
          total = total + 1
          if db:lookup(imei:sub(1, 8)) then known = known + 1 end
        end
      end
    end
    assert.is_true(total > 100)
    assert.is_true(known / total > 0.95, ("%d of %d TACs known"):format(known, total))
  end)

  it("fails with the places it looked in when none is found, instead of inventing TACs", function()
    local dir = support.tmpdir()
    local saved_paths, saved_stderr = package.loaded["imei.paths"], io.stderr
    local written = {}
    local nowhere = { "/nowhere/share/imei/data/osmocom-tacdb.csv" }
    package.loaded["imei.paths"] = { data = function() return nil, nowhere end }
    io.stderr = { write = function(_, ...) -- luacheck: ignore
      for _, s in ipairs({ ... }) do written[#written + 1] = s end
    end }
    local ok, code = pcall(require("imei.cli.gen").run, { out = dir .. "/dumps", mcc = "410", seed = 1, days = 1,
                                                         subscribers = 5 })
    package.loaded["imei.paths"], io.stderr = saved_paths, saved_stderr -- luacheck: ignore
    assert.is_true(ok, code)
    assert.equal(2, code)
    local msg = table.concat(written)
    assert.matches("no TAC database to draw TACs from: give --tacdb FILE", msg, 1, true)
    assert.matches("/nowhere/share/imei/data/osmocom-tacdb.csv", msg, 1, true)
    assert.is_nil(support.read(dir .. "/dumps/Jazz_National_20260101_20260101.csv"))
  end)
end)
