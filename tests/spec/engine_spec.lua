-- The policy engine: conditions, composition, examples, verdicts, reload, lists.
local imei = require "imei"
local support = require "support"

local dir

local function engine_for(text, opts)
  local path = support.policy(dir, ("p%d.lua"):format(math.random(1 << 30)), text)
  opts = opts or {}
  opts.policy = path
  return imei.engine.new(opts)
end

local function statuses(verdict)
  local names = {}
  for _, r in ipairs(verdict.reasons) do names[#names + 1] = r.condition end
  return table.concat(names, ",")
end

local T0 = 1767225600 -- 2026-01-01T00:00:00Z
local DAY = 86400

describe("the policy engine", function()
  before_each(function() dir = support.tmpdir() end)
  after_each(function() support.cleanup() end)

  describe("conditions", function()
    local e
    before_each(function()
      e = assert(engine_for [[
        local P = policy.new { name = "t", version = "1" }
        P:condition { name = "junk", status = "BLACKLISTED", when = function(d) return d.junk ~= nil end }
        P:condition { name = "roamer", status = "GREYLISTED", when = function(_, r) return r.roaming == true end }
        P:condition { name = "bad_cd", status = "GREYLISTED", blocking = false,
                      when = function(d) return d.cd_ok == false end }
        P:condition { name = "test_range", status = "BLACKLISTED", when = function(d) return d.test end,
                      unless = function(_, r) return r.imsi == "001010000000001" end }
        return P
      ]])
    end)

    it("answers WHITELISTED when nothing matches, naming the policy", function()
      local v = e:check { pei = "imei-490154203237518", time = T0 }
      assert.same({ status = "WHITELISTED", policy = "t@1", reasons = {} }, v)
    end)

    it("gives the status of a matching condition, with its reason", function()
      local v = e:check { pei = "000000000000000" }
      assert.equal("BLACKLISTED", v.status)
      assert.equal("junk", v.reasons[1].condition)
    end)

    it("lets free-form request fields through to the policy", function()
      assert.equal("GREYLISTED", e:check { pei = "490154203237518", roaming = true }.status)
      assert.equal("WHITELISTED", e:check { pei = "490154203237518", roaming = false }.status)
    end)

    it("reports an informative condition without letting it decide", function()
      local v = e:check { pei = "490154203237519" }
      assert.equal("WHITELISTED", v.status)
      assert.equal("bad_cd", v.reasons[1].condition)
      assert.is_true(v.reasons[1].informative)
    end)

    it("honours unless", function()
      assert.equal("BLACKLISTED", e:check { pei = "001012345678903", imsi = "001010000000002" }.status)
      assert.equal("WHITELISTED", e:check { pei = "001012345678903", imsi = "001010000000001" }.status)
    end)

    it("gives a malformed identifier a verdict, never an exception", function()
      local p = assert(engine_for [[
        local P = policy.new { name = "m", version = "1" }
        P:condition { name = "malformed", status = "BLACKLISTED", when = function(d) return not d.parsed end }
        return P
      ]])
      for _, bad in ipairs { "", "12", "35209900176148x", ("9"):rep(100), "\0\1\2" } do
        local v = p:check { pei = bad }
        assert.equal("BLACKLISTED", v.status, bad)
        assert.is_nil(v.failed)
      end
      assert.equal("BLACKLISTED", p:check {}.status) -- no pei at all
    end)
  end)

  describe("resolution", function()
    local body = [[
      local P = policy.new { name = "r", version = "1", resolve = "%s" }
      P:condition { name = "grey", status = "GREYLISTED", when = function() return true end }
      P:condition { name = "black", status = "BLACKLISTED", when = function() return true end }
      P:condition { name = "unknown", status = "UNKNOWN", when = function() return true end }
      return P
    ]]
    it("takes the worst status by default", function()
      local v = assert(engine_for(body:format("worst"))):check { pei = "490154203237518" }
      assert.equal("BLACKLISTED", v.status)
      assert.equal("grey,black,unknown", statuses(v))
    end)
    it("takes the first matching condition with resolve = first", function()
      local v = assert(engine_for(body:format("first"))):check { pei = "490154203237518" }
      assert.equal("GREYLISTED", v.status)
      assert.equal("grey", statuses(v))
    end)
    it("lets a final condition decide alone, marking earlier matches overruled", function()
      local e = assert(engine_for [[
        local P = policy.new { name = "f", version = "1" }
        P:condition { name = "black", status = "BLACKLISTED", when = function() return true end }
        P:condition { name = "lab", status = "WHITELISTED", final = true,
                      when = function(_, r) return r.imsi == "001019990000001" end }
        P:condition { name = "never", status = "BLACKLISTED", when = function() error("not reached") end }
        return P
      ]])
      local v = e:check { pei = "490154203237518", imsi = "001019990000001" }
      assert.equal("WHITELISTED", v.status)
      assert.equal("black,lab", statuses(v))
      assert.is_true(e:check { pei = "490154203237518", imsi = "1" }.failed) -- 'never' runs, raises
    end)
    it("uses the policy's default status when nothing matches", function()
      local e = assert(engine_for [[
        local P = policy.new { name = "d", version = "1", default = "UNKNOWN" }
        P:condition { name = "known", status = "WHITELISTED", when = function(d) return d.tac == "49015420" end }
        return P
      ]])
      assert.equal("UNKNOWN", e:check { pei = "352099001761481" }.status)
      assert.equal("WHITELISTED", e:check { pei = "490154203237518" }.status)
    end)
  end)

  describe("grace periods", function()
    local e
    before_each(function()
      e = assert(engine_for [[
        local P = policy.new { name = "g", version = "1" }
        P:condition { name = "late", status = "BLACKLISTED", grace_days = 30,
                      since = function(_, r) return r.since end,
                      when = function(d) return d.tac == "49015420" end }
        P:condition { name = "by_body", status = "BLACKLISTED",
                      grace_days = policy.by_rbi { ["35"] = 20, default = 5 },
                      when = function(d) return d.tac == "35209900" or d.tac == "86000000" end }
        return P
      ]])
    end)
    it("greylists and notifies until the block date", function()
      local v = e:check { pei = "490154203237518", time = T0, since = T0 - 10 * DAY }
      assert.same({ "GREYLISTED", true, "2026-01-21" }, { v.status, v.notify, v.block_date })
    end)
    it("blacklists from the block date on, and says when it began", function()
      local v = e:check { pei = "490154203237518", time = T0, since = T0 - 30 * DAY }
      assert.same({ "BLACKLISTED", "2026-01-01" }, { v.status, v.block_date })
      assert.is_nil(v.notify)
    end)
    it("counts from the request time without since or sightings", function()
      local v = e:check { pei = "352099001761481", time = T0 }
      assert.equal("2026-01-21", v.block_date) -- RBI 35: 20 days
      assert.equal("2026-01-06", e:check { pei = "860000001234567", time = T0 }.block_date) -- default 5
    end)
  end)

  describe("composition", function()
    it("extends a base policy: override, disable, add", function()
      support.policy(dir, "country.lua", [[
        local P = policy.new { name = "country", version = "1" }
        P:condition { name = "junk", status = "BLACKLISTED", when = function(d) return d.junk ~= nil end }
        P:condition { name = "test", status = "BLACKLISTED", when = function(d) return d.test end }
        P:condition { name = "odd", status = "GREYLISTED", when = function(d) return d.snr == "323751" end }
        return P
      ]])
      local e = assert(engine_for [[
        local P = policy.extend("country.lua", { name = "operator", version = "2" })
        P:override { name = "junk", status = "GREYLISTED" }
        P:disable("test", "this operator's lab uses test IMEIs")
        P:condition { name = "extra", status = "UNKNOWN", when = function(d) return d.tac == "35209900" end }
        return P
      ]])
      assert.equal("operator@2", e:policy_name())
      assert.equal("GREYLISTED", e:check { pei = "000000000000000" }.status)
      assert.equal("WHITELISTED", e:check { pei = "001012345678903" }.status)
      assert.equal("GREYLISTED", e:check { pei = "490154203237518" }.status)
      assert.equal("UNKNOWN", e:check { pei = "352099001761481" }.status)
      local info = e:info()
      assert.equal("country@1", info.base)
      assert.equal(2, #info.files)
    end)
    it("refuses to extend outside the policy's folder", function()
      local e, err = engine_for [[ return policy.extend("../x.lua", {}) ]]
      assert.is_nil(e)
      assert.matches("relative path", err)
    end)
    it("accepts a raw check function", function()
      local e = assert(engine_for [[
        return { name = "raw", version = "1", check = function(d, r)
          if d.junk then return { status = "BLACKLISTED", reasons = { { condition = "mine", text = "junk" } } } end
          return "WHITELISTED"
        end }
      ]])
      local v = e:check { pei = "000000000000000" }
      assert.same({ "BLACKLISTED", "mine", "raw@1" }, { v.status, v.reasons[1].condition, v.policy })
      assert.equal("WHITELISTED", e:check { pei = "490154203237518" }.status)
    end)
    it("treats a raw check returning a bad status as a policy failure", function()
      local e = assert(engine_for [[ return { name = "raw", version = "1", check = function() return "RED" end } ]])
      local v = e:check { pei = "490154203237518" }
      assert.is_true(v.failed)
      assert.matches("RED", v.error)
    end)
  end)

  describe("errors in policies", function()
    local cases = {
      { "syntax", "local P = policy.new { name = 'x', version = '1' \nreturn P", "p%d+%.lua:2:" },
      { "unknown field", "local P = policy.new { name = 'x', version = '1' }\n"
        .. "P:condition { name = 'a', status = 'BLACKLISTED', when = function() end, grace_day = 3 }\nreturn P",
        "p%d+%.lua:2: condition: unknown field 'grace_day'" },
      { "bad status", "local P = policy.new { name = 'x', version = '1' }\n"
        .. "P:condition { name = 'a', status = 'BLOCKED', when = function() end }\nreturn P", "status 'BLOCKED'" },
      { "duplicate", "local P = policy.new { name = 'x', version = '1' }\n"
        .. "P:condition { name = 'a', status = 'BLACKLISTED', when = function() end }\n"
        .. "P:condition { name = 'a', status = 'BLACKLISTED', when = function() end }\nreturn P",
        "p%d+%.lua:3: condition 'a' is already defined; use P:override" },
      { "override of nothing", "local P = policy.new { name = 'x', version = '1' }\n"
        .. "P:override { name = 'zz' }\nreturn P", "no condition named 'zz'" },
      { "no policy returned", "local x = 1", "must return a policy" },
      { "missing version", "return policy.new { name = 'x' }", "'version' is required" },
      { "raise at load", "error('boom')", "p%d+%.lua:1: boom" },
    }
    for _, case in ipairs(cases) do
      it("reports " .. case[1] .. " with file and line", function()
        local e, err = engine_for(case[2])
        assert.is_nil(e)
        assert.matches(case[3], err)
      end)
    end
    it("fails to load when an example fails, naming the example's line", function()
      local e, err = engine_for [[
        local P = policy.new { name = "x", version = "1" }
        P:condition { name = "junk", status = "BLACKLISTED", when = function(d) return d.junk ~= nil end }
        P:example { pei = "000000000000000", expect = "BLACKLISTED" }
        P:example { pei = "490154203237518", expect = "BLACKLISTED", note = "wrong on purpose" }
        return P
      ]]
      assert.is_nil(e)
      assert.matches("1 of 2 examples of x@1 failed", err)
      assert.matches("p%d+%.lua:4: wrong on purpose: expected BLACKLISTED, got WHITELISTED", err)
    end)
    it("runs examples on demand when loaded without them", function()
      local e = assert(engine_for([[
        local P = policy.new { name = "x", version = "1" }
        P:example { pei = "490154203237518", expect = "WHITELISTED" }
        P:example { pei = "490154203237518", expect = "BLACKLISTED" }
        return P
      ]], { skip_examples = true }))
      local results = e:examples()
      assert.same({ 2, 1, 1 }, { results.total, results.passed, #results.failed })
    end)
  end)

  describe("reload", function()
    local template = [[
      local P = policy.new { name = "live", version = "%s" }
      P:condition { name = "c", status = "%s", when = function(d) return d.tac == "49015420" end }
      return P
    ]]
    it("swaps in a changed policy", function()
      local path = support.policy(dir, "live.lua", template:format("1", "GREYLISTED"))
      local e = assert(imei.engine.new { policy = path })
      assert.equal("GREYLISTED", e:check { pei = "490154203237518" }.status)
      support.policy(dir, "live.lua", template:format("2", "BLACKLISTED"))
      assert.is_true(e:reload())
      assert.equal("live@2", e:policy_name())
      assert.equal("BLACKLISTED", e:check { pei = "490154203237518" }.status)
      assert.equal(1, e:stats().reloads)
    end)
    it("keeps the old policy when the new one fails, and says why", function()
      local path = support.policy(dir, "live.lua", template:format("1", "GREYLISTED"))
      local e = assert(imei.engine.new { policy = path })
      for _, broken in ipairs {
        "local P = ",                                          -- syntax
        template:format("2", "PURPLE"),                        -- bad status
        "while true do end",                                   -- endless at load
        "local s = 'x' for i = 1, 40 do s = s .. s end",       -- memory at load
      } do
        support.policy(dir, "live.lua", broken)
        local ok, err = e:reload()
        assert.is_nil(ok)
        assert.is_string(err)
        assert.equal("live@1", e:policy_name())
        assert.equal("GREYLISTED", e:check { pei = "490154203237518" }.status)
      end
      assert.equal(4, e:stats().reload_failures)
    end)
  end)

  describe("data", function()
    it("sees the TAC record of the device, and known_tac", function()
      local db = assert(imei.tacdb.load(support.write(dir .. "/tac.txt",
        "TAC|Manufacturer|Model Name|Bands|Allocation Date|Device Type|Brand Name\n" ..
        "35209900|Maker|Phone X|GSM 900,LTE|01-Jan-2020|Smartphone|Brandy\n")))
      local e = assert(engine_for([[
        local P = policy.new { name = "t", version = "1" }
        P:condition { name = "unknown_tac", status = "UNKNOWN", when = function(d) return d.known_tac == false end }
        P:condition { name = "phone", status = "GREYLISTED",
                      when = function(d) return d.device ~= nil and d.device.device_type == "Smartphone" end }
        return P
      ]], { tacdb = db }))
      assert.equal("GREYLISTED", e:check { pei = "352099001761481" }.status)
      assert.equal("UNKNOWN", e:check { pei = "490154203237518" }.status)
    end)

    it("tests list membership, and takes new lists without reloading code", function()
      local lists_dir = dir .. "/lists"
      assert(os.execute("mkdir -p " .. lists_dir))
      support.write(lists_dir .. "/stolen.csv", "imei,reporting_date,status\n352099001761481,20260101,blacklist\n")
      support.write(lists_dir .. "/pairing.csv", "imei,imsi,msisdn\n352099001761481,410010000000001,923000000001\n")
      local e = assert(engine_for([[
        local P = policy.new { name = "l", version = "1" }
        P:requires_list("watch", { optional = true })
        P:condition { name = "stolen", status = "BLACKLISTED", when = function(d) return lists.stolen:has(d.key) end,
                      unless = function(d, r) return lists.pairing:has(d.key, r.imsi) end }
        P:condition { name = "watched", status = "GREYLISTED",
                      when = function(d) return lists.monitoring:has(d.key) end }
        P:condition { name = "typo", status = "BLACKLISTED", when = function(d) return lists.stolne:has(d.key) end }
        return P
      ]], { lists = lists_dir, allow_missing_lists = true })) -- what a check does with them; a start without
      -- them is refused (tests/spec/inputs_spec.lua)
      local v = e:check { pei = "35-209900-176148-1", imsi = "410010000000002" }
      assert.equal("BLACKLISTED", v.status)
      assert.equal("WHITELISTED", e:check { pei = "352099001761481", imsi = "410010000000001" }.status)
      v = e:check { pei = "490154203237518" }
      assert.equal("WHITELISTED", v.status)
      -- a list name that is no list kind, not loaded and declared by no example: an error,
      -- not an empty list
      assert.is_true(v.failed)
      assert.equal("typo", v.reasons[1].condition)
      assert.matches("lists%.stolne: no such list", v.reasons[1].error)
      local warnings = table.concat(e:info().warnings, "\n")
      assert.matches("list 'monitoring'", warnings) -- a known kind, not loaded: empty, and said so
      support.write(lists_dir .. "/stolen.csv", "imei,reporting_date,status\n490154203237518,20260101,blacklist\n")
      assert.is_true(e:set_lists(require("imei.core").lists_load_dir(lists_dir)))
      assert.equal("BLACKLISTED", e:check { pei = "490154203237518" }.status)
      assert.equal("WHITELISTED", e:check { pei = "352099001761481", imsi = "410010000000002" }.status)
      assert.equal(0, e:stats().reloads)
    end)

    it("records each check's sighting and counts cloned IMEIs", function()
      local store = assert(imei.sightings.open("memory"))
      local e = assert(engine_for([[
        local P = policy.new { name = "dup", version = "1" }
        P:condition { name = "clone", status = "BLACKLISTED", grace_days = 10,
          since = function(d) return sightings.nth_imsi_seen(d.key, 3, 30) end,
          when = function(d) return sightings.imsis(d.key, 30) >= 3 end,
          unless = function(d, r) return sightings.first_imsi(d.key) == r.imsi end }
        return P
      ]], { store = store, record = true }))
      local function check(imsi, day)
        return e:check { pei = "352099001761481", imsi = imsi, time = T0 + day * DAY }
      end
      assert.equal("WHITELISTED", check("410010000000001", 0).status)
      assert.equal("WHITELISTED", check("410010000000002", 1).status)
      local v = check("410010000000003", 2) -- the third SIM: threshold crossed on day 2
      assert.same({ "GREYLISTED", "2026-01-13", true }, { v.status, v.block_date, v.notify })
      assert.equal("WHITELISTED", check("410010000000001", 3).status) -- the first SIM keeps service
      assert.equal("BLACKLISTED", check("410010000000002", 12).status)
      assert.equal(3, store:imsis("352099001761481", 30, T0 + 12 * DAY))
    end)

    it("answers sightings.imsis and msisdns from a live store as the runtime's Lua says, errors included",
      function()
      -- the runtime's view of the store (lua/imei/policy/runtime.lua, sightings_view): the
      -- counts, the store's own errors and the argument errors, with the runtime's position
      local store = assert(imei.sightings.open("memory"))
      for i, s in ipairs { { "410010000000001", "923000000001" }, { "410010000000002", "923000000002" },
                           { "410010000000003", "923000000001" } } do
        assert(store:record { key = "35209900176148", imsi = s[1], msisdn = s[2], time = T0 + i })
      end
      local e = assert(engine_for([[
        local P = policy.new { name = "counts", version = "1" }
        local function c(name, when)
          P:condition { name = name, status = "GREYLISTED", blocking = false, when = when }
        end
        c("imsis", function(d) return sightings.imsis(d.key, 30) == 3 end)
        c("msisdns", function(d) return sightings.msisdns(d.key, 30.0) == 2 end)
        c("days_string", function(d) return sightings.imsis(d.key, "30") == 3 end)
        c("pei_key", function(d) return sightings.imsis("imei-352099001761481", 30) == 3 end)
        c("other_key", function() return sightings.imsis("49015420323751", 30) == 0 end)
        c("nil_key", function() return sightings.imsis(nil, 30) end)
        c("zero_days", function(d) return sightings.imsis(d.key, 0) end)
        c("alias_float", function(d) local f = sightings.msisdns; return f(d.key, 1.5) end)
        c("bad_key", function() return sightings.imsis("12345", 30) end)
        return P
      ]], { store = store }))
      local v = e:check { pei = "352099001761481", imsi = "410010000000009", time = T0 + DAY }
      local by = {}
      for _, r in ipairs(v.reasons) do by[r.condition] = r end
      for _, name in ipairs { "imsis", "msisdns", "days_string", "pei_key", "other_key" } do
        assert.is_truthy(by[name] and not by[name].failed, name)
      end
      assert.matches("runtime%.lua:%d+: bad argument #1 to 'imsis' %(string expected, got nil%)$", by.nil_key.error)
      assert.matches("runtime%.lua:%d+: bad argument #2 to 'imsis' %(days must be a whole number of days >= 1%)$",
        by.zero_days.error)
      assert.matches("runtime%.lua:%d+: bad argument #2 to 'msisdns' %(number has no integer representation%)$",
        by.alias_float.error)
      assert.equal("sightings store: key: '12345': wrong length: 5 digits (an IMEI has 14, 15 or 16)", by.bad_key.error)
      -- the same answers through an explanation's recording proxy
      local x = e:explain { pei = "352099001761481", imsi = "410010000000009", time = T0 + DAY }
      local matched = {}
      for _, r in ipairs(x.verdict.reasons) do
        if not r.failed then matched[#matched + 1] = r.condition end
      end
      table.sort(matched)
      assert.same({ "days_string", "imsis", "msisdns", "other_key", "pei_key" }, matched)
    end)

    it("counts and says the sightings it cannot record, and decides all the same", function()
      local path = dir .. "/ro-store"
      local w = assert(imei.sightings.open("lmdb:" .. path))
      assert(w:record { key = "35209900176148", imsi = "410010000000001", time = T0 })
      w:close()
      -- in a process of its own, whose stderr (the host's log) is read afterwards
      local policy = support.policy(dir, "rec.lua", [[
        local P = policy.new { name = "rec", version = "1" }
        P:condition { name = "two", status = "BLACKLISTED",
          when = function(d) return sightings.imsis(d.key, 30) >= 2 end }
        return P
      ]])
      local script = support.write(dir .. "/rec-run.lua", ([[
        local imei = require "imei"
        local ro = assert(imei.sightings.open("lmdb:%s", { read_only = true }))
        local e = assert(imei.engine.new { policy = "%s", store = ro, record = true })
        for i = 1, 3 do -- the store refuses every write: a full disk or a read-only store alike
          local v = e:check { pei = "352099001761481", imsi = "41001000000000" .. (i + 1), time = %d + i * 86400 }
          assert(v.status == "WHITELISTED" and not v.failed, v.status)
        end
        io.write(e:stats().sightings_unrecorded, " ", (ro:imsis("352099001761481", 30, %d + 3 * 86400)))
      ]]):format(path, policy, T0, T0))
      local out, err = dir .. "/rec.out", dir .. "/rec.err"
      local ok = os.execute(("LUA_PATH='%s' LUA_CPATH='%s' lua5.4 '%s' >'%s' 2>'%s'"):format(
        package.path, package.cpath, script, out, err))
      assert.is_true(ok, support.read(err))
      assert.equal("3 1", support.read(out))
      -- the host's log: the 1st and the 2nd, not the 3rd (then the 4th, the 8th…)
      local lines = {}
      for line in support.read(err):gmatch("[^\n]+") do lines[#lines + 1] = line end
      assert.equal(2, #lines, support.read(err))
      assert.matches("sighting not recorded %(1 so far%): .*read%-only", lines[1])
      assert.matches("sighting not recorded %(2 so far%)", lines[2])

      local store = assert(imei.sightings.open("memory"))
      local m = assert(engine_for([[
        local P = policy.new { name = "rec", version = "1" }
        return P
      ]], { store = store, record = true, quiet = true }))
      assert.equal("WHITELISTED", m:check { pei = "352099001761481", imsi = "410010000000001", msisdn = "12ab" }.status)
      assert.equal(1, m:stats().sightings_unrecorded) -- a field the store refuses
      assert.equal(0, store:imsis("352099001761481", 30))
      assert.equal("WHITELISTED", m:check { pei = "352099001761481", imsi = "410010000000001" }.status)
      assert.equal(1, m:stats().sightings_unrecorded)
      assert.equal(1, store:imsis("352099001761481", 30))
    end)

    it("gives the policy a read-only store", function()
      local store = assert(imei.sightings.open("memory"))
      local e = assert(engine_for([[
        local P = policy.new { name = "ro", version = "1" }
        P:condition { name = "x", status = "BLACKLISTED", when = function(d) sightings.record = nil return false end }
        return P
      ]], { store = store }))
      local v = e:check { pei = "352099001761481" }
      assert.is_true(v.failed)
      assert.matches("read%-only", v.error)
    end)
  end)

  describe("refresh (the file-watch path)", function()
    it("reloads a policy whose file changed, and lists whose folder changed", function()
      local lists_dir = dir .. "/lists"
      assert(os.execute("mkdir -p " .. lists_dir))
      support.write(lists_dir .. "/stolen.csv", "imei\n352099001761481\n")
      local path = support.policy(dir, "w.lua", [[
        local P = policy.new { name = "w", version = "1" }
        P:condition { name = "stolen", status = "BLACKLISTED", when = function(d) return lists.stolen:has(d.key) end }
        return P
      ]])
      local e = assert(imei.engine.new { policy = path, lists = lists_dir })
      assert.is_false(e:refresh())
      support.write(path, (support.read(path):gsub('version = "1"', 'version = "22"')))
      assert.equal("policy", e:refresh())
      assert.equal("w@22", e:policy_name())
      assert.is_false(e:refresh())
      assert.equal("WHITELISTED", e:check { pei = "490154203237518" }.status)
      support.write(lists_dir .. "/stolen.csv", "imei\n490154203237518\n")
      assert.equal("lists", e:refresh())
      assert.equal("BLACKLISTED", e:check { pei = "490154203237518" }.status)
      support.write(path, "broken(")
      local ok, err = e:refresh()
      assert.is_nil(ok)
      assert.matches("w%.lua", err)
      assert.equal("w@22", e:policy_name())
    end)
  end)

  describe("sandbox", function()
    -- Each hostile body runs for pei 000000000000000 only; other checks prove the engine
    -- keeps answering with the same policy afterwards.
    local hostile = {
      { "an endless loop", "while true do end", "instruction budget" },
      { "an endless loop inside pcall", "while true do pcall(function() while true do end end) end",
        "instruction budget" },
      { "a loop in a coroutine caught by pcall",
        "local co = coroutine.wrap(function() while true do end end) pcall(co) while true do end",
        "instruction budget" },
      { "a coroutine resumed forever", "while true do coroutine.resume(coroutine.create(function() end)) end",
        "instruction budget" },
      { "a string bomb", "local s = 'x' while true do s = s .. s end", "budget" }, -- each allocation is charged
      { "a table bomb", "local t = {} for i = 1, 1e9 do t[i] = i end", "budget" },
      { "deep recursion", "local function f(n) return 1 + f(n + 1) end return f(1) > 0", "." },
      { "a catastrophic pattern", "return ('a'):rep(50000):find('.-.-.-.-.-b') ~= nil", "budget" },
      { "string.rep of a terabyte", "return #string.rep('x', 1 << 40) > 0", "budget" }, -- charged before any work
      { "reaching io", "return io.open('/etc/passwd') ~= nil", "global 'io'" },
      { "reaching os.execute", "return os.execute('true')", "field 'execute'" },
      { "reaching debug", "return debug.getinfo(1) ~= nil", "global 'debug'" },
      { "reaching package", "return package.loaded ~= nil", "global 'package'" },
      { "reaching require", "return require('os') ~= nil", "global 'require'" },
      { "reaching load", "return load('return 1')() == 1", "global 'load'" },
      { "reaching dofile", "return dofile('/etc/passwd')", "global 'dofile'" },
      { "reaching collectgarbage", "return collectgarbage('count') > 0", "global 'collectgarbage'" },
      { "string.dump", "return string.dump(print) ~= nil", "field 'dump'" },
      { "string.dump through a string", "return ('').dump(print) ~= nil", "field 'dump'" },
      { "a __gc metamethod", "setmetatable({}, { __gc = function() while true do end end }) return true",
        "__gc metamethods are not allowed" },
      { "setting the string metatable", "setmetatable('', {}) return true", "table expected" },
      { "the string metatable's __index", "return getmetatable('').__index.rep ~= nil", "index" },
      { "a table error with a hostile __tostring",
        "error(setmetatable({}, { __tostring = function() while true do end end }))", "non%-string error %(a table" },
      { "error(nil)", "error()", "non%-string error %(a nil" },
      { "a hostile __tostring", "return tostring(setmetatable({}, { __tostring = function() while true do end end }))",
        "instruction budget" },
      { "a hostile __index on the verdict's tables",
        "error(setmetatable({}, { __index = function() while true do end end }))", "non%-string error" },
    }
    for _, case in ipairs(hostile) do
      it("contains " .. case[1], function()
        local e = assert(engine_for(([[
          local P = policy.new { name = "h", version = "1" }
          P:condition { name = "x", status = "BLACKLISTED",
            when = function(d) if d.key ~= "00000000000000" then return d.junk ~= nil end %s end }
          return P
        ]]):format(case[2])))
        local v = e:check { pei = "000000000000000" }
        assert.is_true(v.failed, case[1])
        assert.equal("WHITELISTED", v.status) -- the condition failed and decided nothing
        assert.same({ "x", true }, { v.reasons[1].condition, v.reasons[1].failed })
        -- a loop is cut by the instruction budget or, on a loaded machine, by the time
        -- limit behind it: both contain it
        if not (case[3]:find("budget", 1, true) and v.error:find("time limit", 1, true)) then
          assert.matches(case[3], v.error)
          assert.matches(case[3], v.reasons[1].error)
        end
        -- the engine keeps answering with the same policy
        assert.equal("BLACKLISTED", e:check { pei = "111111111111116" }.status)
        assert.equal("WHITELISTED", e:check { pei = "490154203237518" }.status)
        local stats = e:stats()
        assert.equal(0, stats.failures)
        assert.equal(1, stats.condition_failures)
        assert.equal(3, stats.checks)
      end)
    end

    -- The runtime's own stretch of a check runs without the count hook (host/sandbox.c,
    -- imei_sandbox_unhook): nothing a policy can reach may run there.
    it("contains a policy that rewrites its evaluate, its class's and the request's time", function()
      local e = assert(engine_for([[
        local P = policy.new { name = "h", version = "1" }
        local function spin() while true do end end
        P:condition { name = "x", status = "BLACKLISTED", grace_days = 1,
          since = function() return setmetatable({}, { __lt = spin, __add = spin, __le = spin }) end,
          when = function(d, r)
            P.evaluate = spin
            pcall(function() getmetatable(P).evaluate = spin end)
            pcall(function() getmetatable(P).__index = { evaluate = spin } end)
            r.time = setmetatable({}, { __lt = spin, __add = spin, __le = spin })
            return d.key == "00000000000000"
          end }
        return P
      ]]))
      for _ = 1, 3 do
        local v = e:check { pei = "000000000000000" }
        assert.equal("WHITELISTED", v.status) -- x failed (in its budget) and decided nothing
        assert.same({ "x", true }, { v.reasons[1].condition, v.reasons[1].failed })
        local ok = e:check { pei = "490154203237518" }
        assert.same({ "WHITELISTED", 0 }, { ok.status, #ok.reasons })
      end
      assert.equal(0, e:stats().failures)
      assert.equal(3, e:stats().condition_failures)
    end)

    it("gives on_error as the status of a failed check", function()
      local e = assert(engine_for([[
        local P = policy.new { name = "h", version = "1" }
        P:check(function() while true do end end)
        return P
      ]], { on_error = "UNKNOWN" }))
      local v = e:check { pei = "490154203237518" }
      assert.same({ "UNKNOWN", true }, { v.status, v.failed })
      assert.equal(1, e:stats().budget_exceeded)
    end)

    it("keeps each engine's memory to its cap", function()
      local e = assert(engine_for([[
        local keep = {}
        local P = policy.new { name = "h", version = "1" }
        P:condition { name = "x", status = "BLACKLISTED",
          when = function() keep[#keep + 1] = ("y"):rep(1 << 20) return false end }
        return P
      ]], { limits = { memory = 16 << 20 } }))
      local failed = 0
      for _ = 1, 40 do
        if e:check { pei = "490154203237518" }.failed then failed = failed + 1 end
      end
      assert.is_true(failed > 0)
      assert.is_true(e:stats().memory_used <= 16 << 20)
    end)

    it("refuses bytecode", function()
      local path = dir .. "/bytecode.lua"
      support.write(path, string.dump(function() return 1 end))
      local e, err = imei.engine.new { policy = path }
      assert.is_nil(e)
      assert.matches("binary chunk", err)
    end)
  end)
end)
