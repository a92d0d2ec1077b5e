-- identity_spec.lua — imei.parse, imei.valid, imei.luhn, imei.check_digit, imei.meid_check_digit
-- (3GPP TS 23.003 §6.2 and Annex B; 3GPP2 MEID/ESN). Expected values come from the specs,
-- from python-stdnum (MEID check digits and pESNs) or from the reference Luhn below.
local imei = require "imei"

-- TS 23.003 Annex B, written out plainly: the reference the fast code is checked against.
local function ref_cd(body)
  local sum = 0
  for i = #body, 1, -1 do
    local d = body:byte(i) - 48
    if (#body - i) % 2 == 0 then
      d = d * 2
      d = d // 10 + d % 10
    end
    sum = sum + d
  end
  return tostring((10 - sum % 10) % 10)
end

-- a seeded generator (xorshift32) so that failures repeat
local function rng(seed)
  local x = seed
  return function(n)
    x = x ~ (x << 13) & 0xFFFFFFFF
    x = x ~ (x >> 17)
    x = x ~ (x << 5) & 0xFFFFFFFF
    return x % n
  end
end

local function digits(r, n)
  local t = {}
  for i = 1, n do t[i] = string.char(48 + r(10)) end
  return table.concat(t)
end

describe("imei.check_digit and imei.luhn", function()
  it("compute the TS 23.003 Annex B example and the well-known vectors", function()
    assert.equal("7", imei.check_digit("26053179311383"))
    assert.equal("8", imei.check_digit("49015420323751"))
    assert.equal("1", imei.check_digit("35209900176148"))
    assert.is_true(imei.luhn("260531793113837"))
    assert.is_true(imei.luhn("490154203237518"))
    assert.is_true(imei.luhn("352099001761481"))
    assert.is_false(imei.luhn("352099001761482"))
  end)

  it("agree with the reference on random bodies of every length", function()
    local r = rng(12345)
    for n = 1, 30 do
      for _ = 1, 50 do
        local body = digits(r, n)
        local cd = imei.check_digit(body)
        assert.equal(ref_cd(body), cd)
        assert.is_true(imei.luhn(body .. cd))
        local wrong = tostring((tonumber(cd) + 1 + r(9)) % 10)
        assert.is_false(imei.luhn(body .. wrong))
      end
    end
  end)

  it("refuse non-digits with nil and a reason, and empty strings", function()
    local cd, err = imei.check_digit("3520990017614x")
    assert.is_nil(cd)
    assert.matches("decimal", err)
    cd, err = imei.check_digit("")
    assert.is_nil(cd)
    assert.matches("empty", err)
    assert.is_false(imei.luhn(""))
    assert.is_false(imei.luhn("35209900 1761481"))
  end)

  it("compute MEID check digits in base 16 (values from python-stdnum)", function()
    assert.equal("C", imei.meid_check_digit("AF0123450ABCDE"))
    assert.equal("9", imei.meid_check_digit("A0000000002329"))
    assert.equal("F", imei.meid_check_digit("A10000009296F2"))
    local cd, err = imei.meid_check_digit("AF0123450ABC")
    assert.is_nil(cd)
    assert.matches("14 hex", err)
  end)
end)

describe("imei.parse", function()
  it("breaks a 15-digit IMEI into its parts", function()
    local id = assert(imei.parse("260531793113837"))
    assert.same({
      kind = "imei", digits = "260531793113837", key = "26053179311383", tac = "26053179", snr = "311383",
      cd = "7", cd_expected = "7", cd_ok = true, spare = false, rbi = "26", test = false,
      pei = "imei-260531793113837",
    }, id)
  end)

  it("reports a spare digit 0 (TS 23.003 6.2.1) without rejecting it", function()
    local id = assert(imei.parse("490154203237510"))
    assert.equal("imei", id.kind)
    assert.equal("49015420323751", id.key)
    assert.equal("0", id.cd)
    assert.equal("8", id.cd_expected)
    assert.is_false(id.cd_ok)
    assert.is_true(id.spare)
    assert.is_false(imei.valid("490154203237510"))
    -- a wrong check digit other than 0 is not a spare
    id = assert(imei.parse("490154203237513"))
    assert.is_false(id.cd_ok)
    assert.is_false(id.spare)
    -- when 0 is the right check digit it is simply right
    id = assert(imei.parse("000000000000000"))
    assert.is_true(id.cd_ok)
    assert.is_false(id.spare)
  end)

  it("gives 14 digits as imei14: no cd, no cd_ok, the expected CD", function()
    local id = assert(imei.parse("35209900176148"))
    assert.equal("imei14", id.kind)
    assert.equal("35209900176148", id.key)
    assert.is_nil(id.cd)
    assert.is_nil(id.cd_ok)
    assert.equal("1", id.cd_expected)
    assert.is_true(imei.valid("35209900176148"))
  end)

  it("gives 16 digits as imeisv with its SVN, and flags SVN 99 as reserved", function()
    local id = assert(imei.parse("3520990017614899"))
    assert.equal("imeisv", id.kind)
    assert.equal("35209900176148", id.key)
    assert.equal("99", id.svn)
    assert.is_true(id.svn_reserved)
    assert.equal("imeisv-3520990017614899", id.pei)
    assert.is_nil(id.cd)
    assert.is_true(imei.valid("3520990017614899"))
    id = assert(imei.parse("3520990017614801"))
    assert.equal("01", id.svn)
    assert.is_false(id.svn_reserved)
  end)

  it("shares one key between the IMEI, the IMEI without CD and the IMEISV of a device", function()
    local keys = {}
    for _, s in ipairs { "352099001761481", "35209900176148", "3520990017614899", "352099001761480",
                         "imei-352099001761481", "imeisv-3520990017614803" } do
      keys[#keys + 1] = assert(imei.parse(s)).key
    end
    for i = 2, #keys do assert.equal(keys[1], keys[i]) end
  end)

  it("names the reporting body and flags test ranges", function()
    assert.equal("BABT", imei.parse("352099001761481").rbi_name)
    assert.equal("TAF China", imei.parse("86" .. "0000000000000").rbi_name)
    assert.equal("PTCRB", imei.parse("01" .. "000000000000").rbi_name)
    assert.is_false(imei.parse("01" .. "000000000000").test)
    assert.is_true(imei.parse("00" .. "123456789012").test)
    assert.is_true(imei.parse("09" .. "123456789012").test)
    assert.is_nil(imei.parse("12" .. "345678901234").rbi_name)
  end)

  it("flags well-known junk", function()
    assert.equal("all_zeros", imei.parse("000000000000000").junk)
    assert.equal("repeated_digit", imei.parse("77777777777777").junk)
    assert.equal("sequence", imei.parse("123456789012347").junk)
    assert.equal("sequence", imei.parse("987654321098765").junk)
    assert.equal("emulator", imei.parse("358240051111110").junk)
    assert.is_nil(imei.parse("490154203237518").junk)
    -- Luhn-valid junk is still a valid IMEI: the flag is for policies to use
    assert.is_true(imei.valid("123456789012347"))
  end)

  it("accepts the 5G PEI prefixes (TS 29.571), and the spec's own example fails Luhn", function()
    local id = assert(imei.parse("imei-490154203237518"))
    assert.equal("imei", id.kind)
    assert.is_true(id.from_pei)
    assert.is_true(id.cd_ok)
    id = assert(imei.parse("imeisv-3520990017614899"))
    assert.equal("imeisv", id.kind)
    id = assert(imei.parse("imei-012345678901234"))
    assert.is_false(id.cd_ok)
    local _, err = imei.parse("imei-3520990017614899")
    assert.matches("needs 15 digits, got 16", err)
    _, err = imei.parse("imeisv-352099001761481")
    assert.matches("needs 16 digits, got 15", err)
    _, err = imei.parse("mac-00-11-22-33-44-55")
    assert.matches("MAC or EUI%-64", err)
    assert.matches("position 1", err)
  end)

  it("classifies every length 0..20 of one digit stream", function()
    local stream = "35209900176148123456"
    local want = { [8] = "esn", [14] = "imei14", [15] = "imei", [16] = "imeisv" }
    for n = 0, 20 do
      local id, err = imei.parse(stream:sub(1, n))
      if want[n] then
        assert.equal(want[n], id and id.kind, "length " .. n)
      else
        assert.is_nil(id, "length " .. n)
        assert.is_string(err)
        if n == 0 then
          assert.matches("empty", err)
        elseif n == 20 then
          assert.matches("too long.*position 20", err)
        elseif n == 11 or n == 18 or n == 19 then
          assert.matches("out of range", err) -- decimal ESN / MEID forms with too large parts
        else
          assert.matches("wrong length: " .. n .. " digits", err)
        end
      end
      assert.equal(n >= 14 and n <= 16, imei.valid(stream:sub(1, n)), "length " .. n)
    end
  end)

  it("ignores spaces and hyphens anywhere, and white space around", function()
    local r = rng(777)
    local body = "490154203237518"
    for _ = 1, 2000 do
      local t = {}
      for i = 1, #body do
        for _ = 1, r(3) do t[#t + 1] = r(2) == 0 and " " or "-" end
        t[#t + 1] = body:sub(i, i)
      end
      for _ = 1, r(3) do t[#t + 1] = r(2) == 0 and " " or "-" end
      local s = ("\t\r\n "):sub(1, r(5)) .. table.concat(t) .. ("\n\r\t "):sub(1, r(5))
      local id = imei.parse(s)
      assert.equal(body, id and id.digits, s)
      assert.is_true(imei.valid(s), s)
    end
    -- 14 digits and one separator make 15 bytes; they are still an imei14
    assert.is_true(imei.valid("4901-5420323751"))
  end)

  it("names the position of a bad character, a NUL byte and non-ASCII bytes", function()
    local _, err = imei.parse("49015420x237518")
    assert.equal("invalid character 'x' at position 9", err)
    _, err = imei.parse("4901542032\0" .. "37518")
    assert.equal("NUL byte at position 11", err)
    _, err = imei.parse("49015420323751\xC3\xA9")
    assert.equal("invalid character \\xC3 at position 15", err)
    -- an en dash (U+2013) is not a hyphen here
    _, err = imei.parse("35\u{2013}209900\u{2013}176148\u{2013}1")
    assert.matches("position 3", err)
    -- a fullwidth digit is not a digit
    _, err = imei.parse("4901542032375\u{FF11}8")
    assert.matches("position 14", err)
    _, err = imei.parse("4901542\t03237518")
    assert.matches("position 8", err)
    _, err = imei.parse("3520990017614B")
    assert.matches("hex digit 'B' at position 14", err)
  end)

  it("copes with very long input", function()
    local _, err = imei.parse(("9"):rep(1000000))
    assert.matches("too long.*position 20", err)
    local id = imei.parse((" "):rep(500000) .. "490154203237518" .. ("-"):rep(500000))
    assert.equal("490154203237518", id.digits)
    _, err = imei.parse((" "):rep(500000) .. "490154203237518#")
    assert.matches("position 500016$", err)
  end)

  it("recognises MEIDs in hex and decimal, with pESNs as python-stdnum computes them", function()
    local id = assert(imei.parse("AF 01 23 45 0A BC DE C"))
    assert.equal("meid", id.kind)
    assert.equal("AF0123450ABCDE", id.digits)
    assert.equal("C", id.cd)
    assert.is_true(id.cd_ok)
    assert.equal("8016B128", id.pesn)
    assert.is_false(id.decimal_form)
    assert.is_nil(id.key)
    assert.is_false(imei.valid("AF0123450ABCDEC"))
    id = assert(imei.parse("af0123450abcde"))
    assert.equal("AF0123450ABCDE", id.digits)
    assert.is_nil(id.cd)
    assert.equal("C", id.cd_expected)
    id = assert(imei.parse("29360 87365 0070 3710 0"))
    assert.equal("meid", id.kind)
    assert.equal("AF0123450ABCDE", id.digits)
    assert.is_true(id.decimal_form)
    assert.equal("0", id.cd)
    assert.equal("0", id.cd_expected)
    assert.is_true(id.cd_ok)
    id = assert(imei.parse("29360 87365 0070 3710 1"))
    assert.is_false(id.cd_ok)
    assert.equal("8051F1AB", imei.parse("A0000000002329").pesn)
    assert.equal("8075B7ED", imei.parse("A10000009296F2").pesn)
    local _, err = imei.parse("9F0123450ABCDE")
    assert.matches("MEID starts with A0%-FF", err)
  end)

  it("recognises ESNs in hex and decimal", function()
    local id = assert(imei.parse("8016b128"))
    assert.equal("esn", id.kind)
    assert.equal("8016B128", id.digits)
    assert.equal("12801487144", id.decimal)
    id = assert(imei.parse("128 01487144"))
    assert.equal("esn", id.kind)
    assert.equal("8016B128", id.digits)
    assert.is_true(id.decimal_form)
    assert.is_false(imei.valid("8016b128"))
  end)

  it("agrees with the reference on random 14/15/16-digit strings", function()
    local r = rng(4242)
    for _ = 1, 20000 do
      local n = 14 + r(3)
      local s = digits(r, n)
      local id = assert(imei.parse(s))
      local cd = ref_cd(s:sub(1, 14))
      assert.equal(s:sub(1, 14), id.key)
      assert.equal(cd, id.cd_expected)
      if n == 15 then
        assert.equal(s:sub(15) == cd, id.cd_ok)
        assert.equal(s:sub(15) == cd, imei.valid(s))
      else
        assert.is_true(imei.valid(s))
      end
    end
  end)
end)

describe("misuse", function()
  -- the message names the function (as imei.X or imei.core.X, whichever Lua finds first)
  local function raises(pattern, f, ...)
    local ok, err = pcall(f, ...)
    assert.is_false(ok)
    assert.matches(pattern, err)
  end

  it("raises a clear error for non-string arguments", function()
    raises("bad argument #1 to '[%w.]*parse' %(string expected, got nil%)", imei.parse, nil)
    raises("bad argument #1 to '[%w.]*parse' %(string expected, got number%)", imei.parse, 123)
    raises("bad argument #1 to '[%w.]*parse' %(string expected, got no value%)", imei.parse)
    raises("bad argument #1 to '[%w.]*valid' %(string expected, got table%)", imei.valid, {})
    raises("bad argument #1 to '[%w.]*valid' %(string expected, got number%)", imei.valid, 490154203237518)
    raises("bad argument #1 to '[%w.]*luhn' %(string expected, got boolean%)", imei.luhn, true)
    raises("bad argument #1 to '[%w.]*check_digit' %(string expected, got nil%)", imei.check_digit, nil)
    raises("bad argument #1 to '[%w.]*meid_check_digit' %(string expected, got number%)", imei.meid_check_digit, 1)
  end)
end)
