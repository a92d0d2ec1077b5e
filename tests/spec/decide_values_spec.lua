-- decide_values_spec.lua — the runtime's check hands the verdict to the host as values
-- (policy.decide, read by host/verdict.c imei_verdict_from_values), not as a table: the
-- verdict the engine returns is the same as before, policy code never reaches
-- policy.decide, a raw check's table still goes through, and every check gets a request
-- and a device record of its own (a policy keeping them across checks sees them unchanged).
local imei = require "imei"
local support = require "support"

local dir

local function engine_for(text, opts)
  opts = opts or {}
  opts.policy = support.policy(dir, ("d%d.lua"):format(math.random(1 << 30)), text)
  return imei.engine.new(opts)
end

local STOLEN = "352099001761481"
local OTHER = "490154203237518"

describe("the verdict as values", function()
  before_each(function() dir = support.tmpdir() end)
  after_each(support.cleanup)

  it("gives the same verdict as P:evaluate: no reasons, grace periods, final and failed conditions", function()
    local text = [[
      local P = policy.new { name = "v", version = "3" }
      P:condition { name = "late", status = "BLACKLISTED", grace_days = 10,
        when = function(d) return d.key == "35209900176148" end }
      P:condition { name = "broken", status = "BLACKLISTED",
        when = function(d, r) if r.imsi == "410010000000001" then error("boom") end return false end }
      P:condition { name = "lab", status = "WHITELISTED", final = true,
        when = function(d, r) return r.imsi == "410010000000002" end }
      return P
    ]]
    local e = assert(engine_for(text))
    local v = e:check { pei = OTHER, imsi = "410010000000000", time = 1767225600 }
    assert.same({ "WHITELISTED", 0, "v@3" }, { v.status, #v.reasons, v.policy })
    assert.is_nil(v.failed)
    assert.is_nil(v.block_date)
    v = e:check { pei = STOLEN, imsi = "410010000000000", time = 1767225600 }
    assert.same({ "GREYLISTED", "2026-01-11", true }, { v.status, v.block_date, v.notify })
    assert.equal("late", v.reasons[1].condition)
    v = e:check { pei = OTHER, imsi = "410010000000001", time = 1767225600 }
    assert.same({ "WHITELISTED", true, "broken" }, { v.status, v.failed, v.reasons[1].condition })
    assert.matches("boom", v.reasons[1].error)
    v = e:check { pei = STOLEN, imsi = "410010000000002", time = 1767225600 }
    assert.same({ "WHITELISTED", 2 }, { v.status, #v.reasons })
    assert.same({ true, "lab" }, { v.reasons[1].overruled, v.reasons[1].overruled_by })
    -- the same policy evaluated in plain Lua (P:evaluate builds a table) agrees
    local runtime = require "imei.policy.runtime"
    local inst = runtime.new { policy = support.policy(dir, "plain.lua", text), skip_examples = true }
    local plain = inst:evaluate { pei = STOLEN, imsi = "410010000000002", time = 1767225600 }
    assert.same({ "WHITELISTED", 2, true }, { plain.status, #plain.reasons, plain.reasons[1].overruled })
    local none = inst:evaluate { pei = OTHER, imsi = "410010000000000", time = 1767225600 }
    assert.same({}, none.reasons)
  end)

  it("never hands policy.decide (nor policy.evaluate) to policy code", function()
    local e = assert(engine_for([[
      local P = policy.new { name = "n", version = "1" }
      P:condition { name = "reached", status = "BLACKLISTED",
        when = function() return policy.decide ~= nil or policy.evaluate ~= nil or rawget(policy, "decide") ~= nil end }
      return P
    ]]))
    assert.equal("WHITELISTED", e:check { pei = OTHER }.status)
  end)

  it("still reads a raw check's verdict table", function()
    local e = assert(engine_for([[
      return { name = "raw", version = "1", check = function(d)
        if d.key == "35209900176148" then
          return { status = "BLACKLISTED", reasons = { { condition = "mine", text = "t" } } }
        end
        return "WHITELISTED"
      end }
    ]]))
    local v = e:check { pei = STOLEN }
    assert.same({ "BLACKLISTED", "mine", "raw@1" }, { v.status, v.reasons[1].condition, v.policy })
    assert.equal("WHITELISTED", e:check { pei = OTHER }.status)
  end)

  it("gives each check a request and a device record of its own", function()
    local e = assert(engine_for([[
      local P = policy.new { name = "keep", version = "1" }
      local kept_d, kept_r
      P:condition { name = "changed", status = "BLACKLISTED",
        when = function(d, r)
          if kept_d and (kept_d == d or kept_r == r or kept_d.key ~= "35209900176148"
                         or kept_r.pei ~= "352099001761481" or kept_r.mine ~= 1) then
            return true
          end
          if not kept_d then kept_d, kept_r = d, r; r.mine = 1 end
          return false
        end }
      return P
    ]]))
    assert.equal("WHITELISTED", e:check { pei = STOLEN, imsi = "410010000000000" }.status)
    for _ = 1, 3 do
      assert.equal("WHITELISTED", e:check { pei = OTHER, imsi = "410010000000001" }.status)
    end
  end)
end)
