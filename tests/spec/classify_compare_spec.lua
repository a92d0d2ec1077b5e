-- imei classify --compare (what-if, imei diff) and --operator-policy (docs/classify.md):
-- five devices on two operators whose every change between two policies is known.
local cjson = require "cjson"
local imei = require "imei"
local support = require "support"

local function cd(body) return body .. imei.check_digit(body) end

local JUNK, A35, R49, B35, C86 = "000000000000000", "352099001761481", "490154203237518", "356938035643809",
  cd("86000000000009")

-- NEW: junk blocked; RBI 35 blocked after 10 days' notice
local COUNTRY = [[
local P = policy.new { name = "country", version = "2" }
P:condition { name = "junk", status = "BLACKLISTED", max_ratio = 1, when = function(d) return d.junk ~= nil end }
P:condition { name = "rbi35", status = "BLACKLISTED", grace_days = 10, max_ratio = 1,
  when = function(d) return d.rbi == "35" end }
return P
]]

-- OLD: no junk rule; 20 days' notice, and the default safety ratio (10%), which 2 of 5 exceeds
local OLD = [[
local P = policy.new { name = "country", version = "1" }
P:condition { name = "rbi35", status = "BLACKLISTED", grace_days = 20, when = function(d) return d.rbi == "35" end }
return P
]]

local TELENOR = [[
local P = policy.extend("country.lua", { name = "telenor", version = "7" })
P:condition { name = "op_all", status = "BLACKLISTED", max_ratio = 1, when = function() return true end }
return P
]]

local NOT_EXTENDING = [[
local P = policy.new { name = "rogue", version = "1" }
P:condition { name = "op_all", status = "BLACKLISTED", max_ratio = 1, when = function() return true end }
return P
]]

local function setup()
  local dir = support.tmpdir()
  support.write(dir .. "/country.lua", COUNTRY)
  support.write(dir .. "/old.lua", OLD)
  support.write(dir .. "/telenor.lua", TELENOR)
  support.write(dir .. "/rogue.lua", NOT_EXTENDING)
  support.write(dir .. "/Alpha_National_20260101_20260131.csv", table.concat({
    "date,imei,imsi,msisdn",
    "20260110," .. JUNK .. ",410010000000001,923000000001",
    "20260111," .. R49 .. ",234150000000003,447000000003", -- a roamer
    "20260112," .. B35 .. ",410010000000004,923000000004",
  }, "\n") .. "\n")
  support.write(dir .. "/Beta_National_20260101_20260131.csv", table.concat({
    "date,imei,imsi,msisdn",
    "20260110," .. A35 .. ",410060000000002,923000000002",
    "20260112," .. C86 .. ",410060000000005,923000000005",
  }, "\n") .. "\n")
  return dir
end

local function classify(dir, args, out)
  local _, err, code = support.imei(("classify -q --out '%s/%s' %s '%s'/*.csv"):format(dir, out, args, dir))
  return code, err, support.read(dir .. "/" .. out .. "/report.json"), support.read(dir .. "/" .. out .. "/report.txt")
end

local function by(list, key, value)
  for _, e in ipairs(list) do if e[key] == value then return e end end
end

describe("imei classify --compare", function()
  after_each(support.cleanup)

  it("a policy compared with itself changes nothing", function()
    local dir = setup()
    local code, err, json = classify(dir, ("--policy '%s/country.lua' --compare '%s/country.lua' --jobs 2"):format(dir,
      dir), "same")
    assert.equal(0, code, err)
    local c = cjson.decode(json).compare
    assert.equal(5, c.devices.total)
    assert.equal(0, c.devices.changed)
    assert.equal(0, c.subscribers.pairs_changed)
    assert.same({}, c.examples)
    assert.same({}, c.operators)
    for _, e in ipairs(c.conditions) do
      assert.equal(e.old.devices, e.new.devices)
      assert.equal(0, e.newly_blocked + e.no_longer_blocked + e.newly_matched + e.no_longer_matched)
    end
  end)

  it("counts the devices a change moves, by condition, operator and RBI, with both safety ratios", function()
    local dir = setup()
    local code, err, json, txt = classify(dir, ("--policy '%s/country.lua' --compare '%s/old.lua'"):format(dir, dir),
      "cmp")
    assert.equal(0, code, err)
    local report = cjson.decode(json)
    local c = report.compare
    assert.same({ name = "country", version = "1", file = dir .. "/old.lua" }, c.old)
    assert.same({ name = "country", version = "2", file = dir .. "/country.lua" }, c.new)
    local d = c.devices
    assert.same({ total = 5, changed = 3, verdict = 1, block_date = 2, notification = 0, newly_blocked = 1,
                  unblocked = 0, newly_notified = 0, no_longer_notified = 0, blocked_old = 0, blocked_new = 1,
                  notified_old = 2, notified_new = 2 }, d)
    assert.same({ pairs = 5, pairs_changed = 3, verdict = 1, block_date = 2, notification = 0, imsis_changed = 3 },
      c.subscribers)
    assert.same({ { old = "WHITELISTED", new = "BLACKLISTED", devices = 1 } }, c.transitions)
    local junk, rbi35 = by(c.conditions, "name", "junk"), by(c.conditions, "name", "rbi35")
    assert.is_true(junk.in_new)
    assert.is_false(junk.in_old)
    assert.is_nil(junk.old)
    assert.equal(1, junk.newly_blocked)
    assert.equal(2, rbi35.old.devices_grace)
    assert.equal(2, rbi35.new.devices_grace)
    assert.is_true(rbi35.old.over_ratio)       -- 2 of 5 over the default 10%
    assert.is_true(rbi35.old.max_ratio_default)
    assert.is_false(rbi35.new.over_ratio)      -- max_ratio = 1
    assert.same({ "rbi35" }, c.safety.old.over_ratio)
    assert.same({}, c.safety.new.over_ratio)
    assert.same({ name = "Alpha", devices_changed = 2, newly_blocked = 1, unblocked = 0, block_date = 1,
                  notification = 0 }, by(c.operators, "name", "Alpha"))
    assert.equal(1, by(c.operators, "name", "Beta").devices_changed)
    assert.equal(2, by(c.rbi, "rbi", "35").block_date)
    assert.equal(1, by(c.rbi, "rbi", "00").newly_blocked)
    assert.is_nil(by(c.rbi, "rbi", "49"))
    assert.equal(3, #c.examples)
    local ex = c.examples[1]
    assert.equal("00000000000000", ex.device)
    assert.same({ "verdict" }, ex.changes)
    assert.same({ status = "WHITELISTED", notify = false, reasons = {} }, ex.old)
    assert.same({ status = "BLACKLISTED", notify = false, reasons = { "junk" } }, ex.new)
    assert.matches("^%d%d%d%d%-%d%d%-%d%d$", c.examples[2].new.block_date)
    assert.matches("What-if: country@1", txt, 1, true)
    assert.matches("devices changed: 3 of 5", txt, 1, true)
    assert.matches("safety ratio, old policy: over the limit: rbi35", txt, 1, true)
  end)

  it("counts the changed devices by brand with a TAC database", function()
    local dir = setup()
    local code, err, json = classify(dir, ("--policy '%s/country.lua' --compare '%s/old.lua' " ..
      "--tacdb data/osmocom-tacdb.csv"):format(dir, dir), "brands")
    assert.equal(0, code, err)
    local c = cjson.decode(json).compare
    -- the two RBI 35 devices: an Alcatel One Touch 332 and a Nokia N900; the Nokia 3110
    -- (RBI 49) does not change, the junk IMEI has no TAC record
    assert.same({
      { brand = "Alcatel", devices_changed = 1, newly_blocked = 0, unblocked = 0, block_date = 1, notification = 0 },
      { brand = "Nokia", devices_changed = 1, newly_blocked = 0, unblocked = 0, block_date = 1, notification = 0 },
    }, c.brands)
  end)

  it("writes the same lists as a run without it, and the same counts with --jobs 1 and 2", function()
    local dir = setup()
    assert.equal(0, (classify(dir, ("--policy '%s/country.lua'"):format(dir), "plain")))
    local args = ("--policy '%s/country.lua' --compare '%s/old.lua'"):format(dir, dir)
    local code1, _, j1 = classify(dir, args .. " --jobs 1", "j1")
    local code2, _, j2 = classify(dir, args .. " --jobs 2", "j2")
    assert.equal(0, code1)
    assert.equal(0, code2)
    assert.same(cjson.decode(j1).compare, cjson.decode(j2).compare)
    for _, name in ipairs({ "blocklist.csv", "notifications_Alpha.csv", "notifications_Beta.csv" }) do
      local plain = support.read(dir .. "/plain/" .. name)
      assert.is_not_nil(plain, name)
      assert.equal(plain, support.read(dir .. "/j1/" .. name), name)
    end
    assert.matches(JUNK:sub(1, 14), support.read(dir .. "/j1/blocklist.csv"), 1, true)
  end)

  it("counts where the old policy fails without refusing the new policy's lists", function()
    local dir = setup()
    support.write(dir .. "/failing.lua", [[
local P = policy.new { name = "failing", version = "1" }
P:condition { name = "boom", status = "BLACKLISTED", max_ratio = 1,
  when = function(d) if d.rbi == "49" then error("no RBI 49 here") end return false end }
return P
]])
    local code, err, json, txt = classify(dir, ("--policy '%s/country.lua' --compare '%s/failing.lua'"):format(dir,
      dir), "failing")
    assert.equal(0, code, err) -- the lists are NEW's: OLD's failures do not stop them
    local r = cjson.decode(json)
    assert.equal(1, r.compare.failures_old)
    assert.equal(0, r.policy_failures.count)
    assert.is_true(r.lists_written)
    assert.matches("the old policy failed on 1 pairs", txt, 1, true)
  end)

  it("is also imei diff OLD NEW DUMP...", function()
    local dir = setup()
    local _, err, code = support.imei(("diff -q '%s/old.lua' '%s/country.lua' --out '%s/d' '%s'/*.csv")
      :format(dir, dir, dir, dir))
    assert.equal(0, code, err)
    local c = cjson.decode(support.read(dir .. "/d/report.json")).compare
    assert.equal(3, c.devices.changed)
    assert.equal(dir .. "/old.lua", c.old.file)
    assert.equal(dir .. "/country.lua", c.new.file)
    _, err, code = support.imei(("diff -q '%s/old.lua' --out '%s/d2'"):format(dir, dir))
    assert.equal(2, code) -- usage: NEW and a dump are missing
    assert.matches("Usage: imei diff", err, 1, true)
  end)

  it("refuses an old policy that does not load, saying which", function()
    local dir = setup()
    support.write(dir .. "/broken.lua", "return 42\n")
    local code, err = classify(dir, ("--policy '%s/country.lua' --compare '%s/broken.lua'"):format(dir, dir), "b")
    assert.equal(2, code)
    assert.matches("--compare " .. dir .. "/broken.lua", err, 1, true)
  end)
end)

describe("imei classify --operator-policy", function()
  after_each(support.cleanup)

  it("applies each network's policy to its own subscribers' rows only, the same with any --jobs", function()
    local dir = setup()
    local lists = {}
    for _, jobs in ipairs({ 1, 2 }) do
      local code, err, json, txt = classify(dir, ("--policy '%s/country.lua' " ..
        "--operator-policy '410-06=%s/telenor.lua' --jobs %d"):format(dir, dir, jobs), "op" .. jobs)
      assert.equal(0, code, err)
      local r = cjson.decode(json)
      assert.same({
        { network = "*", name = "country", version = "2", file = dir .. "/country.lua", pairs = 3 },
        { network = "410-06", name = "telenor", version = "7", file = dir .. "/telenor.lua", base = "country@2",
          pairs = 2 },
      }, r.operator_policies)
      assert.equal(2, by(r.conditions, "name", "op_all").devices) -- counted like the national ones
      assert.matches("410-06        telenor@7", txt, 1, true)
      lists[jobs] = support.read(dir .. "/op" .. jobs .. "/blocklist.csv")
    end
    assert.equal(lists[1], lists[2])
    -- the two 410-06 subscribers' devices and the junk IMEI; not the roamer's nor 410-01's
    for _, id in ipairs({ A35, C86, JUNK }) do assert.matches(id:sub(1, 14), lists[1], 1, true) end
    for _, id in ipairs({ R49, B35 }) do assert.not_matches(id:sub(1, 14), lists[1], 1, true) end
  end)

  it("refuses an operator policy that does not extend the national one", function()
    local dir = setup()
    local code, err = classify(dir, ("--policy '%s/country.lua' --operator-policy '410-06=%s/rogue.lua'"):format(dir,
      dir), "rogue")
    assert.equal(2, code)
    assert.matches("rogue@1 does not extend the national policy country@2", err, 1, true)
    assert.is_nil(support.read(dir .. "/rogue/report.json"))
  end)

  it("takes an operator policy that extends the national one through another file", function()
    local dir = setup()
    support.write(dir .. "/telenor-lab.lua",
      'return policy.extend("telenor.lua", { name = "telenor-lab", version = "1" })\n')
    local code, err, json = classify(dir, ("--policy '%s/country.lua' --operator-policy '410-06=%s/telenor-lab.lua'")
      :format(dir, dir), "lab")
    assert.equal(0, code, err)
    assert.equal("telenor@7", cjson.decode(json).operator_policies[2].base)
  end)

  it("refuses a malformed network and a network given twice", function()
    local dir = setup()
    local code, err = classify(dir, ("--policy '%s/country.lua' --operator-policy '41006=%s/telenor.lua'"):format(dir,
      dir), "x")
    assert.equal(2, code)
    assert.matches("expected MCC-MNC=FILE", err, 1, true)
    code, err = classify(dir, ("--policy '%s/country.lua' --operator-policy '410-06=%s/telenor.lua' " ..
      "--operator-policy '410-06=%s/telenor.lua'"):format(dir, dir, dir), "y")
    assert.equal(2, code)
    assert.matches("network 410-06 is given twice", err, 1, true)
  end)
end)

describe("imei.classify.compare.pick_examples", function()
  it("takes each kind of change in turn, in device order", function()
    local pick = require("imei.classify.compare").pick_examples
    local all = {}
    for i = 1, 30 do all[i] = { id = i, changes = { "block_date" } } end
    all[25].changes = { "verdict", "block_date" }
    all[28].changes = { "verdict" }
    all[29].changes = { "notification" }
    local ids = {}
    for i, e in ipairs(pick(all, 20)) do ids[i] = e.id end
    -- 17 block dates (1..18 but 25's kind is verdict), the two verdicts, the notification
    assert.same({ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 25, 28, 29 }, ids)
    assert.equal(3, #pick(all, 3))
    assert.same({}, pick({}, 20))
  end)
end)
