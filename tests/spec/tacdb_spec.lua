-- tacdb_spec.lua — imei.tacdb: longest-prefix lookups (exact TAC over a range, 1- and
-- 14-digit keys, the empty db), both loaders on the real Osmocom file (data/) and on
-- damaged fixtures (tests/fixtures/tacdb/, every rejected row asserted with its line and
-- reason), the GSMA sample, header errors, image round trips (every TAC of the real file
-- answers the same from a saved and reopened image), truncated and corrupt images,
-- random bytes fed to both loaders, and the `imei tac` / `imei inspect --tacdb` commands.
local tacdb = require "imei.tacdb"
local support = require "support"

local FIX = "tests/fixtures/tacdb/"
local OSMOCOM = "data/osmocom-tacdb.csv"
local SAMPLE = "data/sample-gsma-tac.txt"

local function lines_of(list)
  local t = {}
  for i, e in ipairs(list) do t[i] = e.line end
  return t
end

local function reason_at(list, line)
  for _, e in ipairs(list) do
    if e.line == line then return e.reason end
  end
end

-- The osmocom file is loaded once for the specs that only read it.
local real_db, real_report
local function real()
  if not real_db then real_db, real_report = assert(tacdb.load(OSMOCOM)) end
  return real_db, real_report
end

describe("imei.tacdb lookups", function()
  local db
  setup(function()
    db = assert(tacdb.build {
      { tac = "3", brand = "one digit" },
      { tac = "35", brand = "BABT range" },
      { tac = "356789", brand = "six digit range" },
      { tac = "35678901", brand = "exact TAC", model = "M1", allocation_date = "2013-04-26",
        bands = "GSM 900, LTE FDD BAND 3", extra = { colour = "red", empty = "" } },
      { tac = "3567890112", brand = "serial range" },
      { tac = "35678901123456", brand = "one device" },
      { tac = "49015420", brand = "other" },
    })
  end)

  it("prefers the exact TAC to a range, and longer keys to the TAC", function()
    assert.equal("exact TAC", db:lookup("35678901").brand)
    assert.equal("exact TAC", db:lookup("356789019999999").brand)
    assert.equal("six digit range", db:lookup("356789029999999").brand)
    assert.equal("BABT range", db:lookup("35111111").brand)
    assert.equal("one digit", db:lookup("39").brand)
    assert.equal("one digit", db:lookup("3").brand)
    assert.equal("serial range", db:lookup("356789011299999").brand)
    assert.equal("one device", db:lookup("356789011234567").brand)
    assert.equal("one device", db:lookup("35678901123456").brand)
    assert.equal("one device", db:lookup("3567890112345699").brand) -- IMEISV: the SVN is not identity
    assert.is_nil(db:lookup("4"))
    assert.is_nil(db:lookup("12345678"))
  end)

  it("gives the matched key as tac, and the record fields", function()
    local rec = db:lookup("35678902")
    assert.equal("356789", rec.tac)
    rec = db:lookup("35678901")
    assert.same({
      tac = "35678901", brand = "exact TAC", model = "M1", allocation_date = "2013-04-26",
      bands = "GSM 900, LTE FDD BAND 3", rat = tacdb.RAT["2G"] | tacdb.RAT["4G"],
      rats = { ["2G"] = true, ["4G"] = true }, extra = { colour = "red" },
    }, rec)
  end)

  it("accepts identifiers as people write them, and explains what it cannot read", function()
    assert.equal("one device", db:lookup("35-678901-123456-7").brand)
    assert.equal("one device", db:lookup("imei-356789011234567").brand)
    assert.equal("one device", db:lookup("imeisv-3567890112345601").brand)
    local rec, err = db:lookup("3567890A")
    assert.is_nil(rec)
    assert.equal("'A' at position 8 is not a digit", err)
    rec, err = db:lookup("")
    assert.is_nil(rec)
    assert.matches("no digits", err)
    rec, err = db:lookup("12345678901234567")
    assert.is_nil(rec)
    assert.matches("more than 16 digits", err)
    assert.has_error(function() db:lookup(35678901) end)
    assert.has_error(function() db.lookup({}, "35678901") end)
  end)

  it("returns the same record table for the same record", function()
    assert.equal(db:lookup("35678901"), db:lookup("356789011111111"))
    local found
    for i = 1, #db do
      if db:record(i).tac == "35678901" then found = db:record(i) end
    end
    assert.equal(db:lookup("35678901"), found)
    assert.equal("3", db:record(3).tac) -- after the 8-digit TACs, the other keys in digit order
    assert.equal(7, #db)
    assert.has_error(function() db:record(0) end)
    assert.has_error(function() db:record(8) end)
  end)

  it("gives the record number without building a record, and keeps a bounded cache", function()
    local i = db:index("356789011111111")
    assert.equal("35678901", db:record(i).tac)
    assert.is_nil(db:index("12345678"))
    local none, err = db:index("x")
    assert.is_nil(none)
    assert.matches("not a digit", err)
    assert.equal(262144, db:cache())
    assert.equal(262144, db:cache(0)) -- no cache: a fresh table each time
    local a, b = db:lookup("35678901"), db:lookup("35678901")
    assert.are_not.equal(a, b)
    assert.same(a, b)
    assert.equal(a.rats, db:lookup("35678901").rats) -- one rats set per RAT mask
    db:cache(16384)
    assert.has_error(function() db:cache(-1) end)
  end)

  it("counts a buffer of identifiers in one call", function()
    local counts = db:lookup_many("35678901\n356789011234567\r\n12345678\nnot one\n\n490154203237518")
    assert.same({ lines = 6, found = 3, not_found = 1, invalid = 2 }, counts)
  end)

  it("works empty", function()
    local empty = assert(tacdb.build {})
    assert.equal(0, #empty)
    assert.is_nil(empty:lookup("35678901"))
    assert.is_nil(empty:lookup("356789011234567"))
    assert.same({ lines = 1, found = 0, not_found = 1, invalid = 0 }, empty:lookup_many("35678901"))
    local back = assert(require("imei.core").tacdb_from_image(empty:image()))
    assert.equal(0, #back)
  end)

  it("reports bad records given to build, and closes", function()
    local db2, err = tacdb.build { { tac = "3567890X", brand = "x" } }
    assert.is_nil(db2)
    assert.matches("record 1: key: character 8 is not a decimal digit", err, 1, true)
    db2, err = tacdb.build { { tac = "123456789012345" } }
    assert.is_nil(db2)
    assert.matches("record 1: key of 15 digits", err, 1, true)
    db2, err = tacdb.build { { tac = "35678901", allocation_date = "2013-02-30" } }
    assert.is_nil(db2)
    assert.matches("20130230 is not a date", err, 1, true)
    db2, err = tacdb.build({ { tac = "35678901" }, { tac = "35678901" } }, { duplicates = "error" })
    assert.is_nil(db2)
    assert.equal("record 2: key 35678901 is already record 1", err)
    local d <close> = assert(tacdb.build { { tac = "35678901", brand = "x" } })
    d:close()
    assert.equal("imei.tacdb (closed)", tostring(d))
    local ok, err2 = pcall(d.lookup, d, "35678901")
    assert.is_false(ok)
    assert.matches("the TAC database is closed", err2, 1, true)
  end)

  it("derives the RAT mask from the bands text", function()
    assert.equal(1 | 2 | 4 | 8, tacdb.rat_from_bands("GSM 900, WCDMA FDD Band I, LTE 2100, NR n78"))
    assert.equal(2, tacdb.rat_from_bands("TD-SCDMA, CDMA2000, EV-DO"))
    assert.equal(4, tacdb.rat_from_bands("CA_1A-3A, DC_3A_n78A"))
    assert.equal(0, tacdb.rat_from_bands("Bluetooth, WLAN"))
  end)

  it("states its sizes", function()
    local st = db:stats()
    assert.equal(7, st.records)
    assert.equal(2, st.tacs)
    assert.equal(5, st.other_keys)
    assert.is_false(st.mapped)
    assert.equal(st.image_bytes, #db:image())
  end)
end)

describe("imei.tacdb.load of the real Osmocom file", function()
  it("loads it and reports every repair, rejection, duplicate and conflict", function()
    local db, r = real()
    assert.equal("osmocom", r.format)
    assert.equal(25177, r.lines)
    assert.equal(25175, r.rows)
    assert.equal(25121, #db)
    assert.equal(25121, r.records)
    assert.equal(1, r.rejected)
    assert.same({ { line = 25150, reason = "TAC '106600' has 6 digits; a TAC has 8" } }, r.errors)
    assert.equal(3, r.duplicates)
    assert.same({ line = 19223, tac = "33205600", first_line = 3992, kept = 19223 }, r.duplicate_rows[1])
    -- 50 repaired 7-digit rows name a TAC an exact row has (44 with another brand or model)
    assert.equal(50, r.conflicts)
    assert.same({ line = 22061, tac = "01194800", kept = 13 }, r.conflict_rows[1])
    assert.equal(779, r.fixes.tac_leading_zero.count)
    assert.equal(3169, r.fixes.trimmed.count)
    assert.equal(0, r.warnings)
    assert.matches('line 1: skipped a line before the header: "Osmocom TAC database under CC-BY-SA', r.notes[1],
      1, true)
    -- rows + duplicates + conflicts + rejected add up
    assert.equal(r.rows, r.records + r.duplicates + r.conflicts + r.rejected)
    assert.matches("line 22061: TAC 01194800 (7 digits, leading 0 put back) is also on line 13 written in full; " ..
      "kept line 13", tacdb.format_report(r), 1, true)
    assert.matches("conflicts  50 rows with a repaired 7-digit TAC", tacdb.format_report(r), 1, true)
  end)

  it("keeps the exact row of a TAC a repaired 7-digit row also names, first or last", function()
    for _, dup in ipairs({ "last", "first" }) do
      local db = assert(tacdb.load(OSMOCOM, { duplicates = dup }))
      local rec = db:lookup("01194800") -- line 13, exact; line 22061 is '1194800'
      assert.equal("Apple", rec.brand)
      assert.equal("iPhone 3GS", rec.model)
    end
  end)

  it("reads quoting, UTF-8, blanks and lost leading zeros right", function()
    local db = real()
    local oppo = db:lookup("356759041234567")
    assert.equal("Oppo", oppo.brand)
    assert.equal("N1", oppo.model)
    assert.equal("Kévin Redon", oppo.extra.contributor)
    assert.equal("http://www.gsmarena.com/oppo_n1-5724.php", oppo.extra.gsmarena_model)
    assert.equal("http://www.gsmarena.com/oppo-phones-82.php", oppo.extra.gsmarena_brand)
    assert.equal("1610+,1611,1611+,NHE-5NX", db:lookup("49013920").extra.aka)
    assert.equal("Keller AG für Druckmesstechnik", db:lookup("35246100").brand)
    local asus = db:lookup("35934405") -- ' ASUS' and ' PadFone X' in the file
    assert.equal("ASUS", asus.brand)
    assert.equal("PadFone X", asus.model)
    local apple = db:lookup("01130000") -- '1130000' in the file
    assert.equal("Apple", apple.brand)
    assert.equal("iPhone 4", apple.model)
    assert.equal("01130000", apple.tac)
  end)

  it("keeps the first or the last of a duplicate as told, or stops", function()
    assert.equal("M314-B0", real():lookup("33205600").model) -- line 19223 wins
    local first = assert(tacdb.load(OSMOCOM, { duplicates = "first" }))
    assert.equal("DMC 830", first:lookup("33205600").model) -- line 3992
    local db, err = tacdb.load(OSMOCOM, { duplicates = "error" })
    assert.is_nil(db)
    assert.equal(OSMOCOM .. ": line 19223: TAC 33205600 is already on line 3992", err)
  end)

  it("answers the same for every TAC after save and open (mmap)", function()
    local db = real()
    local dir = support.tmpdir()
    local path = dir .. "/osmocom.tacdb"
    assert.is_true(db:save(path))
    local img = assert(tacdb.open(path))
    assert.is_true(img:stats().mapped)
    assert.equal(#db, #img)
    local same = 0
    for i = 1, #db do
      local rec = db:record(i)
      local a, b = db:lookup(rec.tac), img:lookup(rec.tac .. "1234567")
      assert.same(a, b)
      same = same + 1
    end
    assert.equal(25121, same)
    -- load() takes a compiled image too
    local again, r = assert(tacdb.load(path))
    assert.equal("image", r.format)
    assert.same(db:lookup("35675904"), again:lookup("35675904"))
    -- the same content gives the same bytes
    assert.equal(db:image(), img:image())
    support.cleanup()
  end)
end)

describe("imei.tacdb.load of damaged and synthetic files", function()
  it("rejects, repairs and warns row by row in an Osmocom file", function()
    local db, r = assert(tacdb.load(FIX .. "osmocom-damaged.csv"))
    assert.equal("osmocom", r.format)
    assert.equal(17, r.lines)
    assert.equal(14, r.rows)
    assert.same({ 6, 7, 8, 9, 10, 13, 14 }, lines_of(r.errors))
    assert.equal("TAC '100004' has 6 digits; a TAC has 8", reason_at(r.errors, 6))
    assert.equal("TAC '3500000X' is not made of digits", reason_at(r.errors, 7))
    assert.equal("field 2: a quoted field is not closed on its line", reason_at(r.errors, 8))
    assert.equal("field 2: text after the closing quote", reason_at(r.errors, 9))
    assert.equal("3 fields, the header has 8", reason_at(r.errors, 10))
    assert.equal("invalid UTF-8 at column 11", reason_at(r.errors, 13))
    assert.equal("NUL byte at column 12", reason_at(r.errors, 14))
    assert.same({ { line = 12, reason = "no brand and no model" } }, r.warning_rows)
    assert.same({ { line = 11, tac = "35000001", first_line = 3, kept = 11 } }, r.duplicate_rows)
    assert.same({ 5 }, r.fixes.tac_leading_zero.lines)
    assert.same({ 4 }, r.fixes.trimmed.lines)
    assert.equal(6, #db)
    assert.equal(r.rows, r.records + r.duplicates + r.rejected)
    assert.equal("Z1 again", db:lookup("35000001").model)
    assert.same({ tac = "35000002", brand = "Zeta", model = "Z2", rat = 0, rats = {} }, db:lookup("35000002"))
    assert.equal("Z3a,Z3b", db:lookup("01000003").extra.aka)
    assert.equal('Z12 "Pro", 5G', db:lookup("35000012").model)
    assert.equal("Müller & Söhne", db:lookup("35000012").brand)
    assert.equal("Z13", db:lookup("35000013").model)
    assert.is_nil(db:lookup("35000009").brand)
  end)

  it("reads GSMA columns in any order, quoted values, dates, and keeps unknown columns", function()
    local db, r = assert(tacdb.load(FIX .. "gsma-damaged.txt"))
    assert.equal("gsma", r.format)
    assert.same({ 6, 7, 10 }, lines_of(r.errors))
    assert.equal("TAC '412777811' has 9 digits; a TAC has 8", reason_at(r.errors, 6))
    assert.equal("6 fields, the header has 10", reason_at(r.errors, 7))
    assert.equal("field 3: text after the closing quote", reason_at(r.errors, 10))
    assert.same({ 4, 5 }, lines_of(r.warning_rows))
    assert.matches("'31-Feb-2013' is not a date", reason_at(r.warning_rows, 4), 1, true)
    assert.same({ { line = 8, tac = "41277777", first_line = 2, kept = 8 } }, r.duplicate_rows)
    assert.same({ 9 }, r.fixes.tac_leading_zero.lines)
    assert.same({ 9 }, r.fixes.trimmed.lines)
    assert.equal(5, #db)
    local rec = db:lookup("412777781234567")
    assert.same({
      tac = "41277778", device_type = "Handheld", model = "GP|5", manufacturer = "Best IT4",
      allocation_date = "2020-01-01", bands = "GSM 900, GSM 1800", marketing_name = "Phone, Five",
      brand = "Great", rat = 1, rats = { ["2G"] = true },
    }, rec)
    assert.equal("Green", db:lookup("41277777").extra.Colour)
    assert.equal("T3", db:lookup("41277777").model)
    assert.is_nil(db:lookup("41277779").allocation_date)
    assert.equal(tacdb.RAT["4G"] | tacdb.RAT["5G"], db:lookup("41277779").rat)
    local iot = db:lookup("04127783")
    assert.equal("IoT Device", iot.device_type)
    assert.equal("2016-02-29", iot.allocation_date)
    assert.equal("RTOS", iot.os)
  end)

  it("loads the GSMA sample shipped in data/", function()
    local db, r = assert(tacdb.load(SAMPLE))
    assert.equal("gsma", r.format)
    assert.equal(12, #db)
    assert.equal(0, r.rejected + r.warnings + r.duplicates)
    local rec = db:lookup("imei-490154203237518")
    assert.equal("Lumora", rec.brand)
    assert.equal("LM-100", rec.model)
    assert.equal("Lumora One", rec.marketing_name)
    assert.equal("Lumora Devices Ltd", rec.manufacturer)
    assert.equal("Smartphone", rec.device_type)
    assert.equal("Android", rec.os)
    assert.equal("2019-03-12", rec.allocation_date)
    assert.same({ ["2G"] = true, ["3G"] = true, ["4G"] = true }, rec.rats)
    assert.equal("826", rec.extra["Country Code"])
    assert.equal("LM-100", rec.extra["Internal Model Name"])
    assert.equal("Quokka Q2, dual SIM", db:lookup("35209901").marketing_name)
    assert.equal("Pelora Watch | LTE", db:lookup("35600001").marketing_name)
    assert.equal(tacdb.RAT["3G"] | tacdb.RAT["2G"], db:lookup("99000123").rat)
  end)

  it("refuses a file without a usable header, naming the file and the reason", function()
    local db, err = tacdb.load(FIX .. "gsma-missing-columns.txt")
    assert.is_nil(db)
    assert.equal(FIX .. "gsma-missing-columns.txt: line 1: the header lacks the required columns Bands, Device Type",
      err)
    db, err = tacdb.load(FIX .. "gsma-duplicate-column.txt")
    assert.is_nil(db)
    assert.matches("the header names column 'tac' twice (columns 1 and 7)", err, 1, true)
    db, err = tacdb.load_string("hello\nworld\n")
    assert.is_nil(db)
    assert.matches("cannot tell the format", err)
    db, err = tacdb.load_string("tac,name,name\n35000001,A,B\n", { format = "gsma" })
    assert.is_nil(db)
    assert.matches("no GSMA header", err)
    db, err = tacdb.load(FIX .. "no-such-file.txt")
    assert.is_nil(db)
    assert.matches("No such file", err)
    assert.has_error(function() tacdb.load(FIX .. "gsma-damaged.txt", { duplicates = "newest" }) end)
    assert.has_error(function() tacdb.load(42) end)
  end)

  it("limits the listed rows but counts them all", function()
    local _, r = assert(tacdb.load(OSMOCOM, { max_errors = 2 }))
    assert.equal(3, r.duplicates)
    assert.equal(2, #r.duplicate_rows)
    assert.matches("… 1 more duplicates", tacdb.format_report(r), 1, true)
    assert.equal(50, r.conflicts)
    assert.equal(2, #r.conflict_rows)
    assert.matches("… 48 more conflicts", tacdb.format_report(r), 1, true)
  end)
end)

describe("imei.tacdb images", function()
  local dir, path, bytes
  setup(function()
    dir = support.tmpdir()
    path = dir .. "/sample.tacdb"
    local db = assert(tacdb.load(SAMPLE))
    assert(db:save(path))
    bytes = support.read(path)
  end)
  teardown(support.cleanup)

  it("refuses every truncation with a message", function()
    local core = require "imei.core"
    for n = 0, #bytes - 1, 97 do
      local db, err = core.tacdb_from_image(bytes:sub(1, n))
      assert.is_nil(db)
      assert.is_true(err:find("truncated", 1, true) ~= nil or (n == 0 and err:find("not a TAC image", 1, true) ~= nil),
        err)
    end
    local cut = support.write(dir .. "/cut.tacdb", bytes:sub(1, #bytes - 1))
    local db, err = tacdb.open(cut)
    assert.is_nil(db)
    assert.equal(cut .. (": truncated: %d bytes, the header says %d"):format(#bytes - 1, #bytes), err)
  end)

  it("refuses a flipped byte, a text file and a missing file", function()
    local flipped = bytes:sub(1, 999) .. string.char(bytes:byte(1000) ~ 0x40) .. bytes:sub(1001)
    local db, err = tacdb.open(support.write(dir .. "/flipped.tacdb", flipped))
    assert.is_nil(db)
    assert.matches("checksum mismatch", err)
    db, err = tacdb.open(SAMPLE)
    assert.is_nil(db)
    assert.matches("not a TAC image", err)
    db, err = tacdb.open(dir .. "/none.tacdb")
    assert.is_nil(db)
    assert.matches("No such file", err)
    db, err = tacdb.load(support.write(dir .. "/flipped2.tacdb", flipped))
    assert.is_nil(db)
    assert.matches("checksum mismatch", err)
  end)

  it("writes through a temporary file and replaces the old one", function()
    local db = assert(tacdb.open(path))
    assert.is_true(db:save(path))
    assert.equal(bytes, support.read(path))
    local p = io.popen("ls '" .. dir .. "'")
    local listing = p:read("a")
    p:close()
    assert.is_nil(listing:find("sample.tacdb.", 1, true))
    local ok, err = db:save(dir .. "/no/such/dir/x.tacdb")
    assert.is_nil(ok)
    assert.matches("temporary file", err)
  end)
end)

describe("imei.tacdb loaders on random bytes", function()
  -- xorshift, seeded: a failure repeats
  local state = 0x2545F491
  local function rand(n)
    state = state ~ (state << 13) & 0xFFFFFFFF
    state = state ~ (state >> 17)
    state = state ~ (state << 5) & 0xFFFFFFFF
    return state % n
  end
  local ALPHABET = { "3", "5", "0", "1", "9", ",", "|", '"', " ", "\t", "\r", "\n", "\0", "\xC3", "\xA9",
    "\xFF", "a", "TAC", "-", "Apr" }
  local HEADERS = {
    gsma = "TAC|Manufacturer|Model Name|Bands|Allocation Date|Device Type\n",
    osmocom = "tac,name,name,contributor\n",
  }
  local function noise(n)
    local t = {}
    for i = 1, n do t[i] = ALPHABET[rand(#ALPHABET) + 1] end
    return table.concat(t)
  end

  for _, format in ipairs({ "gsma", "osmocom" }) do
    it("never raises and accounts for every row (" .. format .. ")", function()
      for _ = 1, 300 do
        local text = (rand(4) > 0 and HEADERS[format] or "") .. noise(rand(400))
        local ok, db, r = pcall(tacdb.load_string, text, { format = format })
        assert.is_true(ok, db)
        if db then
          assert.equal(#db, r.records)
          assert.equal(r.rows, r.records + r.duplicates + r.rejected)
          for i = 1, #db do
            local rec = db:record(i)
            assert.truthy(rec.tac:match("^%d%d%d%d%d%d%d%d$"))
            assert.equal(rec, db:lookup(rec.tac))
          end
        else
          assert.equal("string", type(r))
        end
      end
    end)
  end
end)

describe("imei tac and imei inspect --tacdb", function()
  teardown(support.cleanup)

  it("compiles a file, prints the report, and looks up in the image", function()
    local dir = support.tmpdir()
    local out, err, code = support.imei(("tac compile %s %s/o.tacdb"):format(FIX .. "osmocom-damaged.csv", dir))
    assert.equal(0, code, err)
    assert.matches("loaded     6 records", out, 1, true)
    assert.matches("line 8: rejected: field 2: a quoted field is not closed on its line", out, 1, true)
    assert.matches("wrote " .. dir .. "/o.tacdb: 6 records", out, 1, true)
    out, err, code = support.imei(("tac lookup %s/o.tacdb 350000011234567 99999999 x"):format(dir))
    assert.equal(1, code, err)
    assert.matches("350000011234567  Zeta Z1 again", out, 1, true)
    assert.matches("99999999  not found", out, 1, true)
    assert.matches("x  INVALID: 'x' at position 1 is not a digit", out, 1, true)
    out, err, code = support.imei(("tac lookup %s 35000001"):format(FIX .. "osmocom-damaged.csv"))
    assert.equal(0, code, err)
    assert.matches("Zeta Z1 again", out, 1, true)
  end)

  it("writes nothing with --strict when rows were rejected, and fails on a bad file", function()
    local dir = support.tmpdir()
    local _, err, code = support.imei(("tac compile --strict %s %s/o.tacdb"):format(FIX .. "gsma-damaged.txt", dir))
    assert.equal(1, code)
    assert.matches("3 rows rejected; nothing written", err, 1, true)
    assert.is_nil(support.read(dir .. "/o.tacdb"))
    _, err, code = support.imei(("tac compile %s %s/o.tacdb"):format(FIX .. "gsma-missing-columns.txt", dir))
    assert.equal(2, code)
    assert.matches("required columns Bands, Device Type", err, 1, true)
  end)

  it("shows the device in imei inspect", function()
    local out, err, code = support.imei("inspect --tacdb " .. SAMPLE .. " 490154203237518 352099001761481")
    assert.equal(0, code, err)
    assert.matches("device     Lumora LM-100 (Lumora One)", out, 1, true)
    assert.matches("device     Quokka QK-Q2 (Quokka Q2)", out, 1, true)
    out = support.imei("inspect --json --tacdb " .. SAMPLE .. " 260531793113837")
    local rec = require("cjson").decode(out)
    assert.equal("Vantrix", rec.device.brand)
    assert.equal("VX-T10", rec.device.model)
  end)
end)

describe("imei.tacdb.load: a repaired 7-digit TAC against an exact one", function()
  teardown(support.cleanup)
  local HEADER = "tac,name,name,contributor,comment,gsmarena,gsmarena,aka\n"

  local function load(body, opts)
    local path = support.write(support.tmpdir() .. "/conflict.csv", HEADER .. body)
    return tacdb.load(path, opts)
  end

  it("keeps the exact row wherever it stands, and reports the conflict", function()
    for _, dup in ipairs({ "last", "first", "error" }) do
      local db, r = load(
        "1234567,Fake,Repaired before,,,,,\n" ..  -- line 2: repaired, before the exact row
        "01234567,Real,Exact,,,,,\n" ..           -- line 3
        "2345678,Other,Only repaired,,,,,\n" ..   -- line 4: no exact row: loaded
        "03456789,Real3,Exact3,,,,,\n" ..         -- line 5
        "3456789,Fake3,Repaired after,,,,,\n",    -- line 6: repaired, after
        { duplicates = dup })
      assert.is_not_nil(db, r)
      assert.equal("Exact", db:lookup("01234567").model)
      assert.equal("Exact3", db:lookup("03456789").model)
      assert.equal("Only repaired", db:lookup("02345678").model)
      assert.equal(3, r.records)
      assert.equal(2, r.conflicts)
      assert.equal(0, r.duplicates)
      assert.same({ { line = 2, tac = "01234567", kept = 3 }, { line = 6, tac = "03456789", kept = 5 } },
        r.conflict_rows)
      assert.equal(3, r.fixes.tac_leading_zero.count)
    end
  end)

  it("treats two repaired rows of one TAC as any duplicate", function()
    local db, r = load("1234567,A,First,,,,,\n1234567,B,Second,,,,,\n")
    assert.equal("Second", db:lookup("01234567").model)
    assert.equal(1, r.duplicates)
    assert.equal(0, r.conflicts)
    local none, err = load("1234567,A,First,,,,,\n1234567,B,Second,,,,,\n", { duplicates = "error" })
    assert.is_nil(none)
    assert.matches("line 3: TAC 01234567 is already on line 2", err, 1, true)
  end)
end)
