-- engine:explain / explain_json and `imei explain` (docs/explain.md): every condition in
-- evaluation order, the facts it looked at, and always the verdict check gives.
local imei = require "imei"
local cjson = require "cjson"
local support = require "support"

local T0 = 1767225600 -- 2026-01-01T00:00:00Z
local DAY = 86400

local POLICY = [[
local P = policy.new { name = "explain-test", version = "1" }
P:condition { name = "allowed", status = "WHITELISTED", final = true,
  when = function(d) return lists.golden:has(d.key) end }
P:condition { name = "stolen", status = "BLACKLISTED", sticky = true,
  when = function(d) return lists.stolen:has(d.key) end }
P:condition { name = "broken", status = "BLACKLISTED",
  when = function(_, r) if r.msisdn == "666" then error("boom") end return false end }
P:condition { name = "off", status = "BLACKLISTED", when = function() return true end }
P:disable("off", "not in force")
P:condition { name = "unregistered", status = "BLACKLISTED", grace_days = 10,
  when = function(d) return d.key ~= nil and not lists.registration:has(d.key) end,
  unless = function(_, r)
    if r.operator and r.operator:sub(1, 3) ~= "410" then return true, "roamer" end
    return false
  end }
P:condition(policy.duplicate_threshold { imsis = 3, days = 30, grace_days = 5 })
P:condition { name = "modem", status = "GREYLISTED", blocking = false,
  when = function(d) return d.device ~= nil and d.device.brand == "Nokia" end }
return P
]]

local STOLEN, GOLDEN, REGISTERED, CLONE = "490154203237518", "356938035643809", "352099001761481", "353456789012347"

local function by_name(x)
  local out = {}
  for _, c in ipairs(x.conditions) do out[c.name] = c end
  return out
end

-- A folder with the policy (p.lua) and its lists; registered: the IMEIs on the registration list.
local function fixture(registered)
  local dir = support.tmpdir()
  support.write(dir .. "/p.lua", POLICY)
  os.execute("mkdir -p '" .. dir .. "/lists'")
  support.write(dir .. "/lists/stolen.csv", "imei\n" .. STOLEN .. "\n")
  support.write(dir .. "/lists/golden.csv", "imei\n" .. GOLDEN .. "\n")
  support.write(dir .. "/lists/registration.csv", "imei\n" .. table.concat(registered, "\n") .. "\n")
  return dir
end

describe("explain", function()
  local dir, store, engine

  before_each(function()
    dir = fixture { REGISTERED, GOLDEN, CLONE }
    store = assert(imei.sightings.open("memory"))
    -- the clone: three SIMs, the first 20 days ago, the third 10 days ago
    for i = 1, 3 do
      assert(store:record { key = CLONE:sub(1, 14), imsi = "41001000000000" .. i, time = T0 - (22 - 6 * i) * DAY })
    end
    engine = assert(imei.engine.new { policy = dir .. "/p.lua", lists = dir .. "/lists", store = store,
                                      tacdb = "data/osmocom-tacdb.csv" })
  end)
  after_each(function()
    engine:close()
    support.cleanup()
  end)

  it("lists every condition in evaluation order, with the policy's verdict", function()
    local x = assert(engine:explain { pei = STOLEN, imsi = "410010000000009", operator = "410-01", time = T0 })
    assert.equal("explain-test@1", x.policy)
    assert.equal("BLACKLISTED", x.verdict.status)
    local names = {}
    for i, c in ipairs(x.conditions) do
      assert.equal(i, c.index)
      names[i] = c.name
    end
    assert.same({ "allowed", "stolen", "broken", "off", "unregistered", "duplicate_threshold", "modem" }, names)
  end)

  it("matched: the status asked, that it decides, and the list lookup behind it", function()
    local c = by_name(assert(engine:explain { pei = STOLEN, imsi = "410010000000009", time = T0 }))
    assert.equal("matched", c.stolen.result)
    assert.equal("BLACKLISTED", c.stolen.verdict_status)
    assert.is_true(c.stolen.decided)
    assert.same({ source = "lists", list = "stolen", call = "has", args = { STOLEN:sub(1, 14) }, result = true,
                  condition = "stolen", phase = "when" }, c.stolen.facts[1])
    assert.equal("not_matched", c.allowed.result)
    assert.equal("disabled", c.off.result)
    assert.equal("not in force", c.off.disabled_why)
  end)

  it("matched in its grace period: grace start, notice and block dates", function()
    local c = by_name(assert(engine:explain { pei = STOLEN, imsi = "410010000000009", operator = "410-01", time = T0 }))
    local u = c.unregistered
    assert.equal("matched", u.result)
    assert.equal("GREYLISTED", u.verdict_status)
    assert.is_true(u.notify)
    assert.same({ days = 10, start = T0, start_date = "2026-01-01", from = "request time", notice_date = "2026-01-01",
                  block_date = "2026-01-11", in_grace = true }, u.grace)
    -- the clone: its grace counts from the day the 3rd SIM came (the condition's since)
    c = by_name(assert(engine:explain { pei = CLONE, imsi = "410010000000003", time = T0 }))
    local g = c.duplicate_threshold.grace
    assert.equal("since", g.from)
    assert.equal(T0 - 4 * DAY, g.start)
    assert.equal("2026-01-02", g.block_date)
    assert.is_true(g.in_grace)
    assert.equal("GREYLISTED", c.duplicate_threshold.verdict_status)
    -- a day after the block date: blocked
    c = by_name(assert(engine:explain { pei = CLONE, imsi = "410010000000003", time = T0 + 2 * DAY }))
    assert.is_false(c.duplicate_threshold.grace.in_grace)
    assert.equal("BLACKLISTED", c.duplicate_threshold.verdict_status)
  end)

  it("exempted: names the unless, with its own label", function()
    local c = by_name(assert(engine:explain { pei = STOLEN, imsi = "234150000000001", operator = "234-15", time = T0 }))
    assert.equal("exempted", c.unregistered.result)
    assert.equal("roamer", c.unregistered.unless.because)
    assert.matches("p%.lua:%d+$", c.unregistered.unless.at)
  end)

  it("exempted: the fact behind the pairing exemption (first SIM, paired with this SIM)", function()
    local c = by_name(assert(engine:explain { pei = CLONE, imsi = "410010000000001", time = T0 }))
    assert.equal("exempted", c.duplicate_threshold.result)
    assert.equal("the first SIM seen with this device", c.duplicate_threshold.unless.because)
    local paired = assert(imei.sightings.open("memory"))
    for i = 1, 3 do
      assert(paired:record { key = CLONE:sub(1, 14), imsi = "41001000000000" .. i, time = T0 - i * DAY })
    end
    assert(paired:pair(CLONE:sub(1, 14), "410010000000002"))
    local e2 = assert(imei.engine.new { policy = dir .. "/p.lua", lists = dir .. "/lists", store = paired })
    c = by_name(assert(e2:explain { pei = CLONE, imsi = "410010000000002", time = T0 }))
    assert.equal("paired with this SIM", c.duplicate_threshold.unless.because)
    e2:close()
  end)

  it("overruled: a final condition decides alone; the rest are not evaluated", function()
    local golden_and_stolen = support.write(dir .. "/lists/stolen.csv", "imei\n" .. GOLDEN .. "\n")
    assert(golden_and_stolen)
    local P2 = POLICY
      :gsub('P:condition { name = "allowed".-\n  when = function%(d%) return lists.golden:has%(d.key%) end }\n', "")
      :gsub("return P\n$", [[
P:condition { name = "allowed", status = "WHITELISTED", final = true,
  when = function(d) return lists.golden:has(d.key) end }
P:condition { name = "later", status = "BLACKLISTED", when = function() return true end }
return P
]])
    support.write(dir .. "/p2.lua", P2)
    local e2 = assert(imei.engine.new { policy = dir .. "/p2.lua", lists = dir .. "/lists" })
    local x = assert(e2:explain { pei = GOLDEN, imsi = "410010000000001", time = T0 })
    local c = by_name(x)
    assert.equal("WHITELISTED", x.verdict.status)
    assert.equal("matched", c.stolen.result)
    assert.equal("allowed", c.stolen.overruled_by)
    assert.equal("matched", c.allowed.result)
    assert.is_true(c.allowed.decided)
    assert.equal("not_evaluated", c.later.result)
    assert.equal("allowed", c.later.stopped_at)
    e2:close()
  end)

  it("resolve = first: the first match decides, the rest are not evaluated; on_error decides", function()
    support.write(dir .. "/first.lua", [[
local P = policy.new { name = "first", version = "1", resolve = "first" }
P:condition { name = "shaky", status = "GREYLISTED", on_error = "BLACKLISTED",
  when = function(_, r) if r.msisdn == "1" then error("store away") end return false end }
P:condition { name = "a", status = "GREYLISTED", when = function() return true end }
P:condition { name = "b", status = "BLACKLISTED", when = function() return true end }
return P
]])
    local e2 = assert(imei.engine.new { policy = dir .. "/first.lua" })
    local x = assert(e2:explain { pei = STOLEN, time = T0 })
    local c = by_name(x)
    assert.equal("GREYLISTED", x.verdict.status)
    assert.equal("matched", c.a.result)
    assert.is_true(c.a.decided)
    assert.equal("not_evaluated", c.b.result)
    assert.equal("a", c.b.stopped_at)
    x = assert(e2:explain { pei = STOLEN, msisdn = "1", time = T0 })
    c = by_name(x)
    assert.equal("BLACKLISTED", x.verdict.status)
    assert.equal("failed", c.shaky.result)
    assert.equal("BLACKLISTED", c.shaky.decides)
    assert.equal("not_evaluated", c.a.result)
    assert.equal("shaky", c.a.stopped_at)
    assert.equal("BLACKLISTED", e2:check { pei = STOLEN, msisdn = "1", time = T0 }.status)
    e2:close()
  end)

  it("failed: the condition's error; the others still decide", function()
    local x = assert(engine:explain { pei = STOLEN, imsi = "410010000000009", msisdn = "666", time = T0 })
    local c = by_name(x)
    assert.equal("failed", c.broken.result)
    assert.matches("boom", c.broken.error)
    assert.is_true(x.verdict.failed)
    assert.equal("BLACKLISTED", x.verdict.status)
    assert.equal("matched", c.stolen.result)
  end)

  it("the facts: list memberships, SIMs in each window, first and paired SIM, the TAC record", function()
    local x = assert(engine:explain { pei = CLONE, imsi = "410010000000003", time = T0 })
    assert.equal("410010000000001", x.device.first_imsi)
    assert.equal(T0 - 16 * DAY, x.device.first_seen)
    assert.same({}, x.device.paired_imsis)
    assert.is_false(x.device.paired_with_this_sim)
    assert.same({ what = "distinct SIMs", call = "imsis", days = 30, result = 3, condition = "duplicate_threshold" },
      x.windows[1])
    local lists = {}
    for _, l in ipairs(x.lists) do lists[l.list] = l end
    assert.is_true(lists.registration.loaded)
    assert.same({ { args = { CLONE:sub(1, 14) }, member = true } }, lists.registration.lookups)
    assert.is_false(lists.pairing.loaded)
    -- the TAC record the device record was built from (and the condition that read it)
    local y = assert(engine:explain { pei = STOLEN, time = T0 })
    assert.equal("Nokia", y.device.tac_record.brand)
    assert.equal("matched", by_name(y).modem.result)
    assert.is_true(by_name(y).modem.informative)
  end)

  it("records no sighting, and leaves the checks as they were", function()
    local recording = assert(imei.sightings.open("memory"))
    local e2 = assert(imei.engine.new { policy = dir .. "/p.lua", lists = dir .. "/lists", store = recording,
                                        record = true })
    assert(e2:explain { pei = REGISTERED, imsi = "410010000000001", time = T0 })
    assert.equal(0, recording:imsis(REGISTERED:sub(1, 14), 30, T0))
    assert.equal("WHITELISTED", e2:check { pei = REGISTERED, imsi = "410010000000001", time = T0 }.status)
    assert.equal(1, recording:imsis(REGISTERED:sub(1, 14), 30, T0))
    e2:close()
  end)

  it("an explanation cut short (the budget) leaves the engine checking as before", function()
    local looping = [[
local P = policy.new { name = "loop", version = "1" }
P:check(function(_, r) if r.msisdn == "1" then while true do end end
  return lists.stolen:has("490154203237518") and "BLACKLISTED" or "GREYLISTED" end)
return P
]]
    support.write(dir .. "/loop.lua", looping)
    local e2 = assert(imei.engine.new { policy = dir .. "/loop.lua", lists = dir .. "/lists",
                                        limits = { instructions = 100000 } })
    local x, err = e2:explain { pei = STOLEN, msisdn = "1", time = T0 }
    assert.is_nil(x)
    assert.matches("budget", err)
    assert.equal("BLACKLISTED", e2:check { pei = STOLEN, time = T0 }.status)
    x = assert(e2:explain { pei = STOLEN, time = T0 })
    assert.equal("BLACKLISTED", x.verdict.status)
    assert.is_true(x.raw)
    e2:close()
  end)

  it("explains what the check decides with, whatever the policy's code does to its table", function()
    support.write(dir .. "/tamper.lua", [[
local P = policy.new { name = "tamper", version = "1" }
P:condition { name = "tamper", status = "WHITELISTED", blocking = false,
  when = function() P.conditions.stolen.disabled = true; P.order[2] = nil; return false end }
P:condition { name = "stolen", status = "BLACKLISTED", when = function(d) return lists.stolen:has(d.key) end }
return P
]])
    local e2 = assert(imei.engine.new { policy = dir .. "/tamper.lua", lists = dir .. "/lists" })
    local req = { pei = STOLEN, time = T0 }
    assert.equal("BLACKLISTED", e2:check(req).status)
    local x = assert(e2:explain(req))
    assert.equal("BLACKLISTED", x.verdict.status)
    assert.equal("matched", by_name(x).stolen.result)
    e2:close()
  end)

  it("explain_json is the same report as JSON", function()
    local req = { pei = CLONE, imsi = "410010000000003", operator = "410-01", time = T0 }
    local j = cjson.decode((assert(engine:explain_json(req))))
    local x = assert(engine:explain(req))
    assert.equal(x.verdict.status, j.verdict.status)
    assert.equal(#x.conditions, #j.conditions)
    for i, c in ipairs(x.conditions) do
      assert.equal(c.name, j.conditions[i].name)
      assert.equal(c.result, j.conditions[i].result)
      assert.equal(#c.facts, #j.conditions[i].facts)
    end
    assert.same(x.device, j.device)
    -- the shape docs/explain.md gives
    local keys = { "policy", "resolve", "default", "raw", "verdict", "device", "conditions", "lists", "windows" }
    for _, key in ipairs(keys) do
      assert.is_not_nil(j[key], key)
    end
    assert.equal("table", type(j.verdict.reasons))
    for _, c in ipairs(j.conditions) do
      assert.equal("number", type(c.index))
      assert.equal("string", type(c.name))
      assert.equal("string", type(c.status))
      assert.equal("table", type(c.facts))
      assert.is_truthy(({ matched = 1, exempted = 1, not_matched = 1, failed = 1, not_evaluated = 1,
                          disabled = 1 })[c.result], c.result)
    end
  end)

  it("gives the status, block date, notice and reasons check gives, over many requests", function()
    local rng_state = 12345
    local function rand(n)
      rng_state = (rng_state * 1103515245 + 12345) % 2147483648
      return rng_state % n + 1
    end
    local peis = { STOLEN, GOLDEN, REGISTERED, CLONE, "356938035643800", "35209900176148", "0000", "A0000000002A",
                   "imei-353456789012347", "999999999999999" }
    local ops = { nil, "410-01", "234-15" }
    for n = 1, 300 do
      local req = { pei = peis[rand(#peis)], imsi = rand(3) > 1 and ("41001000000000" .. rand(5)) or nil,
                    operator = ops[rand(3)], msisdn = rand(20) == 1 and "666" or nil,
                    time = T0 + (rand(60) - 30) * DAY }
      local v = engine:check(req)
      local x = assert(engine:explain(req))
      local ctx = ("request %d: %s %s %s"):format(n, req.pei, tostring(req.imsi), tostring(req.operator))
      assert.equal(v.status, x.verdict.status, ctx)
      assert.equal(v.block_date, x.verdict.block_date, ctx)
      assert.equal(v.notify or false, x.verdict.notify, ctx)
      assert.equal(v.failed or false, x.verdict.failed, ctx)
      local got, want = {}, {}
      for _, r in ipairs(v.reasons) do want[#want + 1] = r.condition end
      for _, r in ipairs(x.verdict.reasons) do got[#got + 1] = r.condition end
      assert.same(want, got, ctx)
      -- the conditions' results agree with the reasons
      for _, c in ipairs(x.conditions) do
        local listed = false
        for _, name in ipairs(want) do listed = listed or name == c.name end
        assert.equal(listed, c.result == "matched" or c.result == "failed", ctx .. " " .. c.name)
      end
    end
  end)
end)

describe("imei explain", function()
  local dir
  before_each(function() dir = fixture { REGISTERED } end)
  after_each(function() support.cleanup() end)

  it("explains in words for customer care", function()
    local out, err, code = support.imei(
      ("explain --policy '%s/p.lua' --lists '%s/lists' --time %d --operator 234-15 %s 234150000000001")
      :format(dir, dir, T0, STOLEN))
    assert.equal(0, code, err)
    assert.matches("Verdict: BLACKLISTED", out, 1, true)
    assert.matches("stolen%s+MATCHED %-> BLACKLISTED decides the verdict: stolen", out)
    assert.matches("unregistered%s+exempted: roamer %(unless at [^)]*p%.lua:%d+%)", out)
    assert.matches("list stolen has 49015420323751: yes", out, 1, true)
    assert.matches("off%s+disabled: not in force", out)
    assert.matches("\n  because: stolen %(stolen%)\n", out)
    assert.matches("\n  exempt from unregistered: roamer\n", out)
  end)

  it("--json gives the report, and exit 3 when a condition failed", function()
    local out, err, code = support.imei(
      ("explain --policy '%s/p.lua' --lists '%s/lists' --time %d --msisdn 666 --json %s")
      :format(dir, dir, T0, STOLEN))
    assert.equal(3, code, err)
    local j = cjson.decode(out)
    assert.equal("BLACKLISTED", j.verdict.status)
    assert.equal("failed", j.conditions[3].result)
    assert.equal("broken", j.conditions[3].name)
  end)

  it("imei serve passes --admin-listen to imei-eird", function()
    local out, err, code = support.imei(("serve --policy '%s/p.lua' --lists '%s/lists' --admin-listen 127.0.0.1:0 "
      .. "--print-command"):format(dir, dir))
    assert.equal(0, code, err)
    assert.matches("'--admin-listen' '127.0.0.1:0'", out, 1, true)
  end)

  it("--state DIR reads its sightings, and refuses a folder without them", function()
    local _, err, code = support.imei(("explain --policy '%s/p.lua' --lists '%s/lists' --state '%s/nothing' %s")
      :format(dir, dir, dir, STOLEN))
    assert.equal(2, code)
    assert.matches("no sightings", err, 1, true)
    -- a state as imei classify leaves it: the register, with the sightings' snapshot in it
    local s = assert(imei.sightings.open("memory"))
    for i = 1, 3 do assert(s:record { key = "35345678901234", imsi = "41001000000000" .. i, time = T0 - i * DAY }) end
    local register = require "imei.classify.register"
    local reg = assert(register.open(dir .. "/state", false))
    reg:begin("20260101")
    reg:commit("20260101", 1, {}, { generation = 1 }, "test", s)
    reg:close()
    s:close()
    local out
    out, err, code = support.imei(
      ("explain --policy '%s/p.lua' --lists '%s/lists' --state '%s/state' --time %d %s 410010000000002")
      :format(dir, dir, dir, T0, CLONE))
    assert.equal(0, code, err)
    assert.matches("distinct SIMs in 30 days: 3", out, 1, true)
    assert.matches("first SIM     410010000000003", out, 1, true)
  end)
end)
