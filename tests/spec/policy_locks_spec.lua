-- National locks, a national policy's examples run against the policies that extend it,
-- and what `imei policy test|lint` says about them (docs/policies.md, "National locks").
local support = require "support"
local cjson = require "cjson"

-- A small country policy: stolen is locked, registration is not; its examples bind.
local COUNTRY = [[
local P = policy.new { name = "country", version = "1", national = true }
P:condition { name = "stolen", status = "BLACKLISTED", locked = true,
  when = function(d) return d.key ~= nil and lists.stolen:has(d.key) end }
P:condition { name = "unregistered", status = "BLACKLISTED", grace_days = 60,
  when = function(d) return d.key ~= nil and not lists.registration:has(d.key) end }
P:example { pei = "490154203237518", lists = { stolen = { "490154203237518" } },
            expect = "BLACKLISTED", reasons = { "stolen" }, note = "stolen is blocked" }
P:example { pei = "490154203237518", lists = { registration = { "490154203237518" } },
            expect = "WHITELISTED", note = "a registered phone is allowed" }
P:example { pei = "490154203237518", expect = "GREYLISTED", reasons = { "unregistered" },
            block_date = "2026-03-02", note = "60 days' notice" }
return P
]]

local function operator(dir, name, body, base)
  local text = ('local P = policy.extend("%s", { name = "%s", version = "1" })\n%s\nreturn P\n')
    :format(base or "country.lua", name:gsub("%.lua$", ""), body)
  return support.write(dir .. "/" .. name, text)
end

describe("a national policy", function()
  local dir
  before_each(function()
    dir = support.tmpdir()
    support.write(dir .. "/country.lua", COUNTRY)
  end)
  after_each(function() support.cleanup() end)

  describe("locks", function()
    it("refuses an operator policy that disables a locked condition, naming it and both files", function()
      local op = operator(dir, "op.lua", 'P:disable("stolen", "not here")')
      local out, _, code = support.imei("policy test " .. op)
      assert.equal(2, code)
      assert.matches("LOAD ERROR: " .. dir:gsub("%p", "%%%0") .. "/op%.lua:2: cannot disable condition 'stolen': "
        .. "it is locked %(locked = true%) by country@1 at " .. dir:gsub("%p", "%%%0") .. "/country%.lua:2", out)
    end)

    it("refuses an override of a locked condition, also when the lock is a grandparent's", function()
      local op = operator(dir, "op.lua", 'P:override { name = "stolen", status = "GREYLISTED" }')
      local out, _, code = support.imei("policy lint " .. op)
      assert.equal(2, code)
      assert.matches("op%.lua:2: cannot override condition 'stolen': it is locked .- by country@1 at .-/country%.lua:2",
        out)
      operator(dir, "region.lua", "")
      local leaf = operator(dir, "leaf.lua", 'P:override { name = "stolen", when = function() return false end }',
        "region.lua")
      out, _, code = support.imei("policy test " .. leaf)
      assert.equal(2, code)
      assert.matches("leaf%.lua:2: cannot override condition 'stolen': it is locked .- at .-/country%.lua:2", out)
      -- an unlocked condition may change, and a lock set by override binds in the same way
      local ok = operator(dir, "ok.lua", 'P:override { name = "unregistered", grace_days = 30, locked = true }')
      local deeper = operator(dir, "deeper.lua", 'P:disable("unregistered")', "ok.lua")
      out, _, code = support.imei("policy test " .. deeper)
      assert.equal(2, code)
      assert.matches("deeper%.lua:2: cannot disable condition 'unregistered': it is locked .- by ok@1 at .-/ok%.lua:2",
        out)
      out, _, code = support.imei("policy lint " .. ok)
      assert.matches("unregistered%s+BLACKLISTED%s+30d%s+%-%s+locked%s+.-country%.lua:4%s+.-ok%.lua:2", out)
      assert.equal(0, code, out)
    end)

    it("closes the other ways round a lock: raw check, resolve, edits by hand, a hand-made copy", function()
      local cases = {
        { 'P:check(function() return "WHITELISTED" end)',
          "P:check would replace the conditions, and condition 'stolen' is locked by country@1" },
        { 'P.conditions.stolen.when = function() return false end', "condition 'stolen' is locked by country@1 at "
          .. ".-, and was changed by hand" },
        { 'table.remove(P.order, 1)', "and was changed by hand" },
        { 'P = policy.new { name = "mine", version = "1" }', "calls policy.extend but returns another policy" },
      }
      for i, case in ipairs(cases) do
        local op = operator(dir, "op" .. i .. ".lua", case[1])
        local out, _, code = support.imei("policy test " .. op)
        assert.equal(2, code, out)
        assert.matches(case[2], out)
      end
      support.write(dir .. "/first.lua",
        'return policy.extend("country.lua", { name = "f", version = "1", resolve = "first" })')
      local out, _, code = support.imei("policy test " .. dir .. "/first.lua")
      assert.equal(2, code)
      assert.matches("resolve cannot change from \"worst\": condition 'stolen' is locked", out)
    end)

    it("holds at check time: a condition that edits the policy while it runs changes nothing", function()
      local op = operator(dir, "op.lua", [[
P:condition { name = "meddle", status = "GREYLISTED", blocking = false, when = function()
  P.conditions.stolen.disabled = true
  P.order[1] = { name = "stolen", status = "WHITELISTED", when = function() return false end }
  P.raw_check = function() return "WHITELISTED" end
  P.default = "BLACKLISTED"
  return true
end }
P:example { pei = "352099001761481", lists = { registration = { "352099001761481" } }, expect = "WHITELISTED",
            note = "meddles" }
P:example { pei = "490154203237518", lists = { stolen = { "490154203237518" } }, expect = "BLACKLISTED",
            reasons = { "stolen" }, note = "still stolen" }]])
      local out, _, code = support.imei("policy test -v " .. op)
      assert.equal(0, code, out)
      assert.matches("ok   .-op%.lua:%d+: still stolen", out)
    end)

    it("a final condition does not overrule a locked one", function()
      local op = operator(dir, "op.lua", [[
  P:condition { name = "vip", status = "WHITELISTED", final = true, when = function() return true end }
  P:example { pei = "490154203237518", lists = { stolen = { "490154203237518" }, registration = { "490154203237518" } },
              expect = "BLACKLISTED", reasons = { "stolen", "vip" } }]])
      local out, _, code = support.imei("policy test -v " .. op)
      -- the operator's own example passes (stolen still blocks); the country's "registered
      -- phone" too; "60 days' notice" fails: the operator's final allow overrules the unlocked
      -- registration rule, and the country's example says so
      assert.equal(1, code, out)
      assert.matches("ok   .-op%.lua:3", out)
      assert.matches("ok   .-country%.lua:6: stolen is blocked %(an example of country@1%)", out)
      assert.matches("FAIL .-country%.lua:10: 60 days' notice: expected GREYLISTED, got WHITELISTED %(reasons: "
        .. "unregistered, vip%) %(an example of country@1%)", out)
      assert.matches("3 passed, 1 failed", out)
    end)
  end)

  it("a locked condition that fails with on_error is not overruled by a final one either", function()
    local policy = require "imei.policy"
    local P = policy.new { name = "p", version = "1" }
    P:condition { name = "stolen", status = "BLACKLISTED", locked = true, on_error = "BLACKLISTED",
                  when = function() error("the list is away") end }
    P:condition { name = "allow", status = "WHITELISTED", final = true, when = function() return true end }
    local verdict = P:evaluate({}, { time = 0 })
    assert.equal("BLACKLISTED", verdict.status)
    assert.is_true(verdict.reasons[1].failed)
    assert.is_nil(verdict.reasons[1].overruled)
    local Q = policy.new { name = "q", version = "1" }
    Q:condition { name = "other", status = "GREYLISTED", on_error = "BLACKLISTED", when = function() error("x") end }
    Q:condition { name = "allow", status = "WHITELISTED", final = true, when = function() return true end }
    verdict = Q:evaluate({}, { time = 0 })
    assert.equal("WHITELISTED", verdict.status) -- unlocked: overruled as before
    assert.equal("allow", verdict.reasons[1].overruled_by)
  end)

  describe("examples", function()
    it("run against every policy that extends it, in test, lint and at engine load", function()
      local op = operator(dir, "op.lua", [[
  P:condition { name = "grey_all", status = "GREYLISTED", when = function(d) return d.key ~= nil end }]])
      local out, _, code = support.imei("policy test " .. op)
      assert.equal(1, code)
      assert.is_nil(out:find("FAIL [^\n]-country%.lua:6")) -- passes: BLACKLISTED is worse than GREYLISTED
      assert.matches("FAIL .-country%.lua:8: a registered phone is allowed: expected WHITELISTED, got GREYLISTED "
        .. "%(reasons: grey_all%) %(an example of country@1%)", out)
      out, _, code = support.imei("policy lint " .. op)
      assert.equal(2, code)
      assert.matches("error: example at .-country%.lua:8 fails", out)
      local engine = require "imei.engine"
      local lists = support.tmpdir()
      support.write(lists .. "/stolen.csv", "imei\n352099001761481\n")
      support.write(lists .. "/registration.csv", "imei\n352099001761481\n")
      local e, err = engine.new { policy = op, lists = lists }
      assert.is_nil(e)
      assert.matches("a registered phone is allowed: expected WHITELISTED, got GREYLISTED", err)
      assert.matches("an example of country@1", err)
    end)

    it("cannot be dropped or skipped by hand", function()
      local op = operator(dir, "op.lua", [[
P.inherited_examples, P.changed, P.examples = {}, { unregistered = "here" }, {}
assert(policy.examples_of == nil)
P:condition { name = "grey_all", status = "GREYLISTED", when = function(d) return d.key ~= nil end }]])
      local out, _, code = support.imei("policy test " .. op)
      assert.equal(1, code, out)
      assert.matches("FAIL .-country%.lua:8: a registered phone is allowed: expected WHITELISTED", out)
      assert.matches("2 passed, 1 failed", out)
    end)

    it("are skipped, saying why, where the extending policy changed a condition they name", function()
      local op = operator(dir, "op.lua", 'P:override { name = "unregistered", grace_days = 30 }')
      local out, _, code = support.imei("policy test -v " .. op)
      assert.equal(0, code, out)
      assert.matches("skip .-country%.lua:10: names 'unregistered', changed at .-op%.lua:2 %(an example of country@1%)",
        out)
      assert.matches("2 passed, 0 failed, 1 skipped", out)
      -- only a national policy binds: the same base without national = true binds nothing
      support.write(dir .. "/country.lua", (COUNTRY:gsub(", national = true", "")))
      out, _, code = support.imei("policy test -v " .. op)
      assert.equal(0, code, out)
      assert.matches("0 passed, 0 failed", out)
      out = support.imei("policy lint " .. dir .. "/country.lua")
      assert.matches("warning: condition 'stolen' is locked, but the policy is not national = true", out)
    end)
  end)

end)

describe("imei policy test / lint", function()
  local dir
  before_each(function() dir = support.tmpdir() end)
  after_each(function() support.cleanup() end)

  it("test -v lists each example with its result; a reasons mismatch shows the actual reasons", function()
    local p = support.write(dir .. "/p.lua", [[
local P = policy.new { name = "p", version = "1" }
P:condition { name = "junk", status = "BLACKLISTED", when = function(d) return d.junk ~= nil end }
P:condition { name = "test_range", status = "BLACKLISTED", when = function(d) return d.test == true end }
P:example { pei = "000000000000000", expect = "BLACKLISTED", reasons = { "junk" }, note = "all zeros" }
P:example { pei = "000000000000000", expect = "BLACKLISTED", reasons = { "test_imei" }, note = "misnamed" }
return P
]])
    local out, _, code = support.imei("policy test " .. p)
    assert.equal(1, code)
    assert.is_nil(out:find("all zeros", 1, true)) -- without -v, only failures
    assert.matches("FAIL .-p%.lua:5: misnamed: expected reason 'test_imei' among the reasons, got: junk, test_range",
      out)
    out, _, code = support.imei("policy test -v " .. p)
    assert.equal(1, code)
    assert.matches("ok   .-p%.lua:4: all zeros\n  FAIL .-p%.lua:5: misnamed", out)
  end)

  it("suggests the name meant in disable and override", function()
    support.write(dir .. "/country.lua", COUNTRY)
    local op = operator(dir, "op.lua", 'P:override { name = "unregisterd", grace_days = 1 }')
    local out, _, code = support.imei("policy lint " .. op)
    assert.equal(2, code)
    assert.matches("op%.lua:2: override: no condition named 'unregisterd' %(did you mean 'unregistered'%?%)", out)
    op = operator(dir, "op2.lua", 'P:disable("sotlen")')
    out = support.imei("policy test " .. op)
    assert.matches("disable: no condition named 'sotlen' %(did you mean 'stolen'%?%)", out)
    op = operator(dir, "op3.lua", 'P:disable("roaming")')
    out = support.imei("policy test " .. op)
    assert.matches("no condition named 'roaming'\n", out) -- nothing near: no suggestion
  end)

  it("lint shows max_ratio, grace by RBI, locks and changed at for every condition, disabled ones too", function()
    local out, _, code = support.imei("policy lint policies/example-operator.lua")
    assert.equal(0, code, out)
    assert.matches("condition%s+status%s+grace%s+max_ratio%s+flags%s+defined at%s+changed at", out)
    assert.matches("gsma_not_found%s+BLACKLISTED%s+by RBI%s+%-%s+policies/baseline%.lua:%d+%s+"
      .. "policies/example%-country%.lua:%d+", out)
    assert.matches("grace of gsma_not_found by RBI: 00=32d 01=40d 35=20d 86=19d 91=20d 99=69d default=30d", out)
    assert.matches("transient_imei%s+GREYLISTED%s+%-%s+%-%s+disabled,informative%s+.-example%-country%.lua:%d+%s+"
      .. "policies/example%-operator%.lua:10", out)
    assert.matches("stolen%s+BLACKLISTED%s+%-%s+%-%s+locked,sticky", out)
    assert.matches("locked: stolen %(by example%-country@2026%-11 at ", out)
    assert.matches("examples: 13 %(10 inherited from national policies, 4 skipped%)", out)
    local p = support.write(dir .. "/r.lua", [[
local P = policy.new { name = "r", version = "1" }
P:condition { name = "many", status = "BLACKLISTED", max_ratio = 0.02, when = function() return false end }
P:example { pei = "490154203237518", expect = "WHITELISTED" }
return P
]])
    out = support.imei("policy lint " .. p)
    assert.matches("many%s+BLACKLISTED%s+%-%s+0%.02%s", out)
  end)

  it("lint --json has the same report", function()
    local out, _, code = support.imei("policy lint --json policies/example-operator.lua")
    assert.equal(0, code, out)
    local report = cjson.decode(out)
    assert.equal(0, report.errors)
    assert.matches('"warnings": %[%]', out) -- an empty list is a list
    local file = report.files[1]
    assert.equal("example-operator@2026-11.1", file.policy)
    local by_name = {}
    for _, c in ipairs(file.conditions) do by_name[c.name] = c end
    assert.equal(19, by_name.gsma_not_found.grace_by_rbi["86"])
    assert.is_true(by_name.transient_imei.disabled)
    assert.matches("example%-operator%.lua:10$", by_name.transient_imei.changed_at)
    assert.is_true(by_name.stolen.locked)
    assert.equal("example-country@2026-11", by_name.stolen.locked_by)
    assert.equal(10, file.examples.inherited)
  end)

  it("lint warns about lists the folder lacks and unknown d/r fields, with a suggestion", function()
    local lists = support.tmpdir()
    support.write(lists .. "/stolen.csv", "imei\n352099001761481\n")
    support.write(lists .. "/registraton.csv", "imei\n352099001761481\n")
    local p = support.write(dir .. "/p.lua", [[
local P = policy.new { name = "p", version = "1" }
P:condition { name = "stolen", status = "BLACKLISTED",
  when = function(d) return d.test and lists.stolen:has(d.kye) end }
P:condition { name = "unreg", status = "BLACKLISTED", -- d.nothing in a comment is not read
  when = function(d, r) return r.imsii ~= nil and not lists["registration"]:has(d.key) end }
P:example { pei = "490154203237518", lists = { registration = { "490154203237518" } }, expect = "WHITELISTED" }
return P
]])
    local out, _, code = support.imei("policy lint --lists " .. lists .. " " .. p)
    assert.equal(0, code, out)
    assert.matches("p%.lua:3: d%.kye is not a field of the device record %(did you mean 'key'%?%)", out)
    assert.matches("p%.lua:5: r%.imsii is not a request field a host fills %(.-%) %(did you mean 'imsi'%?%)", out)
    assert.is_nil(out:find("d.nothing", 1, true))
    assert.matches("p%.lua:5: the policy reads list 'registration', and .- has no registration%.csv "
      .. "%(did you mean 'registraton'%?%)", out)
    assert.is_nil(out:find("list 'stolen'", 1, true))
    assert.is_nil(out:find("error:", 1, true)) -- no example reaches d.kye: only the scan sees it
    assert.matches("lists read: stolen, registration", out)
    local _, err
    _, err, code = support.imei("policy lint --lists " .. dir .. "/none " .. p)
    assert.equal(2, code)
    assert.matches("imei policy lint: lists: ", err)
  end)

  it("a condition's detail adds to its reason text, one line; a detail that is not text fails it", function()
    local policy = require "imei.policy"
    local P = policy.new { name = "p", version = "1" }
    P:condition { name = "a", status = "GREYLISTED", reason = "why", when = function() return true end,
                  detail = function(d) return d.x end }
    assert.equal("why: line one line two", P:evaluate({ x = "line one\nline two" }, { time = 0 }).reasons[1].text)
    assert.equal("why", P:evaluate({}, { time = 0 }).reasons[1].text)
    local long = P:evaluate({ x = ("y"):rep(600) }, { time = 0 }).reasons[1].text
    assert.equal(512, #long)
    local failed = P:evaluate({ x = 42 }, { time = 0 })
    assert.is_true(failed.reasons[1].failed)
    assert.matches("detail returned number, not a string", failed.reasons[1].error)
    assert.equal("WHITELISTED", failed.status) -- a failed condition without on_error decides nothing
  end)

  it("the malformed-identifier reason carries the parser's message", function()
    local lists = support.tmpdir()
    support.write(lists .. "/stolen.csv", "imei\n352099001761481\n")
    local out, _, code = support.imei("check --json --policy policies/baseline.lua --lists " .. lists
      .. " 3520990017614x1")
    assert.equal(0, code)
    local verdict = cjson.decode(out)
    assert.equal("malformed_identifier", verdict.reasons[1].condition)
    assert.matches("^not a valid equipment identity %(3GPP TS 23%.003 6%.2%): .*position 14", verdict.reasons[1].text)
  end)
end)
