-- Cloned-IMEI conditions (imei.policy.duplicates) against real stores, both backends.
local imei = require "imei"
local support = require "support"

local T0 = 1767225600 -- 2026-01-01T00:00:00Z
local DAY = 86400
local KEY = "35209900176148"

local POLICY = [[
  local P = policy.new { name = "dups", version = "1" }
  P:condition(policy.duplicate_threshold { imsis = 4, days = 30, grace_days = 10 })
  P:condition(policy.duplicate_daily_avg { average = 3, days = 10, min_days = 3, grace_days = 5 })
  P:condition(policy.transient_imei { msisdns = 4, days = 7, blocking = false })
  return P
]]

local function names(verdict)
  local out = {}
  for _, r in ipairs(verdict.reasons) do out[#out + 1] = r.condition end
  table.sort(out)
  return table.concat(out, ",")
end

for _, backend in ipairs { "memory", "lmdb" } do
  describe("duplicate conditions with a " .. backend .. " store", function()
    local dir, store, engine

    before_each(function()
      dir = support.tmpdir()
      store = assert(imei.sightings.open(backend == "memory" and "memory" or ("lmdb:" .. dir .. "/db")))
      engine = assert(imei.engine.new { policy = support.write(dir .. "/p.lua", POLICY), store = store })
    end)
    after_each(function()
      engine:close()
      store:close()
      support.cleanup()
    end)

    local function seen(imsi, day, msisdn, operator)
      assert(store:record { key = KEY, imsi = imsi, msisdn = msisdn, operator = operator or "410-01",
                            time = T0 + day * DAY })
    end
    local function check(imsi, day)
      return engine:check { pei = "352099001761481", imsi = imsi, time = T0 + day * DAY }
    end

    it("leaves a device with few SIMs alone", function()
      seen("410010000000001", 0)
      seen("410010000000002", 5)
      seen("410010000000003", 9)
      assert.equal("WHITELISTED", check("410010000000002", 10).status)
    end)

    it("notifies from the threshold crossing, then blocks; the first SIM keeps service", function()
      for i = 1, 4 do seen("41001000000000" .. i, i * 2) end -- 4th SIM on day 8
      local v = check("410010000000003", 9)
      assert.equal("duplicate_threshold", names(v))
      assert.same({ "GREYLISTED", true, "2026-01-19" }, { v.status, v.notify, v.block_date })
      assert.equal("BLACKLISTED", check("410010000000003", 18).status)
      assert.equal("WHITELISTED", check("410010000000001", 18).status) -- the first SIM seen
    end)

    it("exempts a subscriber paired in the store", function()
      for i = 1, 4 do seen("41001000000000" .. i, i) end
      assert(store:pair(KEY, "410010000000004"))
      assert.equal("WHITELISTED", check("410010000000004", 5).status)
      assert.equal("GREYLISTED", check("410010000000003", 5).status)
      -- paired with SIM 4: the first SIM seen has no claim any more
      assert.equal("GREYLISTED", check("410010000000001", 5).status)
    end)

    it("forgets SIMs outside the window", function()
      for i = 1, 4 do seen("41001000000000" .. i, i) end
      assert.equal("GREYLISTED", check("410010000000002", 10).status)
      -- SIM 1 was last seen on day 1: out of a 30-day window on day 32
      assert.equal("WHITELISTED", check("410010000000002", 32).status)
    end)

    it("counts a daily average over the days seen", function()
      for day = 1, 3 do
        for sim = 1, 3 do seen(("41001000000%02d%02d"):format(day, sim), day) end
      end
      local v = check("410010000000102", 4) -- not the first SIM seen
      assert.equal("duplicate_daily_avg,duplicate_threshold", names(v))
      -- two days only: below min_days
      store:close()
      store = assert(imei.sightings.open("memory"))
      engine = assert(imei.engine.new { policy = dir .. "/p.lua", store = store })
      for day = 1, 2 do
        for sim = 1, 3 do seen(("41001000000%02d%02d"):format(day, sim), day) end
      end
      assert.equal("duplicate_threshold", names(check("410010000000102", 4)))
    end)

    it("reports MSISDNs in arithmetic progression on one operator", function()
      for i = 1, 4 do seen("41001000000000" .. i, i, tostring(923001000000 + 5 * i)) end
      assert.matches("transient_imei", names(check("410010000000001", 5)))
    end)

    it("does not report MSISDNs spread over operators or without a common step", function()
      seen("410010000000001", 1, "923001000005", "410-01")
      seen("410010000000002", 2, "923001000010", "410-06")
      seen("410010000000003", 3, "923001000015", "410-01")
      seen("410010000000004", 4, "923001000021", "410-01")
      assert.not_matches("transient_imei", names(check("410010000000001", 5)))
    end)
  end)
end
