-- imei policy test|lint and imei check, run as a user would.
local support = require "support"
local cjson = require "cjson"

describe("imei policy / imei check", function()
  local dir
  before_each(function() dir = support.tmpdir() end)
  after_each(function() support.cleanup() end)

  it("runs the shipped policies' examples", function()
    local out, _, code = support.imei("policy test policies/baseline.lua policies/example-country.lua "
      .. "policies/example-operator.lua")
    assert.equal(0, code)
    assert.matches("(%d+) passed, 0 failed", out)
    assert.matches("example%-country@2026%-11", out)
  end)

  it("shows failing examples with file and line, exit 1; a broken file exit 2", function()
    support.write(dir .. "/bad.lua", [[
      local P = policy.new { name = "bad", version = "1" }
      P:example { pei = "000000000000000", expect = "BLACKLISTED", note = "junk" }
      return P
    ]])
    local out, _, code = support.imei("policy test " .. dir .. "/bad.lua")
    assert.equal(1, code)
    assert.matches("FAIL .-bad%.lua:2: junk: expected BLACKLISTED, got WHITELISTED", out)
    assert.matches("0 passed, 1 failed", out)
    support.write(dir .. "/broken.lua", "local P = policy.new {\n")
    out, _, code = support.imei("policy test " .. dir .. "/broken.lua")
    assert.equal(2, code)
    assert.matches("LOAD ERROR: .-broken%.lua:2:", out)
  end)

  it("lints: the rule table, uncovered conditions, --strict", function()
    support.write(dir .. "/l.lua", [[
      local P = policy.new { name = "l", version = "1" }
      P:condition { name = "junk", status = "BLACKLISTED", when = function(d) return d.junk ~= nil end }
      return P
    ]])
    local out, _, code = support.imei("policy lint " .. dir .. "/l.lua")
    assert.equal(0, code)
    assert.matches("junk%s+BLACKLISTED%s+%-%s+.-l%.lua:2", out)
    assert.matches("warning: condition 'junk' has no example", out)
    assert.matches("warning: no examples", out)
    local _, _, strict = support.imei("policy lint --strict " .. dir .. "/l.lua")
    assert.equal(1, strict)
    out, _, code = support.imei("policy lint policies/example-operator.lua")
    assert.equal(0, code)
    assert.matches("0 error%(s%), 0 warning%(s%)", out)
    assert.matches("duplicate_imsis%s+BLACKLISTED%s+15d.-example%-operator%.lua:8", out)
  end)

  it("checks one request, readable and as JSON", function()
    local lists = support.tmpdir()
    support.write(lists .. "/stolen.csv", "imei\n352099001761481\n")
    support.write(lists .. "/registration.csv", "approved_imei\n490154203237518\n")
    local out, _, code = support.imei("check --policy policies/example-country.lua --operator 410-01 --lists "
      .. lists .. " --time 1767225600 000000000000000 410010000000001")
    assert.equal(0, code)
    assert.matches("000000000000000  BLACKLISTED  %(example%-country@2026%-11%)", out)
    assert.matches("junk_imei", out)
    out, _, code = support.imei("check --json --policy policies/baseline.lua --lists " .. lists .. " 35209900176148x")
    assert.equal(0, code)
    local verdict = cjson.decode(out)
    assert.equal("BLACKLISTED", verdict.status)
    assert.equal("malformed_identifier", verdict.reasons[1].condition)
  end)

  it("fails clearly on a missing policy file", function()
    local _, err, code = support.imei("check --policy " .. dir .. "/none.lua 490154203237518")
    assert.equal(2, code)
    assert.matches("imei check: cannot read policy .-none%.lua", err)
  end)
end)
