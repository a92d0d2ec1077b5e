-- Fail-safe verdicts (each condition isolated, failed reasons, on_error), strict and
-- deterministic policies (d's fields, list names, the request's clock), reason names,
-- and examples in a state of their own on the real C lists and store.
local imei = require "imei"
local support = require "support"

local dir

local function policy_file(text)
  return support.policy(dir, ("v%d.lua"):format(math.random(1 << 30)), text)
end

local function engine_for(text, opts)
  opts = opts or {}
  opts.policy = policy_file(text)
  return imei.engine.new(opts)
end

local function reason(verdict, name)
  for _, r in ipairs(verdict.reasons) do
    if r.condition == name then return r end
  end
end

local STOLEN = "352099001761481"
local T0 = 1767225600 -- 2026-01-01T00:00:00Z

describe("fail-safe verdicts", function()
  local lists
  before_each(function()
    dir = support.tmpdir()
    assert(os.execute("mkdir -p " .. dir .. "/lists"))
    support.write(dir .. "/lists/stolen.csv", "imei\n" .. STOLEN .. "\n")
    lists = dir .. "/lists"
  end)
  after_each(support.cleanup)

  it("keeps a stolen device BLACKLISTED when an unrelated condition has a bug no example reaches", function()
    local e = assert(engine_for([[
      local P = policy.new { name = "f", version = "1" }
      P:condition { name = "roaming_rule", status = "WHITELISTED", final = true,
        when = function(d, r) if r.operator == "999-99" then return r.nosuch.field end return false end }
      P:condition { name = "stolen", status = "BLACKLISTED",
        when = function(d) return d.key ~= nil and lists.stolen:has(d.key) end }
      P:example { pei = "352099001761481", lists = { stolen = { "352099001761481" } }, expect = "BLACKLISTED" }
      P:example { pei = "490154203237518", expect = "WHITELISTED" }
      return P
    ]], { lists = lists }))
    local v = e:check { pei = STOLEN, operator = "999-99" }
    assert.equal("BLACKLISTED", v.status)
    assert.is_true(v.failed)
    local bad = reason(v, "roaming_rule")
    assert.is_true(bad.failed)
    assert.is_true(bad.informative)
    assert.matches("nosuch", bad.error)
    assert.is_nil(reason(v, "stolen").failed)
    -- and the others are unaffected
    assert.equal("WHITELISTED", e:check { pei = "490154203237518", operator = "999-99" }.status)
    local ok = e:check { pei = STOLEN, operator = "410-01" }
    assert.same({ "BLACKLISTED", nil }, { ok.status, ok.failed })
  end)

  it("lets a failing condition ask for its own on_error status", function()
    local e = assert(engine_for([[
      local P = policy.new { name = "f", version = "1" }
      P:condition { name = "stolen", status = "BLACKLISTED", on_error = "BLACKLISTED",
        when = function(d, r) if r.broken then error("list backend gone") end return lists.stolen:has(d.key) end }
      return P
    ]], { lists = lists }))
    local v = e:check { pei = "490154203237518", broken = "yes" }
    assert.equal("BLACKLISTED", v.status)
    assert.same({ true, "BLACKLISTED" }, { v.reasons[1].failed, v.reasons[1].status })
    assert.is_nil(v.reasons[1].informative)
    assert.matches("list backend gone", v.reasons[1].error)
  end)

  it("refuses an on_error that is not a status", function()
    local e, err = engine_for([[
      local P = policy.new { name = "f", version = "1" }
      P:condition { name = "s", status = "BLACKLISTED", on_error = "BLOCK", when = function() return false end }
      return P
    ]])
    assert.is_nil(e)
    assert.matches("on_error", err)
  end)

  it("gives a condition that loops only its share of the budget; the rest still decide", function()
    local conditions = {}
    for i = 1, 20 do
      conditions[#conditions + 1] = ("P:condition { name = 'c%d', status = 'GREYLISTED', blocking = false, "
        .. "when = function() local n = 0 for k = 1, 2000 do n = n + k end return n < 0 end }"):format(i)
    end
    local e = assert(engine_for(([[
      local P = policy.new { name = "f", version = "1" }
      %s
      P:condition { name = "hang", status = "WHITELISTED", final = true,
        when = function(_, r) if r.hang then while true do end end return false end }
      %s
      P:condition { name = "stolen", status = "BLACKLISTED", when = function(d) return lists.stolen:has(d.key) end }
      return P
    ]]):format(table.concat(conditions, "\n", 1, 10), table.concat(conditions, "\n", 11, 20)),
      { lists = lists, limits = { instructions = 400000 } }))
    local v = e:check { pei = STOLEN, hang = "yes" }
    assert.equal("BLACKLISTED", v.status)
    local hang = reason(v, "hang")
    assert.is_true(hang.failed)
    assert.matches("budget", hang.error)
    local failed = 0
    for _, r in ipairs(v.reasons) do if r.failed then failed = failed + 1 end end
    assert.equal(1, failed) -- the cheap conditions before it were not blamed
  end)

  it("says which final condition overruled which reason", function()
    local e = assert(engine_for([[
      local P = policy.new { name = "f", version = "1" }
      P:condition { name = "stolen", status = "BLACKLISTED", sticky = true,
                    when = function(d) return lists.stolen:has(d.key) end }
      P:condition { name = "lab", status = "WHITELISTED", final = true,
                    when = function(_, r) return r.lab == "yes" end }
      return P
    ]], { lists = lists }))
    local v = e:check { pei = STOLEN, lab = "yes" }
    assert.equal("WHITELISTED", v.status)
    assert.same({ true, "lab", true }, { v.reasons[1].overruled, v.reasons[1].overruled_by, v.reasons[1].sticky })
    assert.is_nil(v.reasons[2].overruled)
  end)

  it("with resolve = first, skips a failed condition and lets the next one decide", function()
    local e = assert(engine_for([[
      local P = policy.new { name = "f", version = "1", resolve = "first" }
      P:condition { name = "broken", status = "WHITELISTED", when = function() error("bug") end }
      P:condition { name = "stolen", status = "BLACKLISTED", when = function(d) return lists.stolen:has(d.key) end }
      return P
    ]], { lists = lists }))
    local v = e:check { pei = STOLEN }
    assert.equal("BLACKLISTED", v.status)
    assert.is_true(v.reasons[1].failed)
  end)

  it("makes imei check exit 3 when a condition failed, and says which", function()
    local path = policy_file([[
      local P = policy.new { name = "f", version = "1" }
      P:condition { name = "buggy", status = "BLACKLISTED", when = function(_, r) return r.imsi:nope() end }
      return P
    ]])
    local out, _, code = support.imei(("check --policy '%s' 490154203237518 410010000000001"):format(path))
    assert.equal(3, code)
    assert.matches("buggy.*FAILED", out)
    local clean = policy_file([[
      local P = policy.new { name = "f", version = "1" }
      P:condition { name = "fine", status = "BLACKLISTED", when = function(_, r) return r.imsi == nil end }
      return P
    ]])
    out, _, code = support.imei(("check --policy '%s' 490154203237518 410010000000001"):format(clean))
    assert.equal(0, code, out)
  end)
end)

describe("strict, deterministic policies", function()
  before_each(function() dir = support.tmpdir() end)
  after_each(support.cleanup)

  it("reads the clock from the request: os.time() and os.date() give r.time", function()
    local e = assert(engine_for([[
      local P = policy.new { name = "t", version = "1" }
      P:condition { name = "new_year", status = "GREYLISTED",
        when = function(_, r) return os.time() == r.time and os.date("!%Y-%m-%d") == "2026-01-01"
                                     and os.date("!%Y", 0) == "1970" end }
      return P
    ]]))
    assert.equal("GREYLISTED", e:check { pei = "490154203237518", time = T0 + 3600 }.status)
    assert.equal("WHITELISTED", e:check { pei = "490154203237518", time = T0 + 86400 }.status)
  end)

  it("makes a misspelt field of d an error, which examples and lint catch", function()
    local path = policy_file([[
      local P = policy.new { name = "t", version = "1" }
      P:condition { name = "junky", status = "BLACKLISTED", when = function(d) return d.jnuk ~= nil end }
      P:example { pei = "490154203237518", expect = "WHITELISTED" }
      return P
    ]])
    local e, err = imei.engine.new { policy = path }
    assert.is_nil(e)
    assert.matches("condition 'junky' failed: .*d%.jnuk: the device record has no such field", err)
    local out, _, code = support.imei(("policy lint '%s'"):format(path))
    assert.equal(2, code)
    assert.matches("d%.jnuk", out)
    out, _, code = support.imei(("policy test '%s'"):format(path))
    assert.equal(1, code)
    assert.matches("jnuk", out)
  end)

  it("reads absent fields of d that exist as nil (junk, device, svn)", function()
    local e = assert(engine_for([[
      local P = policy.new { name = "t", version = "1" }
      P:condition { name = "x", status = "BLACKLISTED",
        when = function(d) return d.junk ~= nil or d.device ~= nil or d.svn ~= nil end }
      P:example { pei = "490154203237518", expect = "WHITELISTED" }
      return P
    ]]))
    local v = e:check { pei = "490154203237518" }
    assert.same({ "WHITELISTED", nil }, { v.status, v.failed })
  end)

  it("makes an unknown list name an error that examples catch", function()
    local path = policy_file([[
      local P = policy.new { name = "t", version = "1" }
      P:condition { name = "stolen", status = "BLACKLISTED", when = function(d) return lists.stolne:has(d.key) end }
      P:example { pei = "490154203237518", expect = "WHITELISTED" }
      return P
    ]])
    local out, _, code = support.imei(("policy test '%s'"):format(path))
    assert.equal(1, code)
    assert.matches("lists%.stolne: no such list", out)
  end)

  it("knows a list name that an example declares", function()
    assert(engine_for([[
      local P = policy.new { name = "t", version = "1" }
      P:condition { name = "vip", status = "WHITELISTED", final = true,
                    when = function(d) return lists.vip:has(d.key) end }
      P:example { pei = "490154203237518", lists = { vip = { "490154203237518" } }, expect = "WHITELISTED",
                  reasons = { "vip" } }
      P:example { pei = "490154203237518", expect = "WHITELISTED" }
      return P
    ]], { allow_missing_lists = true })) -- no vip.csv: a start for real is refused (inputs_spec.lua)
  end)
end)

describe("reason names", function()
  before_each(function() dir = support.tmpdir() end)
  after_each(support.cleanup)

  it("refuses a condition name that is not a word, naming the file and the name", function()
    local path = policy_file([[
      local P = policy.new { name = "n", version = "1" }
      P:condition { name = "bad\nname", status = "BLACKLISTED", when = function() return false end }
      return P
    ]])
    local e, err = imei.engine.new { policy = path }
    assert.is_nil(e)
    assert.matches(path:gsub("%p", "%%%0") .. ":2:", err)
    assert.matches("'name' is required %(a word", err)
  end)

  it("refuses a reason text with a newline, naming the condition", function()
    local e, err = engine_for([[
      local P = policy.new { name = "n", version = "1" }
      P:condition { name = "multi", status = "BLACKLISTED", reason = "line one\nline two",
                    when = function() return false end }
      return P
    ]])
    assert.is_nil(e)
    assert.matches("condition 'multi': reason text", err)
  end)

  it("refuses a raw check's reason name with a comma or newline (the check fails)", function()
    local e = assert(engine_for([[
      return { name = "raw", version = "1", check = function(d, r)
        return { status = "BLACKLISTED", reasons = { { condition = r.name, text = "x" } } } end }
    ]]))
    local v = e:check { pei = "490154203237518", name = "a,b" }
    assert.is_true(v.failed)
    assert.matches("must be a word", v.error)
    assert.equal("BLACKLISTED", e:check { pei = "490154203237518", name = "fine" }.status)
  end)
end)

describe("examples", function()
  before_each(function() dir = support.tmpdir() end)
  after_each(support.cleanup)

  it("answer has(key, imsi) on a key-only list as the live list does (the real C list)", function()
    assert(os.execute("mkdir -p " .. dir .. "/lists"))
    support.write(dir .. "/lists/stolen.csv", "imei\n" .. STOLEN .. "\n")
    local e = assert(engine_for([[
      local P = policy.new { name = "x", version = "1" }
      P:condition { name = "stolen", status = "BLACKLISTED",
                    when = function(d, r) return lists.stolen:has(d.key, r.imsi) end }
      P:example { pei = "352099001761481", imsi = "410010000000001", lists = { stolen = { "352099001761481" } },
                  expect = "BLACKLISTED" }
      return P
    ]], { lists = dir .. "/lists" }))
    assert.equal("BLACKLISTED", e:check { pei = STOLEN, imsi = "410010000000001" }.status)
  end)

  it("refuses an example list entry that is not an IMEI, with the list's name", function()
    local e, err = engine_for([[
      local P = policy.new { name = "x", version = "1" }
      P:condition { name = "stolen", status = "BLACKLISTED", when = function(d) return lists.stolen:has(d.key) end }
      P:example { pei = "352099001761481", lists = { stolen = { "35209900176148x" } }, expect = "BLACKLISTED" }
      return P
    ]])
    assert.is_nil(e)
    assert.matches("example list 'stolen'", err)
  end)

  it("cut short by their budget leave nothing in place: live checks still see live data", function()
    assert(os.execute("mkdir -p " .. dir .. "/lists"))
    support.write(dir .. "/lists/stolen.csv", "imei\n" .. STOLEN .. "\n")
    local e = assert(engine_for([[
      local P = policy.new { name = "x", version = "1" }
      P:check(function(d, r)
        if r.imsi == "410010000000009" then local n = 0 for i = 1, 3e6 do n = n + i end end
        return lists.stolen:has(d.key) and "BLACKLISTED" or "WHITELISTED"
      end)
      P:example { pei = "490154203237518", expect = "WHITELISTED" }
      P:example { pei = "490154203237518", imsi = "410010000000009", lists = { stolen = { "490154203237518" } },
                  expect = "BLACKLISTED" }
      return P
    ]], { lists = dir .. "/lists", skip_examples = true, limits = { load_instructions = 2000000 } }))
    local results, err = e:examples()
    assert.is_nil(results)
    assert.matches("budget", err)
    -- the example's list said 490154203237518 is stolen; live, it is not
    assert.equal("WHITELISTED", e:check { pei = "490154203237518" }.status)
    assert.equal("BLACKLISTED", e:check { pei = STOLEN }.status)
  end)
end)

describe("one window rule", function()
  it("store:sightings(key, days, now) keeps what imsis() counts in that window (core/sightings.c)", function()
    local store = assert(imei.sightings.open("memory"))
    local key, day = "35209900176148", 86400
    -- one SIM seen on day 1 and day 30: not within days 11..20
    assert(store:record { key = key, imsi = "410010000000001", time = T0 + 1 * day })
    assert(store:record { key = key, imsi = "410010000000001", time = T0 + 30 * day })
    assert(store:record { key = key, imsi = "410010000000002", time = T0 + 15 * day })
    local now = T0 + 20 * day
    assert.equal(1, (store:imsis(key, 10, now)))
    local rows = store:sightings(key, 10, now)
    assert.equal(1, #rows)
    assert.equal("410010000000002", rows[1].imsi)
    assert.equal(2, #store:sightings(key))
    store:close()
  end)
end)

describe("recording (in C, by the engine)", function()
  before_each(function() dir = support.tmpdir() end)
  after_each(support.cleanup)

  it("records a request's sighting before the policy decides; the policy's store stays read-only", function()
    local store = assert(imei.sightings.open("memory"))
    local e = assert(engine_for([[
      local P = policy.new { name = "r", version = "1" }
      P:condition { name = "seen", status = "GREYLISTED",
        when = function(d) return d.key ~= nil and sightings.imsis(d.key, 1) > 0 end }
      return P
    ]], { store = store, record = true }))
    local v = e:check { pei = "imeisv-3520990017614823", imsi = "410010000000001", msisdn = "923001234567",
                        operator = "410-01", time = T0 }
    assert.equal("GREYLISTED", v.status) -- recorded before deciding
    local rows = store:sightings("35209900176148")
    assert.equal(1, #rows)
    assert.same({ "410010000000001", "923001234567", "410-01" }, { rows[1].imsi, rows[1].msisdn, rows[1].operator })
    -- not a sighting: no IMSI, a MEID, an IMSI that is not one
    e:check { pei = "490154203237518", time = T0 }
    e:check { pei = "A0000000002329", imsi = "410010000000001", time = T0 }
    e:check { pei = "490154203237518", imsi = "41x", time = T0 }
    assert.equal(0, #store:sightings("49015420323751"))
    store:close()
  end)
end)
