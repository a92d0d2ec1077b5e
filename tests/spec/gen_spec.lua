-- imei gen: synthetic national dumps (lua/imei/gen.lua) — deterministic for a seed, with
-- what the summary says is in them, and what imei classify finds in them.
local gen = require "imei.gen"
local classify = require "imei.classify"
local support = require "support"

local function lines(path)
  local t = {}
  for line in io.lines(path) do t[#t + 1] = line end
  return t
end

local function small(dir, extra)
  local opts = { out = dir, subscribers = 2000, days = 10, seed = 42, lists = dir .. "/lists",
                 tacdb = "data/osmocom-tacdb.csv", damaged = 0.003 }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return assert(gen.run(opts))
end

describe("imei gen", function()
  after_each(support.cleanup)

  it("gives the same bytes for the same seed, and others for another", function()
    local a, b, c = support.tmpdir(), support.tmpdir(), support.tmpdir()
    local sa = small(a)
    small(b)
    small(c, { seed = 43 })
    for _, path in ipairs(sa.files) do
      local name = path:match("[^/]+$")
      assert.equal(support.read(a .. "/" .. name), support.read(b .. "/" .. name), name)
      assert.not_equal(support.read(a .. "/" .. name), support.read(c .. "/" .. name), name)
    end
    for _, name in ipairs({ "registration.csv", "stolen.csv", "pairing.csv" }) do
      assert.equal(support.read(a .. "/lists/" .. name), support.read(b .. "/lists/" .. name), name)
    end
  end)

  it("writes one file per operator, named Operator_Region_Start_End.csv, as many rows as it says", function()
    local dir = support.tmpdir()
    local s = small(dir)
    assert.equal(4, #s.files)
    local total = 0
    for _, path in ipairs(s.files) do
      local op = path:match("/([^/_]+)_National_20260101_20260110%.csv$")
      assert.truthy(op, path)
      local l = lines(path)
      assert.equal("date,imei,imsi,msisdn,rat", l[1])
      assert.equal(s.rows_by_operator[op], #l - 1)
      total = total + #l - 1
    end
    assert.equal(s.rows, total)
    local kinds = 0
    for _, n in pairs(s.damaged_by_kind) do kinds = kinds + n end
    assert.equal(s.damaged, kinds)
    assert.is_true(s.damaged > 0)
  end)

  it("stops at --rows exactly", function()
    local dir = support.tmpdir()
    local s = assert(gen.run { out = dir, rows = 12345, days = 5, seed = 3 })
    assert.equal(12345, s.rows)
    local total = 0
    for _, path in ipairs(s.files) do total = total + #lines(path) - 1 end
    assert.equal(12345, total)
  end)

  it("draws TACs with a Zipf skew, and clones IMEIs across many SIMs", function()
    local dir = support.tmpdir()
    local s = small(dir, { damaged = 0 })
    local tac_devices, imsis_of = {}, {}
    for _, path in ipairs(s.files) do
      for i, line in ipairs(lines(path)) do
        if i > 1 then
          local imei, imsi = line:match("^%d+,([^,]*),([^,]*),")
          local tac = imei:match("^(%d%d%d%d%d%d%d%d)%d%d%d%d%d%d")
          if tac then tac_devices[tac] = (tac_devices[tac] or 0) + 1 end
          imsis_of[imei] = imsis_of[imei] or {}
          imsis_of[imei][imsi] = true
        end
      end
    end
    local counts = {}
    for _, n in pairs(tac_devices) do counts[#counts + 1] = n end
    table.sort(counts, function(x, y) return x > y end)
    local rows = 0
    for _, n in ipairs(counts) do rows = rows + n end
    assert.is_true(counts[1] > rows * 0.03, "the top TAC has more than 3% of the rows")
    assert.is_true(counts[1] > 20 * counts[#counts // 2], "and far more than the median TAC")
    local widest = 0
    for _, set in pairs(imsis_of) do
      local n = 0
      for _ in pairs(set) do n = n + 1 end
      if n > widest then widest = n end
    end
    assert.is_true(widest >= 10, "a cloned IMEI on 10 SIMs or more")
    assert.is_true(s.devices.clone_groups >= 1)
  end)

  it("puts in what imei classify then finds: damaged rows by kind, MEIDs, roamers", function()
    local dir = support.tmpdir()
    local s = small(dir)
    local r = assert(classify.run {
      policy = "policies/example-country.lua", tacdb = "data/osmocom-tacdb.csv", lists = dir .. "/lists",
      out = dir .. "/out", dumps = s.files, jobs = 2,
    })
    local report = r.report
    assert.equal(s.rows, report.input.rows)
    assert.equal(s.damaged, report.input.rejected)
    local found = {}
    for _, rj in ipairs(report.input.rejected_by_reason) do found[rj.reason] = rj.count end
    for kind, n in pairs(s.damaged_by_kind) do
      if n > 0 then assert.equal(n, found[kind], kind) end
    end
    for kind, n in pairs(found) do assert.equal(s.damaged_by_kind[kind], n, kind) end
    assert.equal(s.devices.meid, report.devices.by_kind.meid)
    local roamers = 0
    for _, path in ipairs(s.files) do
      for line in io.lines(path) do
        if line:match("^%d+,[^,]*,234") or line:match("^%d+,[^,]*,404") then roamers = roamers + 1 end
      end
    end
    assert.is_true(roamers > 0)
    -- the generated lists keep the example country's safety ratios: the lists are written
    assert.equal(0, r.code)
    local c = {}
    for _, e in ipairs(report.conditions) do c[e.name] = e end
    assert.is_true(c.stolen.devices > 0)
    assert.is_true(c.duplicate_imsis.devices > 0)
    assert.is_true(c.not_on_registration_list.devices > 0)
    assert.is_true(c.junk_imei.devices > 0)
  end)

  it("writes gzip files that imei classify reads", function()
    local dir = support.tmpdir()
    local s = small(dir, { gzip = true, subscribers = 300, stolen = 0.05 }) -- 300 x 0.002 stolen: often none
    for _, path in ipairs(s.files) do
      assert.matches("%.csv%.gz$", path)
      assert.is_true(os.execute("gzip -t '" .. path .. "'") == true)
    end
    local r = assert(classify.run { policy = "policies/example-country.lua", lists = dir .. "/lists",
                                    out = dir .. "/out", dumps = s.files, force = true })
    assert.equal(s.rows, r.report.input.rows)
    assert.is_true(r.report.input.files[1].gzip)
  end)

  it("runs from the command line", function()
    local dir = support.tmpdir()
    local out, _, code = support.imei(("gen --seed 5 --subscribers 200 --days 3 --out '%s'"):format(dir))
    assert.equal(0, code)
    assert.matches("subscribers over 3 days", out, 1, true)
    local _, err, bad = support.imei(("gen --start 2026-13 --out '%s'"):format(dir))
    assert.equal(2, bad)
    assert.matches("--start", err, 1, true)
  end)
end)
