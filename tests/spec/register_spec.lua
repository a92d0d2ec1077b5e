-- The national register (lua/imei/classify/register.lua, docs/register.md): decisions kept
-- from run to run in an LMDB state, block dates that never slide, notices that come due,
-- appeals that expire, go-live dates, idempotent re-runs, daily runs equal to one run, and
-- `imei history`.
local imei = require "imei"
local host = require "imei.host"
local classify = require "imei.classify"
local engine = require "imei.engine"
local support = require "support"

local function cd(body) return body .. imei.check_digit(body) end
local A, B, C = "35209900176148", "49015420323751", "35000000000003" -- devices (14-digit keys)

local function day(i) -- day 1 = 2026-01-01, as YYYYMMDD
  return os.date("!%Y%m%d", 1767268800 + (i - 1) * 86400) -- 2026-01-01 12:00 UTC
end

local function policy_file(dir, grace, extra)
  return support.write(dir .. "/p.lua", ([[
local P = policy.new { name = "reg", version = "1" %s }
P:requires_list("stolen", { min_rows = 0 })
P:requires_list("registration", { min_rows = 0 })
P:condition { name = "stolen", status = "BLACKLISTED", max_ratio = 1,
  when = function(d) return d.key ~= nil and lists.stolen:has(d.key) end }
P:condition { name = "unregistered", status = "BLACKLISTED", grace_days = %d, max_ratio = 1,
  when = function(d) return d.imei_kind and not lists.registration:has(d.key) end }
return P
]]):format(extra or "", grace))
end

local function write_lists(dir, registered, stolen)
  os.execute("mkdir -p '" .. dir .. "'")
  local reg = { "approved_imei,make,model,status" }
  for _, id in ipairs(registered or {}) do reg[#reg + 1] = cd(id) .. ",Make,Model,whitelist" end
  support.write(dir .. "/registration.csv", table.concat(reg, "\n") .. "\n")
  local st = { "imei,reporting_date,status" }
  for _, id in ipairs(stolen or {}) do st[#st + 1] = cd(id) .. ",20251201,blacklist" end
  support.write(dir .. "/stolen.csv", table.concat(st, "\n") .. "\n")
  return dir
end

-- rows: { {day, imei14, imsi, msisdn}, ... } -> a dump covering days lo..hi
local function dump(dir, lo, hi, rows)
  local lines = { "date,imei,imsi,msisdn" }
  for _, r in ipairs(rows) do
    if r[1] >= lo and r[1] <= hi then lines[#lines + 1] = table.concat({ day(r[1]), cd(r[2]), r[3], r[4] }, ",") end
  end
  local path = ("%s/Op_National_%s_%s.csv"):format(dir, day(lo), day(hi))
  return support.write(path, table.concat(lines, "\n") .. "\n")
end

local function run(opts)
  opts.jobs = opts.jobs or 1
  local res, err = classify.run(opts)
  assert(res, err)
  return res
end

local function rows_of(path)
  local out = {}
  for line in io.lines(path) do out[#out + 1] = line end
  table.remove(out, 1)
  return out
end

describe("the national register", function()
  after_each(support.cleanup)

  it("keeps a notice's block date when a later run sees only the last 30 days (no sliding)", function()
    local dir = support.tmpdir()
    local lists = write_lists(dir .. "/lists", {}, {})
    local pol = policy_file(dir, 60)
    local rows = { { 1, A, "410010000000001", "923000000001" }, { 40, A, "410010000000001", "923000000001" },
                   { 5, B, "410010000000002", "923000000002" }, { 45, B, "410010000000002", "923000000002" } }
    local full = dump(dir, 1, 45, rows)
    local r1 = run { policy = pol, lists = lists, out = dir .. "/out", dumps = { full }, date = day(45) }
    local n1 = support.read(dir .. "/out/notifications_Op.csv")
    assert.truthy(n1:find(A .. ",410010000000001,923000000001," .. day(61) .. ",unregistered", 1, true))
    -- the same date again with only the last 30 days (what moved 59 block dates before)
    local last30 = dump(dir, 16, 45, rows)
    local r2 = run { policy = pol, lists = lists, out = dir .. "/out", dumps = { last30 }, date = day(45) }
    assert.equal(n1, support.read(dir .. "/out/notifications_Op.csv"))
    assert.equal(0, r1.code)
    assert.equal(0, r2.code)
    assert.is_false(r2.report.run.rerun)
    assert.equal(0, r2.report.register.counts.unblocked)
  end)

  for _, grace in ipairs({ 30, 45 }) do
    it(("blocks a device when its %d-day notice comes due on a rolling window, seen or not"):format(grace), function()
      local dir = support.tmpdir()
      local lists = write_lists(dir .. "/lists", {}, {})
      local pol = policy_file(dir, grace)
      local rows = {}
      for d = 1, 10 do rows[#rows + 1] = { d, A, "410010000000001", "923000000001" } end
      for d = 1, 80 do rows[#rows + 1] = { d, C, "410010000000003", "923000000003" } end
      local out = dir .. "/out"
      local blocked_on
      for d = 5, 80, 5 do -- a run every 5 days on the last 30 days
        local res = run { policy = pol, lists = lists, out = out, dumps = { dump(dir, math.max(1, d - 29), d, rows) },
                          date = day(d) }
        assert.equal(0, res.code)
        local bl = support.read(out .. "/blocklist.csv")
        if not blocked_on and bl:find(A, 1, true) then blocked_on = d end
      end
      -- notified on day 5 for day 1 + grace; blocked by the first run on or after it
      local due = 1 + grace
      assert.is_truthy(blocked_on)
      assert.is_true(blocked_on >= due and blocked_on < due + 5)
      local bl = support.read(out .. "/blocklist.csv")
      assert.truthy(bl:find(A .. "," .. day(due) .. ",unregistered", 1, true))
      assert.truthy(bl:find(C .. "," .. day(due) .. ",unregistered", 1, true))
      -- A has not been seen for 70 days: still blocked, on the date it was notified
      local h = assert(require("imei.classify.register").history(out .. "/state", cd(A)))
      assert.equal(day(due), h.record.block.date)
      assert.equal(day(5), h.record.notices["410010000000001"].notified)
    end)
  end

  it("keeps a block until an explicit cause, and names the cause in the delta", function()
    local dir = support.tmpdir()
    local pol = policy_file(dir, 0)
    local rows = { { 1, A, "410010000000001", "923000000001" }, { 1, B, "410010000000002", "923000000002" } }
    local out = dir .. "/out"
    run { policy = pol, lists = write_lists(dir .. "/l1", {}, { B }), out = out, dumps = { dump(dir, 1, 1, rows) },
          date = day(1) }
    assert.same({ A .. "," .. day(1) .. ",unregistered", B .. "," .. day(1) .. ",stolen|unregistered" },
      rows_of(out .. "/blocklist.csv"))
    -- day 2: not seen, stolen report withdrawn: both stay (not seen is not a cause)
    local rows2 = { { 2, C, "410010000000003", "923000000003" } }
    run { policy = pol, lists = write_lists(dir .. "/l2", { C }, {}), out = out, dumps = { dump(dir, 2, 2, rows2) },
          date = day(2) }
    assert.equal(2, #rows_of(out .. "/blocklist.csv"))
    -- day 3: A registered and seen: unblocked, cause list:registration; B seen, still unregistered: kept
    run { policy = pol, lists = write_lists(dir .. "/l3", { A, C }, {}), out = out,
          dumps = { dump(dir, 3, 3, { { 3, A, "410010000000001", "923000000001" },
                                      { 3, B, "410010000000002", "923000000002" } }) },
          date = day(3) }
    assert.same({ B .. "," .. day(1) .. ",stolen|unregistered" }, rows_of(out .. "/blocklist.csv"))
    assert.same({ A .. "," .. day(1) .. ",unregistered,unblocked,list:registration" },
      rows_of(out .. "/blocklist_delta.csv"))
    local h = assert(require("imei.classify.register").history(out .. "/state", A))
    assert.equal("list:registration", h.record.unblocked.cause)
  end)

  it("moves a notified block date only when the grace period changes, and says so", function()
    local dir = support.tmpdir()
    local lists = write_lists(dir .. "/lists", {}, {})
    local rows = { { 1, A, "410010000000001", "923000000001" }, { 5, A, "410010000000001", "923000000001" } }
    local out = dir .. "/out"
    run { policy = policy_file(dir, 30), lists = lists, out = out, dumps = { dump(dir, 1, 3, rows) }, date = day(3) }
    assert.same({ A .. ",410010000000001,923000000001,20260131,unregistered" }, rows_of(out .. "/notifications_Op.csv"))
    local r = run { policy = policy_file(dir, 45), lists = lists, out = out, dumps = { dump(dir, 1, 5, rows) },
                    date = day(5) }
    assert.same({ A .. ",410010000000001,923000000001,20260215,unregistered" }, rows_of(out .. "/notifications_Op.csv"))
    assert.same({ A .. ",410010000000001,923000000001,20260215,unregistered,changed,grace_changed" },
      rows_of(out .. "/notifications_Op_delta.csv"))
    assert.equal(1, r.report.register.counts.grace_changed)
  end)

  it("unblocks a device seen again when a sticky = false condition no longer holds (condition_cleared)", function()
    local dir = support.tmpdir()
    local pol = support.write(dir .. "/p.lua", [[
local P = policy.new { name = "ns", version = "1" }
P:requires_list("stolen", { min_rows = 0 })
P:condition { name = "stolen", status = "BLACKLISTED", max_ratio = 1, sticky = false,
  when = function(d) return d.key ~= nil and lists.stolen:has(d.key) end }
return P
]])
    local out = dir .. "/out"
    local rows = { { 1, A, "410010000000001", "923000000001" }, { 2, A, "410010000000001", "923000000001" } }
    run { policy = pol, lists = write_lists(dir .. "/l1", {}, { A }), out = out, dumps = { dump(dir, 1, 1, rows) },
          date = day(1) }
    assert.same({ A .. "," .. day(1) .. ",stolen" }, rows_of(out .. "/blocklist.csv"))
    run { policy = pol, lists = write_lists(dir .. "/l2", {}, {}), out = out, dumps = { dump(dir, 2, 2, rows) },
          date = day(2) }
    assert.same({}, rows_of(out .. "/blocklist.csv"))
    assert.same({ A .. "," .. day(1) .. ",stolen,unblocked,condition_cleared" }, rows_of(out .. "/blocklist_delta.csv"))
  end)

  it("lifts a block by an appeal until its date, then the block comes back by itself", function()
    local dir = support.tmpdir()
    local pol = policy_file(dir, 0)
    local lists = write_lists(dir .. "/lists", {}, { B })
    local out = dir .. "/out"
    local rows = { { 1, B, "410010000000002", "923000000002" } }
    local ex = support.write(dir .. "/ex.csv",
      "imei,reason,until\n" .. cd(B) .. ",appeal 42: proof of purchase,2026-01-05\n")
    local r1 = run { policy = pol, lists = lists, out = out, dumps = { dump(dir, 1, 1, rows) }, date = day(1),
                     exceptions = ex }
    assert.same({}, rows_of(out .. "/blocklist.csv"))
    assert.equal(1, r1.report.register.counts.appeals_active)
    run { policy = pol, lists = lists, out = out, dumps = { dump(dir, 1, 5, rows) }, date = day(5), exceptions = ex }
    assert.same({}, rows_of(out .. "/blocklist.csv"))
    local r3 = run { policy = pol, lists = lists, out = out, dumps = { dump(dir, 1, 6, rows) }, date = day(6),
                     exceptions = ex }
    assert.same({ B .. "," .. day(1) .. ",stolen|unregistered" }, rows_of(out .. "/blocklist.csv"))
    assert.equal(1, r3.report.register.counts.appeals_expired)
    local h = assert(require("imei.classify.register").history(out .. "/state", B))
    assert.equal(day(6), h.record.appeals[B].expired)
  end)

  it("refuses a bad exceptions row with its file, line, field and why", function()
    local dir = support.tmpdir()
    local ex = support.write(dir .. "/ex.csv", "imei,reason,until\n" .. cd(A) .. ",ok,2026-02-01\n" ..
      cd(B) .. ",late,2026-02-30\n")
    local res, err = classify.run { policy = policy_file(dir, 0), lists = write_lists(dir .. "/l"), out = dir .. "/out",
      dumps = { dump(dir, 1, 1, { { 1, A, "410010000000001", "923000000001" } }) }, exceptions = ex }
    assert.is_nil(res)
    assert.equal(ex .. ":3: field 'until': '2026-02-30': not a date (YYYY-MM-DD, the last day the exception holds)",
      err)
    support.write(ex, cd(A):sub(1, 14) .. "9,reason,2026-02-01\n")
    local _, err2 = classify.run { policy = policy_file(dir, 0), lists = write_lists(dir .. "/l"), out = dir .. "/out",
      dumps = { dump(dir, 1, 1, { { 1, A, "410010000000001", "923000000001" } }) }, exceptions = ex }
    assert.truthy(err2:find(ex .. ":1: field 'imei':", 1, true))
    -- two rows for one device: which one holds must not depend on the file's order
    support.write(ex, cd(A) .. ",ok,2026-02-01\n" .. cd(B) .. ",ok,2026-02-01\n" .. A .. ",again,2026-03-01\n")
    local _, err3 = classify.run { policy = policy_file(dir, 0), lists = write_lists(dir .. "/l"), out = dir .. "/out",
      dumps = { dump(dir, 1, 1, { { 1, A, "410010000000001", "923000000001" } }) }, exceptions = ex }
    assert.equal(ex .. ":3: the device " .. A .. " already has an exception at line 1: give one row each", err3)
  end)

  it("starts no grace period before the policy's effective date, and notifies nobody before it", function()
    local dir = support.tmpdir()
    local pol = policy_file(dir, 30, ', effective = "2026-02-01"')
    local lists = write_lists(dir .. "/lists", {}, {})
    local rows = { { 1, A, "410010000000001", "923000000001" }, { 20, A, "410010000000001", "923000000001" } }
    local out = dir .. "/out"
    local r1 = run { policy = pol, lists = lists, out = out, dumps = { dump(dir, 1, 20, rows) }, date = day(20) }
    assert.same({}, rows_of(out .. "/notifications_Op.csv"))
    assert.same({}, rows_of(out .. "/blocklist.csv"))
    local ne = {}
    for _, c in ipairs(r1.report.register.not_effective) do ne[c.name] = c end
    assert.equal(1, ne.unregistered.devices)
    assert.equal("2026-02-01", ne.unregistered.effective)
    assert.truthy(r1.text:find("not in effect before 2026-02-01: unregistered matched 1 devices", 1, true))
    rows[#rows + 1] = { 35, A, "410010000000001", "923000000001" }
    run { policy = pol, lists = lists, out = out, dumps = { dump(dir, 1, 35, rows) }, date = day(35) }
    -- the 30 days count from 2026-02-01, not from the first sighting (2026-01-01)
    assert.same({ A .. ",410010000000001,923000000001,20260303,unregistered" }, rows_of(out .. "/notifications_Op.csv"))
  end)

  it("gives byte-identical lists and report for the same inputs twice (but the run id and times)", function()
    local dir = support.tmpdir()
    local pol = policy_file(dir, 30)
    local lists = write_lists(dir .. "/lists", {}, { B })
    local rows = { { 1, A, "410010000000001", "923000000001" }, { 3, B, "410010000000002", "923000000002" },
                   { 9, C, "410010000000003", "923000000003" } }
    local out = dir .. "/out"
    run { policy = pol, lists = lists, out = out, dumps = { dump(dir, 1, 5, rows) }, date = day(5) }
    local function snapshot()
      local files = {}
      for _, name in ipairs(host.listdir(out)) do
        if name:match("%.csv$") then files[name] = support.read(out .. "/" .. name) end
      end
      local json = require("cjson").decode(support.read(out .. "/report.json"))
      json.run.id, json.run.started, json.run.rerun, json.performance = nil, nil, nil, nil
      -- the digests of report.txt and report.html, which hold the times, change with them
      local kept = {}
      for _, o in ipairs(json.audit and json.audit.outputs or {}) do
        if o.path ~= "report.txt" and o.path ~= "report.html" then kept[#kept + 1] = o end
      end
      if json.audit then json.audit.outputs = kept end
      files["report.json"] = json
      files["report.txt"] = support.read(out .. "/report.txt"):gsub("\nTime: [^\n]*", "")
      return files
    end
    run { policy = pol, lists = lists, out = out, dumps = { dump(dir, 1, 10, rows) }, date = day(10) }
    local first = snapshot()
    local r = run { policy = pol, lists = lists, out = out, dumps = { dump(dir, 1, 10, rows) }, date = day(10) }
    assert.same(first, snapshot())
    assert.truthy(first["notifications_Op_delta.csv"]:find(C, 1, true)) -- the deltas of the run it replaced
    assert.equal(2, r.report.register.generation_after)
  end)

  it("keeps nothing with --store memory and starts over with --fresh", function()
    local dir = support.tmpdir()
    local pol = policy_file(dir, 0)
    local lists = write_lists(dir .. "/lists", {}, {})
    local out = dir .. "/out"
    local r = run { policy = pol, lists = lists, out = out, store = "memory",
                    dumps = { dump(dir, 1, 1, { { 1, A, "410010000000001", "923000000001" } }) }, date = day(1) }
    assert.is_false(r.report.register.kept)
    assert.truthy(r.text:find("nothing is kept", 1, true))
    assert.is_nil(host.file_size(out .. "/state/register"))
    run { policy = pol, lists = lists, out = out,
          dumps = { dump(dir, 1, 1, { { 1, A, "410010000000001", "923000000001" } }) },
          date = day(1) }
    local f = run { policy = pol, lists = lists, out = out, fresh = true,
                    dumps = { dump(dir, 2, 2, { { 2, B, "410010000000002", "923000000002" } }) }, date = day(2) }
    assert.truthy(f.text:find("started over (--fresh)", 1, true))
    assert.same({ B .. "," .. day(2) .. ",unregistered" }, rows_of(out .. "/blocklist.csv"))
  end)

  it("a what-if run (--store memory) over a state decides and counts as the kept run of the same inputs", function()
    local dir = support.tmpdir()
    local pol = policy_file(dir, 0)
    local lists = write_lists(dir .. "/lists", { C }, {})
    local out = dir .. "/out"
    run { policy = pol, lists = lists, out = out, date = day(1),
          dumps = { dump(dir, 1, 1, { { 1, A, "410010000000001", "923000000001" } }) } }
    -- day 2: A not seen (kept), B new to the register, C registered
    local d2 = dump(dir, 2, 2, { { 2, B, "410010000000002", "923000000002" }, { 2, C, "410010000000003", "" } })
    os.execute(("cp -a '%s' '%s'"):format(out, dir .. "/whatif"))
    local w = run { policy = pol, lists = lists, out = dir .. "/whatif", store = "memory", date = day(2),
                    dumps = { d2 } }
    local k = run { policy = pol, lists = lists, out = out, date = day(2), dumps = { d2 } }
    assert.is_false(w.report.register.kept)
    assert.is_true(k.report.register.kept)
    for _, name in ipairs({ "devices", "blocked", "notices", "carried", "unblocked" }) do
      assert.equal(k.report.register.counts[name], w.report.register.counts[name], name)
    end
    assert.equal(2, w.report.register.counts.devices) -- A from the register, B new to it
    assert.equal(2, w.report.register.counts.blocked)
    assert.same(rows_of(out .. "/blocklist.csv"), rows_of(dir .. "/whatif/blocklist.csv"))
    assert.same(rows_of(out .. "/blocklist_delta.csv"), rows_of(dir .. "/whatif/blocklist_delta.csv"))
    assert.same({ A .. "," .. day(1) .. ",unregistered", B .. "," .. day(2) .. ",unregistered" },
      rows_of(dir .. "/whatif/blocklist.csv"))
  end)

  it("records a device it blocks for the first time with its block, reasons' matches and event", function()
    local dir = support.tmpdir()
    local pol = policy_file(dir, 0)
    local lists = write_lists(dir .. "/lists", { B }, { B }) -- B: registered, and stolen
    local out = dir .. "/out"
    run { policy = pol, lists = lists, out = out, date = day(3),
          dumps = { dump(dir, 1, 2, { { 1, A, "410010000000001", "923000000001" },
                                      { 2, B, "410010000000002", "923000000002" } }) } }
    local register = require "imei.classify.register"
    local reg = assert(register.open(out .. "/state", true))
    local a, b = reg:device(A), reg:device(B)
    reg:close()
    assert.same({ imei = A, notices = {}, conds = { unregistered = { first = day(3), last = day(3) } },
                  events = { { date = day(3), generation = 1, what = "blocked",
                               detail = "on " .. day(1) .. " (unregistered)" } },
                  block = { date = day(1), reasons = "unregistered", since = day(3), on_lists = {} } }, a)
    assert.same({ imei = B, notices = {}, conds = { stolen = { first = day(3), last = day(3) } },
                  events = { { date = day(3), generation = 1, what = "blocked",
                               detail = "on " .. day(2) .. " (stolen)" } },
                  block = { date = day(2), reasons = "stolen", since = day(3), on_lists = { "registration" } } }, b)
  end)

  it("imei history shows a device's record as text and JSON", function()
    local dir = support.tmpdir()
    local pol = policy_file(dir, 30)
    local lists = write_lists(dir .. "/lists", {}, {})
    local out = dir .. "/out"
    run { policy = pol, lists = lists, out = out, date = day(3), dumps = { dump(dir, 1, 3, {
      { 1, A, "410010000000001", "923000000001" }, { 3, A, "410010000000001", "923000000009" } }) } }
    -- the notice keeps every MSISDN seen with the pair
    assert.same({ A .. ",410010000000001,923000000001|923000000009,20260131,unregistered" },
      rows_of(out .. "/notifications_Op.csv"))
    local stdout, stderr, code = support.imei(("history %s --state '%s/state'"):format(cd(A), out))
    assert.equal(0, code, stderr)
    assert.truthy(stdout:find("Device " .. A, 1, true))
    assert.truthy(stdout:find("410010000000001  MSISDN 923000000001, 923000000009  notified 20260103, block on " ..
      "20260131 (unregistered)", 1, true))
    assert.truthy(stdout:find("2026-01-01 .. 2026-01-01", 1, true))
    assert.truthy(stdout:find("      seen on 2026-01-01\n", 1, true), stdout)
    local json
    stdout, stderr, code = support.imei(("history %s --state '%s/state' --json"):format(A, out))
    assert.equal(0, code, stderr)
    json = require("cjson").decode(stdout)
    assert.equal("20260131", json.record.notices["410010000000001"].block_date)
    assert.equal(2, #json.sightings)
    local days = {}
    for _, row in ipairs(json.sightings) do days[row.msisdn] = row.days end
    assert.same({ "2026-01-01" }, days["923000000001"])
    assert.same({ "2026-01-03" }, days["923000000009"])
    local _, _, code2 = support.imei(("history %s --state '%s/state'"):format(cd(C), out))
    assert.equal(1, code2)
  end)

  it("imei history lists the days a subscriber was seen, consecutive days as one range", function()
    local dir = support.tmpdir()
    local pol = policy_file(dir, 30)
    local lists = write_lists(dir .. "/lists", {}, {})
    local out = dir .. "/out"
    local rows = {}
    for _, d in ipairs { 1, 2, 3, 5, 9, 10 } do rows[#rows + 1] = { d, B, "410010000000002", "923000000002" } end
    run { policy = pol, lists = lists, out = out, date = day(10), dumps = { dump(dir, 1, 10, rows) } }
    local stdout, stderr, code = support.imei(("history %s --state '%s/state'"):format(cd(B), out))
    assert.equal(0, code, stderr)
    assert.truthy(stdout:find("seen on 2026-01-01..2026-01-03, 2026-01-05, 2026-01-09..2026-01-10\n", 1, true), stdout)
    assert.truthy(stdout:find("2026-01-01 .. 2026-01-10  6 days", 1, true), stdout)
  end)

  it("refuses a state whose data file was cut short, naming it (a read past its end would be SIGBUS)", function()
    local dir = support.tmpdir()
    local pol = policy_file(dir, 30)
    local lists = write_lists(dir .. "/lists", {}, {})
    local out = dir .. "/out"
    local dumps = { dump(dir, 1, 3, { { 1, A, "410010000000001", "923000000001" } }) }
    run { policy = pol, lists = lists, out = out, date = day(3), dumps = dumps }
    local file = out .. "/state/register/data.mdb"
    local whole = support.read(file)
    support.write(file, whole:sub(1, #whole // 2))
    local before = support.read(out .. "/blocklist.csv") .. support.read(out .. "/notifications_Op.csv")
    local res, err = classify.run { policy = pol, lists = lists, out = out, date = day(3), dumps = dumps, jobs = 1 }
    assert.is_nil(res)
    assert.truthy(err:find("data.mdb has " .. #whole // 2 .. " bytes, its pages need", 1, true), err)
    assert.equal(before, support.read(out .. "/blocklist.csv") .. support.read(out .. "/notifications_Op.csv"))
    local _, stderr, code = support.imei(("history %s --state '%s/state'"):format(cd(A), out))
    assert.equal(2, code)
    assert.truthy(stderr:find("(truncated?)", 1, true), stderr)
  end)

  it("keeps the sightings as a snapshot that restores exactly, and refuses a damaged one", function()
    local sightings = require "imei.sightings"
    local a = assert(sightings.open("memory"))
    for i = 1, 50 do
      assert(a:record { key = cd(A), imsi = ("4100100000%05d"):format(i % 7), msisdn = "923000000001",
                        time = 1767225600 + i * 86400, rat = "EUTRAN" })
    end
    assert(a:record { key = cd(B), imsi = "410010000000002", time = 1767225600 })
    assert(a:pair(cd(A), "410010000000003", "923000000001"))
    local snap = assert(a:snapshot())
    local b = assert(sightings.open("memory"))
    assert(b:restore(snap))
    assert.same(a:sightings(cd(A)), b:sightings(cd(A)))
    assert.same(a:sightings(cd(B)), b:sightings(cd(B)))
    assert.same(a:daily(cd(A), 30, 1767225600 + 50 * 86400), b:daily(cd(A), 30, 1767225600 + 50 * 86400))
    assert.is_true(b:is_paired(cd(A), "410010000000003"))
    assert.equal(snap, b:snapshot())
    local damaged = snap:sub(1, 40) .. string.char((snap:byte(41) + 1) % 256) .. snap:sub(42)
    local c = assert(sightings.open("memory"))
    local ok, err = c:restore(damaged)
    assert.is_nil(ok)
    assert.matches("checksum", err)
    assert.same({}, c:sightings(cd(A))) -- nothing put
    local _, err2 = c:restore(snap:sub(1, #snap - 9))
    assert.matches("do not hold", err2)
    -- the register writes it straight into its value and restores it from where LMDB maps
    -- it: the same bytes as store:snapshot(), the same store back; a damaged one refused
    local dir = support.tmpdir()
    local kv = assert(host.kv_open(dir .. "/r"))
    assert(kv:begin())
    kv:put_snapshot("s:snapshot", a)
    assert(kv:commit())
    assert.equal(snap, kv:get("s:snapshot"))
    local d = assert(sightings.open("memory"))
    assert.same({ true, true }, { kv:restore_snapshot("s:snapshot", d) })
    assert.same(a:sightings(cd(A)), d:sightings(cd(A)))
    assert.equal(snap, d:snapshot())
    assert.same({ true, false }, { kv:restore_snapshot("s:none", d) })
    assert(kv:begin())
    kv:put("s:snapshot", damaged)
    assert(kv:commit())
    local e = assert(sightings.open("memory"))
    local ok3, err3 = kv:restore_snapshot("s:snapshot", e)
    assert.is_nil(ok3)
    assert.matches("checksum", err3)
    a:close()
    assert.has_error(function() kv:put_snapshot("s:snapshot", a) end, "imei.sightings: the store is closed")
    kv:close()
  end)

  it("a run killed before its commit leaves the register as it was (one LMDB transaction)", function()
    local dir = support.tmpdir()
    local kv = assert(host.kv_open(dir .. "/r"))
    assert(kv:begin())
    kv:put("d:x", "1")
    assert(kv:commit())
    kv:close()
    local script = support.write(dir .. "/kill.lua", ([[
      package.cpath = %q
      local kv = assert(require("imei.host").kv_open(%q))
      assert(kv:begin())
      for i = 1, 1000 do kv:put("d:" .. i, ("y"):rep(100)) end
      kv:put("d:x", "2")
      assert(kv:get("d:x") == "2" and kv:get("d:1")) -- the transaction sees its writes
      io.open(%q, "w"):close()
      os.execute("kill -9 " .. require("imei.host").getpid())
    ]]):format(package.cpath, dir .. "/r", dir .. "/reached"))
    os.execute("lua5.4 '" .. script .. "' 2>/dev/null")
    assert.truthy(support.read(dir .. "/reached"), "the child never reached its kill")
    kv = assert(host.kv_open(dir .. "/r", true))
    assert.equal("1", kv:get("d:x"))
    assert.is_nil(kv:get("d:1"))
    assert.equal(1, (kv:stat()))
    kv:close()
  end)

  it("a classify killed at any moment leaves a state from which the next run gives the same lists", function()
    local dir = support.tmpdir()
    local gen = require "imei.gen"
    assert(gen.run { out = dir .. "/dumps", lists = dir .. "/lists", subscribers = 1500, days = 30, start = "20260101",
                     seed = 3, tacdb = "data/osmocom-tacdb.csv", stolen = 0.01 })
    local dumps = {}
    for _, name in ipairs(host.listdir(dir .. "/dumps")) do
      dumps[#dumps + 1] = "'" .. dir .. "/dumps/" .. name .. "'"
    end
    table.sort(dumps)
    local args = ("classify -q --jobs 1 --policy policies/example-country.lua --tacdb data/osmocom-tacdb.csv " ..
      "--lists '%s/lists' %s"):format(dir, table.concat(dumps, " "))
    for _, delay in ipairs({ "0.2", "0.5", "0.9" }) do
      os.execute(("bin/imei %s --out '%s/killed' >/dev/null 2>&1 & pid=$!; sleep %s; kill -9 $pid 2>/dev/null; " ..
        "wait $pid 2>/dev/null"):format(args, dir, delay))
    end
    local _, err, code = support.imei(args .. (" --out '%s/killed'"):format(dir))
    assert.equal(0, code, err)
    _, err, code = support.imei(args .. (" --out '%s/clean'"):format(dir))
    assert.equal(0, code, err)
    for _, name in ipairs(host.listdir(dir .. "/clean")) do
      if name:match("%.csv$") and not name:match("_delta") then
        assert.equal(support.read(dir .. "/clean/" .. name), support.read(dir .. "/killed/" .. name), name)
      end
    end
  end)

  it("gives the same block list day by day over 60 days (30-day window) as one run over the 60 days", function()
    local dir = support.tmpdir()
    local gen = require "imei.gen"
    assert(gen.run { out = dir .. "/dumps", lists = dir .. "/lists", subscribers = 400, days = 60, start = "20260101",
                     seed = 7, tacdb = "data/osmocom-tacdb.csv", stolen = 0.01 })
    local tacdb = assert(engine.open_tacdb("data/osmocom-tacdb.csv"))
    local lists = assert(engine.open_lists(dir .. "/lists"))
    local by_op = {}
    local names = host.listdir(dir .. "/dumps")
    table.sort(names)
    for _, name in ipairs(names) do
      local op = name:match("^([^_]+)_")
      local t = { header = nil, days = {} }
      by_op[#by_op + 1] = { op = op, t = t }
      for line in io.lines(dir .. "/dumps/" .. name) do
        if not t.header then t.header = line else
          local d = line:match("^(%d%d%d%d%d%d%d%d)")
          if d then
            t.days[d] = t.days[d] or {}
            table.insert(t.days[d], line)
          end
        end
      end
    end
    local policy = "policies/example-country.lua"
    for d = 1, 60 do
      local lo = math.max(1, d - 29)
      local win = dir .. "/win" .. d
      os.execute("mkdir -p '" .. win .. "'")
      local files = {}
      for _, o in ipairs(by_op) do
        local lines = { o.t.header }
        for i = lo, d do
          for _, l in ipairs(o.t.days[day(i)] or {}) do lines[#lines + 1] = l end
        end
        files[#files + 1] = support.write(("%s/%s_National_%s_%s.csv"):format(win, o.op, day(lo), day(d)),
          table.concat(lines, "\n") .. "\n")
      end
      local res = run { policy = policy, tacdb = tacdb, lists = lists, out = dir .. "/daily", dumps = files,
                        date = day(d) }
      assert.equal(0, res.code)
      os.execute("rm -rf '" .. win .. "'")
    end
    local all = {}
    for _, name in ipairs(names) do all[#all + 1] = dir .. "/dumps/" .. name end
    run { policy = policy, tacdb = tacdb, lists = lists, out = dir .. "/once", dumps = all, date = day(60) }
    local daily, once = rows_of(dir .. "/daily/blocklist.csv"), rows_of(dir .. "/once/blocklist.csv")
    assert.is_true(#once >= 3) -- stolen, junk and unregistered devices past their 60 days' notice
    assert.same(once, daily)
    for _, o in ipairs(by_op) do
      assert.same(rows_of(("%s/once/notifications_%s.csv"):format(dir, o.op)),
        rows_of(("%s/daily/notifications_%s.csv"):format(dir, o.op)))
    end
  end)

  it("imei explain --state DIR reads out the register's dates as decided and notified", function()
    local dir = support.tmpdir()
    local lists = write_lists(dir .. "/lists", {}, { C })
    local pol = policy_file(dir, 60)
    local rows = { { 1, A, "410010000000001", "923000000001" }, { 10, A, "410010000000001", "923000000001" },
                   { 3, C, "410010000000003", "923000000003" } }
    local out = dir .. "/out"
    assert.equal(0, run { policy = pol, lists = lists, out = out, dumps = { dump(dir, 1, 10, rows) },
                          date = day(10) }.code)
    local function explain(pei, imsi, json)
      local text, err, code = support.imei(("explain --policy '%s' --lists '%s' --state '%s/state' --time %d %s %s%s")
        :format(pol, lists, out, 1767268800 + 9 * 86400, pei, imsi, json and " --json" or ""))
      assert.equal(0, code, err)
      return text
    end
    -- A: notified in the run of day 10, to be blocked on day 1 + 60, as the notification list says
    local notice = A .. ",410010000000001,923000000001," .. day(61) .. ",unregistered"
    assert.truthy(support.read(out .. "/notifications_Op.csv"):find(notice, 1, true))
    local text = explain(cd(A), "410010000000001")
    assert.truthy(text:find(("this SIM: notified %s, block on %s (unregistered)"):format(day(10), day(61)), 1, true),
      text)
    local j = require("cjson").decode(explain(cd(A), "410010000000001", true))
    assert.is_true(j.register.known)
    assert.equal(day(61), j.register.notice.block_date)
    -- C: stolen, on the block list from the first day the data showed it
    assert.truthy(support.read(out .. "/blocklist.csv"):find(C .. "," .. day(3) .. ",stolen", 1, true))
    text = explain(cd(C), "410010000000003")
    assert.truthy(text:find(("BLOCKED from %s (stolen)"):format(day(3)), 1, true), text)
    -- a device the register never decided on
    text = explain(cd(B), "410010000000002")
    assert.truthy(text:find("the register has never decided on this device", 1, true), text)
  end)
end)
