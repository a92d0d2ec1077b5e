-- mobile_identity_spec.lua — imei.decode_mobile_identity / imei.encode_mobile_identity:
-- TS 24.008 §10.5.1.4, TS 24.501 §9.11.3.4, TS 29.002 MAP TBCD IMEI.
-- Vectors: libosmocore's tests and 3GPP TS 24.008 §10.5.1.4 / TS 24.501 §9.11.3.4.
local imei = require "imei"

local function hex(s) return (s:gsub(" ", ""):gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end)) end
local function tohex(b) return (b:gsub(".", function(c) return ("%02x"):format(c:byte()) end)) end

local vectors = {
  -- spec, bytes, type, digits, pei
  { "24.008", "1a 32 54 76 98 10 32 54", "imei", "123456789012345", "imei-123456789012345" },
  { "24.008", "12 32 54 76 98 10 32 f4", "imei", "12345678901234" },
  { "24.008", "93 78 56 34 12 90 78 56 f4", "imeisv", "9876543210987654", "imeisv-9876543210987654" },
  { "24.008", "99 10 07 00 00 00 64 02", "imsi", "901700000004620" },
  { "24.501", "4b 09 51 24 30 32 57 81", "imei", "490154203237518", "imei-490154203237518" },
  { "24.501", "35 25 90 09 10 67 41 98 f9", "imeisv", "3520990017614899", "imeisv-3520990017614899" },
  { "map", "53 02 99 00 71 16 84 99", "imeisv", "3520990017614899", "imeisv-3520990017614899" },
  { "map", "53 02 99 00 71 16 84 f0", "imei", "352099001761480", "imei-352099001761480" },
}

describe("imei.decode_mobile_identity", function()
  it("decodes the vectors of all three specs", function()
    for _, v in ipairs(vectors) do
      local spec, bytes, kind, digits, pei = table.unpack(v)
      local mi, err = imei.decode_mobile_identity(hex(bytes), spec)
      assert.is_nil(err, bytes)
      assert.equal(kind, mi.type, bytes)
      assert.equal(digits, mi.digits, bytes)
      assert.equal(pei, mi.pei, bytes)
      if spec ~= "map" then
        assert.equal(hex(bytes):byte(1) & 7, mi.type_code)
      end
    end
  end)

  it("uses TS 24.008 by default, where the 24.501 IMEI type code 3 means IMEISV", function()
    local b = hex "4b 09 51 24 30 32 57 81"
    assert.equal("imei", imei.decode_mobile_identity(b, "24.501").type)
    local mi, err = imei.decode_mobile_identity(b)
    -- 24.008 type 3 is IMEISV, which needs 16 digits: 15 is an error
    assert.is_nil(mi)
    assert.matches("imeisv with 15 digits", err)
    assert.equal("imei", imei.decode_mobile_identity(hex "1a 32 54 76 98 10 32 54").type)
  end)

  it("the MAP IMEI without SVN carries digit 0 where the CD would be: a spare digit", function()
    local mi = imei.decode_mobile_identity(hex "53 02 99 00 71 16 84 f0", "map")
    local id = imei.parse(mi.digits)
    assert.equal("35209900176148", id.key)
    assert.is_true(id.spare)
  end)

  it("reports the other identity types with their octets in hex", function()
    local mi = imei.decode_mobile_identity(hex "f4 de ad be ef")
    assert.same({ type = "tmsi", type_code = 4, hex = "deadbeef" }, mi)
    mi = imei.decode_mobile_identity(hex "f4")
    assert.same({ type = "tmsi", type_code = 4, hex = "" }, mi)
    local names = { [1] = "suci", [2] = "5g-guti", [4] = "5g-s-tmsi", [6] = "mac", [7] = "eui-64" }
    for code, name in pairs(names) do
      mi = imei.decode_mobile_identity(string.char(0xf0 | code) .. hex "00 11 22 33 44 55", "24.501")
      assert.same({ type = name, type_code = code, hex = "001122334455" }, mi)
    end
  end)

  it("returns nil and a reason for malformed octets, naming the octet", function()
    local cases = {
      { "24.008", "", "empty" },
      { "24.008", "10 32", "type 0 in octet 1" },
      { "24.008", "1a 32 5b 76 98 10 32 54", "nibble 0xB in octet 3" },
      { "24.008", "12 32 54 76 98 10 32 54", "octet 8 ends in 0x5, not the filler" },
      { "24.008", "1a 32 54 76 98 10 32 f4", "nibble 0xF in octet 8" },
      { "24.008", "1a 32 54 76 98 10 32", "imei with 13 digits" },
      { "24.008", "19 32 54 76 98 10 32 54 76 98", "at most 9" },
      { "map", "53 02 99 00 71 16 84", "8 octets, got 7" },
      { "map", "53 02 99 00 71 16 f4 f0", "octet 7" },
    }
    for _, c in ipairs(cases) do
      local mi, err = imei.decode_mobile_identity(hex(c[2]), c[1])
      assert.is_nil(mi, c[2])
      assert.matches(c[3], err, 1, true)
    end
  end)

  it("never accepts a truncated vector, and never crashes on one", function()
    for _, v in ipairs(vectors) do
      local bytes = hex(v[2])
      for n = 0, #bytes - 1 do
        local mi, err = imei.decode_mobile_identity(bytes:sub(1, n), v[1])
        if v[3] ~= "imsi" or not mi then
          assert.is_nil(mi)
          assert.is_string(err)
        end
      end
    end
  end)
end)

describe("imei.encode_mobile_identity", function()
  it("encodes the vectors back", function()
    for _, v in ipairs(vectors) do
      local spec, bytes, kind, digits = table.unpack(v)
      local want = hex(bytes)
      local value = kind == "imei" and spec == "map" and digits:sub(1, 14) or digits
      local got, err = imei.encode_mobile_identity(value, spec, kind)
      assert.is_nil(err)
      assert.equal(tohex(want), tohex(got))
    end
  end)

  it("takes any form imei.parse accepts, and picks the type from it", function()
    local b = hex "4b 09 51 24 30 32 57 81"
    assert.equal(b, imei.encode_mobile_identity("imei-490154203237518", "24.501"))
    assert.equal(b, imei.encode_mobile_identity("49-015420-323751-8", "24.501"))
    assert.equal(hex "4a 09 51 24 30 32 57 81", imei.encode_mobile_identity("490154203237518"))
    -- MAP carries no CD: a 15-digit IMEI is sent as its body, then 0 and a filler
    assert.equal(hex "53 02 99 00 71 16 84 f0", imei.encode_mobile_identity("352099001761481", "map"))
  end)

  it("round-trips random IMEIs, IMEISVs and IMSIs", function()
    local x = 99991
    local function r(n) x = (x * 1103515245 + 12345) % 2147483648; return x % n end
    for _ = 1, 3000 do
      local n = ({ 14, 15, 16 })[r(3) + 1]
      local t = {}
      for i = 1, n do t[i] = string.char(48 + r(10)) end
      local d = table.concat(t)
      for _, spec in ipairs { "24.008", "24.501", "map" } do
        local mi = assert(imei.decode_mobile_identity(assert(imei.encode_mobile_identity(d, spec)), spec))
        if spec == "map" and n <= 15 then
          assert.equal(d:sub(1, 14) .. "0", mi.digits)
        else
          assert.equal(d, mi.digits)
          assert.equal(n == 16 and "imeisv" or "imei", mi.type)
        end
      end
      local imsi = d:sub(1, 6 + r(10))
      local b = assert(imei.encode_mobile_identity(imsi, "24.008", "imsi"))
      assert.equal(imsi, imei.decode_mobile_identity(b).digits)
    end
  end)

  it("returns nil and a reason for data that has no encoding", function()
    local cases = {
      { "AF0123450ABCDE", "24.008", nil, "meid has no mobile identity encoding" },
      { "12345", "24.008", "imsi", "imsi of 5 digits" },
      { "262420000000001", "24.501", "imsi", "cannot encode imsi" },
      { "2624200000x0001", "24.008", "imsi", "position 11" },
      { "1234567890123", "24.008", nil, "wrong length" },
    }
    for _, c in ipairs(cases) do
      local b, err = imei.encode_mobile_identity(c[1], c[2], c[3])
      assert.is_nil(b, c[1])
      assert.matches(c[4], err, 1, true)
    end
  end)
end)

describe("misuse of the mobile identity functions", function()
  local function raises(pattern, f, ...)
    local ok, err = pcall(f, ...)
    assert.is_false(ok)
    assert.matches(pattern, err)
  end

  it("raises for a bad spec name, a bad type name or a non-string", function()
    raises("bad argument #2 to '[%w._]*decode_mobile_identity' %(invalid option '5g'%)",
      imei.decode_mobile_identity, "\x4b", "5g")
    raises("bad argument #2 to '[%w._]*encode_mobile_identity' %(invalid option '24.301'%)",
      imei.encode_mobile_identity, "490154203237518", "24.301")
    raises("bad argument #3 to '[%w._]*encode_mobile_identity' %(invalid option 'tmsi'%)",
      imei.encode_mobile_identity, "490154203237518", "24.008", "tmsi")
    raises("bad argument #1 to '[%w._]*decode_mobile_identity' %(string expected, got nil%)",
      imei.decode_mobile_identity, nil)
    raises("bad argument #1 to '[%w._]*encode_mobile_identity' %(string expected, got number%)",
      imei.encode_mobile_identity, 490154203237518)
    -- asking for a type the value is not
    raises("type 'imeisv' needs 16 digits", imei.encode_mobile_identity, "490154203237518", "24.008", "imeisv")
    raises("type 'imei' needs 14 or 15 digits", imei.encode_mobile_identity, "3520990017614899", "24.008", "imei")
  end)
end)
