-- Inputs that cannot go missing: the adversarial corpus of issue 10 §5. Every fixture is
-- made here: a missing, empty or damaged list the policy needs; dumps with CR-only line
-- ends, a second gzip member, bytes after the gzip data, UTF-16 text, a truncated gzip
-- stream, a last line cut short; a reason name with a line end; a full disk. Each must be
-- read whole or refused with the file, the line or byte, and the cause, and --out must be
-- left as it was whenever nothing is published.
local support = require "support"
local classify = require "imei.classify"
local core = require "imei.core"
local host = require "imei.host"
local text = require "imei.classify.text"
local lists_mod = require "imei.classify.lists"

local POLICY = [[
local P = policy.new { name = "t", version = "1" }
P:condition { name = "stolen", status = "BLACKLISTED", max_ratio = 1,
  when = function(d) return d.key ~= nil and lists.stolen:has(d.key) end }
return P
]]

local DUMP = "date,imei,imsi,msisdn\n" ..
  "20260101,352099001761481,410010000000001,923001234567\n" ..
  "20260102,490154203237518,410010000000002,923001234568\n" ..
  "20260103,356938035643809,410010000000003,923001234569\n"
local DUMP_NAME = "Op_R_20260101_20260131.csv"

local function setup(dir, stolen)
  os.execute("mkdir -p '" .. dir .. "/lists'")
  if stolen then support.write(dir .. "/lists/stolen.csv", stolen) end
  return support.write(dir .. "/p.lua", POLICY)
end

local function run(dir, dumps, extra)
  local opts = { policy = dir .. "/p.lua", lists = dir .. "/lists", out = dir .. "/out", dumps = dumps, jobs = 1 }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return classify.run(opts)
end

local function gzip(s)
  local dir = support.tmpdir()
  support.write(dir .. "/x", s)
  assert(os.execute("gzip -n '" .. dir .. "/x'"))
  return support.read(dir .. "/x.gz")
end

local function blocklist(dir)
  return support.read(dir .. "/out/blocklist.csv")
end

describe("inputs that cannot go missing", function()
  after_each(support.cleanup)

  describe("the lists a policy needs", function()
    it("refuses to classify without stolen.csv, naming the list, and writes nothing", function()
      local dir = support.tmpdir()
      setup(dir, nil)
      support.write(dir .. "/lists/registration.csv", "approved_imei\n352099001761481\n")
      local dump = support.write(dir .. "/" .. DUMP_NAME, DUMP)
      local r, err = run(dir, { dump })
      assert.is_nil(r)
      assert.matches("list 'stolen' (the policy reads it at " .. dir .. "/p.lua:3): missing: there is no " ..
        dir .. "/lists/stolen.csv", err, 1, true)
      assert.is_nil(host.file_size(dir .. "/out"))
      -- the command line: exit 2 and the same words
      local _, stderr, code = support.imei(("classify -q --policy %s/p.lua --lists %s/lists --out %s/out %s")
        :format(dir, dir, dir, dump))
      assert.equal(2, code)
      assert.matches("missing: there is no", stderr, 1, true)
    end)

    it("refuses an empty list and a damaged one, and says why", function()
      local dir = support.tmpdir()
      setup(dir, "imei,reporting_date,status\n")
      local dump = support.write(dir .. "/" .. DUMP_NAME, DUMP)
      local r, err = run(dir, { dump })
      assert.is_nil(r)
      assert.matches("stolen.csv: empty (no rows)", err, 1, true)
      support.write(dir .. "/lists/stolen.csv", "imei\n352099001761481\nnot-an-imei\n12\n")
      r, err = run(dir, { dump })
      assert.is_nil(r)
      assert.matches("stolen.csv: damaged: 2 of 3 rows rejected (66.7%), more than the 1% allowed", err, 1, true)
      assert.matches("first: line 3:", err, 1, true)
      -- a policy may accept more damage, or an empty list, by saying so
      local lenient = POLICY:gsub("return P", 'P:requires_list("stolen", { max_rejected = 0.9 })\nreturn P')
      support.write(dir .. "/p.lua", lenient)
      r = assert(run(dir, { dump }))
      assert.equal(0, r.code)
    end)

    it("the engine refuses lists that lose a needed list, and keeps the old ones", function()
      local dir = support.tmpdir()
      setup(dir, "imei\n352099001761481\n")
      local e = assert(require("imei.engine").new { policy = dir .. "/p.lua", lists = dir .. "/lists" })
      assert.equal("BLACKLISTED", e:check { pei = "352099001761481" }.status)
      local empty = support.tmpdir()
      support.write(empty .. "/stolen.csv", "imei\n")
      local ok, err = e:set_lists(core.lists_load_dir(empty))
      assert.is_nil(ok)
      assert.matches("stolen.csv: empty", err, 1, true)
      assert.equal("BLACKLISTED", e:check { pei = "352099001761481" }.status)
      -- the same through refresh (what SIGHUP and the file watch do)
      os.remove(dir .. "/lists/stolen.csv")
      ok, err = e:refresh()
      assert.is_nil(ok)
      assert.matches("missing: there is no", err, 1, true)
      assert.equal("BLACKLISTED", e:check { pei = "352099001761481" }.status)
      e:close()
    end)

    it("reports every list read: rows, rejected by reason, sha256", function()
      local dir = support.tmpdir()
      local stolen = "imei\n352099001761481\n490154203237518\n"
      setup(dir, stolen)
      local r = assert(run(dir, { support.write(dir .. "/" .. DUMP_NAME, DUMP) }))
      local l = r.report.lists_loaded[1]
      local sum = io.popen("sha256sum '" .. dir .. "/lists/stolen.csv'"):read("l"):match("^(%x+)")
      assert.same({ name = "stolen", file = dir .. "/lists/stolen.csv", kind = "keys", rows = 2, loaded = 2,
                    rejected = 0, rejected_by = {}, duplicates = 0, warnings = 0, bytes = #stolen, sha256 = sum,
                    errors = {} }, l)
      local txt = support.read(dir .. "/out/report.txt")
      assert.matches("Lists read:", txt, 1, true)
      assert.matches(sum, txt, 1, true)
      assert.matches('"sha256": "' .. sum .. '"', support.read(dir .. "/out/report.json"), 1, true)
    end)
  end)

  describe("dumps", function()
    local function counts(dir, dumps)
      local r = assert(run(dir, dumps))
      return r.report.input.rows, r.report.input.accepted, blocklist(dir)
    end

    it("reads CR-only line ends as lines", function()
      local dir = support.tmpdir()
      setup(dir, "imei\n352099001761481\n")
      local rows, accepted, block = counts(dir, { support.write(dir .. "/" .. DUMP_NAME, (DUMP:gsub("\n", "\r"))) })
      assert.equal(3, rows)
      assert.equal(3, accepted)
      assert.matches("35209900176148,", block, 1, true)
    end)

    it("reads every gzip member, and refuses bytes after the gzip data with their offset", function()
      local dir = support.tmpdir()
      setup(dir, "imei\n352099001761481\n")
      local a = gzip(DUMP:match("^(.-\n.-\n)"))
      local b = gzip(DUMP:match("^.-\n.-\n(.*)$"))
      local path = support.write(dir .. "/" .. DUMP_NAME, a .. b)
      local rows = counts(dir, { path })
      assert.equal(3, rows)
      -- now garbage after the first member: refused, nothing written, --out as it was
      local before = blocklist(dir)
      support.write(path, a .. "20260104,352099001761481,410010000000009,\n")
      local r, err = run(dir, { path })
      assert.is_nil(r)
      assert.matches(path .. ": byte " .. #a .. " (after line 2): 42 bytes after the end of the gzip data", err, 1,
        true)
      assert.equal(before, blocklist(dir))
      -- and a stream cut short
      support.write(path, a:sub(1, #a - 6))
      r, err = run(dir, { path })
      assert.is_nil(r)
      assert.matches("truncated", err, 1, true)
      assert.equal(before, blocklist(dir))
    end)

    it("names a UTF-16 dump as such", function()
      local dir = support.tmpdir()
      setup(dir, "imei\n352099001761481\n")
      local utf16 = "\255\254" .. DUMP:gsub(".", "%0\0")
      local r, err = run(dir, { support.write(dir .. "/" .. DUMP_NAME, utf16) })
      assert.is_nil(r)
      assert.matches(DUMP_NAME .. ": the file is UTF-16 (little-endian), from its byte order mark", err, 1, true)
      r, err = run(dir, { support.write(dir .. "/" .. DUMP_NAME, gzip(DUMP:gsub(".", "\0%0"))) })
      assert.is_nil(r)
      assert.matches("UTF-16 (big-endian), from the NUL bytes", err, 1, true)
    end)

    it("reports a dump that ends in the middle of a line, with its file and line", function()
      local dir = support.tmpdir()
      setup(dir, "imei\n352099001761481\n")
      local path = support.write(dir .. "/" .. DUMP_NAME, DUMP .. "20260104,3520990017")
      local r = assert(run(dir, { path }))
      assert.same({ path .. ":5: the file ends in the middle of this line (no line end): was the copy cut short? " ..
                    "The line was read as it stands" }, r.report.input.warnings)
      assert.matches("WARNING: " .. path .. ":5: the file ends", r.text, 1, true)
    end)
  end)

  describe("the lists classify writes", function()
    it("reads back what it writes (commas, quotes), and refuses a cell with a line end", function()
      local dir = support.tmpdir()
      local built = {
        operators = { "Op" },
        block = { { "35209900176148", "20260101", 'a,b"c' } },
        notifications = { Op = { { "35209900176148", "410010000000001", "", "20260201", "x,y" } } },
        exceptions = { Op = { { "35209900176148", "410010000000002", "923" } } },
        deltas = { block = {}, notifications = { Op = {} }, exceptions = { Op = {} } },
      }
      assert(lists_mod.write(built, dir))
      local prev = assert(lists_mod.read_previous(dir, host.listdir(dir)))
      local function cells(row) return { table.unpack(row, 1, #row) } end
      assert.same(built.block[1], cells(prev.block["35209900176148"]))
      assert.same(built.notifications.Op[1], cells(prev.notifications.Op["35209900176148/410010000000001"]))
      built.block[1][3] = "a\nb"
      local ok, err = lists_mod.write(built, dir)
      assert.is_nil(ok)
      assert.equal(dir .. "/blocklist.csv: row 1: 35209900176148,20260101,\"a\\10b\": a cell holds a control " ..
        "character (a line end, ...); refused rather than write a list that cannot be read back", err)
      -- a broken quote still names its file and line
      support.write(dir .. "/blocklist.csv", 'imei,block_date,reasons\n1,2,3\n4,5,"6\n')
      local _, rerr = lists_mod.read_previous(dir, {})
      assert.matches(dir .. "/blocklist.csv:3: ", rerr, 1, true)
    end)

    it("refuses a reason name with a line end rather than write lists it cannot read back", function()
      local dir = support.tmpdir()
      setup(dir, "imei\n352099001761481\n")
      support.write(dir .. "/p.lua", [[
local P = policy.new { name = "raw", version = "1" }
P:check(function(d)
  return { status = "BLACKLISTED", reasons = { { condition = "bad\nname", status = "BLACKLISTED" } } }
end)
return P
]])
      local dump = support.write(dir .. "/" .. DUMP_NAME, DUMP)
      -- the policy loader or the runtime refuses the name (a word), or lists.build does:
      -- either way no list carries it, and without --force no list is written at all
      local r, err = run(dir, { dump })
      if r then
        assert.equal(1, r.code)
        assert.is_false(r.report.lists_written)
      else
        assert.matches("name", err, 1, true)
      end
      assert.is_nil(host.file_size(dir .. "/out/blocklist.csv"))
      r = run(dir, { dump }, { force = true })
      if r then assert.not_matches("bad", support.read(dir .. "/out/blocklist.csv"), 1, true) end
    end)
  end)

  describe("a full disk", function()
    it("is said as such, for one file", function()
      local ok, err = text.write_file("/dev/full", ("x"):rep(100000))
      assert.is_nil(ok)
      assert.equal("/dev/full: disk full (ENOSPC: no space left on device)", err)
    end)

    it("stops classify with 'disk full' and leaves --out as it was", function()
      local dir = support.tmpdir()
      setup(dir, "imei\n352099001761481\n")
      -- a 64 KiB tmpfs in a private mount namespace (root only: CI runs as root)
      local mnt = dir .. "/small"
      os.execute("mkdir -p '" .. mnt .. "'")
      local big = {}
      for i = 1, 3000 do
        big[#big + 1] = ("20260101,3520990017%04d1,41001%010d,923001234567"):format(i, i)
      end
      local dump = support.write(dir .. "/" .. DUMP_NAME, "date,imei,imsi,msisdn\n" .. table.concat(big, "\n") .. "\n")
      support.write(dir .. "/p.lua", POLICY:gsub("d.key ~= nil and lists.stolen:has%(d.key%)", "d.key ~= nil"))
      local script = support.write(dir .. "/run.sh", ([[
set -e
mount -t tmpfs -o size=64k tmpfs '%s'
mkdir '%s/out'
printf 'imei,block_date,reasons\n35209900176148,20250101,old\n' >'%s/out/blocklist.csv'
bin/imei classify -q --jobs 1 --policy '%s/p.lua' --lists '%s/lists' --out '%s/out' '%s' 2>'%s/err' && exit 9
ls -A '%s/out' >'%s/after'
cat '%s/out/blocklist.csv' >'%s/block'
]]):format(mnt, mnt, mnt, dir, dir, mnt, dump, dir, mnt, dir, mnt, dir))
      local ok = os.execute("unshare -m sh '" .. script .. "'")
      assert.is_true(ok, "needs root (unshare, mount tmpfs): " .. tostring(support.read(dir .. "/err")))
      local err = support.read(dir .. "/err")
      assert.matches("disk full (ENOSPC: no space left on device)", err, 1, true)
      assert.equal("blocklist.csv\n", support.read(dir .. "/after"))
      assert.equal("imei,block_date,reasons\n35209900176148,20250101,old\n", support.read(dir .. "/block"))
    end)
  end)
end)
