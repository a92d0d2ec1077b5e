-- lists_spec.lua — imei.core list_load / lists_load_dir / lists_new: DIRBS-style list files
-- (tests/fixtures/lists/), reports with line numbers, membership in every identifier form,
-- collections, reload detection, userdata life cycle (__gc, __close), hidden metatables.
local core = require "imei.core"
local support = require "support"

local FIX = "tests/fixtures/lists/"

local function load(name)
  local list, report = core.list_load(FIX .. name)
  assert(list, report)
  return list, report
end

describe("imei.core.list_load", function()
  after_each(support.cleanup)

  it("loads a stolen list: any IMEI form gives its 14-digit key", function()
    local l, r = load("stolen.csv")
    assert.equal("keys", l:kind())
    assert.equal("stolen", l:name())
    assert.equal(FIX .. "stolen.csv", l:path())
    assert.equal(7, #l)
    assert.equal(8 * (7 + 7 // 8 + 1 + 16 + 7 // 256 + 8), l:bytes()) -- home slots, slack, padding
    assert.equal("imei.list stolen (keys, 7 entries)", tostring(l))
    assert.same({ rows = 9, loaded = 7, rejected = 0, duplicates = 2, warnings = 2, errors = {},
                  bytes = 302, sha256 = "eb3ad988522141262d8d7be0fb7a4be05054f9ca88efba88a554b18ded8b481a",
                  rejected_by = {},
                  warning_lines = {
                    { line = 8,
                      reason = 'imei "860123456789010": check digit 0, expected 4; kept as key 86012345678901' },
                    { line = 10,
                      reason = 'imei "35 2099 0017 6148 0": check digit 0, expected 1; kept as key 35209900176148' },
                  } }, r)
    assert.same(r, l:report())
    for _, id in ipairs { "35209900176148", "352099001761481", "352099001761480", "3520990017614801",
                          "imei-352099001761481", "imeisv-3520990017614812", "35-209900-176148-1",
                          "49015420323751", "260531793113837", "35693803564380", "86012345678901" } do
      assert.is_true(l:has(id), id)
    end
    assert.is_true(l:has(35209900176148)) -- an integer is read as its digits
    assert.is_true(l:has("35209900176148", "410010000000001")) -- a key list ignores the IMSI
    assert.is_false(l:has("35209900176149"))
    assert.is_false(l:has("352099001761499"))
  end)

  it("returns false for anything that does not parse, and never raises on data", function()
    local l = load("stolen.csv")
    for _, v in ipairs { "", "abc", "3520990017614", "A0000000002329", "35209900", "mac-00-11-22-33-44-55",
                         ("9"):rep(10000), "35209900176148\0", "3.5209900176148e13" } do
      assert.is_false(l:has(v), v)
    end
    assert.is_false(l:has(nil))
    assert.is_false(l:has())
    assert.is_false(l:has({}))
    assert.is_false(l:has(true))
    assert.is_false(l:has(3.5))
    assert.is_false(l:has("35209900176148", {})) -- an IMSI of the wrong type matches nothing
  end)

  it("loads a pairing list: key + IMSI, leading zeros count, the key alone means paired with anyone", function()
    local l, r = load("pairing.csv")
    assert.equal("pairs", l:kind())
    assert.equal(5, #l)
    assert.equal(1, r.duplicates)
    assert.is_true(l:has("352099001761481", "410010000000001"))
    assert.is_true(l:has("imeisv-3520990017614899", "410010000000002"))
    assert.is_true(l:has("35209900176148", 410010000000002))
    assert.is_false(l:has("352099001761481", "410010000000003"))
    assert.is_true(l:has("490154203237518", "001010123456789"))
    assert.is_true(l:has("490154203237518", "1010123456789"))
    assert.is_false(l:has("490154203237518", "01010123456789"))
    assert.is_false(l:has("352099001761481", "41001"))
    assert.is_false(l:has("352099001761481", "41001000000000x"))
    assert.is_true(l:has("260531793113837"))
    assert.is_false(l:has("356938035643809"))
  end)

  it("loads a barred TAC list: a device is in it when its TAC is", function()
    local l, r = load("barred_tac.csv")
    assert.equal("tacs", l:kind())
    assert.equal(3, #l)
    assert.equal(1, r.duplicates)
    assert.is_true(l:has("35209900"))
    assert.is_true(l:has("01234500"))
    assert.is_true(l:has("352099001761481"))
    assert.is_true(l:has("imei-860123456789014"))
    assert.is_false(l:has("490154203237518"))
    assert.is_false(l:has("35209901"))
  end)

  it("reads the registration list: approved_imei, BOM, CRLF, quoted fields, no final line end", function()
    local l, r = load("registration.csv")
    assert.equal("keys", l:kind())
    assert.same({ 5, 5, 0 }, { r.rows, r.loaded, r.rejected })
    for _, id in ipairs { "352099001761481", "490154203237518", "260531793113837", "356938035643809",
                          "353322110000016" } do
      assert.is_true(l:has(id), id)
    end
  end)

  it("rejects every bad row with its line number and reason, and keeps the good ones", function()
    local l, r = load("damaged.csv")
    assert.same({ 13, 2, 11, 0 }, { r.rows, r.loaded, r.rejected, r.duplicates })
    local expected = {
      { 3, "invalid character 'X' at position 15" },
      { 4, "wrong length: 13 digits" },
      { 5, "empty imei" },
      { 6, "2 fields, the header has 3" },
      { 7, "4 fields, the header has 3" },
      { 8, "reads as a 3GPP2 MEID, not an IMEI" },
      { 9, "text after a closing quote" },
      { 12, "MAC or EUI-64" },
      { 13, "too long" },
      { 15, "reads as a 3GPP2 ESN, not an IMEI" },
      { 16, "unterminated quoted field" },
    }
    assert.equal(#expected, #r.errors)
    for i, e in ipairs(expected) do
      assert.equal(e[1], r.errors[i].line)
      assert.truthy(r.errors[i].reason:find(e[2], 1, true), r.errors[i].reason)
    end
    assert.is_true(l:has("490154203237518"))
    -- by reason, adding up to the rejected rows
    assert.same({ key = 4, empty = 1, fields = 2, meid_esn = 2, quote = 2 }, r.rejected_by)

    l, r = load("damaged_pairs.csv")
    assert.same({ 8, 2, 6 }, { r.rows, r.loaded, r.rejected })
    assert.same({ 3, 4, 5, 6, 7, 8 }, { r.errors[1].line, r.errors[2].line, r.errors[3].line,
                                        r.errors[4].line, r.errors[5].line, r.errors[6].line })
    assert.equal("empty imsi", r.errors[1].reason)
    assert.equal('imsi "12345": 5 digits, an IMSI has 6 to 15', r.errors[3].reason)
    assert.is_true(l:has("352099001761481", "410010000000004"))

    l, r = load("damaged_tac.csv")
    assert.same({ 6, 2, 4 }, { r.rows, r.loaded, r.rejected })
    assert.equal(6, r.errors[4].line)
    assert.equal("empty tac", r.errors[4].reason)
    assert.is_true(l:has("86012345"))
  end)

  it("loads a file with a header and no rows as an empty list", function()
    local l, r = load("header_only.csv")
    assert.equal("pairs", l:kind())
    assert.equal(0, #l)
    assert.equal(0, r.rows)
    assert.is_false(l:has("352099001761481"))
    l = load("header_only_bom_crlf.csv")
    assert.equal("tacs", l:kind())
  end)

  it("returns nil and a message naming the file, line and reason for file-level errors", function()
    local cases = {
      { "missing.csv", "missing.csv: cannot open: No such file or directory" },
      { "dir", "dir: is a directory" },
      { "empty.csv", "empty.csv: no header row (the file is empty)" },
      { "noheader.csv", "noheader.csv:1: no 'imei', 'approved_imei', 'golden_imei' or 'tac' column" },
      { "badheader.csv", "badheader.csv:1: no 'imei'" },
      { "delta.csv", "delta.csv:1: a 'change_type' column marks a DIRBS delta file" },
      { "twokeys.csv", "twokeys.csv:1: two key columns" },
      { "imsi_no_imei.csv", "imsi_no_imei.csv:1: an 'imsi' column needs an 'imei' column" },
    }
    for _, c in ipairs(cases) do
      local l, err = core.list_load(FIX .. c[1])
      assert.is_nil(l)
      assert.truthy(err:find(FIX .. c[2], 1, true), err)
    end
    local _, err = core.list_load(FIX .. "noheader.csv")
    assert.truthy(err:find("the header row seems to be missing", 1, true))
    local mem = io.open("/proc/self/mem") -- Linux: opens, but reading at address 0 fails
    if mem then
      mem:close()
      _, err = core.list_load("/proc/self/mem")
      assert.equal("/proc/self/mem: cannot read: Input/output error", err)
    end
  end)

  it("loads from a string (list_load_string), with the same rules", function()
    local l, r = core.list_load_string("imei,imsi\n352099001761481,001010123456789\nbad,1\n", "fixture")
    assert.equal("fixture", l:name())
    assert.equal("pairs", l:kind())
    assert.is_nil(l:path())
    assert.is_false(l:changed())
    assert.same({ 2, 1, 1 }, { r.rows, r.loaded, r.rejected })
    assert.equal(3, r.errors[1].line)
    assert.is_true(l:has("imei-352099001761481", "001010123456789"))
    assert.is_true(l:has("35209900176148"))
    assert.equal("list", core.list_load_string("tac\n"):name())
    local none, err = core.list_load_string("", "empty")
    assert.is_nil(none)
    assert.equal("empty: no header row (the file is empty); a list needs a header such as 'imei', "
                 .. "'imei,imsi,msisdn' or 'tac'", err)
    assert.has_error(function() core.list_load_string() end)
  end)

  it("takes a name", function()
    local l = core.list_load(FIX .. "stolen.csv", "local_stolen")
    assert.equal("local_stolen", l:name())
  end)

  it("raises on misuse", function()
    assert.has_error(function() core.list_load() end)
    assert.has_error(function() core.list_load({}) end)
    local l = load("stolen.csv")
    assert.has_error(function() l.has(nil, "35209900176148") end)
    assert.has_error(function() l.has({}, "35209900176148") end)
    local lists = core.lists_load_dir(FIX .. "dir")
    assert.has_error(function() l.has(lists, "35209900176148") end)
  end)

  it("hides its metatable and cannot be changed", function()
    local l = load("stolen.csv")
    assert.is_false(getmetatable(l))
    assert.has_error(function() setmetatable(l, {}) end)
    assert.has_error(function() l.has = function() return true end end)
    assert.is_true(l:has("35209900176148"))
    local lists = core.lists_load_dir(FIX .. "dir")
    assert.is_false(getmetatable(lists))
    assert.has_error(function() lists.stolen = false end)
  end)

  it("is released by __close and raises when used after", function()
    local kept
    do
      local l <close> = load("stolen.csv")
      kept = l
      assert.is_true(l:has("35209900176148"))
    end
    assert.equal("imei.list (closed)", tostring(kept))
    local ok, err = pcall(kept.has, kept, "35209900176148")
    assert.is_false(ok)
    assert.truthy(err:find("the list is closed", 1, true), err)
    assert.has_error(function() return #kept end)
    kept = nil
    collectgarbage() -- __gc after __close is harmless
    collectgarbage()
  end)

  it("checks every member of a generated list of 100,000 keys, and non-members", function()
    local dir = support.tmpdir()
    local rows, keys = { "imei,reporting_date" }, {}
    local seed = 12345
    for i = 1, 100000 do
      seed = (seed * 1103515245 + 12345) % 2147483648
      local key = ("%08d%06d"):format(35000000 + seed % 1000, i)
      keys[i] = key
      rows[#rows + 1] = key .. ",20240101"
    end
    support.write(dir .. "/big.csv", table.concat(rows, "\n") .. "\n")
    local l, r = core.list_load(dir .. "/big.csv")
    assert.equal(100000, r.loaded)
    assert.equal(100000, #l)
    local missing, wrong = 0, 0
    for i = 1, #keys do
      if not l:has(keys[i]) then missing = missing + 1 end
    end
    for i = 1, 100000 do -- serial numbers above those used
      if l:has(("%08d%06d"):format(35000000 + i % 1000, 100000 + i)) then wrong = wrong + 1 end
    end
    assert.equal(0, missing)
    assert.equal(0, wrong)
  end)
end)

describe("imei.core.lists_load_dir", function()
  after_each(support.cleanup)

  it("loads every *.csv of a directory as a named list", function()
    local lists = core.lists_load_dir(FIX .. "dir")
    assert.equal(3, #lists)
    assert.equal("imei.lists (3 lists)", tostring(lists))
    assert.same({ "barred_tac", "pairing", "stolen" }, lists:names())
    assert.equal(FIX .. "dir", lists:dir())
    local stolen = lists:get("stolen")
    assert.equal("stolen", stolen:name())
    assert.is_true(stolen:has("490154203237518"))
    assert.equal(stolen, lists:get("stolen")) -- one userdata per name
    assert.equal(stolen, lists.stolen)         -- sugar for policies
    assert.is_true(lists.pairing:has("352099001761481", "410010000000001"))
    assert.is_true(lists.barred_tac:has("860123456789014"))
    assert.is_nil(lists:get("nope"))
    assert.is_nil(lists.nope)
    assert.is_nil(lists[1])
    assert.same({ rows = 2, loaded = 2, rejected = 0, duplicates = 0, warnings = 0, errors = {},
                  bytes = 86, sha256 = "d1efdc7e589f12f47bb3263efef2fbfa03b089f5998e99f0fdfa44c870018915",
                  rejected_by = {}, warning_lines = {} }, lists:report("stolen"))
    local none, err = lists:report("nope")
    assert.is_nil(none)
    assert.equal("no list named 'nope'", err)
  end)

  it("fails as a whole, naming the file, when one file fails", function()
    local lists, err = core.lists_load_dir(FIX)
    assert.is_nil(lists)
    assert.equal(FIX .. "badheader.csv:1: no 'imei', 'approved_imei', 'golden_imei' or 'tac' column in the header"
                 .. ' "serial,date"', err)
    lists, err = core.lists_load_dir(FIX .. "none")
    assert.is_nil(lists)
    assert.equal(FIX .. "none: No such file or directory", err)
  end)

  it("tells when the files changed; a new collection sees the change, the old one stays as it was", function()
    local dir = support.tmpdir()
    support.write(dir .. "/stolen.csv", "imei\n352099001761481\n")
    local lists = assert(core.lists_load_dir(dir))
    assert.is_false(lists:changed())
    support.write(dir .. "/notes.txt", "not a list")
    assert.is_false(lists:changed())
    support.write(dir .. "/stolen.csv", "imei\n352099001761481\n490154203237518\n")
    assert.is_true(lists:changed())
    assert.is_true(lists.stolen:changed())
    local fresh = assert(core.lists_load_dir(dir))
    assert.is_false(fresh:changed())
    assert.is_true(fresh.stolen:has("490154203237518"))
    assert.is_false(lists.stolen:has("490154203237518"))
    support.write(dir .. "/monitoring.csv", "imei\n")
    assert.is_true(fresh:changed())
    os.remove(dir .. "/monitoring.csv")
    assert.is_false(fresh:changed())
    os.remove(dir .. "/stolen.csv")
    assert.is_true(fresh:changed())
    os.remove(dir .. "/notes.txt")
    os.remove(dir)
    local ok, err = fresh:changed()
    assert.is_nil(ok)
    assert.truthy(err:find("No such file or directory", 1, true))
  end)

  it("keeps its lists alive after the collection is closed", function()
    local stolen
    do
      local lists <close> = core.lists_load_dir(FIX .. "dir")
      stolen = lists.stolen
    end
    assert.is_true(stolen:has("490154203237518"))
  end)

  it("hands out a fresh userdata when the cached one was closed", function()
    local lists = core.lists_load_dir(FIX .. "dir")
    do
      local s <close> = lists.stolen
      assert.is_true(s:has("490154203237518"))
    end
    assert.is_true(lists.stolen:has("490154203237518"))
  end)

  it("raises when used after close", function()
    local lists = core.lists_load_dir(FIX .. "dir")
    do
      local closing <close> = lists
      assert.equal(3, #closing)
    end
    assert.equal("imei.lists (closed)", tostring(lists))
    assert.has_error(function() return lists:names() end)
    assert.has_error(function() return lists.stolen end)
  end)
end)

describe("imei.core.lists_new", function()
  it("builds a collection from lists", function()
    local a, b = load("stolen.csv"), load("pairing.csv")
    local lists = core.lists_new { a, b }
    assert.same({ "stolen", "pairing" }, lists:names())
    assert.is_nil(lists:dir())
    assert.is_false(lists:changed())
    assert.is_true(lists.stolen:has("49015420323751"))
  end)

  it("refuses two lists of one name, and non-lists", function()
    local a = load("stolen.csv")
    local lists, err = core.lists_new { a, a }
    assert.is_nil(lists)
    assert.equal("two lists named 'stolen'", err)
    assert.has_error(function() core.lists_new { a, "x" } end)
    assert.has_error(function() core.lists_new() end)
  end)
end)
