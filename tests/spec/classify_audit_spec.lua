-- imei classify's audit trail: report.json records the SHA-256 and size of every input
-- and published file, the version, the command line and the state's generation; and
-- `imei classify --verify OUT` recomputes them (exit 0 all match, 1 not, 2 error).
local gen = require "imei.gen"
local core = require "imei.core"
local support = require "support"
local cjson = require "cjson"

local function sha256sum(path) -- an independent digest: coreutils
  local p = assert(io.popen("sha256sum '" .. path .. "'"))
  local line = p:read("l")
  p:close()
  return line:match("^(%x+)")
end

local function size(path)
  return #assert(support.read(path))
end

local function by_role(audit, role)
  local t = {}
  for _, i in ipairs(audit.inputs) do
    if i.role == role then t[#t + 1] = i end
  end
  return t
end

-- dumps and lists for one small run, and the CLI arguments of a run into `out`
local function setup_run(dir)
  local s = assert(gen.run { out = dir .. "/dumps", subscribers = 400, days = 3, seed = 4, lists = dir .. "/lists",
                             tacdb = "data/osmocom-tacdb.csv" })
  local quoted = {}
  for i, f in ipairs(s.files) do quoted[i] = "'" .. f .. "'" end
  return s, ("classify -q --force --policy policies/example-country.lua --tacdb data/osmocom-tacdb.csv " ..
             "--lists '%s/lists' --out '%s/out' %s"):format(dir, dir, table.concat(quoted, " "))
end

describe("imei classify audit trail", function()
  after_each(support.cleanup)

  it("records every input's and every published file's SHA-256 and size, the version and the command line", function()
    local dir = support.tmpdir()
    local s, args = setup_run(dir)
    local _, err, code = support.imei(args)
    assert.equal(0, code, err)
    local r = cjson.decode(support.read(dir .. "/out/report.json"))
    local a = r.audit
    assert.equal(core.version, a.engine_version)
    assert.equal(r.run.date, a.run_date)
    assert.equal("imei", a.command_line[1])
    assert.equal("classify", a.command_line[2])
    assert.equal("--policy", a.command_line[5])
    assert.equal(0, a.state.generation_before) -- the state (--out/state by default): its first run
    assert.equal(1, a.state.generation_after)
    -- the policy and every file of its extend chain
    local policies = by_role(a, "policy")
    assert.equal(2, #policies)
    assert.equal("policies/example-country.lua", policies[1].path)
    assert.matches("policies/baseline%.lua$", policies[2].path)
    local tacdb = by_role(a, "tacdb")
    assert.equal(1, #tacdb)
    local lists = by_role(a, "list")
    assert.equal(3, #lists)
    local dumps = by_role(a, "dump")
    assert.equal(#s.files, #dumps)
    for _, i in ipairs(a.inputs) do
      assert.equal(sha256sum(i.path), i.sha256, i.path)
      assert.equal(size(i.path), i.bytes, i.path)
      assert.matches("^/", i.absolute)
    end
    -- the lists' digests are those of lists_loaded (computed once, by the loader)
    for k, l in ipairs(r.lists_loaded) do assert.equal(l.sha256, lists[k].sha256) end
    -- each published file but report.json itself
    local names = {}
    for _, o in ipairs(a.outputs) do
      names[o.path] = true
      assert.equal(sha256sum(dir .. "/out/" .. o.path), o.sha256, o.path)
      assert.equal(size(dir .. "/out/" .. o.path), o.bytes, o.path)
    end
    assert.is_true(names["blocklist.csv"])
    assert.is_true(names["report.txt"])
    assert.is_nil(names["report.json"])
    assert.matches("Audit: imei " .. core.version, support.read(dir .. "/out/report.txt"), 1, true)
  end)

  it("records the --compare policy's files too, each file once", function()
    local dir = support.tmpdir()
    local _, args = setup_run(dir)
    local old = support.write(dir .. "/old.lua", assert(support.read("policies/example-country.lua")))
    local _, err, code = support.imei(args .. (" --compare '%s'"):format(old))
    assert.equal(0, code, err)
    local a = cjson.decode(support.read(dir .. "/out/report.json")).audit
    local cmp = by_role(a, "compare")
    assert.equal(1, #cmp) -- its base, baseline.lua, is the policy's and recorded once, as "policy"
    assert.equal(old, cmp[1].path)
    assert.equal(sha256sum(old), cmp[1].sha256)
    assert.equal(2, #by_role(a, "policy"))
  end)

  it("--verify says all match, then names each changed or missing file (exit 1)", function()
    local dir = support.tmpdir()
    local s, args = setup_run(dir)
    local _, err, code = support.imei(args)
    assert.equal(0, code, err)
    local out
    out, err, code = support.imei(("classify --verify '%s/out'"):format(dir))
    assert.equal(0, code, err)
    assert.matches("^ok%s+policy%s+policies/example%-country%.lua\n", out)
    assert.matches("all %d+ files match the report\n$", out)
    -- a dump changed by one byte, a list appended to, a published list removed
    local dump = s.files[2]
    local text = support.read(dump)
    support.write(dump, text:sub(1, -3) .. (text:sub(-2, -2) == "E" and "F" or "E") .. "\n")
    local f = assert(io.open(dir .. "/lists/stolen.csv", "ab"))
    f:write("490154203237518,20251201,blacklist\n")
    f:close()
    assert(os.remove(dir .. "/out/blocklist.csv"))
    out, err, code = support.imei(("classify --verify '%s/out'"):format(dir))
    assert.equal(1, code, err)
    assert.matches("CHANGED    dump      " .. dump .. ": now sha256 ", out, 1, true)
    assert.matches("CHANGED    list      " .. dir .. "/lists/stolen.csv", out, 1, true)
    assert.matches("MISSING    published blocklist.csv", out, 1, true)
    assert.matches("3 of %d+ files do not match the report\n$", out)
    -- JSON too
    out, _, code = support.imei(("classify --verify '%s/out' --json"):format(dir))
    assert.equal(1, code)
    local j = cjson.decode(out)
    assert.is_false(j.match)
    local bad = 0
    for _, e in ipairs(j.files) do if e.status ~= "ok" then bad = bad + 1 end end
    assert.equal(3, bad)
  end)

  it("--verify fails with exit 2 on a missing, broken or trail-less report, and refuses other options", function()
    local dir = support.tmpdir()
    local _, err, code = support.imei(("classify --verify '%s'"):format(dir))
    assert.equal(2, code)
    assert.matches("report.json: cannot read the report", err, 1, true)
    support.write(dir .. "/report.json", "{ not json")
    _, err, code = support.imei(("classify --verify '%s'"):format(dir))
    assert.equal(2, code)
    assert.matches("not a JSON report", err, 1, true)
    support.write(dir .. "/report.json", '{"run": {}}')
    _, err, code = support.imei(("classify --verify '%s'"):format(dir))
    assert.equal(2, code)
    assert.matches("has no audit trail", err, 1, true)
    _, err, code = support.imei(("classify --verify '%s' --policy policies/baseline.lua"):format(dir))
    assert.equal(2, code)
    assert.matches("--verify OUT takes no --policy", err, 1, true)
    _, err, code = support.imei(("classify --out '%s' x.csv"):format(dir))
    assert.equal(2, code)
    assert.matches("a policy file is required (--policy)", err, 1, true)
  end)

  it("records a dump read from standard input as not hashed, which --verify cannot vouch for", function()
    local dir = support.tmpdir()
    local s = assert(gen.run { out = dir .. "/dumps", subscribers = 100, days = 2, seed = 4, lists = dir .. "/lists",
                               tacdb = "data/osmocom-tacdb.csv" })
    local _, err, code = support.imei(("classify -q --force --policy policies/example-country.lua " ..
      "--lists '%s/lists' --operator Jazz --out '%s/out' -"):format(dir, dir), support.read(s.files[1]))
    assert.equal(0, code, err)
    local a = cjson.decode(support.read(dir .. "/out/report.json")).audit
    local d = by_role(a, "dump")[1]
    assert.equal("-", d.path)
    assert.equal(cjson.null, d.sha256)
    local out
    out, _, code = support.imei(("classify --verify '%s/out'"):format(dir))
    assert.equal(1, code)
    assert.matches("NOT HASHED dump      -: the report has no digest of it", out, 1, true)
  end)

  it("hashes the dumps on a thread beside the reading or after it, with the same digests", function()
    local dir = support.tmpdir()
    local s = assert(gen.run { out = dir .. "/dumps", subscribers = 300, days = 2, seed = 8, lists = dir .. "/lists",
                               tacdb = "data/osmocom-tacdb.csv" })
    local classify = require "imei.classify"
    local digests = {}
    for _, jobs in ipairs({ 1, 2 }) do
      local r = assert(classify.run { policy = "policies/example-country.lua", lists = dir .. "/lists",
                                      out = dir .. "/out" .. jobs, dumps = s.files, jobs = jobs, force = true })
      digests[jobs] = {}
      for _, d in ipairs(by_role(r.report.audit, "dump")) do digests[jobs][#digests[jobs] + 1] = d.sha256 end
    end
    assert.equal(#s.files, #digests[1])
    assert.same(digests[1], digests[2])
    for i, path in ipairs(s.files) do assert.equal(sha256sum(path), digests[1][i]) end
    -- a dump that vanishes after being read is an error, not a report without its digest
    local host = require "imei.host"
    local job = host.digest_files({ s.files[1], dir .. "/nowhere.csv", dir })
    local res = job:wait()
    assert.equal(sha256sum(s.files[1]), res[1].sha256)
    assert.matches("nowhere.csv: No such file or directory", res[2].error, 1, true)
    assert.matches("is a directory", res[3].error, 1, true)
  end)
end)
